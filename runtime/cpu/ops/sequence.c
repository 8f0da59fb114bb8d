/*
 * sequence.c - the sequence operators: SequenceEmpty, SequenceConstruct,
 * SequenceInsert, SequenceAt, SequenceErase, SequenceLength,
 * ConcatFromSequence and SplitToSequence (core/sequence.h: values, sharing).
 *
 * What a sequence holds is known only at run time, so every op here defers
 * in the planning pass unless all its inputs are constants (then it folds).
 */
#include <stdlib.h>
#include <string.h>

#include "../../core/sequence.h"
#include "more_ops.h"

/* Position input @i (int32 or int64 scalar) normalized against @n, for
 * @n + @extra slots (Insert may append: extra 1). */
static loom_status seq_position(lm_kctx *k, int i, int n, int extra, int64_t def, int *out)
{
    const loom_tensor *p = lm_kin(k, i);
    int64_t pos = def;
    if (p) {
        if ((p->dtype != LOOM_DTYPE_INT64 && p->dtype != LOOM_DTYPE_INT32) ||
            lm_tensor_count(p) != 1)
            return lm_kinvalid(k, "the position must be one int32 or int64");
        pos = lm_tensor_get_i64(p, 0);
    }
    if (pos < -(int64_t)n || pos >= (int64_t)n + extra)
        return lm_kinvalid(k, "position %lld is outside a sequence of %d", (long long)pos, n);
    *out = (int)(pos < 0 ? pos + n : pos);
    return LOOM_OK;
}

static loom_status op_sequence_empty(lm_kctx *k)
{
    loom_dtype dt = (loom_dtype)lm_node_attr_int(k->node, "dtype", LOOM_DTYPE_FLOAT);
    if (loom_dtype_size(dt) == 0)
        return lm_kunsupported(k, "a sequence of %s", loom_dtype_name(dt));
    return lm_kout_sequence(k, 0, lm_seq_new(dt)) ? LOOM_OK : LM_KOUT_FAILED;
}

static loom_status op_sequence_construct(lm_kctx *k)
{
    if (k->n_in < 1)
        return lm_kinvalid(k, "SequenceConstruct takes at least one tensor");
    if (k->dry)
        return LM_DEFER;
    lm_sequence *s = lm_seq_new(lm_kin(k, 0) ? lm_kin(k, 0)->dtype : LOOM_DTYPE_FLOAT);
    loom_status st = s ? LOOM_OK : LOOM_ERR_NO_MEMORY;
    for (int i = 0; !st && i < k->n_in; i++) {
        const loom_tensor *t = lm_kin(k, i);
        if (!t || lm_is_sequence(t) || t->dtype != s->elem)
            st = lm_kinvalid(k, "input %d is not a tensor of %s like input 0", i,
                             loom_dtype_name(s->elem));
        else
            st = lm_seq_insert(s, s->n, t);
    }
    if (st) {
        lm_seq_free(s);
        return st;
    }
    return lm_kout_sequence(k, 0, s) ? LOOM_OK : LM_KOUT_FAILED;
}

static loom_status op_sequence_insert(lm_kctx *k)
{
    const lm_sequence *in;
    const loom_tensor *t = lm_kin(k, 1);
    int pos;
    MO_TRY(lm_kin_sequence(k, 0, &in));
    if (k->dry)
        return LM_DEFER;
    if (!t || lm_is_sequence(t))
        return lm_kinvalid(k, "input 1 must be a tensor");
    if (t->dtype != in->elem)
        return lm_kinvalid(k, "inserting %s into a sequence of %s", loom_dtype_name(t->dtype),
                           loom_dtype_name(in->elem));
    MO_TRY(seq_position(k, 2, in->n, 1, in->n, &pos));
    lm_sequence *s = lm_seq_copy(in);
    loom_status st = s ? lm_seq_insert(s, pos, t) : LOOM_ERR_NO_MEMORY;
    if (st) {
        lm_seq_free(s);
        return st;
    }
    return lm_kout_sequence(k, 0, s) ? LOOM_OK : LM_KOUT_FAILED;
}

static loom_status op_sequence_erase(lm_kctx *k)
{
    const lm_sequence *in;
    int pos;
    MO_TRY(lm_kin_sequence(k, 0, &in));
    if (k->dry)
        return LM_DEFER;
    if (in->n == 0)
        return lm_kinvalid(k, "erasing from an empty sequence");
    MO_TRY(seq_position(k, 1, in->n, 0, -1, &pos));
    lm_sequence *s = lm_seq_copy(in);
    if (s)
        lm_seq_erase(s, pos);
    return lm_kout_sequence(k, 0, s) ? LOOM_OK : LM_KOUT_FAILED;
}

static loom_status op_sequence_at(lm_kctx *k)
{
    const lm_sequence *in;
    int pos;
    MO_TRY(lm_kin_sequence(k, 0, &in));
    if (k->dry)
        return LM_DEFER;
    if (!lm_kin(k, 1))
        return lm_kinvalid(k, "SequenceAt needs a position");
    MO_TRY(seq_position(k, 1, in->n, 0, 0, &pos));
    const loom_tensor *t = &in->items[pos]->t;
    loom_tensor *y = lm_kout(k, 0, t->dtype, t->rank, t->dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (t->nbytes)
        memcpy(y->data, t->data, t->nbytes);
    return LOOM_OK;
}

static loom_status op_sequence_length(lm_kctx *k)
{
    const lm_sequence *in;
    MO_TRY(lm_kin_sequence(k, 0, &in));
    if (k->dry)
        return LM_DEFER;
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_INT64, 0, NULL);
    if (!y)
        return LM_KOUT_FAILED;
    *(int64_t *)y->data = in->n;
    return LOOM_OK;
}

/* ---------------------------------------------------------------- ConcatFromSequence */

/* Checks that every item matches item 0 except along @axis (concatenation);
 * sums their extents there into *@total. */
static loom_status concat_shapes(lm_kctx *k, const lm_sequence *in, int axis, bool stack,
                                 int64_t *total)
{
    const loom_tensor *t0 = &in->items[0]->t;
    *total = 0;
    for (int i = 0; i < in->n; i++) {
        const loom_tensor *t = &in->items[i]->t;
        bool ok = t->dtype == t0->dtype && t->rank == t0->rank;
        for (int d = 0; ok && d < t->rank; d++)
            ok = t->dims[d] == t0->dims[d] || (!stack && d == axis);
        if (!ok)
            return lm_kinvalid(k, "item %d's type or shape does not match item 0's", i);
        *total += stack ? 1 : t->dims[axis];
    }
    return LOOM_OK;
}

static loom_status op_concat_from_sequence(lm_kctx *k)
{
    const lm_sequence *in;
    MO_TRY(lm_kin_sequence(k, 0, &in));
    if (k->dry)
        return LM_DEFER;
    if (in->n == 0)
        return lm_kinvalid(k, "concatenating an empty sequence");
    if (!lm_node_has_attr(k->node, "axis"))
        return lm_kinvalid(k, "attribute 'axis' is required");
    bool stack = lm_node_attr_int(k->node, "new_axis", 0) != 0;
    const loom_tensor *t0 = &in->items[0]->t;
    int axis;
    MO_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), t0->rank + stack, &axis));
    int64_t total, dims[LOOM_MAX_RANK + 1];
    MO_TRY(concat_shapes(k, in, axis, stack, &total));
    for (int d = 0, s = 0; d < t0->rank + stack; d++) {
        dims[d] = d == axis ? total : t0->dims[s];
        s += d != axis || !stack; /* stacking inserts the axis, concatenating replaces it */
    }
    loom_tensor *y = lm_kout(k, 0, t0->dtype, t0->rank + stack, dims);
    if (!y)
        return LM_KOUT_FAILED;
    /* Each item is outer x (its extent along the axis x inner) bytes. */
    size_t esize = loom_dtype_size(t0->dtype), inner = esize;
    int64_t outer = 1;
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = axis + 1; d < t0->rank + stack; d++)
        inner *= (size_t)dims[d];
    uint8_t *dst = y->data;
    size_t row = inner * (size_t)total, at = 0;
    for (int i = 0; i < in->n; i++) {
        const loom_tensor *t = &in->items[i]->t;
        size_t chunk = inner * (size_t)(stack ? 1 : t->dims[axis]);
        for (int64_t o = 0; o < outer; o++)
            memcpy(dst + (size_t)o * row + at, (const uint8_t *)t->data + (size_t)o * chunk, chunk);
        at += chunk;
    }
    return LOOM_OK;
}

/* ---------------------------------------------------------------- SplitToSequence */

/* The pieces' extents along the axis (@dim long): from split, else ones. */
static loom_status split_sizes(lm_kctx *k, int64_t dim, int64_t **sizes, int *n)
{
    const loom_tensor *sp = lm_kin(k, 1);
    if (sp && sp->dtype != LOOM_DTYPE_INT64 && sp->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "split must be int32 or int64");
    int64_t chunk = sp && sp->rank == 0 ? lm_tensor_get_i64(sp, 0) : 1;
    if (chunk <= 0)
        return lm_kinvalid(k, "split %lld is not positive", (long long)chunk);
    int64_t count = sp && sp->rank == 1 ? lm_tensor_count(sp) : (dim + chunk - 1) / chunk;
    if (count > 1 << 24)
        return lm_kunsupported(k, "%lld pieces", (long long)count);
    int64_t *s = lm_kscratch(k, sizeof(int64_t) * (size_t)(count + 1));
    if (!s)
        return LOOM_ERR_NO_MEMORY;
    int64_t sum = 0;
    for (int64_t i = 0; i < count; i++) {
        s[i] = sp && sp->rank == 1 ? lm_tensor_get_i64(sp, i) : chunk;
        if (!(sp && sp->rank == 1) && sum + s[i] > dim)
            s[i] = dim - sum; /* the last piece takes what is left */
        if (s[i] < 0)
            return lm_kinvalid(k, "split size %lld is negative", (long long)s[i]);
        sum += s[i];
    }
    if (sum != dim)
        return lm_kinvalid(k, "split sizes add up to %lld, the axis is %lld", (long long)sum,
                           (long long)dim);
    *sizes = s;
    *n = (int)count;
    return LOOM_OK;
}

static loom_status op_split_to_sequence(lm_kctx *k)
{
    const loom_tensor *x = lm_kin(k, 0);
    if (!x || lm_is_sequence(x))
        return lm_kinvalid(k, "input 0 must be a tensor");
    if (k->dry)
        return LM_DEFER;
    int axis, n = 0;
    int64_t *sizes = NULL;
    MO_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x->rank, &axis));
    MO_TRY(split_sizes(k, x->dims[axis], &sizes, &n));
    /* Without split, keepdims = 0 drops the axis of the size-1 pieces. */
    bool squeeze = !lm_kin(k, 1) && lm_node_attr_int(k->node, "keepdims", 1) == 0;
    size_t esize = loom_dtype_size(x->dtype), inner = esize;
    int64_t outer = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        inner *= (size_t)x->dims[d];
    lm_sequence *s = lm_seq_new(x->dtype);
    loom_status st = s ? LOOM_OK : LOOM_ERR_NO_MEMORY;
    loom_tensor piece = {0};
    for (int i = 0, at = 0; !st && i < n; at += (int)sizes[i++]) {
        int64_t dims[LOOM_MAX_RANK];
        int rank = 0;
        for (int d = 0; d < x->rank; d++)
            if (d != axis || !squeeze)
                dims[rank++] = d == axis ? sizes[i] : x->dims[d];
        if ((st = lm_tensor_init_shape(&piece, x->dtype, rank, dims)) ||
            (st = lm_tensor_alloc_data(&piece)))
            break;
        size_t chunk = inner * (size_t)sizes[i];
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)piece.data + (size_t)o * chunk,
                   (const uint8_t *)x->data +
                       ((size_t)o * (size_t)x->dims[axis] + (size_t)at) * inner,
                   chunk);
        st = lm_seq_insert(s, s->n, &piece);
        free(piece.data);
        piece.data = NULL;
    }
    if (st) {
        lm_seq_free(s);
        return st;
    }
    return lm_kout_sequence(k, 0, s) ? LOOM_OK : LM_KOUT_FAILED;
}

const lm_op_def lm_ops_sequence[] = {
    LM_OP("", "SequenceEmpty", op_sequence_empty),
    LM_OP("", "SequenceConstruct", op_sequence_construct),
    LM_OP("", "SequenceInsert", op_sequence_insert),
    LM_OP("", "SequenceErase", op_sequence_erase),
    LM_OP_FULL("", "SequenceAt", op_sequence_at),
    LM_OP_FULL("", "SequenceLength", op_sequence_length),
    LM_OP_FULL("", "ConcatFromSequence", op_concat_from_sequence),
    LM_OP("", "SplitToSequence", op_split_to_sequence),
    LM_OP_END,
};
