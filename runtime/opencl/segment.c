/*
 * segment.c - compiles a segment into a fixed list of kernel launches and runs
 * it. Everything that can be done once per plan is done at compile: constants
 * are taken from the process's store of device copies (core/prepared.c: each
 * is uploaded once per device, whatever number of plans and models use it),
 * every value gets a buffer (intermediates share buffers once
 * their last reader is done, and come from the device's pool), and each
 * launch gets a kernel object of its own with its arguments already set. A
 * run then only writes the inputs, enqueues the launches back to back on an
 * in-order queue (so each waits for the one before without a host round
 * trip), reads the outputs and waits once.
 *
 * A device that computes from host memory (LM_DEVICE_HOST_MEMORY: PoCL and
 * other CPU devices with unified memory) gets no copies at all at the
 * boundary: each run wraps the host tensors themselves in buffers
 * (CL_MEM_USE_HOST_PTR) and binds them where the segment's boundary buffers
 * were bound, so inputs are read and outputs written in place.
 *
 * With fp16 storage every tensor on the device is half (kernels built with
 * -DLM_HALF) while the host still sees float32: each input is written to a
 * float buffer that a first launch converts, and each output is converted
 * into a float buffer by a last launch before it is read back.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/error.h"
#include "core/prepared.h"
#include "opencl.h"

typedef struct launch {
    cl_kernel k; /* NULL: a buffer copy */
    cl_uint dim;
    size_t gws[3], lws[3];
    bool has_lws;
    cl_mem src, dst; /* copy */
    size_t src_off, dst_off, bytes;
    int src_slot, dst_slot; /* copy: the slots of src and dst, -1 none (a constant) */
} launch;

typedef struct slot {
    cl_mem mem;
    size_t size;
    int live;      /* values using it whose last reader has not been lowered yet */
    bool pinned;   /* segment boundary or constant: never shared */
    bool pooled;   /* came from / goes back to the device pool */
    bool constant; /* uploaded data (counted as constants, not buffers) */
    bool shared;   /* a device copy from the store: its entry releases it */
} slot;

/* A kernel argument bound to a slot's buffer: rebound when a trimmed
 * segment makes its buffers again. */
typedef struct slot_bind {
    cl_kernel k;
    cl_uint arg;
    int slot;
} slot_bind;

/* A kernel argument bound to a boundary buffer: rebound to the host
 * tensor's own buffer on each zero-copy run. */
typedef struct rebind {
    cl_kernel k;
    cl_uint arg;
    int port; /* input i, or n_in + output o */
} rebind;

typedef struct cl_segment {
    lm_cl_device *dev;
    pthread_mutex_t lock; /* protects busy */
    pthread_cond_t idle;  /* signalled when busy drops */
    bool busy;            /* a run owns q and the buffers (one at a time) */
    cl_command_queue q;
    bool half; /* fp16 storage: device tensors are half, host ones float */
    int n_launch, cap_launch;
    launch *launches;
    int n_slots, cap_slots;
    slot *slots;
    int n_in, n_out;
    cl_mem *in_mem, *out_mem;
    size_t *in_bytes, *out_bytes;
    bool zero_copy; /* boundary tensors are bound in place (the file comment) */
    bool trimmed;   /* its pooled buffers are freed until the next run (cl_trim) */
    int n_slot_binds;
    slot_bind *slot_binds;
    int *in_slot, *out_slot; /* the slots of in_mem[i] and out_mem[o] */
    int n_rebind;
    rebind *rebinds;
    cl_mem *wrapped; /* per port, this run's buffer over the host tensor, or NULL */
} cl_segment;

/* A buffer argument as lowering bound it (lm_cl_arg_mem). */
typedef struct memarg {
    cl_kernel k;
    cl_uint arg;
    cl_mem m;
} memarg;

struct lm_cl_builder {
    cl_segment *sg;
    const lm_segment_desc *d;
    int *slot_of;  /* per value: slot index, -1 */
    int *last_use; /* per value: last node (segment position) reading it */
    int pos;       /* node being lowered */
    int *temps;    /* scratch slots of the node being lowered */
    int n_temps, cap_temps;
    memarg *args; /* every buffer argument bound, for zero-copy rebinding */
    int n_args, cap_args;
    loom_status status;
};

/* ---- memory accounting and half conversion ---- */

static _Atomic uint64_t mem_constants, mem_buffers;

lm_cl_mem_use lm_cl_memory_in_use(void)
{
    return (lm_cl_mem_use){atomic_load(&mem_constants), atomic_load(&mem_buffers)};
}

static void account(const slot *sl, bool add)
{
    _Atomic uint64_t *c = sl->constant ? &mem_constants : &mem_buffers;
    if (add)
        atomic_fetch_add(c, sl->size);
    else
        atomic_fetch_sub(c, sl->size);
}

uint16_t lm_cl_half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf stays inf; NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflows to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below half's smallest normal: subnormal or zero */
        if (ax < 0x33000000u)
            return sign; /* under half the smallest subnormal */
        uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(ax >> 23); /* 14..24 */
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((ax >> 13) - (112u << 10)); /* rebias 127 -> 15 */
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++; /* a carry into the exponent is still right */
    return (uint16_t)(sign | h);
}

/* ---- device buffer pool ---- */

cl_mem lm_cl_pool_get(lm_cl_device *dev, size_t size)
{
    pthread_mutex_lock(&dev->lock);
    int best = -1;
    for (int i = 0; i < dev->n_pool; i++) /* smallest that fits, wasting at most half */
        if (dev->pool[i].size >= size && dev->pool[i].size / 2 <= size &&
            (best < 0 || dev->pool[i].size < dev->pool[best].size))
            best = i;
    cl_mem m = NULL;
    if (best >= 0) {
        m = dev->pool[best].mem;
        dev->pool[best] = dev->pool[--dev->n_pool];
    }
    pthread_mutex_unlock(&dev->lock);
    if (!m) {
        cl_int err = 0;
        m = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    }
    return m;
}

void lm_cl_pool_put(lm_cl_device *dev, cl_mem mem, size_t size)
{
    pthread_mutex_lock(&dev->lock);
    if (dev->n_pool == dev->cap_pool) {
        int cap = dev->cap_pool ? 2 * dev->cap_pool : 32;
        lm_cl_pooled *grown = realloc(dev->pool, sizeof(*grown) * (size_t)cap);
        if (!grown) {
            pthread_mutex_unlock(&dev->lock);
            clReleaseMemObject(mem);
            return;
        }
        dev->pool = grown;
        dev->cap_pool = cap;
    }
    dev->pool[dev->n_pool++] = (lm_cl_pooled){mem, size};
    pthread_mutex_unlock(&dev->lock);
}

/* ---- builder ---- */

loom_status lm_clb_fail(lm_cl_builder *b, cl_int err, const char *what)
{
    if (!b->status)
        b->status = lm_cl_fail(b->sg->dev->base.name, what, err);
    return b->status;
}

loom_status lm_clb_error(lm_cl_builder *b)
{
    return b->status;
}

size_t lm_clb_max_wg(lm_cl_builder *b)
{
    return b->sg->dev->info.max_wg;
}

const loom_tensor *lm_clb_shape(lm_cl_builder *b, int v)
{
    return v >= 0 ? b->d->shape[v] : NULL;
}

const loom_tensor *lm_clb_const(lm_cl_builder *b, int v)
{
    return v >= 0 ? b->d->constant[v] : NULL;
}

/* Bytes of value @v on the host (float32 and friends). */
static size_t host_bytes(lm_cl_builder *b, int v)
{
    const loom_tensor *t = b->d->shape[v];
    size_t n = t ? (size_t)lm_tensor_count(t) * loom_dtype_size(t->dtype) : 0;
    return n ? n : 4; /* OpenCL has no empty buffers */
}

/* Whether value @v is stored as half: a float32 value with fp16 storage. */
static bool stored_half(lm_cl_builder *b, int v)
{
    const loom_tensor *t = b->d->shape[v];
    return b->sg->half && t && t->dtype == LOOM_DTYPE_FLOAT;
}

/* Bytes of value @v on the device. */
static size_t value_bytes(lm_cl_builder *b, int v)
{
    size_t n = host_bytes(b, v);
    return stored_half(b, v) && n > 4 ? n / 2 : n;
}

/* Room for one more slot; false (and b->status set) when out of memory. */
static bool grow_slots(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    if (sg->n_slots < sg->cap_slots)
        return true;
    int cap = sg->cap_slots ? 2 * sg->cap_slots : 16;
    slot *grown = realloc(sg->slots, sizeof(slot) * (size_t)cap);
    if (!grown) {
        b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return false;
    }
    sg->slots = grown;
    sg->cap_slots = cap;
    return true;
}

static int new_slot(lm_cl_builder *b, size_t size, bool pinned)
{
    cl_segment *sg = b->sg;
    /* Reuse a dead intermediate's buffer of this segment when big enough. */
    if (!pinned)
        for (int i = 0; i < sg->n_slots; i++)
            if (!sg->slots[i].pinned && sg->slots[i].live == 0 && sg->slots[i].size >= size &&
                sg->slots[i].size / 2 <= size) {
                sg->slots[i].live = 1;
                return i;
            }
    if (!grow_slots(b))
        return -1;
    cl_mem m = lm_cl_pool_get(sg->dev, size);
    if (!m) {
        lm_clb_fail(b, CL_MEM_OBJECT_ALLOCATION_FAILURE, "clCreateBuffer");
        return -1;
    }
    sg->slots[sg->n_slots] = (slot){m, size, 1, pinned, true, false, false};
    account(&sg->slots[sg->n_slots], true);
    return sg->n_slots++;
}

/* A read-only buffer holding @bytes of @data; NULL with *@err set. */
static cl_mem create_const(lm_cl_device *dev, const void *data, size_t bytes, cl_int *err)
{
    float dummy = 0;
    return clCreateBuffer(dev->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes ? bytes : 4,
                          bytes ? (void *)data : &dummy, err);
}

cl_mem lm_clb_upload(lm_cl_builder *b, const void *data, size_t bytes)
{
    cl_segment *sg = b->sg;
    if (b->status || !grow_slots(b))
        return NULL;
    cl_int err = 0;
    cl_mem m = create_const(sg->dev, data, bytes, &err);
    if (!m) {
        lm_clb_fail(b, err, "uploading a constant");
        return NULL;
    }
    sg->slots[sg->n_slots] = (slot){m, bytes, 1, true, false, true, false};
    account(&sg->slots[sg->n_slots++], true);
    return m;
}

size_t lm_clb_elem(lm_cl_builder *b)
{
    return b->sg->half ? 2 : 4;
}

/* ---- device copies of constants, shared through core's store ---- */

/* What one upload into the store needs. */
typedef struct const_upload {
    const loom_tensor *c;
    lm_clb_derive_fn derive; /* NULL: the constant as it is */
    const void *arg;
    bool half;
    const char *why; /* for the error */
} const_upload;

static void release_const(void *data)
{
    cl_mem m = data;
    size_t size = 0;
    if (clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof(size), &size, NULL) == CL_SUCCESS)
        atomic_fetch_sub(&mem_constants, size);
    clReleaseMemObject(m);
}

/* The store's upload: derive, convert float to the storage type, copy. */
static loom_status upload_const(lm_device *dev, void *arg, void **data, size_t *bytes)
{
    lm_cl_device *cd = (lm_cl_device *)dev;
    const_upload *u = arg;
    const void *src = u->c->data;
    size_t n = (size_t)lm_tensor_count(u->c), size = u->c->nbytes;
    float *derived = NULL;
    uint16_t *h = NULL;
    loom_status s = LOOM_OK;
    if (u->derive) {
        if (!(derived = u->derive(u->c, u->arg, &n)))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory %s", u->why);
        src = derived;
        size = n * sizeof(float);
    }
    if (u->half && (u->derive || u->c->dtype == LOOM_DTYPE_FLOAT)) {
        if (!(h = malloc(n ? n * sizeof(uint16_t) : 2))) {
            free(derived);
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory converting a constant to half");
        }
        for (size_t i = 0; i < n; i++)
            h[i] = lm_cl_half_from_float(((const float *)src)[i]);
        src = h;
        size = n * sizeof(uint16_t);
    }
    cl_int err = 0;
    cl_mem m = create_const(cd, src, size, &err);
    if (!m) {
        char what[128];
        snprintf(what, sizeof(what), "uploading a constant %s", u->why);
        s = lm_cl_fail(dev->name, what, err);
    }
    free(derived);
    free(h);
    if (s)
        return s;
    atomic_fetch_add(&mem_constants, size ? size : 4);
    *data = m;
    *bytes = size;
    return LOOM_OK;
}

cl_mem lm_clb_const_copy(lm_cl_builder *b, int v, uint64_t layout, lm_clb_derive_fn derive,
                         const void *arg)
{
    cl_segment *sg = b->sg;
    const loom_tensor *c = lm_clb_const(b, v);
    if (b->status || !grow_slots(b))
        return NULL;
    if (!c) {
        b->status =
            lm_error(LOOM_ERR_RUNTIME, "value '%s' is not a constant", b->d->g->values[v].name);
        return NULL;
    }
    char why[96];
    snprintf(why, sizeof(why), "('%.64s')", b->d->g->values[v].name);
    const_upload u = {c, derive, arg, sg->half, why};
    /* The layout names what the copy depends on beyond the constant. */
    uint64_t key[2] = {layout, sg->half};
    void *m;
    loom_status s = lm_devconst_get(&sg->dev->base, b->d, v, lm_hash_bytes(key, sizeof(key), 0),
                                    upload_const, release_const, &u, &m);
    if (s) {
        b->status = s;
        return NULL;
    }
    /* Counted once, by the store: the slot only names the buffer. */
    sg->slots[sg->n_slots++] = (slot){m, 0, 1, true, false, true, true};
    return m;
}

cl_mem lm_clb_in(lm_cl_builder *b, int v)
{
    if (b->status || v < 0)
        return NULL;
    if (b->slot_of[v] >= 0)
        return b->sg->slots[b->slot_of[v]].mem;
    const loom_tensor *c = b->d->constant[v];
    if (!c) {
        b->status = lm_error(LOOM_ERR_RUNTIME, "value '%s' has no buffer", b->d->g->values[v].name);
        return NULL;
    }
    /* Constants are taken when the first kernel needs them; float ones in
     * the storage type. */
    cl_mem m = lm_clb_const_copy(b, v, 0, NULL, NULL);
    if (m)
        b->slot_of[v] = b->sg->n_slots - 1;
    return m;
}

cl_mem lm_clb_out(lm_cl_builder *b, int v)
{
    if (b->status || v < 0)
        return NULL;
    if (b->slot_of[v] >= 0) /* a segment output: pinned at compile start */
        return b->sg->slots[b->slot_of[v]].mem;
    int s = new_slot(b, value_bytes(b, v), false);
    if (s < 0)
        return NULL;
    b->slot_of[v] = s;
    return b->sg->slots[s].mem;
}

void lm_clb_alias(lm_cl_builder *b, int out, int in)
{
    if (b->status)
        return;
    if (!lm_clb_in(b, in))
        return;
    int s = b->slot_of[in];
    if (b->slot_of[out] >= 0) { /* the alias is a segment output: copy into its buffer */
        lm_clb_copy(b, b->sg->slots[s].mem, 0, b->sg->slots[b->slot_of[out]].mem, 0,
                    value_bytes(b, out));
        return;
    }
    b->slot_of[out] = s;
    b->sg->slots[s].live++;
}

cl_mem lm_clb_scratch(lm_cl_builder *b, size_t bytes)
{
    if (b->status)
        return NULL;
    int s = new_slot(b, bytes ? bytes : 4, false);
    if (s < 0)
        return NULL;
    if (b->n_temps == b->cap_temps) {
        int cap = b->cap_temps ? 2 * b->cap_temps : 8;
        int *grown = realloc(b->temps, sizeof(int) * (size_t)cap);
        if (!grown) {
            b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            return NULL;
        }
        b->temps = grown;
        b->cap_temps = cap;
    }
    b->temps[b->n_temps++] = s;
    return b->sg->slots[s].mem;
}

static launch *add_launch(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    if (sg->n_launch == sg->cap_launch) {
        int cap = sg->cap_launch ? 2 * sg->cap_launch : 16;
        launch *grown = realloc(sg->launches, sizeof(launch) * (size_t)cap);
        if (!grown) {
            b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            return NULL;
        }
        sg->launches = grown;
        sg->cap_launch = cap;
    }
    launch *l = &sg->launches[sg->n_launch++];
    memset(l, 0, sizeof(*l));
    return l;
}

/* Kernels are owned by the segment's launch list from creation on, so that a
 * failure half-way through lowering releases them with the segment. */
static cl_kernel make_kernel(lm_cl_builder *b, cl_program prog, const char *name)
{
    if (b->status)
        return NULL;
    cl_int err = 0;
    cl_kernel k = clCreateKernel(prog, name, &err);
    if (!k) {
        lm_clb_fail(b, err, name);
        return NULL;
    }
    launch *l = add_launch(b);
    if (!l) {
        clReleaseKernel(k);
        return NULL;
    }
    l->k = k;
    l->dim = 0; /* not launched until lm_clb_launch fills it */
    return k;
}

cl_kernel lm_clb_kernel(lm_cl_builder *b, const char *name)
{
    return make_kernel(b, b->sg->dev->ops_prog[b->sg->half], name);
}

cl_kernel lm_clb_gemm_kernel(lm_cl_builder *b, const lm_cl_gemm_cfg **cfg)
{
    *cfg = &b->sg->dev->gemm;
    return make_kernel(b, b->sg->dev->gemm_prog[b->sg->half], "gemm");
}

void lm_clb_launch(lm_cl_builder *b, cl_kernel k, cl_uint dim, const size_t *gws, const size_t *lws)
{
    if (b->status || !k)
        return;
    cl_segment *sg = b->sg;
    for (int i = sg->n_launch - 1; i >= 0; i--) {
        launch *l = &sg->launches[i];
        if (l->k != k)
            continue;
        for (cl_uint d = 0; d < dim; d++) {
            l->gws[d] = gws[d];
            if (gws[d] == 0) { /* empty output: nothing to run */
                l->dim = 0;
                return;
            }
            l->lws[d] = lws ? lws[d] : 1;
        }
        l->dim = dim;
        l->has_lws = lws != NULL;
        return;
    }
}

void lm_clb_launch1d(lm_cl_builder *b, cl_kernel k, int64_t n)
{
    size_t wg = lm_clb_max_wg(b) >= 64 ? 64 : 1;
    size_t g = (size_t)((n + (int64_t)wg - 1) / (int64_t)wg) * wg;
    lm_clb_launch(b, k, 1, &g, &wg);
}

void lm_clb_copy(lm_cl_builder *b, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                 size_t bytes)
{
    if (b->status || !bytes)
        return;
    launch *l = add_launch(b);
    if (!l)
        return;
    l->src_slot = l->dst_slot = -1; /* found when the segment is complete */
    l->src = src;
    l->dst = dst;
    l->src_off = src_off;
    l->dst_off = dst_off;
    l->bytes = bytes;
}

/* Remembers that argument @arg of @k is @m. */
static void note_arg(lm_cl_builder *b, cl_kernel k, cl_uint arg, cl_mem m)
{
    if (!k || b->status)
        return;
    if (b->n_args == b->cap_args) {
        int cap = b->cap_args ? 2 * b->cap_args : 64;
        memarg *grown = realloc(b->args, sizeof(*grown) * (size_t)cap);
        if (!grown) {
            b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            return;
        }
        b->args = grown;
        b->cap_args = cap;
    }
    b->args[b->n_args++] = (memarg){k, arg, m};
}

void lm_cl_arg_mem(lm_cl_args *a, cl_mem m)
{
    if (!a->b->status && !m)
        a->b->status = lm_error(LOOM_ERR_RUNTIME, "kernel argument %u has no buffer", a->i);
    note_arg(a->b, a->k, a->i, m);
    cl_int err = clSetKernelArg(a->k, a->i++, sizeof(m), &m);
    if (err && a->k)
        lm_clb_fail(a->b, err, "clSetKernelArg");
}

void lm_cl_arg_int(lm_cl_args *a, int64_t v)
{
    cl_int x = (cl_int)v;
    cl_int err = clSetKernelArg(a->k, a->i++, sizeof(x), &x);
    if (err && a->k)
        lm_clb_fail(a->b, err, "clSetKernelArg");
}

void lm_cl_arg_float(lm_cl_args *a, float v)
{
    cl_int err = clSetKernelArg(a->k, a->i++, sizeof(v), &v);
    if (err && a->k)
        lm_clb_fail(a->b, err, "clSetKernelArg");
}

void lm_cl_arg_local(lm_cl_args *a, size_t bytes)
{
    cl_int err = clSetKernelArg(a->k, a->i++, bytes, NULL);
    if (err && a->k)
        lm_clb_fail(a->b, err, "clSetKernelArg");
}

/* ---- device ops ---- */

static bool cl_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    return lm_cl_supports(n, in);
}

static void release_segment(cl_segment *sg)
{
    for (int i = 0; i < sg->n_launch; i++)
        if (sg->launches[i].k)
            clReleaseKernel(sg->launches[i].k);
    for (int i = 0; i < sg->n_slots; i++) {
        if (sg->slots[i].shared || !sg->slots[i].mem) /* the store's, or trimmed */
            continue;
        account(&sg->slots[i], false);
        if (sg->slots[i].pooled)
            lm_cl_pool_put(sg->dev, sg->slots[i].mem, sg->slots[i].size);
        else
            clReleaseMemObject(sg->slots[i].mem);
    }
    if (sg->q)
        clReleaseCommandQueue(sg->q);
    pthread_mutex_destroy(&sg->lock);
    pthread_cond_destroy(&sg->idle);
    free(sg->launches);
    free(sg->slots);
    free(sg->in_mem);
    free(sg->out_mem);
    free(sg->in_bytes);
    free(sg->out_bytes);
    free(sg->rebinds);
    free(sg->wrapped);
    free(sg->slot_binds);
    free(sg->in_slot);
    free(sg->out_slot);
    free(sg);
}

static void cl_release(lm_device *dev, void *state)
{
    (void)dev;
    if (state)
        release_segment(state);
}

/* A launch converting @n elements between float and the storage type. */
static void convert(lm_cl_builder *b, const char *kernel, cl_mem src, cl_mem dst, int64_t n)
{
    cl_kernel k = lm_clb_kernel(b, kernel);
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, src);
    lm_cl_arg_mem(&a, dst);
    lm_cl_arg_int(&a, n);
    lm_clb_launch1d(b, k, n);
}

static int64_t value_count(lm_cl_builder *b, int v)
{
    const loom_tensor *t = b->d->shape[v];
    return t ? lm_tensor_count(t) : 0;
}

/* Boundary values get buffers of their own for the segment's lifetime; with
 * fp16 storage, inputs also get the float buffer the host writes, converted
 * by the segment's first launches. */
static void boundary_buffers(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    const lm_segment_desc *d = b->d;
    for (int i = 0; i < d->n_inputs && !b->status; i++) {
        int v = d->inputs[i], sl = new_slot(b, value_bytes(b, v), true);
        if (sl < 0)
            return;
        b->slot_of[v] = sl;
        sg->in_mem[i] = sg->slots[sl].mem;
        sg->in_bytes[i] = host_bytes(b, v);
        if (!stored_half(b, v))
            continue;
        int hs = new_slot(b, host_bytes(b, v), true);
        if (hs < 0)
            return;
        sg->in_mem[i] = sg->slots[hs].mem;
        convert(b, "to_store", sg->in_mem[i], sg->slots[sl].mem, value_count(b, v));
    }
    for (int o = 0; o < d->n_outputs && !b->status; o++) {
        int v = d->outputs[o];
        if (b->slot_of[v] < 0) {
            int sl = new_slot(b, value_bytes(b, v), true);
            if (sl < 0)
                return;
            b->slot_of[v] = sl;
        }
    }
}

/* The buffers the host reads outputs from; with fp16 storage float ones,
 * filled by the segment's last launches. */
static void output_buffers(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    for (int o = 0; o < b->d->n_outputs && !b->status; o++) {
        int v = b->d->outputs[o];
        sg->out_mem[o] = sg->slots[b->slot_of[v]].mem;
        sg->out_bytes[o] = host_bytes(b, v);
        if (!stored_half(b, v))
            continue;
        int fs = new_slot(b, host_bytes(b, v), true);
        if (fs < 0)
            return;
        convert(b, "from_store", sg->out_mem[o], sg->slots[fs].mem, value_count(b, v));
        sg->out_mem[o] = sg->slots[fs].mem;
    }
}

/* The port (input i, or n_in + output o) whose host-facing buffer is @m, or -1. */
static int port_of(const cl_segment *sg, cl_mem m)
{
    for (int i = 0; i < sg->n_in; i++)
        if (sg->in_mem[i] == m)
            return i;
    for (int o = 0; o < sg->n_out; o++)
        if (sg->out_mem[o] == m)
            return sg->n_in + o;
    return -1;
}

/* Keeps the arguments bound to boundary buffers, for zero-copy runs. A
 * segment whose output is one of its inputs (a pass-through) copies: its
 * output buffer is the input's, which the host would no longer write. */
static void plan_zero_copy(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    for (int o = 0; o < sg->n_out && sg->zero_copy; o++)
        for (int i = 0; i < sg->n_in; i++)
            if (sg->out_mem[o] == sg->in_mem[i])
                sg->zero_copy = false;
    if (!sg->zero_copy)
        return;
    sg->wrapped = calloc((size_t)(sg->n_in + sg->n_out) + 1, sizeof(cl_mem));
    sg->rebinds = malloc(sizeof(rebind) * ((size_t)b->n_args + 1));
    if (!sg->wrapped || !sg->rebinds) {
        b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return;
    }
    for (int a = 0; a < b->n_args; a++) {
        int port = port_of(sg, b->args[a].m);
        if (port >= 0)
            sg->rebinds[sg->n_rebind++] = (rebind){b->args[a].k, b->args[a].arg, port};
    }
}

/* The pooled slot whose buffer is @m, or -1. */
static int pooled_slot_of(const cl_segment *sg, cl_mem m)
{
    for (int i = 0; i < sg->n_slots; i++)
        if (sg->slots[i].mem == m && sg->slots[i].pooled)
            return i;
    return -1;
}

/* Where each pooled buffer is bound, so that cl_trim() can free them and
 * the next run make and bind them again. */
static void plan_trim(lm_cl_builder *b)
{
    cl_segment *sg = b->sg;
    sg->slot_binds = malloc(sizeof(slot_bind) * ((size_t)b->n_args + 1));
    sg->in_slot = malloc(sizeof(int) * ((size_t)sg->n_in + 1));
    sg->out_slot = malloc(sizeof(int) * ((size_t)sg->n_out + 1));
    if (!sg->slot_binds || !sg->in_slot || !sg->out_slot) {
        b->status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return;
    }
    for (int a = 0; a < b->n_args; a++) {
        int sl = pooled_slot_of(sg, b->args[a].m);
        if (sl >= 0)
            sg->slot_binds[sg->n_slot_binds++] = (slot_bind){b->args[a].k, b->args[a].arg, sl};
    }
    for (int i = 0; i < sg->n_launch; i++)
        if (!sg->launches[i].k) {
            sg->launches[i].src_slot = pooled_slot_of(sg, sg->launches[i].src);
            sg->launches[i].dst_slot = pooled_slot_of(sg, sg->launches[i].dst);
        }
    for (int i = 0; i < sg->n_in; i++)
        sg->in_slot[i] = pooled_slot_of(sg, sg->in_mem[i]);
    for (int o = 0; o < sg->n_out; o++)
        sg->out_slot[o] = pooled_slot_of(sg, sg->out_mem[o]);
}

static loom_status cl_compile(lm_device *base, const lm_segment_desc *d, void **state)
{
    lm_cl_device *dev = (lm_cl_device *)base;
    *state = NULL;
    pthread_mutex_lock(&dev->lock);
    loom_status s = lm_cl_device_ready_locked(dev, d->fp16_storage);
    pthread_mutex_unlock(&dev->lock);
    if (s)
        return s;
    cl_segment *sg = calloc(1, sizeof(*sg));
    if (!sg)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    sg->dev = dev;
    sg->half = d->fp16_storage;
    sg->zero_copy =
        (base->props.flags & LM_DEVICE_HOST_MEMORY) && !lm_env_flag(LM_ENV_OPENCL_COPY_BOUNDARY);
    sg->n_in = d->n_inputs;
    sg->n_out = d->n_outputs;
    pthread_mutex_init(&sg->lock, NULL);
    pthread_cond_init(&sg->idle, NULL);
    int nv = d->g->n_values;
    lm_cl_builder b = {.sg = sg, .d = d};
    b.slot_of = malloc(sizeof(int) * (size_t)nv);
    b.last_use = malloc(sizeof(int) * (size_t)nv);
    sg->in_mem = calloc((size_t)d->n_inputs + 1, sizeof(cl_mem));
    sg->out_mem = calloc((size_t)d->n_outputs + 1, sizeof(cl_mem));
    sg->in_bytes = calloc((size_t)d->n_inputs + 1, sizeof(size_t));
    sg->out_bytes = calloc((size_t)d->n_outputs + 1, sizeof(size_t));
    cl_int err = 0;
    sg->q = clCreateCommandQueue(dev->ctx, dev->id, 0, &err);
    if (!b.slot_of || !b.last_use || !sg->in_mem || !sg->out_mem || !sg->in_bytes ||
        !sg->out_bytes) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    if (!sg->q) {
        s = lm_cl_fail(base->name, "clCreateCommandQueue", err);
        goto out;
    }
    for (int v = 0; v < nv; v++)
        b.slot_of[v] = b.last_use[v] = -1;
    for (int k = 0; k < d->n_nodes; k++) {
        const lm_node *n = &d->g->nodes[d->nodes[k]];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0)
                b.last_use[n->in[i]] = k;
    }
    boundary_buffers(&b);
    for (int k = 0; k < d->n_nodes && !b.status; k++) {
        const lm_node *n = &d->g->nodes[d->nodes[k]];
        b.pos = k;
        b.n_temps = 0;
        if ((s = lm_cl_lower(&b, n)) || (s = b.status)) {
            lm_error_prefix("node '%s' (%s)", n->name, n->op_type);
            goto out;
        }
        /* Scratch and values read for the last time free their buffers for
         * the nodes after this one (the queue runs in order). */
        for (int t = 0; t < b.n_temps; t++)
            sg->slots[b.temps[t]].live--;
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v >= 0 && b.last_use[v] == k && b.slot_of[v] >= 0) {
                b.last_use[v] = -2; /* count a value read twice by this node once */
                slot *sl = &sg->slots[b.slot_of[v]];
                if (!sl->pinned && sl->live > 0)
                    sl->live--;
            }
        }
    }
    if (!b.status)
        output_buffers(&b);
    if (!b.status)
        plan_trim(&b);
    if (!b.status)
        plan_zero_copy(&b);
    s = b.status;
out:
    free(b.slot_of);
    free(b.last_use);
    free(b.temps);
    free(b.args);
    if (s) {
        release_segment(sg);
        return s;
    }
    *state = sg;
    return LOOM_OK;
}

/* Takes the segment's queue and buffers for one run; a run submitted
 * asynchronously gives them back from the completion callback, on another
 * thread, so this is a flag under a lock rather than the lock itself. */
static void claim(cl_segment *sg)
{
    pthread_mutex_lock(&sg->lock);
    while (sg->busy)
        pthread_cond_wait(&sg->idle, &sg->lock);
    sg->busy = true;
    pthread_mutex_unlock(&sg->lock);
}

/* Drops this run's buffers over the host tensors (its commands are done). */
static void unwrap(cl_segment *sg)
{
    for (int p = 0; sg->wrapped && p < sg->n_in + sg->n_out; p++)
        if (sg->wrapped[p]) {
            clReleaseMemObject(sg->wrapped[p]);
            sg->wrapped[p] = NULL;
        }
}

static void give_back(cl_segment *sg)
{
    unwrap(sg);
    pthread_mutex_lock(&sg->lock);
    sg->busy = false;
    pthread_cond_signal(&sg->idle);
    pthread_mutex_unlock(&sg->lock);
}

/* A buffer over host tensor @t for port @p when the run can bind it in
 * place (zero copy, and @t holds all @bytes the segment uses), else NULL:
 * the port is copied. */
static cl_mem wrap(cl_segment *sg, int p, const loom_tensor *t, size_t bytes)
{
    if (!sg->zero_copy || !bytes || t->nbytes < bytes)
        return NULL;
    cl_int err = 0;
    cl_mem_flags rw = p < sg->n_in ? CL_MEM_READ_ONLY : CL_MEM_READ_WRITE;
    cl_mem m = clCreateBuffer(sg->dev->ctx, rw | CL_MEM_USE_HOST_PTR, bytes, t->data, &err);
    return err ? NULL : m;
}

/* The buffer port @p's arguments take in this run. */
static cl_mem port_mem(const cl_segment *sg, int p)
{
    if (sg->wrapped && sg->wrapped[p])
        return sg->wrapped[p];
    return p < sg->n_in ? sg->in_mem[p] : sg->out_mem[p - sg->n_in];
}

/* Wraps the host tensors this run can bind in place and binds them (or
 * the segment's own buffers again, for ports that are copied this time). */
static cl_int bind_ports(cl_segment *sg, loom_tensor *const *in, loom_tensor *const *out)
{
    if (!sg->zero_copy)
        return CL_SUCCESS;
    for (int i = 0; i < sg->n_in; i++)
        sg->wrapped[i] = wrap(sg, i, in[i], sg->in_bytes[i]);
    for (int o = 0; o < sg->n_out; o++)
        sg->wrapped[sg->n_in + o] = wrap(sg, sg->n_in + o, out[o], sg->out_bytes[o]);
    cl_int err = CL_SUCCESS;
    for (int r = 0; r < sg->n_rebind && !err; r++) {
        cl_mem m = port_mem(sg, sg->rebinds[r].port);
        err = clSetKernelArg(sg->rebinds[r].k, sg->rebinds[r].arg, sizeof(m), &m);
    }
    return err;
}

/* @m, or this run's buffer over a host tensor when @m is a boundary buffer. */
static cl_mem run_mem(const cl_segment *sg, cl_mem m)
{
    int p = sg->zero_copy ? port_of(sg, m) : -1;
    return p < 0 ? m : port_mem(sg, p);
}

/* Queues the launches and copies of one run. */
static cl_int enqueue_launches(cl_segment *sg, const char **what)
{
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < sg->n_launch && !err; i++) {
        const launch *l = &sg->launches[i];
        if (l->k && l->dim) {
            err = lm_cl_injected(clEnqueueNDRangeKernel(sg->q, l->k, l->dim, NULL, l->gws,
                                                        l->has_lws ? l->lws : NULL, 0, NULL, NULL));
            *what = "clEnqueueNDRangeKernel";
        } else if (!l->k) {
            err = lm_cl_injected(clEnqueueCopyBuffer(sg->q, run_mem(sg, l->src),
                                                     run_mem(sg, l->dst), l->src_off, l->dst_off,
                                                     l->bytes, 0, NULL, NULL));
            *what = "clEnqueueCopyBuffer";
        }
    }
    return err;
}

/* Makes an output bound in place visible to the host: mapping a host-pointer
 * buffer synchronises it (no copy on a device that computes from host
 * memory); the unmap right after keeps the queue's order. */
static cl_int sync_in_place(cl_segment *sg, cl_mem m, size_t n)
{
    cl_int err = 0;
    void *p = clEnqueueMapBuffer(sg->q, m, CL_FALSE, CL_MAP_READ, 0, n, 0, NULL, NULL, &err);
    if (!err)
        err = clEnqueueUnmapMemObject(sg->q, m, p, 0, NULL, NULL);
    return err;
}

/* Frees the pooled buffers of a segment no run holds (lm_device_ops.trim):
 * its working memory, which an idle plan need not keep. A segment in use is
 * left alone. */
static void cl_trim(lm_device *base, void *state)
{
    (void)base;
    cl_segment *sg = state;
    pthread_mutex_lock(&sg->lock);
    bool take = !sg->busy && !sg->trimmed;
    if (take)
        sg->busy = true;
    pthread_mutex_unlock(&sg->lock);
    if (!take)
        return;
    for (int i = 0; i < sg->n_slots; i++) {
        slot *sl = &sg->slots[i];
        if (!sl->pooled || !sl->mem)
            continue;
        account(sl, false);
        clReleaseMemObject(sl->mem); /* not back to the pool: the memory goes */
        sl->mem = NULL;
    }
    sg->trimmed = true;
    give_back(sg);
}

/* Makes a trimmed segment's buffers again and binds them where the old ones
 * were; on failure the segment stays trimmed, and nothing is kept. */
static cl_int restore(cl_segment *sg)
{
    for (int i = 0; i < sg->n_slots; i++) {
        slot *sl = &sg->slots[i];
        if (!sl->pooled || sl->mem)
            continue;
        if (!(sl->mem = lm_cl_pool_get(sg->dev, sl->size))) {
            for (int j = 0; j < i; j++)
                if (sg->slots[j].pooled && sg->slots[j].mem) {
                    account(&sg->slots[j], false);
                    clReleaseMemObject(sg->slots[j].mem);
                    sg->slots[j].mem = NULL;
                }
            return CL_MEM_OBJECT_ALLOCATION_FAILURE;
        }
        account(sl, true);
    }
    cl_int err = CL_SUCCESS;
    for (int r = 0; r < sg->n_slot_binds && !err; r++) {
        cl_mem m = sg->slots[sg->slot_binds[r].slot].mem;
        err = clSetKernelArg(sg->slot_binds[r].k, sg->slot_binds[r].arg, sizeof(m), &m);
    }
    for (int i = 0; i < sg->n_launch; i++) {
        launch *l = &sg->launches[i];
        if (!l->k && l->src_slot >= 0)
            l->src = sg->slots[l->src_slot].mem;
        if (!l->k && l->dst_slot >= 0)
            l->dst = sg->slots[l->dst_slot].mem;
    }
    for (int i = 0; i < sg->n_in; i++)
        if (sg->in_slot[i] >= 0)
            sg->in_mem[i] = sg->slots[sg->in_slot[i]].mem;
    for (int o = 0; o < sg->n_out; o++)
        if (sg->out_slot[o] >= 0)
            sg->out_mem[o] = sg->slots[sg->out_slot[o]].mem;
    sg->trimmed = err != CL_SUCCESS;
    return err;
}

/* Queues one run: inputs written (or bound in place), kernels launched,
 * outputs read (or synchronised in place), all non-blocking. Returns the
 * first failure and names the call in *@what. */
static cl_int enqueue_run(cl_segment *sg, loom_tensor *const *in, loom_tensor *const *out,
                          const char **what)
{
    *what = "making its buffers again";
    cl_int err = sg->trimmed ? restore(sg) : CL_SUCCESS;
    if (err)
        return err;
    *what = "clSetKernelArg";
    err = bind_ports(sg, in, out);
    uint64_t copied = 0, shared = 0;
    for (int i = 0; i < sg->n_in && !err; i++) {
        size_t n = in[i]->nbytes < sg->in_bytes[i] ? in[i]->nbytes : sg->in_bytes[i];
        if (port_mem(sg, i) != sg->in_mem[i]) {
            shared += n;
            continue;
        }
        if (n)
            err = lm_cl_injected(clEnqueueWriteBuffer(sg->q, sg->in_mem[i], CL_FALSE, 0, n,
                                                      in[i]->data, 0, NULL, NULL));
        copied += n;
        *what = "clEnqueueWriteBuffer";
    }
    if (!err)
        err = enqueue_launches(sg, what);
    for (int o = 0; o < sg->n_out && !err; o++) {
        size_t n = out[o]->nbytes < sg->out_bytes[o] ? out[o]->nbytes : sg->out_bytes[o];
        cl_mem m = port_mem(sg, sg->n_in + o);
        if (m != sg->out_mem[o]) {
            err = lm_cl_injected(sync_in_place(sg, m, n));
            shared += n;
            *what = "clEnqueueMapBuffer";
            continue;
        }
        if (n)
            err = lm_cl_injected(clEnqueueReadBuffer(sg->q, sg->out_mem[o], CL_FALSE, 0, n,
                                                     out[o]->data, 0, NULL, NULL));
        copied += n;
        *what = "clEnqueueReadBuffer";
    }
    lm_busy_transfer(&sg->dev->base.busy, copied, shared);
    return err;
}

/* Waits out whatever a failed enqueue left queued, so no command still
 * points at the caller's memory when the segment is given back. */
static loom_status fail_run(lm_device *base, cl_segment *sg, const char *what, cl_int err)
{
    clFinish(sg->q);
    give_back(sg);
    return lm_cl_fail(base->name, what, err);
}

/* The deadline is not enforced on OpenCL: a read-back still queued would
 * write the host tensors after the host gave up on them, and OpenCL cannot
 * take a queued command back. The driver's own watchdog fails a hung kernel
 * (CL_OUT_OF_RESOURCES, or the device lost), which reaches health.c. */
static loom_status cl_run(lm_device *base, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    cl_segment *sg = state;
    const char *what = "";
    claim(sg);
    cl_int err = enqueue_run(sg, in, out, &what);
    if (err)
        return fail_run(base, sg, what, err);
    /* The one host synchronisation of the run. */
    if ((err = lm_cl_injected(clFinish(sg->q))))
        return fail_run(base, sg, "clFinish", err);
    give_back(sg);
    return LOOM_OK;
}

/* What the completion callback of a submitted run needs. */
typedef struct cl_pending {
    cl_segment *sg;
    lm_event *done;
    const char *device; /* the device's name (lives as long as the device) */
} cl_pending;

/* Called by the OpenCL runtime, on its own thread, when a submitted run's
 * last command (the marker) completed or failed. */
static void CL_CALLBACK run_completed(cl_event ev, cl_int status, void *arg)
{
    cl_pending *p = arg;
    loom_status s = status < 0 ? lm_cl_fail(p->device, "the submitted run", status) : LOOM_OK;
    clReleaseEvent(ev);
    give_back(p->sg);
    lm_event_signal(p->done, s);
    lm_event_unref(p->done);
    free(p);
}

/* Queues the run and returns; the marker after its last command signals
 * @done through run_completed(). */
static loom_status cl_submit(lm_device *base, void *state, loom_tensor *const *in,
                             loom_tensor *const *out, uint64_t deadline_ns, lm_event *done)
{
    cl_segment *sg = state;
    cl_pending *p = malloc(sizeof(*p));
    if (!p)
        return lm_error(LOOM_ERR_NO_MEMORY, "%s: out of memory", base->name);
    *p = (cl_pending){.sg = sg, .done = lm_event_ref(done), .device = base->name};
    const char *what = "";
    cl_event marker = NULL;
    claim(sg);
    cl_int err = enqueue_run(sg, in, out, &what);
    if (!err) {
        what = "clEnqueueMarkerWithWaitList";
        err = lm_cl_injected(clEnqueueMarkerWithWaitList(sg->q, 0, NULL, &marker));
    }
    if (!err) {
        what = "clSetEventCallback";
        err = clSetEventCallback(marker, CL_COMPLETE, run_completed, p);
    }
    if (err) {
        if (marker)
            clReleaseEvent(marker);
        lm_event_unref(p->done);
        free(p);
        return fail_run(base, sg, what, err);
    }
    clFlush(sg->q); /* start now: the caller may not wait for a while */
    return LOOM_OK;
}

const lm_device_ops lm_cl_device_ops = {
    .supports = cl_supports,
    .compile = cl_compile,
    .run = cl_run,
    .submit = cl_submit,
    .release = cl_release,
    .trim = cl_trim,
    .destroy = lm_cl_device_destroy,
};
