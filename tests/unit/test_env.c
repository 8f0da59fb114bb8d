/*
 * test_env.c - core/env.h: the one table of environment variables, its
 * typed and cached accessors, and that it stays the only reader and stays
 * documented in runtime/README.md.
 *
 * The file checks read the source tree and run from the repository root
 * (as `make unit` does); elsewhere they skip.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/test_main.h"

/* Every row is complete, names are unique, numbers have sane ranges. */
static void table_rows_are_complete(void **state)
{
    (void)state;
    assert_null(lm_env_info_of(LM_ENV_COUNT));
    assert_null(lm_env_info_of(-1));
    for (int v = 0; v < LM_ENV_COUNT; v++) {
        const lm_env_info *e = lm_env_info_of(v);
        assert_non_null(e);
        assert_non_null(e->name);
        assert_true(e->reader && e->reader[0] && e->meaning && e->meaning[0]);
        assert_true(e->min <= e->def && e->def <= e->max);
        for (int w = 0; w < v; w++)
            assert_string_not_equal(lm_env_info_of(w)->name, e->name);
    }
}

static void flags_share_one_rule(void **state)
{
    (void)state;
    const char *on[] = {"1", "yes", "true", "anything"};
    const char *off[] = {"0", "no", "OFF", "false"};
    lm_test_setenv("LOOM_NO_VIEWS", NULL);
    assert_false(lm_env_flag(LM_ENV_NO_VIEWS));
    lm_test_setenv("LOOM_NO_VIEWS", "");
    assert_false(lm_env_flag(LM_ENV_NO_VIEWS));
    for (int i = 0; i < 4; i++) {
        lm_test_setenv("LOOM_NO_VIEWS", on[i]);
        assert_true(lm_env_flag(LM_ENV_NO_VIEWS));
        lm_test_setenv("LOOM_NO_VIEWS", off[i]);
        assert_false(lm_env_flag(LM_ENV_NO_VIEWS));
    }
    /* A flag that defaults on. */
    lm_test_setenv("LOOM_OPENCL_TUNE", NULL);
    assert_true(lm_env_flag(LM_ENV_OPENCL_TUNE));
    lm_test_setenv("LOOM_OPENCL_TUNE", "0");
    assert_false(lm_env_flag(LM_ENV_OPENCL_TUNE));
    lm_test_setenv("LOOM_OPENCL_TUNE", NULL);
    lm_test_setenv("LOOM_NO_VIEWS", NULL);
}

static void numbers_default_and_clamp(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_EMULATED_CARDS", NULL);
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARDS), 0);
    lm_test_setenv("LOOM_EMULATED_CARDS", "3");
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARDS), 3);
    lm_test_setenv("LOOM_EMULATED_CARDS", "99");
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARDS), 16);
    lm_test_setenv("LOOM_EMULATED_CARDS", "-2");
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARDS), 0);
    lm_test_setenv("LOOM_EMULATED_CARDS", "2x");
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARDS), 0);
    lm_test_setenv("LOOM_EMULATED_CARDS", NULL);
    lm_test_setenv("LOOM_EMULATED_CARD_MB", NULL);
    assert_int_equal(lm_env_int(LM_ENV_EMULATED_CARD_MB), 256);
}

/* Strings: empty reads as unset; values are read once until lm_env_reload(). */
static void values_are_read_once(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_CACHE_DIR", "");
    assert_null(lm_env_str(LM_ENV_CACHE_DIR));
    lm_test_setenv("LOOM_CACHE_DIR", "/tmp/a");
    assert_string_equal(lm_env_str(LM_ENV_CACHE_DIR), "/tmp/a");
    setenv("LOOM_CACHE_DIR", "/tmp/b", 1); /* no reload: the first read stands */
    assert_string_equal(lm_env_str(LM_ENV_CACHE_DIR), "/tmp/a");
    lm_env_reload();
    assert_string_equal(lm_env_str(LM_ENV_CACHE_DIR), "/tmp/b");
    lm_test_setenv("LOOM_CACHE_DIR", NULL);
    assert_null(lm_env_str(LM_ENV_CACHE_DIR));
}

/* lm_env_is_set() tells set-but-empty from unset (LOOM_VISIBLE_CARDS= hides every card). */
static void set_but_empty_is_told_apart(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_VISIBLE_CARDS", NULL);
    assert_false(lm_env_is_set(LM_ENV_VISIBLE_CARDS));
    lm_test_setenv("LOOM_VISIBLE_CARDS", "");
    assert_true(lm_env_is_set(LM_ENV_VISIBLE_CARDS));
    assert_null(lm_env_str(LM_ENV_VISIBLE_CARDS));
    lm_test_setenv("LOOM_VISIBLE_CARDS", "0,card:2");
    assert_true(lm_env_is_set(LM_ENV_VISIBLE_CARDS));
    assert_string_equal(lm_env_str(LM_ENV_VISIBLE_CARDS), "0,card:2");
    lm_test_setenv("LOOM_VISIBLE_CARDS", NULL);
    assert_false(lm_env_is_set(LM_ENV_VISIBLE_CARDS));
}

/* Reads all of @path into a malloc'd string, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n)
        s[n] = '\0';
    else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* The README's Environment section lists every row, with user knobs before
 * the test-only ones. */
static void readme_documents_every_row(void **state)
{
    (void)state;
    char *doc = slurp("runtime/README.md");
    if (!doc)
        skip();
    char *env = strstr(doc, "\n## Environment\n");
    assert_non_null(env);
    char *end = strstr(env + 1, "\n## ");
    if (end)
        *end = '\0';
    char *tests = strstr(env, "Test-only knobs");
    assert_non_null(tests);
    for (int v = 0; v < LM_ENV_COUNT; v++) {
        const lm_env_info *e = lm_env_info_of(v);
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "`%s`", e->name);
        char *at = strstr(env, quoted);
        if (!at)
            print_error("runtime/README.md does not list %s\n", e->name);
        assert_non_null(at);
        assert_true((at > tests) == (e->audience == LM_ENV_FOR_TESTS));
    }
    free(doc);
}

/* core/env.c is the only file of libloom that calls getenv (loomd and the
 * client library are programs of their own, with their own variables). */
static void env_c_is_the_only_reader(void **state)
{
    (void)state;
    char *doc = slurp("runtime/core/env.c");
    if (!doc)
        skip();
    free(doc);
    FILE *p = popen("grep -rlE --include='*.c' --include='*.h' --exclude-dir=loomd "
                    "--exclude-dir=client '\\bgetenv *\\(' runtime",
                    "r");
    assert_non_null(p);
    char line[512];
    int others = 0;
    while (fgets(line, sizeof(line), p))
        if (strcmp(line, "runtime/core/env.c\n") != 0) {
            print_error("calls getenv: %s", line);
            others++;
        }
    pclose(p);
    assert_int_equal(others, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(table_rows_are_complete),     cmocka_unit_test(flags_share_one_rule),
    cmocka_unit_test(numbers_default_and_clamp),   cmocka_unit_test(values_are_read_once),
    cmocka_unit_test(set_but_empty_is_told_apart), cmocka_unit_test(readme_documents_every_row),
    cmocka_unit_test(env_c_is_the_only_reader),
};

LM_TEST_MAIN(tests)
