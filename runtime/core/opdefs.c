/* opdefs.c - finds an operator's definition among those the backends provide. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "backend.h"
#include "error.h"
#include "op.h"

/* The default domain is spelled "" or "ai.onnx" in models. */
static const char *canonical_domain(const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        return "";
    return domain;
}

static const lm_op_def *find_in(const lm_op_def *table, const char *domain, const char *op_type)
{
    for (const lm_op_def *op = table; op->op_type; op++)
        if (strcmp(op->op_type, op_type) == 0 && strcmp(canonical_domain(op->domain), domain) == 0)
            return op;
    return NULL;
}

#define MAX_ADDED_TABLES 16

static pthread_mutex_t added_lock = PTHREAD_MUTEX_INITIALIZER; /* guards added, n_added */
static const lm_op_def *added[MAX_ADDED_TABLES];
static int n_added;

loom_status lm_op_tables_add(const lm_op_def *table)
{
    loom_status s = LOOM_OK;
    pthread_mutex_lock(&added_lock);
    bool present = false;
    for (int i = 0; i < n_added; i++)
        present |= added[i] == table;
    if (!present && n_added == MAX_ADDED_TABLES)
        s = lm_error(LOOM_ERR_UNSUPPORTED, "more than %d added op tables", MAX_ADDED_TABLES);
    else if (!present)
        added[n_added++] = table;
    pthread_mutex_unlock(&added_lock);
    return s;
}

/* Keeps the first definition found, replaced by one with a host implementation. */
static bool consider(const lm_op_def *op, const lm_op_def **best)
{
    if (op && (!*best || ((*best)->flags & LM_OP_INFER_ONLY)))
        *best = op;
    return *best && !((*best)->flags & LM_OP_INFER_ONLY);
}

const lm_op_def *lm_op_find(const char *domain, const char *op_type)
{
    const lm_op_def *best = NULL;
    domain = canonical_domain(domain);
    for (const lm_backend *const *b = lm_backends; *b; b++)
        for (const lm_op_def *const *t = (*b)->op_tables; t && *t; t++)
            if (consider(find_in(*t, domain, op_type), &best))
                return best;
    pthread_mutex_lock(&added_lock);
    for (int i = 0; i < n_added; i++)
        if (consider(find_in(added[i], domain, op_type), &best))
            break;
    pthread_mutex_unlock(&added_lock);
    return best;
}
