/*
 * unit_loomd.c - cmocka tests of loomd's modules without HTTP: model config
 * parsing, request decoding and response encoding, the batching scheduler
 * (concatenate, split, queue limits, deadlines) and name validation.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/device.h"
#include "core/registry.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"
#include "loomd/api.h"
#include "loomd/bucket.h"
#include "loomd/codec.h"
#include "loomd/config.h"
#include "loomd/model_io.h"
#include "loomd/repo.h"
#include "loomd/sched.h"
#include "loomd/warmup.h"

static loom_context *ctx;

/* y = Relu(x + b), x: float [N, 4], b = {1, -2, 3, -4}. */
static loom_model *bias_relu(void)
{
    int64_t in_dims[2] = {-1, 4}, b_dims[1] = {4};
    float b[4] = {1, -2, 3, -4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, in_dims);
    ob_output(m, "y", 1);
    ob_init_f32(m, "b", 1, b_dims, b);
    ob_add_node(m, "Add", "x,b", "s");
    ob_add_node(m, "Relu", "s", "y");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_model *model = NULL;
    if (!ctx)
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    assert_int_equal(loom_model_load_memory(ctx, buf, len, "bias_relu", &model), LOOM_OK);
    free(buf);
    ob_free(m);
    return model;
}

static void config_reads_triton_form(void **state)
{
    (void)state;
    const char *j = "{\"max_batch_size\": 8, \"dynamic_batching\": {\"preferred_batch_size\": [2, "
                    "4], \"max_queue_delay_microseconds\": \"500\", \"default_queue_policy\": "
                    "{\"max_queue_size\": 3, \"default_timeout_microseconds\": 1000}}, "
                    "\"instance_group\": [{\"count\": 2}, {\"count\": 1}], \"version_policy\": "
                    "{\"specific\": {\"versions\": [1, 3]}}, \"parameters\": {\"device\": "
                    "{\"string_value\": \"auto\"}, \"warmup\": \"false\", \"pins\": "
                    "\"op:Conv=cpu\", \"objective\": {\"string_value\": \"throughput\"}, "
                    "\"fail_closed\": true}, \"sha256\": "
                    "{\"1/model.onnx\": "
                    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}";
    model_config c;
    char err[256];
    model_config_defaults(&c);
    assert_int_equal(model_config_parse(j, strlen(j), &c, err, sizeof(err)), 0);
    assert_int_equal(c.max_batch_size, 8);
    assert_true(c.dynamic_batching);
    assert_int_equal(c.n_preferred, 2);
    assert_int_equal(c.max_queue_delay_us, 500); /* protobuf JSON writes int64 as strings */
    assert_int_equal(c.max_queue_size, 3);
    assert_int_equal(c.default_timeout_us, 1000);
    assert_int_equal(c.instance_count, 3);
    assert_int_equal(c.vp, VP_SPECIFIC);
    assert_int_equal(c.n_versions, 2);
    assert_string_equal(c.device, "auto");
    assert_string_equal(c.pins, "op:Conv=cpu");
    assert_int_equal(c.objective, LOOM_OBJECTIVE_THROUGHPUT);
    assert_true(c.fail_closed);
    assert_false(c.warmup);
    assert_int_equal(c.n_sha, 1);
    model_config_free(&c);
}

static void config_rejects_bad_values(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"max_batch_size\": -1}",
        "{\"max_batch_size\": 4, \"dynamic_batching\": {\"preferred_batch_size\": [8]}}",
        "{\"sha256\": {\"../../etc/passwd\": "
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}",
        "{\"sha256\": {\"1/model.onnx\": \"xyz\"}}",
        "{\"version_policy\": {\"newest\": {}}}",
        "{\"instance_group\": []}",
        "{\"parameters\": {\"objective\": \"fastest\"}}",
        "{\"parameters\": {\"pins\": 3}}",
        "{\"parameters\": {\"fail_closed\": \"maybe\"}}",
        "[1, 2]",
        "{\"max_batch_size\": 4} trailing",
        "{",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        model_config c;
        char err[256] = "";
        model_config_defaults(&c);
        assert_int_equal(model_config_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -EINVAL);
        assert_true(strlen(err) > 0);
    }
}

static void config_reads_memory_parameters(void **state)
{
    (void)state;
    const char *j = "{\"parameters\": {\"plan_cache_mb\": {\"string_value\": \"48\"}, "
                    "\"shape_bucket\": \"sequence:16\"}}";
    model_config c;
    char err[256];
    model_config_defaults(&c);
    assert_int_equal(model_config_parse(j, strlen(j), &c, err, sizeof(err)), 0);
    assert_int_equal(c.plan_cache_mb, 48);
    assert_string_equal(c.bucket_dim, "sequence");
    assert_int_equal(c.bucket_multiple, 16);
    model_config_free(&c);
    const char *bad[] = {
        "{\"parameters\": {\"plan_cache_mb\": \"0\"}}",
        "{\"parameters\": {\"plan_cache_mb\": \"lots\"}}",
        "{\"parameters\": {\"shape_bucket\": \"sequence\"}}",
        "{\"parameters\": {\"shape_bucket\": \":16\"}}",
        "{\"parameters\": {\"shape_bucket\": \"sequence:1\"}}",
        "{\"parameters\": {\"shape_bucket\": \"sequence:16x\"}}",
        "{\"parameters\": {\"shape_bucket\": 16}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        model_config_defaults(&c);
        err[0] = '\0';
        assert_int_equal(model_config_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -EINVAL);
        assert_true(strlen(err) > 0);
    }
}

/* Buckets pad the named input axis with zeros up to the multiple and cut
 * outputs back; a name no input has is refused. */
static void buckets_pad_and_crop(void **state)
{
    (void)state;
    loom_model *m = bias_relu();
    bucket_plan bp;
    char err[256] = "";
    assert_int_equal(bucket_setup(m, "sequence", 4, &bp, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sequence"));
    assert_int_equal(bucket_setup(m, "N", 4, &bp, err, sizeof(err)), 0);
    assert_int_equal(bp.in_axis[0], 0);
    int64_t d[2] = {3, 4};
    loom_tensor *x, *padded[1];
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, d, &x), LOOM_OK);
    float *xv = loom_tensor_data(x);
    for (int i = 0; i < 12; i++)
        xv[i] = (float)i + 1;
    int64_t len;
    assert_true(bucket_pad(&bp, &x, 1, padded, &len));
    assert_int_equal(len, 3);
    assert_int_equal(loom_tensor_dims(padded[0])[0], 4);
    const float *pv = loom_tensor_data(padded[0]);
    assert_memory_equal(pv, xv, 12 * sizeof(float));
    for (int i = 12; i < 16; i++)
        assert_true(pv[i] == 0.0f);
    bp.out_axis[0] = 0; /* the output as if declared with the same dim */
    assert_true(bucket_crop(&bp, padded, 1, len));
    assert_int_equal(loom_tensor_dims(padded[0])[0], 3);
    assert_memory_equal(loom_tensor_data(padded[0]), xv, 12 * sizeof(float));
    loom_tensor *again[1];
    assert_true(bucket_pad(&bp, padded, 1, again, &len) && again[0] != NULL);
    loom_tensor_destroy(again[0]);
    d[0] = 8; /* already a multiple: nothing to pad */
    loom_tensor *y;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, d, &y), LOOM_OK);
    assert_true(bucket_pad(&bp, &y, 1, again, &len));
    assert_null(again[0]);
    assert_int_equal(len, -1);
    loom_tensor_destroy(y);
    loom_tensor_destroy(padded[0]);
    loom_tensor_destroy(x);
    loom_model_destroy(m);
}

static void names_are_never_paths(void **state)
{
    (void)state;
    assert_true(repo_valid_name("resnet50_v1.5-int8"));
    assert_false(repo_valid_name(""));
    assert_false(repo_valid_name(".."));
    assert_false(repo_valid_name(".hidden"));
    assert_false(repo_valid_name("a/b"));
    assert_false(repo_valid_name("-rf"));
    assert_false(repo_valid_name("a b"));
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(repo_valid_name(longname));
}

static void codec_decodes_json_and_binary(void **state)
{
    (void)state;
    loom_model *m = bias_relu();
    codec_limits lim = {.max_batch_size = 4, .max_elements = 1000};
    infer_request rq;
    char err[256];
    const char *j =
        "{\"id\":\"a\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,4],\"datatype\":\"FP32\","
        "\"data\":[[1,2,3,4],[5,6,7,8]]}],\"outputs\":[{\"name\":\"y\","
        "\"parameters\":{\"binary_data\":true}}]}";
    assert_int_equal(codec_decode(m, &lim, j, strlen(j), -1, &rq, err, sizeof(err)), 0);
    assert_string_equal(rq.id, "a");
    assert_int_equal(rq.rows, 2);
    assert_int_equal(rq.n_outputs, 1);
    assert_true(rq.out_binary[0]);
    assert_true(((float *)loom_tensor_data(rq.inputs[0]))[7] == 8.0f);
    codec_request_free(&rq);

    char body[512];
    const char *h = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\","
                    "\"parameters\":{\"binary_data_size\":16}}]}";
    float x[4] = {-1, 0.5f, 2, 9};
    size_t hl = strlen(h);
    memcpy(body, h, hl);
    memcpy(body + hl, x, sizeof(x));
    assert_int_equal(codec_decode(m, &lim, body, hl + 16, (long long)hl, &rq, err, sizeof(err)), 0);
    assert_memory_equal(loom_tensor_data(rq.inputs[0]), x, sizeof(x));
    codec_request_free(&rq);
    /* Bytes nobody claims, and fewer bytes than declared, are both errors. */
    assert_int_equal(codec_decode(m, &lim, body, hl + 16, (long long)hl - 1, &rq, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(codec_decode(m, &lim, body, hl + 12, (long long)hl, &rq, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "fewer binary bytes"));
    loom_model_destroy(m);
}

static void codec_rejects_bad_tensors(void **state)
{
    (void)state;
    loom_model *m = bias_relu();
    codec_limits lim = {.max_batch_size = 4, .max_elements = 16};
    const char *bad[][2] = {
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"INT32\",\"data\":[1,2,3,4]}]"
         "}",
         "datatype"},
        {"{\"inputs\":[{\"name\":\"z\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
         "unknown input"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5]}]"
         "}",
         "shape"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[8,4],\"datatype\":\"FP32\",\"data\":[]}]}",
         "elements"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[0,4],\"datatype\":\"FP32\",\"data\":[]}]}",
         "batch"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
         "data elements"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5]}]"
         "}",
         "more data"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,true,4]}"
         "]}",
         "not a valid"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[-1,4],\"datatype\":\"FP32\",\"data\":[]}]}",
         "bad shape"},
        {"{\"inputs\":{}}", "inputs"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}],"
         "\"outputs\":[{\"name\":\"q\"}]}",
         "unknown output"},
        {"{\"parameters\":{\"timeout\":-1},\"inputs\":[]}", "timeout"},
        {"{\"inputs\":[]} {}", "after the object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        infer_request rq;
        char err[256] = "";
        int rc = codec_decode(m, &lim, bad[i][0], strlen(bad[i][0]), -1, &rq, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, bad[i][1]))
            fail_msg("case %zu: rc %d, error '%s', expected '%s'", i, rc, err, bad[i][1]);
    }
    loom_model_destroy(m);
}

static void codec_encodes_json_and_binary(void **state)
{
    (void)state;
    loom_model *m = bias_relu();
    int64_t dims[2] = {1, 4};
    loom_tensor *y;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, dims, &y), LOOM_OK);
    float *p = loom_tensor_data(y);
    p[0] = 0.1f;
    p[1] = NAN;
    p[2] = INFINITY;
    p[3] = -2;
    infer_request rq = {.id = "q"};
    size_t len;
    long long jl;
    char *body = codec_encode(&rq, m, "bias_relu", 3, &y, &len, &jl);
    assert_int_equal(jl, -1);
    assert_string_equal(body, "{\"model_name\":\"bias_relu\",\"model_version\":\"3\",\"id\":\"q\","
                              "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,4],"
                              "\"data\":[0.100000001,NaN,Infinity,-2]}]}");
    free(body);
    rq.binary_default = true;
    body = codec_encode(&rq, m, "bias_relu", 3, &y, &len, &jl);
    assert_true(jl > 0 && (size_t)jl + 16 == len);
    assert_memory_equal(body + jl, p, 16);
    free(body);
    loom_tensor_destroy(y);
    loom_model_destroy(m);
}

static sched_job *job_of(float first, int64_t rows)
{
    int64_t dims[2] = {rows, 4};
    loom_tensor **in = calloc(1, sizeof(*in));
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, dims, &in[0]), LOOM_OK);
    float *p = loom_tensor_data(in[0]);
    for (int64_t i = 0; i < rows * 4; i++)
        p[i] = first + (float)i;
    sched_job *j = sched_job_new(in, 1, rows);
    assert_non_null(j);
    return j;
}

/* One bias_relu model behind a scheduler; a test sets f.c, then starts it. */
typedef struct sched_fixture {
    loom_model *m;
    metrics *mt;
    model_config c;
    sched *s;
} sched_fixture;

/* Default config, plus dynamic batching up to 8 rows when @batching. */
static void fixture_init(sched_fixture *f, bool batching)
{
    f->m = bias_relu();
    f->mt = metrics_create();
    model_config_defaults(&f->c);
    if (batching) {
        f->c.max_batch_size = 8;
        f->c.dynamic_batching = true;
    }
    f->s = NULL;
}

/* (Re)starts the scheduler with the current f->c. */
static void fixture_start(sched_fixture *f)
{
    char err[256];
    sched_destroy(f->s);
    f->s = NULL;
    assert_int_equal(sched_create(f->m, &f->c, "bias_relu", 1, f->mt, &f->s, err, sizeof(err)), 0);
}

static void fixture_fini(sched_fixture *f)
{
    sched_destroy(f->s);
    metrics_destroy(f->mt);
    model_config_free(&f->c);
    loom_model_destroy(f->m);
}

static void sched_batches_and_splits(void **state)
{
    (void)state;
    sched_fixture f;
    fixture_init(&f, true);
    f.c.preferred[f.c.n_preferred++] = 6;
    f.c.max_queue_delay_us = 2000000; /* long: only the preferred size can start the batch */
    fixture_start(&f);
    sched *s = f.s;
    metrics_inflight_add(f.mt, 3); /* as the HTTP layer counts the three requests */
    sched_job *j[3] = {job_of(0, 1), job_of(100, 2), job_of(200, 3)};
    for (int i = 0; i < 3; i++)
        assert_int_equal(sched_submit(s, j[i]), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sched_wait(j[i], -1), 0);
        assert_int_equal(j[i]->status, LOOM_OK);
        assert_int_equal(j[i]->batch_rows, 6);
        assert_int_equal(loom_tensor_dims(j[i]->outputs[0])[0], j[i]->rows);
        /* y = relu(x + b): row r, column k of job i. */
        const float *y = loom_tensor_data(j[i]->outputs[0]);
        const float b[4] = {1, -2, 3, -4};
        for (int64_t e = 0; e < j[i]->rows * 4; e++) {
            float x = (float)(i * 100) + (float)e;
            assert_true(y[e] == fmaxf(x + b[e % 4], 0));
        }
        sched_job_put(j[i]);
    }
    assert_int_equal(sched_executions(s), 1); /* three requests, one execution */
    fixture_fini(&f);
}

static void sched_bounds_queue_and_deadlines(void **state)
{
    (void)state;
    sched_fixture f;
    fixture_init(&f, true);
    f.c.max_queue_delay_us = 2000000; /* nothing starts for 2 s unless 8 rows arrive */
    f.c.max_queue_size = 1;
    fixture_start(&f);
    sched *s = f.s;
    metrics_inflight_add(f.mt, 8); /* more requests on their way: the batcher waits for them */
    sched_job *a = job_of(0, 1), *b = job_of(0, 1);
    a->deadline_ns = sched_now_ns() + 20 * 1000000;
    assert_int_equal(sched_submit(s, a), 0);
    assert_int_equal(sched_submit(s, b), -EBUSY);
    assert_int_equal(sched_wait(a, -1), -ETIMEDOUT);
    assert_null(a->outputs); /* cancelled in the queue: it never ran */
    sched_job_put(a);
    sched_job_put(b);
    /* The cancelled job is dropped: the queue has room again. */
    sched_job *d = job_of(0, 8);
    assert_int_equal(sched_submit(s, d), 0);
    assert_int_equal(sched_wait(d, -1), 0);
    assert_int_equal(d->status, LOOM_OK);
    sched_job_put(d);
    fixture_fini(&f);
}

/* A queued request with no other request in flight goes without its queue delay. */
static void sched_lone_request_does_not_wait(void **state)
{
    (void)state;
    sched_fixture f;
    fixture_init(&f, true);
    f.c.max_queue_delay_us = 60 * 1000000; /* a minute: only "nothing else coming" starts it */
    fixture_start(&f);
    sched *s = f.s;
    metrics_inflight_add(f.mt, 1);
    sched_job *j = job_of(0, 1);
    j->deadline_ns = sched_now_ns() + 30 * 1000000000LL; /* fails the test, not hangs it */
    assert_int_equal(sched_submit(s, j), 0);
    assert_int_equal(sched_wait(j, -1), 0);
    assert_int_equal(j->status, LOOM_OK);
    assert_int_equal(j->batch_rows, 1);
    sched_job_put(j);
    fixture_fini(&f);
}

/* A batching model runs a request inline only when the batcher would not wait for more. */
static void sched_runs_inline_when_batching_would_not_wait(void **state)
{
    (void)state;
    sched_fixture f;
    fixture_init(&f, true);
    f.c.preferred[f.c.n_preferred++] = 4;
    f.c.max_queue_delay_us = 100000;
    fixture_start(&f);
    sched *s = f.s;
    sched_job *one = job_of(0, 1), *four = job_of(0, 4), *eight = job_of(0, 8);
    metrics_inflight_add(f.mt, 1); /* this request, alone: no company can come, so no wait */
    assert_int_equal(sched_run_inline(s, one), 0);
    assert_int_equal(one->batch_rows, 1);
    sched_job_put(one);
    one = job_of(0, 1);
    metrics_inflight_add(f.mt, 1);                       /* another request arriving */
    assert_int_equal(sched_run_inline(s, one), -EAGAIN); /* it would wait 100 ms for company */
    assert_int_equal(sched_run_inline(s, four), 0);      /* a preferred size: goes at once */
    assert_int_equal(four->status, LOOM_OK);
    assert_int_equal(sched_run_inline(s, eight), 0); /* the largest batch */
    assert_int_equal(eight->batch_rows, 8);
    sched_job_put(one);
    sched_job_put(four);
    sched_job_put(eight);
    /* No queue delay: every request goes at once, so it runs inline. */
    f.c.max_queue_delay_us = 0;
    fixture_start(&f);
    s = f.s;
    one = job_of(0, 1);
    assert_int_equal(sched_run_inline(s, one), 0);
    assert_int_equal(one->efd, -1); /* no eventfd: it never queued */
    sched_job_put(one);
    /* A job with a deadline is left to the queue: its waiter answers at the
     * deadline however long the run takes (past it already: it never runs). */
    one = job_of(0, 1);
    one->deadline_ns = sched_now_ns() - 1;
    assert_int_equal(sched_run_inline(s, one), -EAGAIN);
    sched_job_put(one);
    one = job_of(0, 1);
    one->deadline_ns = sched_now_ns() + 60000000000ll;
    assert_int_equal(sched_run_inline(s, one), -EAGAIN);
    sched_job_put(one);
    fixture_fini(&f);
}

static void sched_runs_inline_without_batching(void **state)
{
    (void)state;
    sched_fixture f;
    fixture_init(&f, false);
    fixture_start(&f);
    sched *s = f.s;
    sched_job *j = job_of(-10, 1);
    assert_int_equal(sched_run_inline(s, j), 0);
    assert_int_equal(j->status, LOOM_OK);
    assert_true(((float *)loom_tensor_data(j->outputs[0]))[3] == 0.0f); /* relu(-7 - 4) */
    assert_int_equal(j->efd, -1);                                       /* no eventfd needed */
    sched_job_put(j);
    fixture_fini(&f);
}

/* A failed run answers by its class: device faults are 503 and counted by class. */
static void device_faults_answer_503(void **state)
{
    (void)state;
    static const struct {
        loom_status st;
        int http;
        fail_reason why;
        const char *label;
    } cases[] = {
        {LOOM_ERR_SHAPE, 400, FAIL_BAD_REQUEST, "bad_request"},
        {LOOM_ERR_INVALID_ARGUMENT, 400, FAIL_BAD_REQUEST, "bad_request"},
        {LOOM_ERR_RUNTIME, 500, FAIL_RUNTIME, "runtime"},
        {LOOM_ERR_UNSUPPORTED, 500, FAIL_RUNTIME, "runtime"},
        {LOOM_ERR_DEVICE_LOST, 503, FAIL_DEVICE_LOST, "device_lost"},
        {LOOM_ERR_DEVICE_TIMEOUT, 503, FAIL_DEVICE_TIMEOUT, "device_timeout"},
        {LOOM_ERR_DEVICE_TRANSIENT, 503, FAIL_DEVICE_TRANSIENT, "device_transient"},
    };
    metrics *mt = metrics_create();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fail_reason why = FAIL_NONE;
        assert_int_equal(api_run_failure(cases[i].st, &why), cases[i].http);
        assert_int_equal(why, cases[i].why);
        assert_string_equal(fail_reason_name(why), cases[i].label);
        metrics_request(mt, "m", 1, why, -1, -1, 10);
    }
    size_t len;
    char *text = metrics_render(mt, NULL, 0, NULL, 0, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "loom_inference_request_failure_total{model=\"m\",version=\"1\","
                                 "reason=\"device_lost\"} 1"));
    assert_non_null(strstr(text, "reason=\"device_transient\"} 1"));
    free(text);
    metrics_destroy(mt);
}

/* ------------------------------------------------------------ orchestrators */

/* A detector's shape: images [N, 3, H, W] (H and W symbolic) -> 3x3 Conv -> y. */
static loom_model *detector(void)
{
    int64_t in_dims[4] = {-1, 3, -1, -1}, w_dims[4] = {2, 3, 3, 3};
    const char *names[4] = {"N", NULL, "H", "W"};
    float w[54];
    for (int i = 0; i < 54; i++)
        w[i] = (float)(i % 5) / 10.0f;
    ob_model *m = ob_new(13);
    ob_input(m, "images", 1, 4, in_dims);
    ob_dim_names(m, "images", names);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, w_dims, w);
    ob_add_node(m, "Conv", "images,w", "y");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_model *model = NULL;
    if (!ctx)
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    assert_int_equal(loom_model_load_memory(ctx, buf, len, "detector", &model), LOOM_OK);
    free(buf);
    ob_free(m);
    return model;
}

static int parse(const char *j, model_config *c, char *err, size_t len)
{
    model_config_defaults(c);
    return model_config_parse(j, strlen(j), c, err, len);
}

static void config_reads_io_and_warmup(void **state)
{
    (void)state;
    const char *j = "{\"max_batch_size\": 4, \"input\": [{\"name\": \"images\", \"data_type\": "
                    "\"TYPE_FP32\", \"dims\": [3, -1, \"-1\"]}], \"output\": [{\"name\": \"y\", "
                    "\"data_type\": \"TYPE_FP32\", \"dims\": [2, -1, -1]}], \"model_warmup\": "
                    "[{\"name\": \"s\", \"batch_size\": 2, \"count\": 3, \"inputs\": {\"images\": "
                    "{\"data_type\": \"TYPE_FP32\", \"dims\": [3, 16, 24], \"random_data\": "
                    "true}}}]}";
    model_config c;
    char err[256];
    assert_int_equal(parse(j, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n_inputs, 1);
    assert_string_equal(c.inputs[0].name, "images");
    assert_int_equal(c.inputs[0].dtype, LOOM_DTYPE_FLOAT);
    assert_int_equal(c.inputs[0].rank, 3);
    assert_true(c.inputs[0].dims[0] == 3 && c.inputs[0].dims[1] == -1 && c.inputs[0].dims[2] == -1);
    assert_int_equal(c.n_outputs, 1);
    assert_int_equal(c.n_warmups, 1);
    assert_int_equal(c.warmups[0].batch_size, 2);
    assert_int_equal(c.warmups[0].count, 3);
    assert_true(c.warmups[0].inputs[0].random);
    assert_int_equal(c.warmups[0].inputs[0].dims[2], 24);
    model_config_free(&c);

    static const char *bad[] = {
        "{\"input\": [{\"name\": \"x\", \"data_type\": \"TYPE_STRINGS\"}]}",
        "{\"input\": [{\"name\": \"x\", \"dims\": [0]}]}",
        "{\"input\": [{\"data_type\": \"TYPE_FP32\"}]}",
        "{\"input\": [{\"name\": \"x\"}, {\"name\": \"x\"}]}",
        "{\"model_warmup\": [{\"name\": \"s\", \"inputs\": {\"x\": {\"data_type\": \"TYPE_FP32\", "
        "\"dims\": [3]}}}]}", /* no data kind */
        "{\"model_warmup\": [{\"name\": \"s\", \"inputs\": {\"x\": {\"data_type\": \"TYPE_FP32\", "
        "\"dims\": [-1], \"zero_data\": true}}}]}", /* warm-up sizes are sizes */
        "{\"model_warmup\": [{\"name\": \"s\", \"inputs\": {\"x\": {\"data_type\": \"TYPE_FP32\", "
        "\"dims\": [3], \"input_data_file\": \"../x\"}}}]}",
        "{\"max_batch_size\": 2, \"model_warmup\": [{\"name\": \"s\", \"batch_size\": 3, "
        "\"inputs\": {}}]}",
        "{\"model_warmup\": [{\"name\": \"s\", \"count\": 0, \"inputs\": {}}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(parse(bad[i], &c, err, sizeof(err)), 0);
        assert_true(strncmp(err, "config.json: ", 13) == 0);
    }
}

static void io_config_binds_declared_dims(void **state)
{
    (void)state;
    model_config c;
    char err[256];
    loom_model *m = detector();
    assert_int_equal(parse("{\"max_batch_size\": 4, \"input\": [{\"name\": \"images\", "
                           "\"data_type\": \"TYPE_FP32\", \"dims\": [3, 8, 10]}]}",
                           &c, err, sizeof(err)),
                     0);
    assert_int_equal(model_io_apply(m, &c, err, sizeof(err)), 0);
    loom_value_info vi;
    loom_model_input_info(m, 0, &vi);
    assert_true(vi.dims[0] == -1 && vi.dims[1] == 3 && vi.dims[2] == 8 && vi.dims[3] == 10);
    loom_model_destroy(m);

    static const char *bad[] = {
        "{\"max_batch_size\": 4, \"input\": [{\"name\": \"images\", \"dims\": [4, 8, 8]}]}",
        "{\"max_batch_size\": 0, \"input\": [{\"name\": \"images\", \"dims\": [3, 8, 8]}]}",
        "{\"input\": [{\"name\": \"pixels\"}]}",
        "{\"input\": [{\"name\": \"images\", \"data_type\": \"TYPE_INT8\"}]}",
        "{\"output\": [{\"name\": \"boxes\"}]}",
        "{\"output\": [{\"name\": \"y\", \"data_type\": \"TYPE_FP16\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = detector();
        assert_int_equal(parse(bad[i], &c, err, sizeof(err)), 0);
        err[0] = '\0';
        assert_int_equal(model_io_apply(m, &c, err, sizeof(err)), -EINVAL);
        assert_true(strncmp(err, "config.json ", 12) == 0);
        loom_model_destroy(m);
    }
}

static void warmup_uses_declared_dims(void **state)
{
    (void)state;
    model_config c;
    char err[256];
    loom_model *m = detector();
    /* No samples: H and W have no size to guess, so the default warm-up is skipped. */
    assert_int_equal(parse("{\"max_batch_size\": 4}", &c, err, sizeof(err)), 0);
    assert_int_equal(model_warm_up(m, &c, "/nonexistent", err, sizeof(err)), 1);
    assert_non_null(strstr(err, "(H) is symbolic"));
    /* Declared samples run with their dims, batch prepended. */
    const char *ok = "{\"max_batch_size\": 4, \"model_warmup\": [{\"name\": \"a\", \"batch_size\": "
                     "2, \"inputs\": {\"images\": {\"data_type\": \"TYPE_FP32\", \"dims\": [3, 16, "
                     "12], \"zero_data\": true}}}, {\"name\": \"b\", \"count\": 2, \"inputs\": "
                     "{\"images\": {\"data_type\": \"TYPE_FP32\", \"dims\": [3, 5, 7], "
                     "\"random_data\": true}}}]}";
    assert_int_equal(parse(ok, &c, err, sizeof(err)), 0);
    assert_int_equal(model_warm_up(m, &c, "/nonexistent", err, sizeof(err)), 0);
    /* A sample the model cannot run (a 3x3 kernel over 2x2) fails, naming it. */
    const char *small = "{\"max_batch_size\": 4, \"model_warmup\": [{\"name\": \"tiny\", "
                        "\"inputs\": {\"images\": {\"data_type\": \"TYPE_FP32\", \"dims\": [3, 2, "
                        "2], \"zero_data\": true}}}]}";
    assert_int_equal(parse(small, &c, err, sizeof(err)), 0);
    assert_true(model_warm_up(m, &c, "/nonexistent", err, sizeof(err)) < 0);
    assert_true(strncmp(err, "model_warmup \"tiny\": ", 21) == 0);
    /* A missing data file fails too. */
    const char *file = "{\"max_batch_size\": 4, \"model_warmup\": [{\"name\": \"f\", \"inputs\": "
                       "{\"images\": {\"data_type\": \"TYPE_FP32\", \"dims\": [3, 4, 4], "
                       "\"input_data_file\": \"img\"}}}]}";
    assert_int_equal(parse(file, &c, err, sizeof(err)), 0);
    assert_true(model_warm_up(m, &c, "/nonexistent", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "warmup/img"));
    loom_model_destroy(m);
}

/* A card that runs Relu and reports the health status a test sets. */
typedef struct fake_card {
    lm_device dev;
    uint32_t status;
} fake_card;

static bool fc_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    return strcmp(n->op_type, "Relu") == 0 && in[0]->dtype == LOOM_DTYPE_FLOAT;
}

static loom_status fc_compile(lm_device *dev, const lm_segment_desc *d, void **seg)
{
    (void)dev, (void)d;
    *seg = malloc(1);
    return *seg ? LOOM_OK : LOOM_ERR_NO_MEMORY;
}

static loom_status fc_run(lm_device *dev, void *seg, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    (void)dev, (void)seg;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t e = 0; e < loom_tensor_count(in[0]); e++)
        y[e] = x[e] > 0 ? x[e] : 0;
    return LOOM_OK;
}

static void fc_release(lm_device *dev, void *seg)
{
    (void)dev;
    free(seg);
}

static loom_status fc_health(lm_device *dev, loom_device_stats *st)
{
    st->reports = LOOM_DEVICE_REPORTS_STATUS;
    st->card_status = ((fake_card *)dev)->status;
    return LOOM_OK;
}

static const lm_device_ops fc_ops = {
    .supports = fc_supports,
    .compile = fc_compile,
    .run = fc_run,
    .release = fc_release,
    .health = fc_health,
};

/* DIR/NAME/1/model.onnx (x [N, 4] -> Relu -> Softmax) with config.json @cfg. */
static void write_model(const char *dir, const char *name, const char *cfg)
{
    char path[512];
    int64_t dims[2] = {-1, 4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, dims);
    ob_output(m, "y", 1);
    ob_add_node(m, "Relu", "x", "r");
    ob_add_node(m, "Softmax", "r", "y");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    snprintf(path, sizeof(path), "%s/%s/1", dir, name);
    assert_int_equal(mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1, 0);
    snprintf(path, sizeof(path), "%s/%s/1/model.onnx", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s/config.json", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(cfg, f);
    fclose(f);
    free(buf);
    ob_free(m);
}

static void mkdir_model(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* Ready follows the health of the card a fail-closed model runs on; a model
 * that may fall back to the CPU stays ready (its requests fail over). */
static void ready_needs_a_healthy_device(void **state)
{
    (void)state;
    char dir[] = "/tmp/loomd-unit-ready.XXXXXX", why[128], err[256];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    /* Static: the registry keeps the device while other tests' contexts hold it. */
    static fake_card fc;
    fc.status = LOOM_CARD_STATUS_READY;
    fc.dev.ops = &fc_ops;
    fc.dev.props.kind = LOOM_DEVICE_CARD;
    strcpy(fc.dev.name, "fake:0");
    assert_int_equal(lm_registry_add(&fc.dev), LOOM_OK);
    mkdir_model(dir, "oncard");
    mkdir_model(dir, "oncpu");
    mkdir_model(dir, "fallback");
    write_model(dir, "oncard",
                "{\"parameters\": {\"device\": \"fake:0\", \"fail_closed\": true, "
                "\"warmup\": false}}"); /* Softmax is not the card's: never planned here */
    write_model(dir, "fallback", "{\"parameters\": {\"device\": \"fake:0\"}}");
    write_model(dir, "oncpu", "{}");
    metrics *mt = metrics_create();
    evlog *log = evlog_open("/dev/null", false);
    repo *r;
    assert_int_equal(repo_create(dir, 1, mt, log, &r, err, sizeof(err)), 0);
    assert_int_equal(repo_sync(r), 0);
    assert_true(repo_ready(r, why, sizeof(why)));
    fc.status = LOOM_CARD_STATUS_READY | LOOM_CARD_STATUS_DEAD;
    assert_false(repo_ready(r, why, sizeof(why)));
    assert_non_null(strstr(why, "fake:0"));
    fc.status = LOOM_CARD_STATUS_READY; /* back after a reset */
    assert_true(repo_ready(r, why, sizeof(why)));
    fc.status = 0;
    assert_false(repo_ready(r, why, sizeof(why)));
    /* The fallback model alone: its requests fail over to the CPU. */
    assert_int_equal(repo_unload(r, "oncard", err, sizeof(err)), 0);
    assert_true(repo_ready(r, why, sizeof(why)));
    assert_int_equal(repo_unload(r, "fallback", err, sizeof(err)), 0);
    fc.status = LOOM_CARD_STATUS_READY;
    assert_true(repo_ready(r, why, sizeof(why)));
    repo_destroy(r);
    evlog_close(log);
    metrics_destroy(mt);
    lm_registry_release();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* KServe's layout: the repository directory is one model, served under the given name. */
static void single_model_directory(void **state)
{
    (void)state;
    char dir[] = "/tmp/loomd-unit-single.XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    char parent[64];
    snprintf(parent, sizeof(parent), "%.40s", dir);
    *strrchr(parent, '/') = '\0';
    write_model(parent, strrchr(dir, '/') + 1, "{}"); /* DIR/1/model.onnx, DIR/config.json */
    metrics *mt = metrics_create();
    evlog *log = evlog_open("/dev/null", false);
    repo *r;
    assert_int_equal(repo_create(dir, 1, mt, log, &r, err, sizeof(err)), 0);
    assert_int_equal(repo_serve_single(r, "../x", err, sizeof(err)), -EINVAL);
    assert_int_equal(repo_serve_single(r, "detector", err, sizeof(err)), 1);
    assert_int_equal(repo_sync(r), 0);
    int why = 0;
    model_version *v = repo_acquire(r, "detector", 0, &why);
    assert_non_null(v);
    assert_int_equal(v->version, 1);
    model_version_release(v);
    assert_null(repo_acquire(r, "1", 0, &why)); /* the version is no model */
    size_t len;
    char *index = repo_index_json(r, false, &len);
    assert_string_equal(index, "[{\"name\":\"detector\",\"version\":\"1\",\"state\":\"READY\"}]");
    free(index);
    repo_destroy(r);
    /* A directory of models stays a repository. */
    assert_int_equal(repo_create(parent, 1, mt, log, &r, err, sizeof(err)), 0);
    assert_int_equal(repo_serve_single(r, "detector", err, sizeof(err)), 0);
    repo_destroy(r);
    evlog_close(log);
    metrics_destroy(mt);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(device_faults_answer_503),
    cmocka_unit_test(config_reads_triton_form),
    cmocka_unit_test(config_rejects_bad_values),
    cmocka_unit_test(config_reads_memory_parameters),
    cmocka_unit_test(buckets_pad_and_crop),
    cmocka_unit_test(names_are_never_paths),
    cmocka_unit_test(codec_decodes_json_and_binary),
    cmocka_unit_test(codec_rejects_bad_tensors),
    cmocka_unit_test(codec_encodes_json_and_binary),
    cmocka_unit_test(sched_batches_and_splits),
    cmocka_unit_test(sched_bounds_queue_and_deadlines),
    cmocka_unit_test(sched_lone_request_does_not_wait),
    cmocka_unit_test(sched_runs_inline_without_batching),
    cmocka_unit_test(sched_runs_inline_when_batching_would_not_wait),
    cmocka_unit_test(config_reads_io_and_warmup),
    cmocka_unit_test(io_config_binds_declared_dims),
    cmocka_unit_test(warmup_uses_declared_dims),
    cmocka_unit_test(ready_needs_a_healthy_device),
    cmocka_unit_test(single_model_directory),
};

LM_TEST_MAIN(tests)
