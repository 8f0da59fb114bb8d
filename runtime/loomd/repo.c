/* repo.c - the model repository: scanning, loading with checksums and warm-up, versions. */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <sys/stat.h>

#include "loomd/model_io.h"
#include "loomd/repo.h"
#include "loomd/sbuf.h"
#include "loomd/warmup.h"

#define MAX_MODEL_BYTES (4ll << 30)

typedef struct model_entry {
    char *name;
    model_version *versions[CFG_MAX_VERSIONS]; /* ascending by version */
    int n_versions;
    const char *state; /* "READY", "UNAVAILABLE", "LOADING" */
    char reason[256];
    uint64_t fingerprint; /* of the files last loaded (poll mode) */
    struct model_entry *next;
} model_entry;

typedef struct device_ctx {
    char device[32]; /* the placement policy it was made for (model_config) */
    char pins[256];
    int objective;
    bool fail_closed;
    loom_context *ctx;
    struct device_ctx *next;
} device_ctx;

struct repo {
    char *root;
    char *single; /* KServe's layout: root is this one model's directory (repo_serve_single) */
    int threads;
    metrics *metrics;
    evlog *log;
    pthread_mutex_t control; /* Serializes loads, unloads and syncs, and guards contexts. */
    pthread_mutex_t lock;    /* Protects the entry list and each entry's fields; held briefly. */
    model_entry *entries;
    device_ctx *contexts;
};

bool repo_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.' || name[0] == '-')
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Blocks of 4 MiB and more (a model's large initializers while it loads,
 * large request tensors) are mapped, not carved from the heap, so freeing
 * them returns their pages at once. Without a fixed threshold glibc raises
 * it to the largest block freed so far (up to 32 MiB), and a freed block at
 * the top of a thread's heap then stays resident: loading an identical
 * second version would keep the copy that constant sharing just dropped. */
static void heap_policy(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

int repo_create(const char *root, int threads, metrics *m, evlog *log, repo **out, char *err,
                size_t errlen)
{
    struct stat st;
    heap_policy();
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "model repository %s: %s", root,
                 errno ? strerror(errno) : "not a directory");
        return -ENOTDIR;
    }
    repo *r = calloc(1, sizeof(*r));
    if (!r || !(r->root = strdup(root))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->threads = threads;
    r->metrics = m;
    r->log = log;
    pthread_mutex_init(&r->control, NULL);
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return 0;
}

/* Hands the heap's free pages back to the system after a load or a version's
 * end: reading a model allocates about twice its size for a moment (the
 * file, its parsed initializers), and with weights shared by content
 * (libloom keeps one copy of identical constants) most of a new version's
 * bytes are freed again; a version that goes frees its plans and weights.
 * glibc keeps such pages unless asked, so an A/B pair or a reload would
 * otherwise leave the RSS up by the model's size. */
static void return_freed_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void version_free(model_version *v)
{
    sched_destroy(v->sched); /* joins its workers: nothing runs the model after this */
    loom_model_destroy(v->model);
    model_config_free(&v->cfg);
    free(v->name);
    free(v);
    return_freed_memory(); /* the last request may free a version after a load */
}

void model_version_release(model_version *v)
{
    if (v && atomic_fetch_sub((atomic_int *)&v->refs, 1) == 1)
        version_free(v);
}

void repo_destroy(repo *r)
{
    if (!r)
        return;
    for (model_entry *e = r->entries, *n; e; e = n) {
        n = e->next;
        for (int i = 0; i < e->n_versions; i++)
            model_version_release(e->versions[i]);
        free(e->name);
        free(e);
    }
    for (device_ctx *d = r->contexts, *n; d; d = n) {
        n = d->next;
        loom_context_destroy(d->ctx);
        free(d);
    }
    pthread_mutex_destroy(&r->control);
    pthread_mutex_destroy(&r->lock);
    free(r->single);
    free(r->root);
    free(r);
}

/* Whether context @d was made for @cfg's devices and placement policy. */
static bool made_for(const device_ctx *d, const model_config *cfg)
{
    return strcmp(d->device, cfg->device) == 0 && strcmp(d->pins, cfg->pins) == 0 &&
           d->objective == cfg->objective && d->fail_closed == cfg->fail_closed;
}

/* The context for @cfg's devices and placement policy, made on first use.
 * Contexts are selections: every one shares the process's devices (a card
 * is opened once) and, having the same thread count, one worker pool.
 * Caller holds r->control. */
static loom_context *context_for(repo *r, const model_config *cfg, char *err, size_t errlen)
{
    for (device_ctx *d = r->contexts; d; d = d->next)
        if (made_for(d, cfg))
            return d->ctx;
    device_ctx *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    loom_context_options o;
    loom_context_options_init(&o);
    o.num_threads = r->threads;
    o.device = cfg->device;
    o.pins = cfg->pins;
    o.objective = cfg->objective;
    o.fail_closed = cfg->fail_closed;
    /* Every context shares the one evlog: libloom delivers each message once. */
    o.log = evlog_libloom;
    o.log_user = r->log;
    o.log_level = LOOM_LOG_INFO;
    if (loom_context_create(&o, &d->ctx) != LOOM_OK) {
        snprintf(err, errlen, "device '%s': %s", cfg->device, loom_last_error());
        free(d);
        return NULL;
    }
    snprintf(d->device, sizeof(d->device), "%s", cfg->device);
    snprintf(d->pins, sizeof(d->pins), "%s", cfg->pins);
    d->objective = cfg->objective;
    d->fail_closed = cfg->fail_closed;
    d->next = r->contexts;
    /* Published with release: repo_devices() walks the list without the lock. */
    __atomic_store_n(&r->contexts, d, __ATOMIC_RELEASE);
    return d->ctx;
}

/* Appends @st unless a device of that name is listed (while < @max). */
static int add_device(loom_device_stats *out, int n, int max, const loom_device_stats *st)
{
    for (int i = 0; i < n; i++)
        if (strcmp(out[i].name, st->name) == 0)
            return n;
    if (n < max)
        out[n++] = *st;
    return n;
}

int repo_devices(repo *r, loom_device_stats *out, int max)
{
    int n = 0;
    /* Contexts are only ever prepended, and freed with the repository. A
     * device is the same object in every context that selects it: its
     * counters already hold all of loomd's work, so it is listed once. */
    for (device_ctx *d = __atomic_load_n(&r->contexts, __ATOMIC_ACQUIRE); d; d = d->next) {
        int count = loom_context_device_count(d->ctx);
        for (int i = 0; i < count; i++) {
            loom_device_stats st = {.struct_size = sizeof(st)};
            if (loom_context_device_stats(d->ctx, i, &st) == LOOM_OK)
                n = add_device(out, n, max, &st);
        }
    }
    return n;
}

/* Whether a device of the context can take the model's work. A context
 * that may fall back to the CPU fails over to it when its cards leave
 * service (runtime/README.md, "Device faults"): its requests are still
 * answered. A fail-closed one needs one of its own devices healthy. */
static bool context_can_serve(const device_ctx *d)
{
    int n = loom_context_device_count(d->ctx);
    for (int i = 0; i < n; i++) {
        loom_device_stats st = {.struct_size = sizeof(st)};
        if (loom_context_device_stats(d->ctx, i, &st) == LOOM_OK && st.healthy &&
            st.state <= LOOM_DEVICE_SUSPECT)
            return true;
    }
    return false;
}

/* Whether a loaded version runs on context @d (one per device setting and
 * placement policy: a version's config says which). */
static bool context_in_use(repo *r, const device_ctx *d)
{
    bool used = false;
    pthread_mutex_lock(&r->lock);
    for (model_entry *e = r->entries; e && !used; e = e->next)
        for (int i = 0; i < e->n_versions && !used; i++)
            used = made_for(d, &e->versions[i]->cfg);
    pthread_mutex_unlock(&r->lock);
    return used;
}

bool repo_ready(repo *r, char *why, size_t len)
{
    /* Contexts are only ever prepended (see repo_devices). */
    for (device_ctx *d = __atomic_load_n(&r->contexts, __ATOMIC_ACQUIRE); d; d = d->next) {
        if (context_in_use(r, d) && !context_can_serve(d)) {
            snprintf(why, len, "no healthy device for models on '%s'", d->device);
            return false;
        }
    }
    return true;
}

int repo_memory(repo *r, model_memory *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&r->lock);
    for (model_entry *e = r->entries; e; e = e->next)
        for (int i = 0; i < e->n_versions && n < max; i++) {
            model_memory *mm = &out[n];
            snprintf(mm->name, sizeof(mm->name), "%s", e->name);
            mm->version = e->versions[i]->version;
            mm->st.struct_size = sizeof(mm->st);
            if (loom_model_get_stats(e->versions[i]->model, &mm->st) == LOOM_OK)
                n++;
        }
    pthread_mutex_unlock(&r->lock);
    return n;
}

static model_entry *find_locked(repo *r, const char *name)
{
    for (model_entry *e = r->entries; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static model_entry *entry_get(repo *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    model_entry *e = find_locked(r, name);
    if (!e && (e = calloc(1, sizeof(*e)))) {
        if (!(e->name = strdup(name))) {
            free(e);
            e = NULL;
        } else {
            e->state = "UNAVAILABLE";
            model_entry **pp = &r->entries; /* sorted, for a stable index */
            while (*pp && strcmp((*pp)->name, name) < 0)
                pp = &(*pp)->next;
            e->next = *pp;
            *pp = e;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Numeric subdirectories of @dir holding model.onnx, ascending; FNV-1a fingerprint of them. */
static int list_versions(const char *dir, int64_t *out, int max, uint64_t *fp)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        errno = 0;
        long long v = strtoll(de->d_name, &end, 10);
        if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end || errno || v <= 0)
            continue;
        char path[4096];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s/model.onnx", dir, de->d_name) >=
                (int)sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n < max)
            out[n++] = v;
        uint64_t parts[4] = {(uint64_t)v, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                             (uint64_t)st.st_mtim.tv_nsec};
        /* Order-independent combination: readdir order is arbitrary. */
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < sizeof(parts); i++)
            h = (h ^ ((const unsigned char *)parts)[i]) * 1099511628211ull;
        *fp += h;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof(int64_t), cmp_i64);
    return n;
}

static uint64_t model_fingerprint(const char *dir)
{
    int64_t v[CFG_MAX_VERSIONS * 4];
    uint64_t fp = 0;
    if (list_versions(dir, v, (int)(sizeof(v) / sizeof(v[0])), &fp) < 0)
        return 0;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (stat(path, &st) == 0)
        fp ^= ((uint64_t)st.st_mtim.tv_sec * 1000000007ull) ^ (uint64_t)st.st_mtim.tv_nsec ^
              ((uint64_t)st.st_size << 40);
    return fp ? fp : 1;
}

/* The directory of model @name in @dir (len 4096); false if there is none. */
static bool model_dir(repo *r, const char *name, char *dir)
{
    struct stat st;
    if (r->single && strcmp(name, r->single) != 0)
        return false;
    if (snprintf(dir, 4096, r->single ? "%s" : "%s/%s", r->root, name) >= 4096)
        return false;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Calls @fn for each model the repository holds: its one model (KServe's
 * layout) or each valid subdirectory name. */
static void for_each_model(repo *r, void (*fn)(repo *r, const char *name, void *arg), void *arg)
{
    char dir[4096];
    if (r->single) {
        if (model_dir(r, r->single, dir))
            fn(r, r->single, arg);
        return;
    }
    DIR *d = opendir(r->root);
    if (!d) {
        evlog_event(r->log, "error", "repository", "%s: %s", r->root, strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (repo_valid_name(de->d_name) && model_dir(r, de->d_name, dir))
            fn(r, de->d_name, arg);
    closedir(d);
}

int repo_serve_single(repo *r, const char *name, char *err, size_t errlen)
{
    int64_t v[1];
    uint64_t fp = 0;
    if (!repo_valid_name(name)) {
        snprintf(err, errlen, "invalid model name '%s'", name);
        return -EINVAL;
    }
    if (list_versions(r->root, v, 1, &fp) <= 0)
        return 0; /* no version directory at the top: a repository */
    if (!(r->single = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 1;
}

static int read_all(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > MAX_MODEL_BYTES) {
        fclose(f);
        return -EFBIG;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || n != (size_t)st.st_size) {
        free(buf);
        return buf ? -EIO : -ENOMEM;
    }
    *out = buf;
    *len = n;
    return 0;
}

static bool sha256_matches(const unsigned char *data, size_t len, const char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return false;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        char hi = hex[2 * i] | 0x20, lo = hex[2 * i + 1] | 0x20; /* lowercase */
        if (hi != digits[md[i] >> 4] || lo != digits[md[i] & 15])
            return false;
    }
    return true;
}

/* Zero tensors of @m's declared input shapes, symbolic dims 1: one request.
 * Fills @in[n_inputs]; 1 when some input's rank is unknown (no guess), 0,
 * or -ENOMEM. */
static int declared_inputs(loom_model *m, loom_tensor **in)
{
    for (size_t i = 0; i < loom_model_input_count(m); i++) {
        loom_value_info vi;
        loom_model_input_info(m, i, &vi);
        if (vi.rank < 0)
            return 1;
        int64_t dims[LOOM_MAX_RANK];
        for (int d = 0; d < vi.rank; d++)
            dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
        if (loom_tensor_create(vi.dtype, vi.rank, dims, &in[i]) != LOOM_OK)
            return -ENOMEM;
    }
    return 0;
}

static void destroy_tensors(loom_tensor **t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        loom_tensor_destroy(t[i]);
    free(t);
}

int repo_plan_json(model_version *v, char **json, char *err, size_t errlen)
{
    size_t n_in = loom_model_input_count(v->model);
    loom_tensor **in = calloc(n_in + 1, sizeof(*in));
    int rc = in ? declared_inputs(v->model, in) : -ENOMEM;
    if (rc == 0 && loom_model_plan_json(v->model, in, n_in, json) != LOOM_OK)
        rc = -EINVAL;
    if (rc)
        snprintf(err, errlen, "%s",
                 rc == 1   ? "the model does not declare its input ranks"
                 : rc < -1 ? "out of memory"
                           : loom_last_error());
    destroy_tensors(in, n_in);
    return rc ? -EINVAL : 0;
}

/* Applies config.json's inputs/outputs to a loaded model @m and warms it up. */
static int prepare(repo *r, loom_model *m, const char *name, const char *dir, const char *rel,
                   const model_config *cfg, char *err, size_t errlen)
{
    char e[512];
    if (model_io_apply(m, cfg, e, sizeof(e))) {
        snprintf(err, errlen, "%s: %.400s", rel, e);
        return -1;
    }
    int rc = cfg->warmup ? model_warm_up(m, cfg, dir, e, sizeof(e)) : 0;
    if (rc < 0)
        snprintf(err, errlen, "%s: %.400s", rel, e);
    else if (rc > 0)
        evlog_event(r->log, "warn", "warmup_skipped", "%s/%s: %s", name, rel, e);
    return rc < 0 ? -1 : 0;
}

static int load_version(repo *r, const char *name, const char *dir, int64_t version,
                        const model_config *cfg, model_version **out, char *err, size_t errlen)
{
    char rel[64], path[4096];
    snprintf(rel, sizeof(rel), "%lld/model.onnx", (long long)version);
    if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path)) {
        snprintf(err, errlen, "path too long");
        return -ENAMETOOLONG;
    }
    loom_context *ctx = context_for(r, cfg, err, errlen);
    if (!ctx)
        return -EINVAL;
    const char *hex = NULL;
    for (int i = 0; i < cfg->n_sha; i++)
        if (strcmp(cfg->sha_file[i], rel) == 0)
            hex = cfg->sha_hex[i];
    loom_model *m = NULL;
    loom_status st;
    if (hex) {
        /* Hash the very bytes that get loaded, so the file cannot change in between. */
        unsigned char *data = NULL;
        size_t len = 0;
        int rc = read_all(path, &data, &len);
        if (rc) {
            snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
            return rc;
        }
        if (!sha256_matches(data, len, hex)) {
            free(data);
            snprintf(err, errlen, "%s: sha256 does not match config.json", rel);
            return -EBADMSG;
        }
        char label[300];
        snprintf(label, sizeof(label), "%s/%s", name, rel);
        st = loom_model_load_memory(ctx, data, len, label, &m);
        free(data);
    } else {
        st = loom_model_load_file(ctx, path, &m);
    }
    if (st != LOOM_OK) {
        snprintf(err, errlen, "%s: %s", rel, loom_last_error());
        return -EINVAL;
    }
    if (cfg->plan_cache_mb)
        loom_model_set_plan_cache_bytes(m, (size_t)cfg->plan_cache_mb << 20);
    if (cfg->max_batch_size > 0) {
        /* Batching concatenates along dim 0, so every input must have one. */
        for (size_t i = 0; i < loom_model_input_count(m); i++) {
            loom_value_info vi;
            loom_model_input_info(m, i, &vi);
            if (vi.rank == 0) {
                snprintf(err, errlen, "%s: input '%s' is a scalar but max_batch_size is %d", rel,
                         vi.name, cfg->max_batch_size);
                loom_model_destroy(m);
                return -EINVAL;
            }
        }
    }
    if (prepare(r, m, name, dir, rel, cfg, err, errlen)) {
        loom_model_destroy(m);
        return -EINVAL;
    }
    model_version *v = calloc(1, sizeof(*v));
    if (!v || !(v->name = strdup(name)) || model_config_copy(&v->cfg, cfg)) {
        if (v)
            free(v->name);
        free(v);
        loom_model_destroy(m);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    v->version = version;
    v->model = m;
    char e[256];
    int rc = sched_create(m, cfg, name, version, r->metrics, &v->sched, e, sizeof(e));
    if (rc) {
        snprintf(err, errlen, "%s", e);
        model_config_free(&v->cfg);
        free(v->name);
        free(v);
        loom_model_destroy(m);
        return rc;
    }
    atomic_store((atomic_int *)&v->refs, 1);
    *out = v;
    return 0;
}

/* Which of the @n available versions the policy serves; returns how many went to @sel. */
static int select_versions(const model_config *cfg, const int64_t *avail, int n, int64_t *sel,
                           char *err, size_t errlen)
{
    int k = 0;
    switch (cfg->vp) {
    case VP_ALL:
        for (int i = 0; i < n && k < CFG_MAX_VERSIONS; i++)
            sel[k++] = avail[i];
        break;
    case VP_LATEST:
        for (int i = n - cfg->latest_n < 0 ? 0 : n - cfg->latest_n; i < n; i++)
            sel[k++] = avail[i];
        break;
    case VP_SPECIFIC:
        for (int j = 0; j < cfg->n_versions; j++) {
            bool found = false;
            for (int i = 0; i < n; i++)
                found |= avail[i] == cfg->versions[j];
            if (!found) {
                snprintf(err, errlen, "version %lld named by version_policy is missing",
                         (long long)cfg->versions[j]);
                return -ENOENT;
            }
            sel[k++] = cfg->versions[j];
        }
        qsort(sel, (size_t)k, sizeof(int64_t), cmp_i64);
        break;
    }
    if (k == 0) {
        snprintf(err, errlen, "no version directory holds a model.onnx");
        return -ENOENT;
    }
    return k;
}

static int load_locked(repo *r, const char *name, char *err, size_t errlen)
{
    char dir[4096];
    if (!repo_valid_name(name)) {
        snprintf(err, errlen, "invalid model name");
        return -EINVAL;
    }
    if (!model_dir(r, name, dir)) {
        snprintf(err, errlen, "no model '%s' in the repository", name);
        return -ENOENT;
    }
    model_entry *e = entry_get(r, name);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uint64_t fp = model_fingerprint(dir);
    model_config cfg;
    model_config_defaults(&cfg);
    char e2[512] = "";
    model_version *nv[CFG_MAX_VERSIONS];
    int n_new = 0, rc = model_config_load(dir, &cfg, e2, sizeof(e2));
    int64_t avail[CFG_MAX_VERSIONS * 4], sel[CFG_MAX_VERSIONS];
    int n_avail = 0, n_sel = 0;
    if (!rc) {
        uint64_t dummy = 0;
        n_avail = list_versions(dir, avail, (int)(sizeof(avail) / sizeof(avail[0])), &dummy);
        if (n_avail < 0) {
            rc = n_avail;
            snprintf(e2, sizeof(e2), "%s", strerror(-rc));
        }
    }
    if (!rc && (n_sel = select_versions(&cfg, avail, n_avail, sel, e2, sizeof(e2))) < 0)
        rc = n_sel;
    pthread_mutex_lock(&r->lock);
    if (e->n_versions == 0)
        e->state = "LOADING";
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; !rc && i < n_sel; i++) {
        rc = load_version(r, name, dir, sel[i], &cfg, &nv[n_new], e2, sizeof(e2));
        if (!rc)
            n_new++;
    }
    model_config_free(&cfg);
    model_version *old[CFG_MAX_VERSIONS];
    int n_old = 0;
    pthread_mutex_lock(&r->lock);
    if (rc) {
        snprintf(e->reason, sizeof(e->reason), "load failed: %.240s", e2);
        e->state = e->n_versions ? "READY" : "UNAVAILABLE";
    } else {
        n_old = e->n_versions;
        memcpy(old, e->versions, sizeof(old[0]) * (size_t)n_old);
        memcpy(e->versions, nv, sizeof(nv[0]) * (size_t)n_new);
        e->n_versions = n_new;
        e->state = "READY";
        e->reason[0] = '\0';
        e->fingerprint = fp;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc) {
        for (int i = 0; i < n_new; i++)
            model_version_release(nv[i]);
        snprintf(err, errlen, "%s: %s", name, e2);
        evlog_event(r->log, "error", "load_failed", "%s: %s", name, e2);
        return rc;
    }
    for (int i = 0; i < n_old; i++)
        model_version_release(old[i]);
    return_freed_memory();
    evlog_event(r->log, "info", "loaded", "%s: %d version(s), latest %lld", name, n_new,
                (long long)nv[n_new - 1]->version);
    return 0;
}

int repo_load(repo *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->control);
    int rc = load_locked(r, name, err, errlen);
    pthread_mutex_unlock(&r->control);
    return rc;
}

static int unload_locked(repo *r, const char *name, const char *why, char *err, size_t errlen)
{
    model_version *old[CFG_MAX_VERSIONS];
    int n_old = 0;
    pthread_mutex_lock(&r->lock);
    model_entry *e = find_locked(r, name);
    if (e && e->n_versions) {
        n_old = e->n_versions;
        memcpy(old, e->versions, sizeof(old[0]) * (size_t)n_old);
        e->n_versions = 0;
        e->state = "UNAVAILABLE";
        snprintf(e->reason, sizeof(e->reason), "%s", why);
        e->fingerprint = 0;
    }
    pthread_mutex_unlock(&r->lock);
    if (!n_old) {
        snprintf(err, errlen, "model '%s' is not loaded", name);
        return -ENOENT;
    }
    /* Requests still holding a version finish first; the last one frees it. */
    for (int i = 0; i < n_old; i++)
        model_version_release(old[i]);
    evlog_event(r->log, "info", "unloaded", "%s: %s", name, why);
    return 0;
}

int repo_unload(repo *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->control);
    int rc = unload_locked(r, name, "unloaded", err, errlen);
    pthread_mutex_unlock(&r->control);
    return rc;
}

/* Loads model @name unless its files are those it was last loaded (or failed) from. */
static void sync_one(repo *r, const char *name, void *arg)
{
    char dir[4096];
    if (!model_dir(r, name, dir))
        return;
    uint64_t fp = model_fingerprint(dir);
    pthread_mutex_lock(&r->lock);
    model_entry *e = find_locked(r, name);
    /* A failed load is retried only when the files change again. */
    bool same = e && e->fingerprint == fp;
    pthread_mutex_unlock(&r->lock);
    if (same)
        return;
    char err[512];
    if (load_locked(r, name, err, sizeof(err)) != 0) {
        (*(int *)arg)++;
        pthread_mutex_lock(&r->lock);
        if ((e = find_locked(r, name)))
            e->fingerprint = fp;
        pthread_mutex_unlock(&r->lock);
    }
}

int repo_sync(repo *r)
{
    int failed = 0;
    pthread_mutex_lock(&r->control);
    struct stat st;
    if (stat(r->root, &st) != 0) {
        evlog_event(r->log, "error", "repository", "%s: %s", r->root, strerror(errno));
        pthread_mutex_unlock(&r->control);
        return 1;
    }
    for_each_model(r, sync_one, &failed);
    /* Models whose directory disappeared stop serving. */
    for (;;) {
        char name[130] = "";
        pthread_mutex_lock(&r->lock);
        for (model_entry *e = r->entries; e && !name[0]; e = e->next) {
            char dir[4096];
            if (e->n_versions && !model_dir(r, e->name, dir))
                snprintf(name, sizeof(name), "%s", e->name);
        }
        pthread_mutex_unlock(&r->lock);
        if (!name[0])
            break;
        char err[256];
        unload_locked(r, name, "removed from the repository", err, sizeof(err));
    }
    pthread_mutex_unlock(&r->control);
    return failed;
}

model_version *repo_acquire(repo *r, const char *name, int64_t version, int *why)
{
    model_version *v = NULL;
    pthread_mutex_lock(&r->lock);
    model_entry *e = find_locked(r, name);
    if (!e) {
        *why = -ENOENT;
    } else if (e->n_versions == 0) {
        *why = -EAGAIN;
    } else if (version <= 0) {
        v = e->versions[e->n_versions - 1];
    } else {
        for (int i = 0; i < e->n_versions; i++)
            if (e->versions[i]->version == version)
                v = e->versions[i];
        if (!v)
            *why = -ENOENT;
    }
    if (v)
        atomic_fetch_add((atomic_int *)&v->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return v;
}

void repo_release_idle(repo *r)
{
    size_t freed = 0;
    pthread_mutex_lock(&r->lock);
    for (model_entry *e = r->entries; e; e = e->next)
        for (int i = 0; i < e->n_versions; i++)
            freed += loom_model_release_idle(e->versions[i]->model, -1);
    pthread_mutex_unlock(&r->lock);
    if (freed)
        return_freed_memory();
}

void repo_flush(repo *r)
{
    pthread_mutex_lock(&r->lock);
    for (model_entry *e = r->entries; e; e = e->next)
        for (int i = 0; i < e->n_versions; i++)
            sched_flush(e->versions[i]->sched);
    pthread_mutex_unlock(&r->lock);
}

int repo_versions(repo *r, const char *name, int64_t *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&r->lock);
    model_entry *e = find_locked(r, name);
    for (int i = 0; e && i < e->n_versions && n < max; i++)
        out[n++] = e->versions[i]->version;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static void list_one(repo *r, const char *name, void *arg)
{
    (void)arg;
    entry_get(r, name);
}

char *repo_index_json(repo *r, bool ready_only, size_t *len)
{
    sbuf b = {0};
    sbuf_puts(&b, "[");
    bool first = true;
    /* Make sure every model appears, loaded or not. */
    for_each_model(r, list_one, NULL);
    pthread_mutex_lock(&r->lock);
    for (model_entry *e = r->entries; e; e = e->next) {
        if (ready_only && e->n_versions == 0)
            continue;
        for (int i = 0; i < (e->n_versions ? e->n_versions : 1); i++) {
            sbuf_puts(&b, first ? "{\"name\":" : ",{\"name\":");
            first = false;
            sbuf_json_str(&b, e->name);
            if (e->n_versions)
                sbuf_printf(&b, ",\"version\":\"%lld\",\"state\":\"READY\"",
                            (long long)e->versions[i]->version);
            else
                sbuf_printf(&b, ",\"state\":\"%s\"", e->state);
            if (e->reason[0]) {
                sbuf_puts(&b, ",\"reason\":");
                sbuf_json_str(&b, e->reason);
            }
            sbuf_puts(&b, "}");
        }
    }
    pthread_mutex_unlock(&r->lock);
    sbuf_puts(&b, "]");
    return sbuf_take(&b, len);
}
