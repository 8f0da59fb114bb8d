/* test_main.h - runs a cmocka group and ends with the "N passed, N failed" line. */
#ifndef LOOM_TESTS_TEST_MAIN_H
#define LOOM_TESTS_TEST_MAIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/env.h"
#include "loom/loom.h"
#include "onnx_builder.h"

/* Sets environment variable @name to @value (NULL: unsets it) for what the
 * test runs next: libloom reads each variable once (core/env.h), so the
 * cached values are dropped too. */
static inline void lm_test_setenv(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    lm_env_reload();
}

/* Loads the built model @m (consuming it); fails the test, showing why, unless it loads. */
static inline loom_model *lm_load_ok(loom_context *ctx, ob_model *m, const char *name)
{
    loom_model *model = NULL;
    loom_status s = (loom_status)ob_load(m, ctx, name, &model);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return model;
}

/* @m's loom_model_stats; fails the test unless they can be read. */
static inline loom_model_stats lm_stats_of(loom_model *m)
{
    loom_model_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_model_get_stats(m, &st), LOOM_OK);
    return st;
}

#define LM_TEST_MAIN(tests) LM_TEST_MAIN_WITH(tests, NULL, NULL)

/* The same with group (or per-test) setup and teardown. */
#define LM_TEST_MAIN_WITH(tests, setup, teardown)                                                  \
    int main(void)                                                                                 \
    {                                                                                              \
        int total = (int)(sizeof(tests) / sizeof(tests[0]));                                       \
        int failed = cmocka_run_group_tests(tests, setup, teardown);                               \
        printf("%d passed, %d failed\n", total - failed, failed);                                  \
        return failed ? 1 : 0;                                                                     \
    }

/* Defines `ctx`, a context with the default options, and ctx_setup /
 * ctx_teardown that make and destroy it (cmocka setup and teardown). */
#define LM_TEST_DEFAULT_CONTEXT                                                                    \
    static loom_context *ctx;                                                                      \
    static int ctx_setup(void **state)                                                             \
    {                                                                                              \
        (void)state;                                                                               \
        return loom_context_create(NULL, &ctx) == LOOM_OK ? 0 : -1;                                \
    }                                                                                              \
    static int ctx_teardown(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        loom_context_destroy(ctx);                                                                 \
        return 0;                                                                                  \
    }

#endif
