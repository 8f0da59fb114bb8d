/* loomctl.h - loomctl's subcommands, one file each. */
#ifndef LOOM_TOOLS_LOOMCTL_H
#define LOOM_TOOLS_LOOMCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "loom/loom.h"

/* Each takes the arguments after its name and returns the process exit code. */
int loomctl_run(int argc, char **argv);
int loomctl_examine(int argc, char **argv);
int loomctl_plan(int argc, char **argv);

/* `run --profile` / `--profile-json FILE` (profile.c): @runs timed runs of @m
 * on @in, printed as a table when @table, written as JSON to @json_path. */
int loomctl_profile(loom_model *m, loom_tensor **in, size_t n_in, int runs, bool table,
                    const char *json_path);
int loomctl_infer(int argc, char **argv);

int loomctl_program(int argc, char **argv);
int loomctl_quantize(int argc, char **argv);

/* `loomctl run --shapes FILE` (shapes.c): runs each line's shape @repeat + 1
 * times and prints its first-run latency, p50, RSS and plan cache. */
int loomctl_run_shapes(loom_model *m, const char *path, int repeat);
/* This process's resident set size in MiB, or -1 (shapes.c). */
double loomctl_rss_mib(void);

/* Removes -v, -vv and --verbose from @argv (anywhere), counting them, and
 * returns the remaining count; @argv stays NULL-terminated (verbose.c). */
int loomctl_take_verbose(int argc, char **argv);

/* Placement options of plan and run (policy.c). */
typedef struct loomctl_policy {
    int objective;
    char pins[1024]; /* "RULE=DEVICE;..." */
    bool fail_closed;
} loomctl_policy;
#define LOOMCTL_POLICY_USAGE                                                                       \
    "[--objective latency|throughput] [--pin RULE=DEVICE ...] [--fail-closed]"

/* Takes option @arg (with its value @val, or NULL) if it is a placement
 * option: returns the number of values it used (0 or 1), -1 after printing
 * why @val is wrong, or -2 when @arg is no placement option. */
int loomctl_policy_arg(loomctl_policy *p, const char *arg, const char *val);
/* Sets @opts' objective, pins and fail_closed from @p. */
void loomctl_policy_apply(const loomctl_policy *p, loom_context_options *opts);

/* loom_context_options_init() plus a logger on stderr at the level -v asked
 * for (WARN without it). Every subcommand that makes a context uses it. */
void loomctl_context_options_init(loom_context_options *opts);

#endif
