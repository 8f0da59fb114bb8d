/*
 * verbose.c - -v/--verbose: libloom's log on stderr. loomctl shows warnings
 * and errors always, -v adds INFO (programs built, device totals), -vv DEBUG
 * (kernels chosen, cache hits).
 */
#include <stdio.h>
#include <string.h>

#include "loomctl.h"

static int verbosity;

/* How many v's a verbosity flag adds: "-v" 1, "-vv" 2, "--verbose" 1; 0 if it is not one. */
static int flag_level(const char *arg)
{
    if (strcmp(arg, "--verbose") == 0)
        return 1;
    if (arg[0] != '-' || arg[1] != 'v')
        return 0;
    int n = 0;
    for (const char *p = arg + 1; *p; p++, n++)
        if (*p != 'v')
            return 0;
    return n;
}

int loomctl_take_verbose(int argc, char **argv)
{
    int kept = 0;
    for (int i = 0; i < argc; i++) {
        int n = flag_level(argv[i]);
        if (n)
            verbosity += n;
        else
            argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    return kept;
}

static void to_stderr(void *user, loom_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "loom: %s: %s\n", loom_log_level_name(level), msg);
}

void loomctl_context_options_init(loom_context_options *opts)
{
    loom_context_options_init(opts);
    opts->log = to_stderr;
    opts->log_level = verbosity >= 2   ? LOOM_LOG_DEBUG
                      : verbosity == 1 ? LOOM_LOG_INFO
                                       : LOOM_LOG_WARN;
}
