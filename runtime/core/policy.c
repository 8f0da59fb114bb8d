/* policy.c - the objective and pin rules of a context (policy.h). */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "model.h"
#include "policy.h"

/* One "RULE=DEVICE" of length @len at @s into @pin. */
static loom_status parse_rule(lm_pin *pin, const char *s, size_t len, const loom_context *ctx)
{
    char text[sizeof(pin->text)];
    snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) ? len : sizeof(text) - 1), s);
    char *eq = strrchr(text, '=');
    if (len >= sizeof(text) || !eq || eq == text || !eq[1])
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "pin rule '%s' is not RULE=DEVICE", text);
    *eq = '\0';
    const char *dev = eq + 1;
    for (int d = 0; d < ctx->n_devices && !pin->dev; d++)
        if (strcmp(ctx->devices[d]->name, dev) == 0)
            pin->dev = ctx->devices[d];
    if (!pin->dev)
        return lm_error(LOOM_ERR_NOT_FOUND,
                        "pin rule '%s=%s': device %s is not one of this context's devices", text,
                        dev, dev);
    if (strlen(text) >= sizeof(pin->rule))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "pin rule '%.40s...' is too long", text);
    memcpy(pin->rule, text, strlen(text) + 1);
    snprintf(pin->text, sizeof(pin->text), "%.127s=%.31s", text, dev);
    pin->by_op = strncmp(pin->rule, "op:", 3) == 0;
    pin->pattern = pin->by_op ? pin->rule + 3 : pin->rule;
    if (!*pin->pattern)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "pin rule '%s' names no op type", pin->text);
    return LOOM_OK;
}

loom_status lm_policy_parse(lm_policy *p, const char *pins, const loom_context *ctx)
{
    p->n_pins = 0;
    for (const char *s = pins; s && *s;) {
        size_t len = strcspn(s, ";");
        if (len > 0) {
            if (p->n_pins == LM_MAX_PINS)
                return lm_error(LOOM_ERR_INVALID_ARGUMENT, "more than %d pin rules", LM_MAX_PINS);
            lm_pin *pin = &p->pins[p->n_pins];
            memset(pin, 0, sizeof(*pin));
            loom_status st = parse_rule(pin, s, len, ctx);
            if (st)
                return st;
            p->n_pins++;
        }
        s += len + (s[len] == ';');
    }
    return LOOM_OK;
}

static bool matches(const lm_pin *pin, const lm_node *n)
{
    if (pin->by_op)
        return strcmp(pin->pattern, n->op_type) == 0;
    return fnmatch(pin->pattern, n->name, 0) == 0;
}

const lm_pin *lm_policy_pin_for(const lm_policy *p, const lm_node *n)
{
    for (int i = 0; i < p->n_pins; i++)
        if (matches(&p->pins[i], n))
            return &p->pins[i];
    return NULL;
}

loom_status lm_policy_check_used(const lm_policy *p, const lm_graph *g)
{
    for (int i = 0; i < p->n_pins; i++) {
        bool used = false;
        for (int k = 0; k < g->n_nodes && !used; k++)
            used = matches(&p->pins[i], &g->nodes[k]);
        if (!used)
            return lm_error(LOOM_ERR_NOT_FOUND, "pin rule '%s' matches no node of the model",
                            p->pins[i].text);
    }
    return LOOM_OK;
}
