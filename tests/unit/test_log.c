/*
 * test_log.c - libloom prints nothing; its messages reach the log callbacks
 * of the live contexts (loom_context_options.log, core/log.c).
 *
 * Kernel choices are made and logged once per process, so the order of the
 * tests matters: the stderr check runs its model in a child process, leaving
 * the choice to be made (and logged) again in the test after it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define MAX_SEEN 64

/* What one callback received. */
typedef struct seen {
    pthread_mutex_t lock;
    int n;
    loom_log_level level[MAX_SEEN];
    char msg[MAX_SEEN][160];
} seen;

static void record(void *user, loom_log_level level, const char *msg)
{
    seen *s = user;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SEEN) {
        s->level[s->n] = level;
        snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s", msg);
    }
    s->n++;
    pthread_mutex_unlock(&s->lock);
}

static int count(seen *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The index of the first message containing @needle, or -1. */
static int find(const seen *s, const char *needle)
{
    for (int i = 0; i < s->n && i < MAX_SEEN; i++)
        if (strstr(s->msg[i], needle))
            return i;
    return -1;
}

static loom_context *context_logging_to(seen *s, loom_log_level level)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = 2;
    o.log = s ? record : NULL;
    o.log_user = s;
    o.log_level = level;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

/* y = MatMul(x, w) in float, yi = MatMulInteger(q, wq) in uint8: the sgemm
 * and qgemm kernels, each chosen at its first use. */
static loom_model *load_matmuls(loom_context *ctx)
{
    int64_t xd[2] = {4, 16}, wd[2] = {16, 8};
    float w[16 * 8];
    uint8_t wq[16 * 8];
    for (int i = 0; i < 16 * 8; i++) {
        w[i] = (float)(i % 7) - 3.0f;
        wq[i] = (uint8_t)(i * 5);
    }
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 2, xd);
    ob_input(m, "q", LOOM_DTYPE_UINT8, 2, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    ob_output(m, "yi", LOOM_DTYPE_INT32);
    ob_init_f32(m, "w", 2, wd, w);
    ob_init_raw(m, "wq", LOOM_DTYPE_UINT8, 2, wd, wq, sizeof(wq));
    ob_add_node(m, "MatMul", "x,w", "y");
    ob_add_node(m, "MatMulInteger", "q,wq", "yi");
    loom_model *model = NULL;
    return ob_load(m, ctx, "matmuls.onnx", &model) ? NULL : model;
}

/* Loads and runs load_matmuls() once in @ctx; LOOM_OK or the failure. */
static loom_status run_matmuls(loom_context *ctx)
{
    loom_model *m = load_matmuls(ctx);
    if (!m)
        return LOOM_ERR_INVALID_MODEL;
    int64_t xd[2] = {4, 16};
    loom_tensor *in[2] = {NULL, NULL}, *out[2] = {NULL, NULL};
    loom_status s = loom_tensor_create(LOOM_DTYPE_FLOAT, 2, xd, &in[0]);
    if (!s)
        s = loom_tensor_create(LOOM_DTYPE_UINT8, 2, xd, &in[1]);
    if (!s)
        s = loom_model_run(m, in, 2, out, 2);
    for (int i = 0; i < 2; i++) {
        loom_tensor_destroy(in[i]);
        loom_tensor_destroy(out[i]);
    }
    loom_model_destroy(m);
    return s;
}

/* The child of no_callback_leaves_stderr_empty: fd 2 goes to @path, the
 * variables that used to print are set, and a model loads and runs. */
static void child_runs_quietly(const char *path)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0 || dup2(fd, 2) < 0)
        _exit(2);
    close(fd);
    setenv("LOOM_LOG_KERNELS", "1", 1);
    setenv("LOOM_OPENCL_LOG", "1", 1);
    setenv("LOOM_FPGA_STATS", "1", 1);
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *ctx = NULL;
    if (loom_context_create(&o, &ctx))
        _exit(3);
    loom_status s = run_matmuls(ctx);
    loom_context_destroy(ctx);
    _exit(s ? 4 : 0);
}

/* First: the child makes the kernel choices the next test expects to see. */
static void no_callback_leaves_stderr_empty(void **state)
{
    (void)state;
    char path[] = "/tmp/loom-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_runs_quietly(path);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unlink(path);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(st.st_size, 0);
}

/* A DEBUG context hears which sgemm kernel was chosen; a WARN one hears nothing. */
static void debug_context_hears_kernel_choice(void **state)
{
    (void)state;
    seen dbg = {.lock = PTHREAD_MUTEX_INITIALIZER}, warn = {.lock = PTHREAD_MUTEX_INITIALIZER};
    loom_context *a = context_logging_to(&dbg, LOOM_LOG_DEBUG);
    loom_context *b = context_logging_to(&warn, LOOM_LOG_WARN);
    assert_int_equal(run_matmuls(a), LOOM_OK);
    int i = find(&dbg, "sgemm uses ");
    if (i < 0)
        print_error("%d messages, none about sgemm\n", dbg.n);
    assert_true(i >= 0);
    assert_int_equal(dbg.level[i], LOOM_LOG_DEBUG);
    assert_true(find(&dbg, "qgemm uses ") >= 0);
    assert_int_equal(warn.n, 0); /* every message so far is above WARN */
    loom_context_destroy(a);
    loom_context_destroy(b);
}

/* A message from shared code reaches every context that admits its level,
 * once per distinct callback and user. */
static void shared_message_reaches_every_context(void **state)
{
    (void)state;
    seen one = {.lock = PTHREAD_MUTEX_INITIALIZER}, two = {.lock = PTHREAD_MUTEX_INITIALIZER};
    loom_context *a = context_logging_to(&one, LOOM_LOG_INFO);
    loom_context *b = context_logging_to(&two, LOOM_LOG_INFO);
    loom_context *c = context_logging_to(&two, LOOM_LOG_DEBUG); /* same logger as b */
    lm_log(LOOM_LOG_INFO, "shared %d", 42);
    assert_int_equal(one.n, 1);
    assert_int_equal(two.n, 1);
    assert_string_equal(one.msg[0], "shared 42");
    assert_int_equal(one.level[0], LOOM_LOG_INFO);
    lm_log(LOOM_LOG_DEBUG, "only c");
    assert_int_equal(one.n, 1);
    assert_int_equal(two.n, 2);
    loom_context_destroy(a);
    loom_context_destroy(b);
    loom_context_destroy(c);
    assert_false(lm_log_enabled(LOOM_LOG_ERROR)); /* nobody listens: the fast path */
}

/* Once loom_context_destroy() returns, its callback never runs again, even
 * with another thread logging all along. */
typedef struct race {
    seen s;
    atomic_bool destroyed, stop;
    atomic_int late; /* calls that began after destroy returned */
} race;

static void record_race(void *user, loom_log_level level, const char *msg)
{
    race *r = user;
    if (atomic_load(&r->destroyed))
        atomic_fetch_add(&r->late, 1);
    record(&r->s, level, msg);
}

static void *keep_logging(void *arg)
{
    race *r = arg;
    while (!atomic_load(&r->stop))
        lm_log(LOOM_LOG_INFO, "tick");
    return NULL;
}

static void no_callback_after_destroy(void **state)
{
    (void)state;
    race r = {.s.lock = PTHREAD_MUTEX_INITIALIZER};
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = 1;
    o.log = record_race;
    o.log_user = &r;
    o.log_level = LOOM_LOG_INFO;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, keep_logging, &r), 0);
    while (count(&r.s) < 100)
        usleep(100);
    loom_context_destroy(ctx);
    atomic_store(&r.destroyed, true);
    int n = count(&r.s);
    usleep(20000);
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    lm_log(LOOM_LOG_ERROR, "after");
    assert_int_equal(atomic_load(&r.late), 0);
    assert_int_equal(count(&r.s), n);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(no_callback_leaves_stderr_empty), /* first: see the header */
    cmocka_unit_test(debug_context_hears_kernel_choice),
    cmocka_unit_test(shared_message_reaches_every_context),
    cmocka_unit_test(no_callback_after_destroy),
};

LM_TEST_MAIN(tests)
