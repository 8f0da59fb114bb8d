/* test_main.h - runs a cmocka group and ends with the "N passed, N failed" line. */
#ifndef LOOM_TESTS_TEST_MAIN_H
#define LOOM_TESTS_TEST_MAIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>

#include <cmocka.h>

#define LM_TEST_MAIN(tests)                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        int total = (int)(sizeof(tests) / sizeof(tests[0]));                                       \
        int failed = cmocka_run_group_tests(tests, NULL, NULL);                                    \
        printf("%d passed, %d failed\n", total - failed, failed);                                  \
        return failed ? 1 : 0;                                                                     \
    }

#endif
