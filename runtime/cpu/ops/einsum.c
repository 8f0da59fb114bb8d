/*
 * einsum.c - Einsum (opset 12+), float32 and double.
 *
 * The equation is parsed into labels: letters, plus one label per ellipsis dim
 * (right-aligned across inputs, broadcasting size-1 dims). Every operand is a
 * strided view over labels; a label repeated in one term adds its strides (a
 * diagonal), a broadcast dim gets stride 0. Operands are folded left to right:
 * each pair is gathered into [batch, M, K] and [batch, K, N] (summing labels no
 * later term or the output needs on the way; operands already in that layout,
 * or its transpose, are read in place) and multiplied with SGEMM. The result
 * is finally summed / permuted into the output's label order. One input is
 * just that last step. Up to 16 inputs.
 */
#include <string.h>

#include "../gemm.h"
#include "more_ops.h"

#define EQ_LETTERS 52                           /* 'A'..'Z' then 'a'..'z' (ASCII order) */
#define EQ_MAXL    (EQ_LETTERS + LOOM_MAX_RANK) /* plus ellipsis dims */

typedef struct term {
    int n;                      /* labels in the term, ellipsis expanded */
    int lab[LOOM_MAX_RANK * 2]; /* label ids in order */
    bool has_ell;
} term;

/* A strided view over distinct labels; effective sizes come from the label table. */
typedef struct operand {
    const void *data;
    int n;
    int lab[EQ_MAXL];
    int64_t stride[EQ_MAXL]; /* elements; 0 for broadcast */
} operand;

typedef struct eq {
    int n_in;
    term in[16];
    term out;
    int E;                 /* ellipsis dims */
    int64_t size[EQ_MAXL]; /* per label, -1 if unused */
} eq;

static int letter_id(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    return -1;
}

/* Parses one term (letters and at most one "...") into label ids @letters;
 * @ell_pos receives how many letters precede the ellipsis (-1: none). */
static loom_status parse_term(lm_kctx *k, const char *s, size_t len, int *letters, int *n_letters,
                              int *ell_pos)
{
    *n_letters = 0;
    *ell_pos = -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (*ell_pos >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return lm_kinvalid(k, "equation has a malformed or repeated ellipsis");
            *ell_pos = *n_letters;
            i += 2;
            continue;
        }
        int id = letter_id(s[i]);
        if (id < 0)
            return lm_kinvalid(k, "equation has invalid character '%c'", s[i]);
        if (*n_letters >= LOOM_MAX_RANK * 2)
            return lm_kinvalid(k, "equation term has too many labels");
        letters[(*n_letters)++] = id;
    }
    return LOOM_OK;
}

/* Expands letters + ellipsis (of @ne dims, right-aligned among E) into @t. */
static loom_status expand_term(lm_kctx *k, term *t, const int *letters, int nl, int ell_pos, int ne,
                               int E)
{
    t->n = 0;
    t->has_ell = ell_pos >= 0;
    if (nl + (ell_pos >= 0 ? ne : 0) > LOOM_MAX_RANK * 2)
        return lm_kinvalid(k, "equation term has too many labels");
    for (int i = 0; i <= nl; i++) {
        if (i == ell_pos)
            for (int e = E - ne; e < E; e++)
                t->lab[t->n++] = EQ_LETTERS + e;
        if (i < nl)
            t->lab[t->n++] = letters[i];
    }
    return LOOM_OK;
}

static loom_status parse_equation(lm_kctx *k, eq *q)
{
    const char *raw = lm_node_attr_str(k->node, "equation", NULL);
    if (!raw)
        return lm_kinvalid(k, "attribute 'equation' is required");
    char buf[512];
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n')
            continue;
        if (n + 1 >= sizeof(buf))
            return lm_kinvalid(k, "equation is too long");
        buf[n++] = *p;
    }
    buf[n] = 0;
    const char *arrow = strstr(buf, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - buf) : n;
    if (arrow && strstr(arrow + 2, "->"))
        return lm_kinvalid(k, "equation has more than one '->'");
    int letters[16][LOOM_MAX_RANK * 2], nlet[16], ellp[16];
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= lhs_len; i++) {
        if (i == lhs_len || buf[i] == ',') {
            if (count >= 16 || count >= k->n_in)
                return lm_kinvalid(k, "equation has more terms than the %d inputs", k->n_in);
            MO_TRY(
                parse_term(k, buf + start, i - start, letters[count], &nlet[count], &ellp[count]));
            count++;
            start = i + 1;
        }
    }
    if (count != k->n_in)
        return lm_kinvalid(k, "equation has %d input terms for %d inputs", count, k->n_in);
    q->n_in = count;
    q->E = 0;
    int ne[16];
    for (int i = 0; i < count; i++) {
        const loom_tensor *x = lm_kin(k, i);
        if (!x)
            return lm_kinvalid(k, "input %d is missing", i);
        ne[i] = x->rank - nlet[i];
        if (ellp[i] < 0 && ne[i] != 0)
            return lm_kfail(k, LOOM_ERR_SHAPE, "input %d has rank %d but its term has %d labels", i,
                            x->rank, nlet[i]);
        if (ne[i] < 0)
            return lm_kfail(k, LOOM_ERR_SHAPE, "input %d has rank %d, fewer than its %d labels", i,
                            x->rank, nlet[i]);
        if (ne[i] > q->E)
            q->E = ne[i];
    }
    for (int i = 0; i < count; i++)
        MO_TRY(expand_term(k, &q->in[i], letters[i], nlet[i], ellp[i], ne[i], q->E));

    for (int l = 0; l < EQ_MAXL; l++)
        q->size[l] = -1;
    int occurrences[EQ_MAXL] = {0};
    for (int i = 0; i < count; i++) {
        const loom_tensor *x = lm_kin(k, i);
        for (int j = 0; j < q->in[i].n; j++) {
            int l = q->in[i].lab[j];
            int64_t d = x->dims[j];
            occurrences[l]++;
            if (q->size[l] < 0 || (l >= EQ_LETTERS && q->size[l] == 1)) {
                q->size[l] = d;
            } else if (q->size[l] != d && !(l >= EQ_LETTERS && d == 1)) {
                return lm_kfail(k, LOOM_ERR_SHAPE,
                                "label size mismatch: input %d dim %d is %lld, expected %lld", i, j,
                                (long long)d, (long long)q->size[l]);
            }
        }
    }
    if (arrow) {
        int ol[LOOM_MAX_RANK * 2], onl, oell;
        MO_TRY(parse_term(k, arrow + 2, strlen(arrow + 2), ol, &onl, &oell));
        for (int i = 0; i < onl; i++) {
            if (q->size[ol[i]] < 0)
                return lm_kinvalid(k, "output label '%c' does not appear in any input",
                                   arrow[2 + i]);
            for (int j = 0; j < i; j++)
                if (ol[j] == ol[i])
                    return lm_kinvalid(k, "output repeats a label");
        }
        MO_TRY(expand_term(k, &q->out, ol, onl, oell, oell >= 0 ? q->E : 0, q->E));
    } else {
        /* Implicit output: the ellipsis dims, then letters seen exactly once,
         * in ASCII order. */
        q->out.n = 0;
        for (int e = 0; e < q->E; e++)
            q->out.lab[q->out.n++] = EQ_LETTERS + e;
        for (int l = 0; l < EQ_LETTERS; l++)
            if (occurrences[l] == 1) {
                if (q->out.n >= LOOM_MAX_RANK * 2)
                    return lm_kinvalid(k, "equation has too many output labels");
                q->out.lab[q->out.n++] = l;
            }
    }
    if (q->out.n > LOOM_MAX_RANK)
        return lm_kinvalid(k, "output rank %d exceeds %d", q->out.n, LOOM_MAX_RANK);
    return LOOM_OK;
}

/* View of input @i: distinct labels, diagonals merged, broadcasts at stride 0. */
static void make_operand(const eq *q, int i, const loom_tensor *x, operand *o)
{
    const term *t = &q->in[i];
    int64_t st[LOOM_MAX_RANK * 2];
    int64_t s = 1;
    for (int j = t->n - 1; j >= 0; j--) {
        st[j] = s;
        s *= x->dims[j];
    }
    o->data = x->data;
    o->n = 0;
    for (int j = 0; j < t->n; j++) {
        int l = t->lab[j];
        int64_t sj = x->dims[j] == 1 && q->size[l] != 1 ? 0 : st[j];
        int found = -1;
        for (int m = 0; m < o->n; m++)
            if (o->lab[m] == l)
                found = m;
        if (found >= 0) {
            o->stride[found] += sj;
        } else {
            o->lab[o->n] = l;
            o->stride[o->n] = sj;
            o->n++;
        }
    }
}

static int find_lab(const operand *o, int l)
{
    for (int m = 0; m < o->n; m++)
        if (o->lab[m] == l)
            return m;
    return -1;
}

/*
 * dst (contiguous over @tl[0..nt), in that order) = src summed over every label
 * of src not in @tl. Labels of @tl absent from src are broadcast (stride 0).
 */
typedef struct rp_plan {
    const void *src;
    void *dst;
    int nt, ns;
    int64_t osz[EQ_MAXL], ost[EQ_MAXL]; /* kept labels: sizes, source strides */
    int64_t ssz[EQ_MAXL], sst[EQ_MAXL]; /* summed labels */
    int64_t total, inner;
} rp_plan;

#define DEFINE_RP_RANGE(NAME, T)                                                                   \
    static void NAME(void *arg, int64_t begin, int64_t end)                                        \
    {                                                                                              \
        const rp_plan *p = arg;                                                                    \
        const T *s = p->src;                                                                       \
        T *dst = p->dst;                                                                           \
        int64_t oi[EQ_MAXL] = {0}, base = 0, rem = begin;                                          \
        for (int d = p->nt - 1; d >= 0; d--) {                                                     \
            oi[d] = rem % p->osz[d];                                                               \
            rem /= p->osz[d];                                                                      \
            base += oi[d] * p->ost[d];                                                             \
        }                                                                                          \
        int ns = p->ns;                                                                            \
        for (int64_t o = begin; o < end; o++) {                                                    \
            double acc = 0;                                                                        \
            if (ns == 0) {                                                                         \
                acc = s[base];                                                                     \
            } else if (p->inner > 0) {                                                             \
                /* Innermost summed label as a strided loop, the rest as an odometer. */           \
                int64_t si[EQ_MAXL] = {0}, off = base;                                             \
                int64_t n0 = p->ssz[ns - 1], s0 = p->sst[ns - 1];                                  \
                for (int64_t r = 0; r < p->inner; r += n0) {                                       \
                    for (int64_t j = 0; j < n0; j++)                                               \
                        acc += s[off + j * s0];                                                    \
                    for (int d = ns - 2; d >= 0; d--) {                                            \
                        off += p->sst[d];                                                          \
                        if (++si[d] < p->ssz[d])                                                   \
                            break;                                                                 \
                        off -= p->sst[d] * p->ssz[d];                                              \
                        si[d] = 0;                                                                 \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            dst[o] = (T)acc;                                                                       \
            for (int d = p->nt - 1; d >= 0; d--) {                                                 \
                base += p->ost[d];                                                                 \
                if (++oi[d] < p->osz[d])                                                           \
                    break;                                                                         \
                base -= p->ost[d] * p->osz[d];                                                     \
                oi[d] = 0;                                                                         \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_RP_RANGE(rp_range_f32, float)
DEFINE_RP_RANGE(rp_range_f64, double)

static void reduce_permute(lm_kctx *k, const eq *q, const operand *src, const int *tl, int nt,
                           void *dst, bool dbl)
{
    rp_plan p;
    p.src = src->data;
    p.dst = dst;
    p.nt = nt;
    p.ns = 0;
    p.total = 1;
    p.inner = 1;
    for (int i = 0; i < nt; i++) {
        int m = find_lab(src, tl[i]);
        p.osz[i] = q->size[tl[i]];
        p.ost[i] = m >= 0 ? src->stride[m] : 0;
        p.total *= p.osz[i];
    }
    for (int m = 0; m < src->n; m++) {
        bool kept = false;
        for (int i = 0; i < nt; i++)
            kept |= tl[i] == src->lab[m];
        if (!kept) {
            p.ssz[p.ns] = q->size[src->lab[m]];
            p.sst[p.ns] = src->stride[m];
            p.inner *= p.ssz[p.ns];
            p.ns++;
        }
    }
    if (p.total == 0)
        return;
    lm_parallel_for(k, p.total, 1.0 + (double)p.inner, dbl ? rp_range_f64 : rp_range_f32, &p);
}

/* Whether @o holds exactly the labels @order[0..n) laid out densely in that
 * order (size-1 labels may have any stride): then GEMM can read it in place. */
static bool dense_as(const eq *q, const operand *o, const int *order, int n)
{
    if (o->n != n)
        return false;
    int64_t s = 1;
    for (int i = n - 1; i >= 0; i--) {
        int m = find_lab(o, order[i]);
        if (m < 0)
            return false;
        if (q->size[order[i]] != 1 && o->stride[m] != s)
            return false;
        s *= q->size[order[i]];
    }
    return true;
}

typedef struct bmm_job {
    const void *a, *b;
    void *c;
    int64_t M, N, K;
    bool ta, tb; /* float only: A stored [K, M] / B stored [N, K] per batch */
    bool dbl;
} bmm_job;

static void bmm_range(void *arg, int64_t begin, int64_t end)
{
    const bmm_job *j = arg;
    int64_t M = j->M, N = j->N, K = j->K;
    for (int64_t i = begin; i < end; i++) {
        if (!j->dbl) {
            lm_sgemm(j->ta, j->tb, M, N, K, 1.0f, (const float *)j->a + i * M * K, j->ta ? M : K,
                     (const float *)j->b + i * K * N, j->tb ? K : N, 0.0f,
                     (float *)j->c + i * M * N, N);
            continue;
        }
        const double *a = (const double *)j->a + i * M * K, *b = (const double *)j->b + i * K * N;
        double *c = (double *)j->c + i * M * N;
        for (int64_t m = 0; m < M; m++) {
            double *cr = c + m * N;
            for (int64_t n = 0; n < N; n++)
                cr[n] = 0;
            for (int64_t kk = 0; kk < K; kk++) {
                double av = a[m * K + kk];
                const double *br = b + kk * N;
                for (int64_t n = 0; n < N; n++)
                    cr[n] += av * br[n];
            }
        }
    }
}

/* Number of elements over labels @l[0..n), failing on overflow or size limit. */
static loom_status labels_count(lm_kctx *k, const eq *q, const int *l, int n, size_t esz,
                                int64_t *count)
{
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (!mo_mul(c, q->size[l[i]], &c))
            return lm_kfail(k, LOOM_ERR_NO_MEMORY, "intermediate tensor is too large");
    int64_t bytes;
    if (!mo_mul(c, (int64_t)esz, &bytes) || (size_t)bytes > LM_MAX_TENSOR_BYTES)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "intermediate tensor is too large");
    *count = c;
    return LOOM_OK;
}

static void *scratch_n(lm_kctx *k, int64_t count, size_t esz)
{
    return lm_kscratch(k, (size_t)(count > 0 ? count : 1) * esz);
}

static loom_status op_einsum(lm_kctx *k)
{
    if (k->n_in < 1)
        return lm_kinvalid(k, "has no inputs");
    const loom_tensor *x0 = lm_kin(k, 0);
    if (!x0)
        return lm_kinvalid(k, "input 0 is missing");
    loom_dtype dt = x0->dtype;
    if (dt != LOOM_DTYPE_FLOAT && dt != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "dtype %s is not supported (float32, double)",
                               loom_dtype_name(dt));
    for (int i = 1; i < k->n_in; i++)
        if (lm_kin(k, i) && lm_kin(k, i)->dtype != dt)
            return lm_kinvalid(k, "input %d has dtype %s, input 0 has %s", i,
                               loom_dtype_name(lm_kin(k, i)->dtype), loom_dtype_name(dt));
    eq q;
    MO_TRY(parse_equation(k, &q));
    int64_t od[LOOM_MAX_RANK];
    for (int i = 0; i < q.out.n; i++)
        od[i] = q.size[q.out.lab[i]];
    loom_tensor *y = lm_kout(k, 0, dt, q.out.n, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    bool dbl = dt == LOOM_DTYPE_DOUBLE;
    size_t esz = dbl ? sizeof(double) : sizeof(float);
    for (int i = 0; i < k->n_in; i++)
        if (lm_tensor_count(lm_kin(k, i)) == 0) /* sums over an empty dim: zeros */
            return LOOM_OK;

    operand cur;
    make_operand(&q, 0, x0, &cur);
    for (int i = 1; i < q.n_in; i++) {
        operand nb;
        make_operand(&q, i, lm_kin(k, i), &nb);
        /* Labels still needed after this pair: the output's and later inputs'. */
        bool need[EQ_MAXL] = {false};
        for (int j = 0; j < q.out.n; j++)
            need[q.out.lab[j]] = true;
        for (int t = i + 1; t < q.n_in; t++)
            for (int j = 0; j < q.in[t].n; j++)
                need[q.in[t].lab[j]] = true;
        int bl[EQ_MAXL], ml[EQ_MAXL], nl[EQ_MAXL], kl[EQ_MAXL];
        int nbt = 0, nm = 0, nn = 0, nk = 0;
        for (int m = 0; m < cur.n; m++) {
            int l = cur.lab[m];
            bool inb = find_lab(&nb, l) >= 0;
            if (inb && need[l])
                bl[nbt++] = l;
            else if (inb)
                kl[nk++] = l;
            else if (need[l])
                ml[nm++] = l;
        }
        for (int m = 0; m < nb.n; m++) {
            int l = nb.lab[m];
            if (find_lab(&cur, l) < 0 && need[l])
                nl[nn++] = l;
        }
        int la[EQ_MAXL], lb[EQ_MAXL], lc[EQ_MAXL];
        int na = 0, nbb = 0, nc = 0;
        for (int j = 0; j < nbt; j++)
            la[na++] = lb[nbb++] = lc[nc++] = bl[j];
        for (int j = 0; j < nm; j++)
            la[na++] = lc[nc++] = ml[j];
        for (int j = 0; j < nk; j++)
            la[na++] = kl[j];
        for (int j = 0; j < nk; j++)
            lb[nbb++] = kl[j];
        for (int j = 0; j < nn; j++)
            lb[nbb++] = lc[nc++] = nl[j];
        int64_t ca, cb, cc, batch, M, N, K;
        MO_TRY(labels_count(k, &q, la, na, esz, &ca));
        MO_TRY(labels_count(k, &q, lb, nbb, esz, &cb));
        MO_TRY(labels_count(k, &q, lc, nc, esz, &cc));
        MO_TRY(labels_count(k, &q, bl, nbt, esz, &batch));
        MO_TRY(labels_count(k, &q, ml, nm, esz, &M));
        MO_TRY(labels_count(k, &q, nl, nn, esz, &N));
        MO_TRY(labels_count(k, &q, kl, nk, esz, &K));
        /* Operands already laid out as [batch, M, K] / [batch, K, M] (resp.
         * [batch, K, N] / [batch, N, K]) are read in place (float only). */
        int ta_l[EQ_MAXL], tb_l[EQ_MAXL], nta = 0, ntb = 0;
        for (int j = 0; j < nbt; j++)
            ta_l[nta++] = tb_l[ntb++] = bl[j];
        for (int j = 0; j < nk; j++)
            ta_l[nta++] = kl[j];
        for (int j = 0; j < nm; j++)
            ta_l[nta++] = ml[j];
        for (int j = 0; j < nn; j++)
            tb_l[ntb++] = nl[j];
        for (int j = 0; j < nk; j++)
            tb_l[ntb++] = kl[j];
        bool ta = false, tb = false;
        const void *pa = NULL, *pb = NULL;
        if (!dbl) {
            if (dense_as(&q, &cur, la, na)) {
                pa = cur.data;
            } else if (dense_as(&q, &cur, ta_l, nta)) {
                pa = cur.data;
                ta = true;
            }
            if (dense_as(&q, &nb, lb, nbb)) {
                pb = nb.data;
            } else if (dense_as(&q, &nb, tb_l, ntb)) {
                pb = nb.data;
                tb = true;
            }
        }
        if (!pa) {
            void *buf = scratch_n(k, ca, esz);
            if (!buf)
                return LOOM_ERR_NO_MEMORY;
            reduce_permute(k, &q, &cur, la, na, buf, dbl);
            pa = buf;
        }
        if (!pb) {
            void *buf = scratch_n(k, cb, esz);
            if (!buf)
                return LOOM_ERR_NO_MEMORY;
            reduce_permute(k, &q, &nb, lb, nbb, buf, dbl);
            pb = buf;
        }
        /* The last product writes the output directly when its labels are
         * already in the output's order. */
        bool direct = i == q.n_in - 1 && nc == q.out.n;
        for (int j = 0; direct && j < nc; j++)
            direct = lc[j] == q.out.lab[j];
        void *pc = direct ? y->data : scratch_n(k, cc, esz);
        if (!pc)
            return LOOM_ERR_NO_MEMORY;
        bmm_job job = {pa, pb, pc, M, N, K, ta, tb, dbl};
        if (batch == 1 && !dbl)
            lm_sgemm_parallel(k, ta, tb, M, N, K, 1.0f, pa, ta ? M : K, pb, tb ? K : N, 0.0f, pc,
                              N);
        else
            lm_parallel_for(k, batch, 2.0 * (double)M * (double)N * (double)K, bmm_range, &job);
        if (direct)
            return LOOM_OK;
        cur.data = pc;
        cur.n = nc;
        int64_t s = 1;
        for (int j = nc - 1; j >= 0; j--) {
            cur.lab[j] = lc[j];
            cur.stride[j] = s;
            s *= q.size[lc[j]];
        }
    }
    reduce_permute(k, &q, &cur, q.out.lab, q.out.n, y->data, dbl);
    return LOOM_OK;
}

const lm_op_def lm_ops_einsum[] = {
    LM_OP("", "Einsum", op_einsum),
    LM_OP_END,
};
