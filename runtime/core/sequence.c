/* sequence.c - sequence values: shared items, copy on change (sequence.h). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exec.h"
#include "sequence.h"

lm_sequence *lm_seq_new(loom_dtype elem)
{
    lm_sequence *s = calloc(1, sizeof(*s));
    if (!s) {
        lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    s->elem = elem;
    return s;
}

static bool seq_reserve(lm_sequence *s, int n)
{
    if (n <= s->cap)
        return true;
    int cap = s->cap ? s->cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    lm_seq_item **items = realloc(s->items, sizeof(*items) * (size_t)cap);
    if (!items)
        return false;
    s->items = items;
    s->cap = cap;
    return true;
}

lm_sequence *lm_seq_copy(const lm_sequence *s)
{
    lm_sequence *c = lm_seq_new(s->elem);
    if (c && !seq_reserve(c, s->n)) {
        free(c);
        lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    for (int i = 0; c && i < s->n; i++) {
        atomic_fetch_add(&s->items[i]->refs, 1);
        c->items[c->n++] = s->items[i];
    }
    return c;
}

static void item_put(lm_seq_item *it)
{
    if (atomic_fetch_sub(&it->refs, 1) == 1) {
        free(it->t.data);
        free(it);
    }
}

void lm_seq_free(lm_sequence *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        item_put(s->items[i]);
    free(s->items);
    free(s);
}

loom_status lm_seq_insert(lm_sequence *s, int pos, const loom_tensor *t)
{
    if (!seq_reserve(s, s->n + 1))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    lm_seq_item *it = calloc(1, sizeof(*it));
    if (!it)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = lm_tensor_init_shape(&it->t, t->dtype, t->rank, t->dims);
    if (!st)
        st = lm_tensor_alloc_data(&it->t);
    if (st) {
        free(it);
        return st;
    }
    if (t->nbytes)
        memcpy(it->t.data, t->data, t->nbytes);
    atomic_init(&it->refs, 1);
    memmove(&s->items[pos + 1], &s->items[pos], sizeof(*s->items) * (size_t)(s->n - pos));
    s->items[pos] = it;
    s->n++;
    return LOOM_OK;
}

void lm_seq_erase(lm_sequence *s, int pos)
{
    item_put(s->items[pos]);
    memmove(&s->items[pos], &s->items[pos + 1], sizeof(*s->items) * (size_t)(s->n - pos - 1));
    s->n--;
}

loom_tensor *lm_kout_sequence(lm_kctx *k, int i, lm_sequence *s)
{
    if (!s) {
        k->kout_status = LOOM_ERR_NO_MEMORY;
        return NULL;
    }
    if (i < 0 || i >= k->n_out || k->out[i]) {
        lm_seq_free(s);
        lm_kfail(k, LOOM_ERR_RUNTIME, "kernel declared output %d twice or out of range", i);
        return NULL;
    }
    loom_tensor *t = lm_exec_output_header(k, i);
    if (!t) {
        lm_seq_free(s);
        lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    bool pooled = t->pooled;
    memset(t, 0, sizeof(*t));
    t->pooled = pooled;
    t->dtype = LM_DTYPE_SEQUENCE;
    t->data = s;
    t->owns_data = true;
    k->out[i] = t;
    return t;
}

loom_status lm_kin_sequence(lm_kctx *k, int i, const lm_sequence **out)
{
    const loom_tensor *t = lm_kin(k, i);
    if (!lm_is_sequence(t))
        return lm_kinvalid(k, "input %d is %s, not a sequence", i,
                           t ? loom_dtype_name(t->dtype) : "absent");
    *out = t->data;
    return LOOM_OK;
}
