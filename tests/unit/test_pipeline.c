/*
 * test_pipeline.c - loom_model_submit(): requests flowing through a plan's
 * stages concurrently give loom_model_run()'s bytes, the queues stay within
 * their bound, destroying the model with requests in flight cancels the
 * queued ones cleanly, and a card dying under the pipeline loses nothing.
 *
 * The model is float in, int8 convolutions in the middle, float out; on a
 * context of card:0 (emulated) with the CPU as fallback it plans as three
 * stages: QuantizeLinear on the CPU, the int8 part on the card, the float
 * tail on the CPU. The card misbehaves through its fault file
 * (LOOM_EMULATED_CARD_FAULTS). Every test runs under an alarm. Needs the
 * default xclbin ($LOOM_XCLBIN or the build's bitstreams/).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/health.h"
#include "core/pipeline.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define LM_TEST_SECONDS 120 /* a hang fails, not stalls */
#define N_REQUESTS      64
#define N_THREADS       8

#include "lib/card_faults.h"

/* x[1,4,8,8] float -> QuantizeLinear -> QLinearConv 3x3 -> Max(0) ->
 * QLinearConv 1x1 -> DequantizeLinear -> Softmax -> y float. */
static ob_model *mixed_model(void)
{
    int64_t xd[4] = {1, 4, 8, 8};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    ob_init_qparams(m);
    ob_add_node(m, "QuantizeLinear", "x,s1,z", "xq");
    ob_add_int8_convs(m, "xq", "c2");
    ob_add_node(m, "DequantizeLinear", "c2,s1,z", "d");
    ob_attr_int(m, ob_add_node(m, "Softmax", "d", "y"), "axis", 1);
    return m;
}

/* The card's context (the CPU its fallback), the model, N_REQUESTS distinct
 * inputs and loom_model_run()'s answer to each. */
typedef struct rig {
    loom_context *ctx;
    loom_model *model;
    loom_tensor *x[N_REQUESTS];
    loom_tensor *ref[N_REQUESTS];
} rig;

static void rig_up(rig *r)
{
    say("ok");
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "card:0";
    o.num_threads = 1;
    o.emulated_cards = 1;
    assert_int_equal(loom_context_create(&o, &r->ctx), LOOM_OK);
    r->model = lm_load_ok(r->ctx, mixed_model(), "pipe");
    int64_t xd[4] = {1, 4, 8, 8};
    for (int i = 0; i < N_REQUESTS; i++) {
        assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 4, xd, &r->x[i]), LOOM_OK);
        float *v = loom_tensor_data(r->x[i]);
        for (int e = 0; e < 256; e++)
            v[e] = (float)((e * 13 + i * 7) % 29 - 14) * 0.05f;
        loom_status s = loom_model_run(r->model, &r->x[i], 1, &r->ref[i], 1);
        if (s)
            print_error("%s\n", loom_last_error());
        assert_int_equal(s, LOOM_OK);
    }
}

static void rig_down(rig *r)
{
    say("ok");
    for (int i = 0; i < N_REQUESTS; i++) {
        loom_tensor_destroy(r->x[i]);
        loom_tensor_destroy(r->ref[i]);
    }
    loom_model_destroy(r->model);
    loom_context_destroy(r->ctx);
}

/* @y is request @i's answer: loom_model_run()'s bytes. */
static void assert_ref(rig *r, int i, loom_tensor *y)
{
    assert_non_null(y);
    assert_int_equal(loom_tensor_size(y), loom_tensor_size(r->ref[i]));
    assert_memory_equal(loom_tensor_data(y), loom_tensor_data(r->ref[i]), loom_tensor_size(y));
}

typedef struct client {
    rig *r;
    int first, count; /* the requests it submits */
    int window;       /* how many it keeps in flight */
    loom_status worst;
} client;

/* Submits its requests keeping @window in flight, checks every answer. */
static void *client_main(void *p)
{
    client *c = p;
    loom_request *req[N_REQUESTS];
    int sent = 0, got = 0;
    while (got < c->count) {
        while (sent < c->count && sent - got < c->window) {
            int i = c->first + sent;
            loom_status s =
                loom_model_submit(c->r->model, &c->r->x[i], 1, 1, NULL, NULL, &req[sent]);
            if (s) {
                c->worst = s;
                return NULL;
            }
            sent++;
        }
        loom_tensor *y = NULL;
        loom_status s = loom_request_wait(req[got], &y, 1);
        if (s)
            c->worst = s;
        else if (loom_tensor_size(y) != loom_tensor_size(c->r->ref[c->first + got]) ||
                 memcmp(loom_tensor_data(y), loom_tensor_data(c->r->ref[c->first + got]),
                        loom_tensor_size(y)))
            c->worst = LOOM_ERR_RUNTIME; /* wrong bytes */
        loom_tensor_destroy(y);
        got++;
    }
    return NULL;
}

/* N_THREADS clients share the N_REQUESTS, each @window deep; all must pass. */
static void run_clients(rig *r, int window)
{
    pthread_t t[N_THREADS];
    client c[N_THREADS];
    int per = N_REQUESTS / N_THREADS;
    for (int k = 0; k < N_THREADS; k++) {
        c[k] = (client){.r = r, .first = k * per, .count = per, .window = window};
        assert_int_equal(pthread_create(&t[k], NULL, client_main, &c[k]), 0);
    }
    for (int k = 0; k < N_THREADS; k++) {
        assert_int_equal(pthread_join(t[k], NULL), 0);
        if (c[k].worst)
            print_error("client %d: %s: %s\n", k, loom_status_name(c[k].worst), loom_last_error());
        assert_int_equal(c[k].worst, LOOM_OK);
    }
}

/* The pipeline's queues never held more than the largest bound in force. */
static void assert_bounded(const lm_pipe_stats *st)
{
    assert_true(st->max_depth >= 2 && st->max_depth <= LM_PIPE_MAX_DEPTH);
    for (int k = 0; k < st->n_stages; k++) {
        if (st->max_queued[k] > st->max_depth)
            fail_msg("queue %d held %d, bound %d", k, st->max_queued[k], st->max_depth);
    }
}

/* Many concurrent requests, one at a time per client and several each:
 * every answer is loom_model_run()'s, over three stages. */
static void test_matches_run(void **state)
{
    (void)state;
    rig r;
    rig_up(&r);
    run_clients(&r, 1);
    run_clients(&r, 4);
    lm_pipe_stats st;
    lm_pipeline_stats(r.model, &st);
    print_message("stages %d, depth %d, costs %.0f/%.0f/%.0f us, queued max %d/%d/%d\n",
                  st.n_stages, st.depth, st.cost_us[0], st.cost_us[1], st.cost_us[2],
                  st.max_queued[0], st.max_queued[1], st.max_queued[2]);
    assert_int_equal(st.n_stages, 3); /* cpu, card, cpu */
    assert_int_equal(st.completed, 2 * N_REQUESTS);
    assert_int_equal(st.canceled, 0);
    assert_int_equal(st.failovers, 0);
    assert_bounded(&st);
    rig_down(&r);
}

static int callbacks;
static pthread_mutex_t callbacks_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_callback(void *user, loom_status status)
{
    pthread_mutex_lock(&callbacks_lock);
    callbacks += status == LOOM_OK && user == &callbacks;
    pthread_mutex_unlock(&callbacks_lock);
}

/* A slow card is the bottleneck: 32 requests pushed at it fill the queue
 * in front of it to its bound, and no queue ever exceeds the bound; the
 * callback runs once per request; bad calls fail at submit. */
static void test_queue_bound(void **state)
{
    (void)state;
    rig r;
    rig_up(&r);
    say("slow 5");
    loom_request *req[32];
    callbacks = 0;
    for (int i = 0; i < 32; i++)
        assert_int_equal(
            loom_model_submit(r.model, &r.x[i], 1, 1, count_callback, &callbacks, &req[i]),
            LOOM_OK);
    for (int i = 0; i < 32; i++) {
        loom_tensor *y = NULL;
        assert_int_equal(loom_request_wait(req[i], &y, 1), LOOM_OK);
        assert_ref(&r, i, y);
        loom_tensor_destroy(y);
    }
    /* A callback runs after its request is signalled: the last may trail. */
    for (int ms = 0; ms < 5000 && __atomic_load_n(&callbacks, __ATOMIC_SEQ_CST) < 32; ms++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&callbacks, __ATOMIC_SEQ_CST), 32);
    lm_pipe_stats st;
    lm_pipeline_stats(r.model, &st);
    print_message("depth %d (max %d), costs %.0f/%.0f/%.0f us, queued max %d/%d/%d\n", st.depth,
                  st.max_depth, st.cost_us[0], st.cost_us[1], st.cost_us[2], st.max_queued[0],
                  st.max_queued[1], st.max_queued[2]);
    assert_bounded(&st);
    assert_true(st.max_queued[1] >= 2); /* backed up in front of the card */

    loom_request *bad = (loom_request *)&r; /* must be overwritten */
    assert_int_equal(loom_model_submit(r.model, r.x, 1, 2, NULL, NULL, &bad),
                     LOOM_ERR_INVALID_ARGUMENT);
    assert_null(bad);
    assert_int_equal(loom_model_submit(r.model, NULL, 1, 1, NULL, NULL, &bad),
                     LOOM_ERR_INVALID_ARGUMENT);
    assert_int_equal(loom_request_wait(NULL, NULL, 0), LOOM_ERR_INVALID_ARGUMENT);
    assert_int_equal(loom_model_submit(r.model, r.x, 1, 1, NULL, NULL, &bad), LOOM_OK);
    assert_int_equal(loom_request_wait(bad, NULL, 0), LOOM_ERR_INVALID_ARGUMENT); /* freed */
    rig_down(&r);
}

/* Destroying the model with requests in every stage: those that have
 * started run to their end and answer right, those still waiting for the
 * first stage end LOOM_ERR_CANCELED saying why; every handle can still be
 * waited for, and nothing leaks (unit-asan). */
static void test_destroy_in_flight(void **state)
{
    (void)state;
    rig r;
    rig_up(&r);
    say("slow 100");
    /* What the queues take without submit waiting: one on the card, two
     * queued for it, one done with stage 0 and waiting for room, two queued
     * for stage 0, which stay there while the card takes 200 ms a request. */
    enum { N = 6 };
    loom_request *req[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(loom_model_submit(r.model, &r.x[i], 1, 1, NULL, NULL, &req[i]), LOOM_OK);
    usleep(20 * 1000);
    loom_model_destroy(r.model);
    r.model = NULL;
    int canceled = 0;
    for (int i = 0; i < N; i++) {
        loom_tensor *y = (loom_tensor *)&r; /* must be overwritten */
        loom_status s = loom_request_wait(req[i], &y, 1);
        if (s == LOOM_ERR_CANCELED) {
            assert_null(y);
            assert_non_null(strstr(loom_last_error(), "destroyed"));
            canceled++;
            continue;
        }
        if (s)
            print_error("%s: %s\n", loom_status_name(s), loom_last_error());
        assert_int_equal(s, LOOM_OK);
        assert_ref(&r, i, y);
        loom_tensor_destroy(y);
    }
    print_message("%d of %d canceled\n", canceled, N);
    assert_true(canceled > 0);
    assert_true(canceled < N); /* the one on the card finished */
    rig_down(&r);
}

/* The card dies while requests are in every stage: every request still
 * answers loom_model_run()'s bytes (the card's int8 results are the CPU's),
 * those in flight through failover, later ones on the plan without the
 * card; then the card comes back. */
static void test_card_dies_mid_pipeline(void **state)
{
    (void)state;
    rig r;
    rig_up(&r);
    say("slow 2");
    loom_request *req[N_REQUESTS];
    for (int i = 0; i < N_REQUESTS; i++) {
        if (i == 8)
            say("die"); /* with the first requests in the card's stage and queues */
        assert_int_equal(loom_model_submit(r.model, &r.x[i], 1, 1, NULL, NULL, &req[i]), LOOM_OK);
    }
    for (int i = 0; i < N_REQUESTS; i++) {
        loom_tensor *y = NULL;
        loom_status s = loom_request_wait(req[i], &y, 1);
        if (s)
            print_error("request %d: %s: %s\n", i, loom_status_name(s), loom_last_error());
        assert_int_equal(s, LOOM_OK);
        assert_ref(&r, i, y);
        loom_tensor_destroy(y);
    }
    lm_pipe_stats st;
    lm_pipeline_stats(r.model, &st);
    print_message("failovers %llu of %d requests\n", (unsigned long long)st.failovers, N_REQUESTS);
    assert_true(st.failovers > 0);
    assert_int_equal(st.completed, N_REQUESTS);
    loom_device_stats ds = {.struct_size = sizeof(ds)};
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &ds), LOOM_OK);
    assert_int_equal(ds.state, LOOM_DEVICE_QUARANTINED);
    say("ok");
    lm_health_probe_all();
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &ds), LOOM_OK);
    assert_int_equal(ds.state, LOOM_DEVICE_HEALTHY);
    run_clients(&r, 2); /* on the card again */
    rig_down(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_matches_run, arm, disarm),
    cmocka_unit_test_setup_teardown(test_queue_bound, arm, disarm),
    cmocka_unit_test_setup_teardown(test_destroy_in_flight, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_dies_mid_pipeline, arm, disarm),
};

LM_FAULT_TEST_MAIN(tests)
