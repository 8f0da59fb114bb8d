/*
 * policy.c - the placement options `loomctl plan` and `loomctl run` share:
 * --objective latency|throughput, --pin RULE=DEVICE (repeatable) and
 * --fail-closed, into loom_context_options.
 */
#include <stdio.h>
#include <string.h>

#include "loomctl.h"

static int add_pin(loomctl_policy *p, const char *val)
{
    size_t len = strlen(p->pins);
    if (!val || strchr(val, ';') || !strchr(val, '=') ||
        (size_t)snprintf(p->pins + len, sizeof(p->pins) - len, "%s%s", len ? ";" : "", val) >=
            sizeof(p->pins) - len) {
        fprintf(stderr, "loomctl: --pin takes RULE=DEVICE, got '%s'\n", val ? val : "");
        return -1;
    }
    return 1;
}

static int set_objective(loomctl_policy *p, const char *val)
{
    if (val && strcmp(val, "latency") == 0)
        p->objective = LOOM_OBJECTIVE_LATENCY;
    else if (val && strcmp(val, "throughput") == 0)
        p->objective = LOOM_OBJECTIVE_THROUGHPUT;
    else {
        fprintf(stderr, "loomctl: --objective is latency or throughput, got '%s'\n",
                val ? val : "");
        return -1;
    }
    return 1;
}

int loomctl_policy_arg(loomctl_policy *p, const char *arg, const char *val)
{
    if (strcmp(arg, "--fail-closed") == 0) {
        p->fail_closed = true;
        return 0;
    }
    if (strcmp(arg, "--pin") == 0)
        return add_pin(p, val);
    if (strcmp(arg, "--objective") == 0)
        return set_objective(p, val);
    return -2;
}

void loomctl_policy_apply(const loomctl_policy *p, loom_context_options *opts)
{
    opts->objective = p->objective;
    opts->pins = p->pins[0] ? p->pins : NULL;
    opts->fail_closed = p->fail_closed;
}
