/*
 * policy.h - the user's placement policy of a context: the objective and
 * the pin rules (loom_context_options.objective and .pins); the device
 * priority list, exclusions and fail-closed are the context's selection
 * (context.c).
 */
#ifndef LOOM_CORE_POLICY_H
#define LOOM_CORE_POLICY_H

#include <stdbool.h>

#include "graph.h"
#include "loom/loom.h"

struct lm_device;
struct loom_context;

#define LM_MAX_PINS 32

typedef struct lm_pin {
    char rule[128];        /* as written: "conv1", "layer*.conv", "op:Resize" */
    const char *pattern;   /* the node-name pattern or op type within @rule */
    bool by_op;            /* "op:TYPE" */
    struct lm_device *dev; /* where matching nodes run */
    char text[160];        /* "RULE=DEVICE", for messages */
} lm_pin;

typedef struct lm_policy {
    loom_objective objective;
    int n_pins;
    lm_pin pins[LM_MAX_PINS];
} lm_policy;

/* Parses @pins ("RULE=DEVICE;...", NULL: none) against @ctx's selected
 * devices; fails naming a malformed rule or a device the context lacks. */
loom_status lm_policy_parse(lm_policy *p, const char *pins, const struct loom_context *ctx);

/* The first rule that matches @n, or NULL. */
const lm_pin *lm_policy_pin_for(const lm_policy *p, const lm_node *n);

/* Fails naming the first rule that matches no node of @g. */
loom_status lm_policy_check_used(const lm_policy *p, const lm_graph *g);

#endif
