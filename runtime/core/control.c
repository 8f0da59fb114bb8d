/*
 * control.c - If, Loop and Scan: operators whose bodies are graphs.
 *
 * Each body is a model of its own (made at load, model.c), on the same
 * context, so it is fused, planned once per input shape, placed and packed
 * like any graph, and a body that runs a thousand times reuses its plan. The
 * op feeds a body its own inputs (the branch has none; the loop counter,
 * condition and carried state; the carried state and scan slices) followed
 * by the enclosing-scope values it reads (lm_subgraph.feed).
 *
 * In the planning pass the ops plan their bodies for the shapes they will
 * see and declare their outputs when those shapes follow: a Scan always, a
 * Loop whose state keeps its shape (and whose trip count is known when it
 * has scan outputs), an If whose branch is known or whose branches agree.
 * Otherwise they defer, and what follows them is shaped at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "env.h"
#include "error.h"
#include "model.h"
#include "op.h"
#include "sequence.h"

/* ---------------------------------------------------------------- bodies */

/* A body and the inputs it is run with. */
typedef struct body {
    const lm_subgraph *sub;
    loom_model *model;
    int n_own;         /* inputs the op feeds itself, ahead of the enclosing-scope ones */
    int n_in, n_out;   /* the body graph's */
    loom_tensor **in;  /* n_in: the op's own (set per run), then the fed ones */
    loom_tensor **out; /* n_out: the last run's results, owned */
} body;

static loom_status body_open(lm_kctx *k, const char *attr, body *b)
{
    memset(b, 0, sizeof(*b));
    b->sub = lm_node_subgraph(k->node, attr);
    if (!b->sub || !b->sub->model)
        return lm_kinvalid(k, "graph attribute '%s' is missing", attr);
    b->model = b->sub->model;
    const lm_graph *g = b->model->g;
    b->n_in = g->n_inputs;
    b->n_out = g->n_outputs;
    b->n_own = g->n_inputs - b->sub->n_feed;
    b->in = lm_kscratch(k, sizeof(loom_tensor *) * ((size_t)b->n_in + 1));
    b->out = lm_kscratch(k, sizeof(loom_tensor *) * ((size_t)b->n_out + 1));
    if (!b->in || !b->out)
        return LOOM_ERR_NO_MEMORY;
    memset(b->out, 0, sizeof(loom_tensor *) * ((size_t)b->n_out + 1));
    for (int j = 0; j < b->sub->n_feed; j++)
        b->in[b->n_own + j] = k->in[b->sub->feed[j]];
    return LOOM_OK;
}

static loom_status body_expect(lm_kctx *k, const body *b, const char *attr, int n_own, int n_out)
{
    if (b->n_own != n_own || b->n_out != n_out)
        return lm_kinvalid(k,
                           "'%s' takes %d inputs and returns %d outputs; the node needs %d and %d",
                           attr, b->n_own, b->n_out, n_own, n_out);
    return LOOM_OK;
}

static void body_drop_outputs(body *b)
{
    for (int o = 0; o < b->n_out; o++) {
        loom_tensor_destroy(b->out[o]);
        b->out[o] = NULL;
    }
}

static loom_status body_run(body *b)
{
    body_drop_outputs(b);
    return loom_model_run(b->model, b->in, (size_t)b->n_in, b->out, (size_t)b->n_out);
}

/* The body's plan for inputs shaped as b->in (their data left out: the plan
 * serves every run of those shapes); a reference for the caller. */
static loom_status body_plan(const body *b, lm_plan **p)
{
    loom_tensor hdr[b->n_in + 1];
    loom_tensor *ptr[b->n_in + 1];
    for (int i = 0; i < b->n_in; i++) {
        hdr[i] = *b->in[i];
        hdr[i].data = NULL;
        hdr[i].owns_data = false;
        hdr[i].pooled = false;
        ptr[i] = &hdr[i];
    }
    return lm_plan_get(b->model, ptr, p);
}

/* Body output @o's shape in plan @p, NULL when only a run tells. */
static const loom_tensor *planned_output(const body *b, const lm_plan *p, int o)
{
    int v = b->model->g->outputs[o];
    return p->constant[v] ? p->constant[v] : p->shape_known[v] ? &p->shapes[v] : NULL;
}

static bool same_shape(const loom_tensor *a, const loom_tensor *b)
{
    return a && b && a->dtype == b->dtype && a->rank == b->rank &&
           memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}

/* Output @i: a copy of @t (of a sequence: one sharing its items). */
static loom_status emit_copy(lm_kctx *k, int i, const loom_tensor *t)
{
    if (lm_is_sequence(t))
        return lm_kout_sequence(k, i, lm_seq_copy(t->data)) ? LOOM_OK : LM_KOUT_FAILED;
    loom_tensor *y = lm_kout(k, i, t->dtype, t->rank, t->dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (y->data && t->nbytes)
        memcpy(y->data, t->data, t->nbytes);
    return LOOM_OK;
}

/* A one-element bool or numeric tensor's truth. */
static loom_status truth_of(lm_kctx *k, const loom_tensor *t, const char *what, bool *out)
{
    if (lm_tensor_count(t) != 1)
        return lm_kinvalid(k, "%s has %lld elements, not one", what, (long long)lm_tensor_count(t));
    if (t->dtype != LOOM_DTYPE_BOOL)
        return lm_kinvalid(k, "%s is %s, not bool", what, loom_dtype_name(t->dtype));
    *out = *(const uint8_t *)t->data != 0;
    return LOOM_OK;
}

/* ---------------------------------------------------------------- If */

/* The planning pass: the outputs' shapes if the branch is known or both agree. */
static loom_status if_shapes(lm_kctx *k, body *then_b, body *else_b)
{
    const loom_tensor *cond = lm_kin(k, 0);
    bool known = cond->data != NULL, c = false;
    loom_status s = known ? truth_of(k, cond, "the condition", &c) : LOOM_OK;
    lm_plan *pt = NULL, *pe = NULL;
    if (!s && (!known || c))
        s = body_plan(then_b, &pt);
    if (!s && (!known || !c))
        s = body_plan(else_b, &pe);
    /* A branch that cannot take these shapes may be one the data never
     * picks (a model guarding a case by a run-time test): only a run that
     * takes it fails. */
    if (s && s != LM_DEFER && !known)
        s = LM_DEFER;
    for (int o = 0; !s && o < k->n_out; o++) {
        const loom_tensor *t = pt ? planned_output(then_b, pt, o) : NULL;
        const loom_tensor *e = pe ? planned_output(else_b, pe, o) : NULL;
        const loom_tensor *shape = !pt ? e : !pe ? t : same_shape(t, e) ? t : NULL;
        if (!shape)
            s = LM_DEFER;
        else if (!lm_kout(k, o, shape->dtype, shape->rank, shape->dims))
            s = LM_KOUT_FAILED;
    }
    if (pt)
        lm_plan_put(then_b->model, pt);
    if (pe)
        lm_plan_put(else_b->model, pe);
    return s;
}

static loom_status op_if(lm_kctx *k)
{
    body then_b, else_b;
    loom_status s;
    if (k->n_in - k->node->n_implicit != 1 || !lm_kin(k, 0))
        return lm_kinvalid(k, "If takes one input, the condition");
    if (lm_kin(k, 0)->dtype != LOOM_DTYPE_BOOL)
        return lm_kinvalid(k, "the condition is %s, not bool",
                           loom_dtype_name(lm_kin(k, 0)->dtype));
    if ((s = body_open(k, "then_branch", &then_b)) || (s = body_open(k, "else_branch", &else_b)) ||
        (s = body_expect(k, &then_b, "then_branch", 0, k->n_out)) ||
        (s = body_expect(k, &else_b, "else_branch", 0, k->n_out)))
        return s;
    if (k->dry)
        return if_shapes(k, &then_b, &else_b);
    bool c;
    if ((s = truth_of(k, lm_kin(k, 0), "the condition", &c)))
        return s;
    body *b = c ? &then_b : &else_b;
    s = body_run(b);
    for (int o = 0; !s && o < k->n_out; o++)
        s = emit_copy(k, o, b->out[o]);
    body_drop_outputs(b);
    return s;
}

/* ---------------------------------------------------------------- scan outputs */

/* One output stacking a slice per iteration along @axis (Loop: 0 and
 * forward; Scan: its attributes). Made on the first slice. */
typedef struct stack {
    int axis;
    bool reverse;
    int64_t len;      /* slices it holds room for; Loop grows it */
    int64_t n;        /* slices stored */
    loom_tensor item; /* the first slice's type and shape (data NULL) */
    uint8_t *data;    /* len slices, laid out as the output (Loop: owned) */
    loom_tensor *y;   /* Scan: the output itself */
} stack;

/* Bytes of the slice ahead of @axis (outer) and from it on (inner). */
static void stack_split(const stack *st, int64_t *outer, size_t *inner)
{
    *outer = 1;
    for (int d = 0; d < st->axis; d++)
        *outer *= st->item.dims[d];
    *inner = st->item.nbytes / (size_t)(*outer ? *outer : 1);
}

/* Stores slice @t at position @pos of @len along the axis. */
static void stack_put(stack *st, const loom_tensor *t, int64_t pos)
{
    int64_t outer;
    size_t inner;
    stack_split(st, &outer, &inner);
    for (int64_t o = 0; o < outer; o++)
        memcpy(st->data + ((size_t)(o * st->len + pos)) * inner,
               (const uint8_t *)t->data + (size_t)o * inner, inner);
}

static loom_status stack_check(lm_kctx *k, const stack *st, const loom_tensor *t, int j)
{
    char a[96], b[96];
    if (!same_shape(&st->item, t))
        return lm_kinvalid(k, "scan output %d is %s %s in one iteration and %s %s in another", j,
                           loom_dtype_name(st->item.dtype),
                           lm_dims_str(st->item.rank, st->item.dims, a, sizeof(a)),
                           loom_dtype_name(t->dtype), lm_dims_str(t->rank, t->dims, b, sizeof(b)));
    return LOOM_OK;
}

/* The stacked output's shape: the slice's with @len inserted at the axis. */
static void stack_dims(const stack *st, int64_t len, int64_t *dims)
{
    for (int d = 0, s = 0; d <= st->item.rank; d++)
        dims[d] = d == st->axis ? len : st->item.dims[s++];
}

/* ---------------------------------------------------------------- Loop */

typedef struct loop_state {
    int n_carried, n_scan;
    loom_tensor **carried; /* current state: the node's inputs, then the body's outputs */
    bool *owned;           /* carried[i] is a body output this op frees */
    stack *scans;
} loop_state;

static void loop_free(loop_state *ls)
{
    for (int i = 0; i < ls->n_carried; i++)
        if (ls->owned[i])
            loom_tensor_destroy(ls->carried[i]);
    for (int j = 0; j < ls->n_scan; j++)
        free(ls->scans[j].data);
}

/* Appends this iteration's scan outputs, doubling room as needed. */
static loom_status loop_collect(lm_kctx *k, loop_state *ls, body *b)
{
    for (int j = 0; j < ls->n_scan; j++) {
        stack *st = &ls->scans[j];
        const loom_tensor *t = b->out[1 + ls->n_carried + j];
        loom_status s;
        if (lm_is_sequence(t))
            return lm_kinvalid(k, "scan output %d is a sequence, not a tensor", j);
        if (st->n == 0 && st->len == 0) {
            st->item = *t;
            st->item.data = NULL;
        } else if ((s = stack_check(k, st, t, j))) {
            return s;
        }
        if (st->n == st->len) {
            int64_t len = st->len ? st->len * 2 : 8;
            if ((size_t)len > LM_MAX_TENSOR_BYTES / (t->nbytes ? t->nbytes : 1))
                return lm_kfail(k, LOOM_ERR_NO_MEMORY, "scan output %d outgrows %zu bytes", j,
                                (size_t)LM_MAX_TENSOR_BYTES);
            uint8_t *d = realloc(st->data, (size_t)len * t->nbytes + 1);
            if (!d)
                return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory");
            st->data = d;
            st->len = len;
        }
        memcpy(st->data + (size_t)st->n++ * t->nbytes, t->data, t->nbytes);
    }
    return LOOM_OK;
}

/* Takes the body's new state, freeing the one it replaces. */
static void loop_advance(loop_state *ls, body *b)
{
    for (int i = 0; i < ls->n_carried; i++) {
        if (ls->owned[i])
            loom_tensor_destroy(ls->carried[i]);
        ls->carried[i] = b->out[1 + i];
        ls->owned[i] = true;
        b->out[1 + i] = NULL;
    }
}

static loom_status loop_emit(lm_kctx *k, loop_state *ls, const body *b)
{
    for (int i = 0; i < ls->n_carried; i++) {
        loom_status s = emit_copy(k, i, ls->carried[i]);
        if (s)
            return s;
    }
    for (int j = 0; j < ls->n_scan; j++) {
        stack *st = &ls->scans[j];
        if (st->n == 0) { /* no iteration: the body's declared slice, else rank 1 */
            const lm_value *v = &b->model->g->values[b->model->g->outputs[1 + ls->n_carried + j]];
            bool known = v->rank >= 0 && v->rank < LOOM_MAX_RANK;
            int64_t dims[LOOM_MAX_RANK + 1] = {0};
            for (int d = 0; known && d < v->rank; d++)
                known = (dims[d + 1] = v->dims[d]) >= 0;
            loom_dtype dt = v->dtype != LOOM_DTYPE_UNDEFINED ? v->dtype : LOOM_DTYPE_FLOAT;
            if (!lm_kout(k, ls->n_carried + j, dt, known ? v->rank + 1 : 1, dims))
                return LM_KOUT_FAILED;
            continue;
        }
        int64_t dims[LOOM_MAX_RANK + 1];
        stack_dims(st, st->n, dims);
        loom_tensor *y = lm_kout(k, ls->n_carried + j, st->item.dtype, st->item.rank + 1, dims);
        if (!y)
            return LM_KOUT_FAILED;
        memcpy(y->data, st->data, y->nbytes);
    }
    return LOOM_OK;
}

/* The planning pass: the final state's shapes if the body keeps them, and
 * the scan outputs' if the trip count is known too. */
static loom_status loop_shapes(lm_kctx *k, body *b, int n_carried, int n_scan)
{
    const loom_tensor *m = lm_kin(k, 0), *cond = lm_kin(k, 1);
    lm_plan *p;
    loom_status s = body_plan(b, &p);
    if (s) /* the loop may run no step (the run tells), so no error yet */
        return s == LM_DEFER || (m && m->data && lm_tensor_count(m) == 1 &&
                                 *(const int64_t *)m->data > 0 && !cond)
                   ? s
                   : LM_DEFER;
    int64_t trips = -1; /* unknown */
    const loom_tensor *cond_out = planned_output(b, p, 0);
    bool runs_to_m = !cond || (cond->data && cond_out && cond_out->data &&
                               lm_tensor_count(cond_out) == 1 && *(uint8_t *)cond_out->data);
    if (m && m->data && lm_tensor_count(m) == 1 && m->dtype == LOOM_DTYPE_INT64 && runs_to_m)
        trips = *(const int64_t *)m->data < 0 ? 0 : *(const int64_t *)m->data;
    if (cond && cond->data && lm_tensor_count(cond) == 1 && !*(const uint8_t *)cond->data)
        trips = 0;
    for (int i = 0; !s && i < n_carried; i++)
        if (!same_shape(planned_output(b, p, 1 + i), b->in[2 + i]))
            s = LM_DEFER; /* the state changes shape: only a run tells */
    for (int j = 0; !s && j < n_scan; j++)
        if (trips <= 0 || !planned_output(b, p, 1 + n_carried + j))
            s = LM_DEFER; /* no trip: the declared slice shapes decide (loop_emit) */
    for (int i = 0; !s && i < n_carried; i++)
        if (!lm_kout_like(k, i, b->in[2 + i]->dtype, b->in[2 + i]))
            s = LM_KOUT_FAILED;
    for (int j = 0; !s && j < n_scan; j++) {
        stack st = {.item = *planned_output(b, p, 1 + n_carried + j)};
        int64_t dims[LOOM_MAX_RANK + 1];
        stack_dims(&st, trips, dims);
        if (!lm_kout(k, n_carried + j, st.item.dtype, st.item.rank + 1, dims))
            s = LM_KOUT_FAILED;
    }
    lm_plan_put(b->model, p);
    return s;
}

static loom_status loop_iterate(lm_kctx *k, body *b, loop_state *ls)
{
    const loom_tensor *m = lm_kin(k, 0), *cond = lm_kin(k, 1);
    int64_t trips = INT64_MAX;
    bool c = true;
    loom_status s = LOOM_OK;
    if (m && (m->dtype != LOOM_DTYPE_INT64 || lm_tensor_count(m) != 1))
        return lm_kinvalid(k, "the trip count M must be one int64");
    if (m)
        trips = *(const int64_t *)m->data;
    if (cond && (s = truth_of(k, cond, "the condition", &c)))
        return s;
    int64_t zero = 0;
    loom_tensor iter = {0}, cond_in = {0};
    if ((s = lm_tensor_init_shape(&iter, LOOM_DTYPE_INT64, 0, &zero)) ||
        (s = lm_tensor_init_shape(&cond_in, LOOM_DTYPE_BOOL, 0, &zero)))
        return s;
    int64_t it_num = 0;
    uint8_t c_byte = 1;
    iter.data = &it_num;
    cond_in.data = &c_byte;
    b->in[0] = &iter;
    b->in[1] = &cond_in;
    int64_t limit = lm_env_int(LM_ENV_LOOP_MAX_TRIPS);
    for (; it_num < trips && c; it_num++) {
        if (limit && it_num == limit)
            return lm_kfail(k, LOOM_ERR_RUNTIME,
                            "still looping after %lld iterations "
                            "(LOOM_LOOP_MAX_TRIPS)",
                            (long long)limit);
        c_byte = c;
        memcpy(b->in + 2, ls->carried, sizeof(loom_tensor *) * (size_t)ls->n_carried);
        if ((s = body_run(b)) || (s = loop_collect(k, ls, b)))
            return s;
        /* Without a condition input the body's condition is ignored (a for loop). */
        if (cond && (s = truth_of(k, b->out[0], "the body's condition", &c)))
            return s;
        loop_advance(ls, b);
    }
    return LOOM_OK;
}

static loom_status op_loop(lm_kctx *k)
{
    body b;
    loom_status s;
    int n_own = k->n_in - k->node->n_implicit;
    int n_carried = n_own - 2;
    if (n_carried < 0)
        return lm_kinvalid(k, "Loop takes the trip count and the condition (either may be empty) "
                              "ahead of its carried values");
    int n_scan = k->n_out - n_carried;
    if (n_scan < 0)
        return lm_kinvalid(k, "Loop has %d carried values but %d outputs", n_carried, k->n_out);
    for (int i = 0; i < n_carried; i++)
        if (!lm_kin(k, 2 + i))
            return lm_kinvalid(k, "carried value %d is empty", i);
    if ((s = body_open(k, "body", &b)) ||
        (s = body_expect(k, &b, "body", 2 + n_carried, 1 + n_carried + n_scan)))
        return s;
    if (k->dry) {
        int64_t zero = 0;
        loom_tensor iter = {0}, cond_in = {0};
        lm_tensor_init_shape(&iter, LOOM_DTYPE_INT64, 0, &zero);
        lm_tensor_init_shape(&cond_in, LOOM_DTYPE_BOOL, 0, &zero);
        b.in[0] = &iter;
        b.in[1] = &cond_in;
        for (int i = 0; i < n_carried; i++)
            b.in[2 + i] = k->in[2 + i];
        return loop_shapes(k, &b, n_carried, n_scan);
    }
    loop_state ls = {.n_carried = n_carried, .n_scan = n_scan};
    ls.carried = lm_kscratch(k, sizeof(loom_tensor *) * ((size_t)n_carried + 1));
    ls.owned = lm_kscratch(k, sizeof(bool) * ((size_t)n_carried + 1));
    ls.scans = lm_kscratch(k, sizeof(stack) * ((size_t)n_scan + 1));
    if (!ls.carried || !ls.owned || !ls.scans)
        return LOOM_ERR_NO_MEMORY;
    memset(ls.owned, 0, sizeof(bool) * ((size_t)n_carried + 1));
    memset(ls.scans, 0, sizeof(stack) * ((size_t)n_scan + 1));
    memcpy(ls.carried, k->in + 2, sizeof(loom_tensor *) * (size_t)n_carried);
    s = loop_iterate(k, &b, &ls);
    body_drop_outputs(&b);
    if (!s)
        s = loop_emit(k, &ls, &b);
    loop_free(&ls);
    return s;
}

/* ---------------------------------------------------------------- Scan */

typedef struct scan_op {
    int n_state, n_scan_in, n_scan_out;
    int64_t len;            /* iterations: the scan inputs' length along their axes */
    const int64_t *in_axes; /* n_scan_in normalized axes */
    const int64_t *in_rev;  /* per scan input: 1 reversed, NULL all forward */
    loom_tensor *slices;    /* n_scan_in: one iteration's slice of each scan input */
    stack *outs;            /* n_scan_out */
} scan_op;

/* Reads a per-input attribute list of @n entries (NULL if absent). */
static loom_status scan_attr(lm_kctx *k, const char *name, int n, const int64_t **vals)
{
    int got = lm_node_attr_ints(k->node, name, vals);
    if (got >= 0 && got != n)
        return lm_kinvalid(k, "'%s' has %d entries for %d values", name, got, n);
    return LOOM_OK;
}

/* Validates the scan inputs' axes and lengths; fills sc->len and normalized axes. */
static loom_status scan_inputs(lm_kctx *k, scan_op *sc)
{
    const int64_t *axes;
    loom_status s;
    if ((s = scan_attr(k, "scan_input_axes", sc->n_scan_in, &axes)) ||
        (s = scan_attr(k, "scan_input_directions", sc->n_scan_in, &sc->in_rev)))
        return s;
    int64_t *norm = lm_kscratch(k, sizeof(int64_t) * ((size_t)sc->n_scan_in + 1));
    if (!norm)
        return LOOM_ERR_NO_MEMORY;
    for (int i = 0; i < sc->n_scan_in; i++) {
        const loom_tensor *x = lm_kin(k, sc->n_state + i);
        int axis;
        if (!x)
            return lm_kinvalid(k, "scan input %d is empty", i);
        if (x->rank < 1)
            return lm_kinvalid(k, "scan input %d is a scalar", i);
        if ((s = lm_kaxis(k, axes ? axes[i] : 0, x->rank, &axis)))
            return s;
        norm[i] = axis;
        if (i == 0)
            sc->len = x->dims[axis];
        else if (x->dims[axis] != sc->len)
            return lm_kinvalid(k, "scan input %d has %lld steps, scan input 0 has %lld", i,
                               (long long)x->dims[axis], (long long)sc->len);
    }
    sc->in_axes = norm;
    return LOOM_OK;
}

/* Shapes one iteration's slice of each scan input (data set by scan_slice). */
static loom_status scan_slice_shapes(lm_kctx *k, scan_op *sc, body *b)
{
    if (!(sc->slices = lm_kscratch(k, sizeof(loom_tensor) * ((size_t)sc->n_scan_in + 1))))
        return LOOM_ERR_NO_MEMORY;
    memset(sc->slices, 0, sizeof(loom_tensor) * ((size_t)sc->n_scan_in + 1));
    for (int i = 0; i < sc->n_scan_in; i++) {
        const loom_tensor *x = lm_kin(k, sc->n_state + i);
        int64_t dims[LOOM_MAX_RANK];
        for (int d = 0, o = 0; d < x->rank; d++)
            if (d != sc->in_axes[i])
                dims[o++] = x->dims[d];
        loom_status s = lm_tensor_init_shape(&sc->slices[i], x->dtype, x->rank - 1, dims);
        if (s)
            return s;
        b->in[sc->n_state + i] = &sc->slices[i];
    }
    return LOOM_OK;
}

/* Points or copies step @t of every scan input into its slice. */
static loom_status scan_slice(lm_kctx *k, scan_op *sc, int64_t t)
{
    for (int i = 0; i < sc->n_scan_in; i++) {
        const loom_tensor *x = lm_kin(k, sc->n_state + i);
        loom_tensor *sl = &sc->slices[i];
        int64_t pos = sc->in_rev && sc->in_rev[i] ? sc->len - 1 - t : t;
        int64_t outer = 1;
        for (int d = 0; d < sc->in_axes[i]; d++)
            outer *= x->dims[d];
        size_t inner = sl->nbytes / (size_t)(outer ? outer : 1);
        if (outer == 1) { /* contiguous: a view */
            sl->data = (uint8_t *)x->data + (size_t)pos * inner;
            continue;
        }
        if (!sl->data && !(sl->data = lm_kscratch(k, sl->nbytes + 1)))
            return LOOM_ERR_NO_MEMORY;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)sl->data + (size_t)o * inner,
                   (const uint8_t *)x->data + ((size_t)(o * sc->len + pos)) * inner, inner);
    }
    return LOOM_OK;
}

/* Declares scan output @j from its slice @item, on the first iteration. */
static loom_status scan_output_open(lm_kctx *k, scan_op *sc, int j, const loom_tensor *item)
{
    const int64_t *axes, *rev;
    loom_status s;
    if ((s = scan_attr(k, "scan_output_axes", sc->n_scan_out, &axes)) ||
        (s = scan_attr(k, "scan_output_directions", sc->n_scan_out, &rev)))
        return s;
    stack *st = &sc->outs[j];
    int axis;
    if ((s = lm_kaxis(k, axes ? axes[j] : 0, item->rank + 1, &axis)))
        return s;
    *st = (stack){.axis = axis, .reverse = rev && rev[j], .len = sc->len, .item = *item};
    st->item.data = NULL;
    int64_t dims[LOOM_MAX_RANK + 1];
    stack_dims(st, sc->len, dims);
    if (!(st->y = lm_kout(k, sc->n_state + j, item->dtype, item->rank + 1, dims)))
        return LM_KOUT_FAILED;
    st->data = st->y->data;
    return LOOM_OK;
}

static loom_status scan_run(lm_kctx *k, scan_op *sc, body *b)
{
    loom_status s = LOOM_OK;
    loom_tensor **state = lm_kscratch(k, sizeof(loom_tensor *) * ((size_t)sc->n_state + 1));
    if (!state)
        return LOOM_ERR_NO_MEMORY;
    for (int i = 0; i < sc->n_state; i++)
        state[i] = k->in[i];
    bool owned = false; /* state[] holds body outputs (after the first iteration) */
    for (int64_t t = 0; !s && t < sc->len; t++) {
        memcpy(b->in, state, sizeof(loom_tensor *) * (size_t)sc->n_state);
        if ((s = scan_slice(k, sc, t)) || (s = body_run(b)))
            break;
        for (int j = 0; !s && j < sc->n_scan_out; j++) {
            const loom_tensor *item = b->out[sc->n_state + j];
            stack *st = &sc->outs[j];
            if (lm_is_sequence(item)) {
                s = lm_kinvalid(k, "scan output %d is a sequence, not a tensor", j);
                break;
            }
            if (t == 0)
                s = scan_output_open(k, sc, j, item);
            else
                s = stack_check(k, st, item, j);
            if (!s)
                stack_put(st, item, st->reverse ? sc->len - 1 - t : t);
        }
        for (int i = 0; i < sc->n_state; i++) {
            if (owned)
                loom_tensor_destroy(state[i]);
            state[i] = b->out[i];
            b->out[i] = NULL;
        }
        owned = true;
    }
    for (int i = 0; !s && i < sc->n_state; i++)
        s = emit_copy(k, i, state[i]);
    for (int i = 0; owned && i < sc->n_state; i++)
        loom_tensor_destroy(state[i]);
    body_drop_outputs(b);
    return s;
}

/* The planning pass: every output's shape follows from the body's plan. */
static loom_status scan_shapes(lm_kctx *k, scan_op *sc, body *b)
{
    lm_plan *p;
    loom_status s = body_plan(b, &p);
    if (s)
        return s;
    for (int i = 0; !s && i < sc->n_state; i++) {
        const loom_tensor *t = planned_output(b, p, i);
        s = !t ? LM_DEFER : lm_kout_like(k, i, t->dtype, t) ? LOOM_OK : LM_KOUT_FAILED;
    }
    for (int j = 0; !s && j < sc->n_scan_out; j++) {
        const loom_tensor *t = planned_output(b, p, sc->n_state + j);
        s = !t || sc->len == 0 ? LM_DEFER : scan_output_open(k, sc, j, t);
    }
    lm_plan_put(b->model, p);
    return s;
}

/* No step: the state passes through; the scan outputs are empty stacks of
 * slices shaped by the body's plan. */
static loom_status scan_empty(lm_kctx *k, scan_op *sc, body *b)
{
    lm_plan *p = NULL;
    loom_status s = body_plan(b, &p);
    for (int i = 0; !s && i < sc->n_state; i++)
        s = emit_copy(k, i, k->in[i]);
    for (int j = 0; !s && j < sc->n_scan_out; j++) {
        const loom_tensor *t = planned_output(b, p, sc->n_state + j);
        s = t ? scan_output_open(k, sc, j, t)
              : lm_kunsupported(k, "scan output %d of zero steps has no known slice shape", j);
    }
    if (p)
        lm_plan_put(b->model, p);
    return s;
}

/* ---------------------------------------------------------------- Scan-8 */

/*
 * Scan before opset 9: inputs (sequence_lens?, states..., scans...), each
 * with a leading batch axis, the scan inputs' sequence axis after it;
 * "directions" per scan input. Every batch entry is a Scan of its own over
 * its first sequence_lens[b] steps; scan outputs stack along axis 1 in
 * iteration order, zero past a shorter sequence.
 */
typedef struct scan8 {
    int n_state, n_scan_in, n_scan_out;
    int64_t batch, len;    /* batch entries; the longest sequence */
    const int64_t *lens;   /* per batch entry, or NULL: all len */
    const int64_t *dirs;   /* per scan input: 1 backward, NULL all forward */
    loom_tensor *const *x; /* the node's states and scan inputs (no sequence_lens) */
    loom_tensor *views;    /* one entry's state or one step's slice, per input */
    loom_tensor **y;       /* the outputs, made on the first step run */
} scan8;

/* Header @v: entry @i of @t's leading axis, @skip axes dropped in all. */
static loom_status scan8_view(const loom_tensor *t, int skip, int64_t i, loom_tensor *v)
{
    bool pooled = v->pooled;
    loom_status s = lm_tensor_init_shape(v, t->dtype, t->rank - skip, t->dims + skip);
    v->pooled = pooled;
    v->data = (uint8_t *)t->data + (size_t)i * v->nbytes;
    return s;
}

/* The outputs, shaped by the first step's results: states [batch, ...],
 * scan outputs [batch, len, ...], all zero to start (shorter sequences). */
static loom_status scan8_outputs(lm_kctx *k, scan8 *sc, body *b)
{
    for (int o = 0; o < sc->n_state + sc->n_scan_out; o++) {
        const loom_tensor *t = b->out[o];
        bool stacked = o >= sc->n_state;
        int64_t dims[LOOM_MAX_RANK];
        if (t->rank + 1 + stacked > LOOM_MAX_RANK || lm_is_sequence(t))
            return lm_kunsupported(k, "output %d cannot be stacked", o);
        dims[0] = sc->batch;
        if (stacked)
            dims[1] = sc->len;
        memcpy(dims + 1 + stacked, t->dims, sizeof(int64_t) * (size_t)t->rank);
        if (!(sc->y[o] = lm_kout(k, o, t->dtype, t->rank + 1 + stacked, dims)))
            return LM_KOUT_FAILED;
        memset(sc->y[o]->data, 0, sc->y[o]->nbytes);
    }
    return LOOM_OK;
}

/* Stores output @o of step @t (0-based, iteration order) of entry @e. */
static loom_status scan8_store(lm_kctx *k, scan8 *sc, const loom_tensor *t, int o, int64_t e,
                               int64_t step)
{
    loom_tensor *y = sc->y[o];
    bool stacked = o >= sc->n_state;
    size_t item = y->nbytes / (size_t)(sc->batch * (stacked ? sc->len : 1));
    if (t->nbytes != item || t->dtype != y->dtype)
        return lm_kinvalid(k, "output %d changes shape between steps or entries", o);
    memcpy((uint8_t *)y->data + (size_t)(e * (stacked ? sc->len : 1) + (stacked ? step : 0)) * item,
           t->data, item);
    return LOOM_OK;
}

/* Entry @e: its states, then its steps. */
static loom_status scan8_entry(lm_kctx *k, scan8 *sc, body *b, int64_t e)
{
    loom_status s = LOOM_OK;
    int64_t n = sc->lens ? sc->lens[e] : sc->len;
    if (n < 0 || n > sc->len)
        return lm_kinvalid(k, "sequence_lens[%lld] is %lld, outside 0..%lld", (long long)e,
                           (long long)n, (long long)sc->len);
    bool owned = false;
    for (int i = 0; !s && i < sc->n_state; i++) {
        s = scan8_view(sc->x[i], 1, e, &sc->views[i]);
        b->in[i] = &sc->views[i];
    }
    for (int64_t t = 0; !s && t < n; t++) {
        for (int i = 0; !s && i < sc->n_scan_in; i++) {
            int64_t pos = sc->dirs && sc->dirs[i] ? n - 1 - t : t;
            s = scan8_view(sc->x[sc->n_state + i], 2, e * sc->len + pos,
                           &sc->views[sc->n_state + i]);
            b->in[sc->n_state + i] = &sc->views[sc->n_state + i];
        }
        if (s || (s = body_run(b)) || (!sc->y[0] && (s = scan8_outputs(k, sc, b))))
            break;
        for (int j = 0; !s && j < sc->n_scan_out; j++)
            s = scan8_store(k, sc, b->out[sc->n_state + j], sc->n_state + j, e, t);
        for (int i = 0; i < sc->n_state; i++) { /* the next step's state */
            if (owned)
                loom_tensor_destroy(b->in[i]);
            b->in[i] = b->out[i];
            b->out[i] = NULL;
        }
        owned = true;
    }
    for (int i = 0; !s && i < sc->n_state; i++)
        s = sc->y[0]
                ? scan8_store(k, sc, b->in[i], i, e, 0)
                : lm_kunsupported(k, "an entry of no steps before any other shaped the outputs");
    for (int i = 0; owned && i < sc->n_state; i++)
        loom_tensor_destroy(b->in[i]);
    return s;
}

static loom_status op_scan8(lm_kctx *k)
{
    body b;
    loom_status s;
    scan8 sc = {.n_scan_in = (int)lm_node_attr_int(k->node, "num_scan_inputs", -1)};
    int n_own = k->n_in - k->node->n_implicit - 1; /* after sequence_lens */
    sc.n_state = n_own - sc.n_scan_in;
    sc.n_scan_out = k->n_out - sc.n_state;
    if (sc.n_scan_in < 1 || sc.n_state < 0 || sc.n_scan_out < 0 || sc.n_state + sc.n_scan_out < 1)
        return lm_kinvalid(k, "num_scan_inputs %d does not fit %d inputs and %d outputs",
                           sc.n_scan_in, n_own, k->n_out);
    sc.x = k->in + 1;
    for (int i = 0; i < n_own; i++) {
        const loom_tensor *t = sc.x[i];
        bool scan = i >= sc.n_state;
        if (!t || t->rank < 1 + scan || lm_is_sequence(t))
            return lm_kinvalid(k, "input %d must be a tensor with a batch%s axis", 1 + i,
                               scan ? " and a sequence" : "");
        if (t->dims[0] != sc.x[0]->dims[0] || (scan && t->dims[1] != sc.x[sc.n_state]->dims[1]))
            return lm_kinvalid(k, "input %d's batch or sequence length differs", 1 + i);
    }
    sc.batch = sc.x[0]->dims[0];
    sc.len = sc.x[sc.n_state]->dims[1];
    const loom_tensor *lens = lm_kin(k, 0);
    if (lens && (lens->dtype != LOOM_DTYPE_INT64 || lm_tensor_count(lens) != sc.batch))
        return lm_kinvalid(k, "sequence_lens must be %lld int64 values", (long long)sc.batch);
    if (lm_node_attr_ints(k->node, "directions", &sc.dirs) >= 0 &&
        lm_node_attr_ints(k->node, "directions", &sc.dirs) != sc.n_scan_in)
        return lm_kinvalid(k, "'directions' has an entry per scan input");
    if ((s = body_open(k, "body", &b)) ||
        (s = body_expect(k, &b, "body", n_own, sc.n_state + sc.n_scan_out)))
        return s;
    if (k->dry)
        return LM_DEFER; /* shaped by a run: entries may differ in length */
    sc.lens = lens ? lens->data : NULL;
    sc.views = lm_kscratch(k, sizeof(loom_tensor) * ((size_t)n_own + 1));
    sc.y = lm_kscratch(k, sizeof(loom_tensor *) * ((size_t)k->n_out + 1));
    if (!sc.views || !sc.y)
        return LOOM_ERR_NO_MEMORY;
    memset(sc.views, 0, sizeof(loom_tensor) * ((size_t)n_own + 1));
    memset(sc.y, 0, sizeof(loom_tensor *) * ((size_t)k->n_out + 1));
    for (int64_t e = 0; !s && e < sc.batch; e++)
        s = scan8_entry(k, &sc, &b, e);
    body_drop_outputs(&b);
    if (!s && !sc.y[0])
        s = lm_kunsupported(k, "no entry ran a step to shape the outputs");
    return s;
}

static loom_status op_scan(lm_kctx *k)
{
    if (lm_kopset(k) < 9)
        return op_scan8(k);
    body b;
    loom_status s;
    scan_op sc = {.n_scan_in = (int)lm_node_attr_int(k->node, "num_scan_inputs", -1)};
    int n_own = k->n_in - k->node->n_implicit;
    sc.n_state = n_own - sc.n_scan_in;
    sc.n_scan_out = k->n_out - sc.n_state;
    if (sc.n_scan_in < 1 || sc.n_state < 0 || sc.n_scan_out < 0)
        return lm_kinvalid(k, "num_scan_inputs %d does not fit %d inputs and %d outputs",
                           sc.n_scan_in, n_own, k->n_out);
    for (int i = 0; i < sc.n_state; i++)
        if (!lm_kin(k, i))
            return lm_kinvalid(k, "state value %d is empty", i);
    if ((s = body_open(k, "body", &b)) ||
        (s = body_expect(k, &b, "body", n_own, sc.n_state + sc.n_scan_out)) ||
        (s = scan_inputs(k, &sc)) || (s = scan_slice_shapes(k, &sc, &b)))
        return s;
    if (!(sc.outs = lm_kscratch(k, sizeof(stack) * ((size_t)sc.n_scan_out + 1))))
        return LOOM_ERR_NO_MEMORY;
    memcpy(b.in, k->in, sizeof(loom_tensor *) * (size_t)sc.n_state);
    if (k->dry)
        return scan_shapes(k, &sc, &b);
    return sc.len ? scan_run(k, &sc, &b) : scan_empty(k, &sc, &b);
}

const lm_op_def lm_ops_control[] = {
    LM_OP_FULL("", "If", op_if),
    LM_OP_FULL("", "Loop", op_loop),
    LM_OP_FULL("", "Scan", op_scan),
    LM_OP_END,
};
