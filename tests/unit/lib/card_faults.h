/*
 * card_faults.h - for tests that make devices fail: the emulated card's
 * fault file (LOOM_EMULATED_CARD_FAULTS, read before every command) and an
 * alarm per test, so that a hang fails the test instead of stalling it.
 * Include after cmocka (lib/test_main.h); define LM_TEST_SECONDS first to
 * change the alarm.
 */
#ifndef LOOM_TESTS_CARD_FAULTS_H
#define LOOM_TESTS_CARD_FAULTS_H

#include <stdio.h>
#include <unistd.h>

#include "test_main.h"

#ifndef LM_TEST_SECONDS
#define LM_TEST_SECONDS 60
#endif

static char lm_fault_path[64];

/* Points the emulated card at this process's fault file. */
static inline void lm_faults_init(void)
{
    snprintf(lm_fault_path, sizeof(lm_fault_path), "/tmp/loom-faults-%d", (int)getpid());
    lm_test_setenv("LOOM_EMULATED_CARD_FAULTS", lm_fault_path);
}

static inline void lm_faults_done(void)
{
    unlink(lm_fault_path);
}

/* Writes @word (ok, hang, die, corrupt, slow MS) to the card's fault file. */
static inline void say(const char *word)
{
    FILE *f = fopen(lm_fault_path, "w");
    assert_non_null(f);
    fputs(word, f);
    fputc('\n', f);
    assert_int_equal(fclose(f), 0);
}

/* cmocka setup and teardown: no test may take longer than LM_TEST_SECONDS. */
static inline int arm(void **state)
{
    (void)state;
    alarm(LM_TEST_SECONDS);
    return 0;
}

static inline int disarm(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

/* main() of a suite of such tests: runs @tests (set up with arm and disarm)
 * with the fault file in place, ends with the "N passed, N failed" line. */
#define LM_FAULT_TEST_MAIN(tests)                                                                  \
    int main(void)                                                                                 \
    {                                                                                              \
        lm_faults_init();                                                                          \
        int total = (int)(sizeof(tests) / sizeof(tests[0]));                                       \
        int failed = cmocka_run_group_tests(tests, NULL, NULL);                                    \
        lm_faults_done();                                                                          \
        printf("%d passed, %d failed\n", total - failed, failed);                                  \
        return failed ? 1 : 0;                                                                     \
    }

#endif
