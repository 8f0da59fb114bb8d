/*
 * test_deadline.c - the latency histogram's quantiles and the rule that
 * turns a segment's measured runs (or the cost model's estimate) into the
 * host's watchdog deadline (core/latency.h, core/deadline.h).
 */
#include <string.h>

#include "core/deadline.h"
#include "core/device.h"
#include "lib/test_main.h"

#define MS 1000000ull

/* Within the histogram's resolution: a bucket is 2^(1/4) wide. */
static void assert_near(uint64_t got, uint64_t want)
{
    if (got < want || got > want * 120 / 100)
        print_error("got %llu, want %llu..+20%%\n", (unsigned long long)got,
                    (unsigned long long)want);
    assert_true(got >= want && got <= want * 120 / 100);
}

static void quantiles(void **state)
{
    (void)state;
    lm_latency l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(lm_latency_quantile(&l, 0.99), 0);
    for (uint64_t ms = 1; ms <= 100; ms++)
        lm_latency_record(&l, ms * MS);
    assert_int_equal(lm_latency_count(&l), 100);
    assert_near(lm_latency_quantile(&l, 0.5), 50 * MS);
    assert_near(lm_latency_quantile(&l, 0.99), 99 * MS);
    assert_near(lm_latency_quantile(&l, 1.0), 100 * MS);
    lm_latency_record(&l, 0); /* below a microsecond: the first bucket */
    assert_near(lm_latency_quantile(&l, 0.0), 1000);
}

static void rule(void **state)
{
    (void)state;
    lm_device dev;
    memset(&dev, 0, sizeof(dev));
    lm_latency l;
    memset(&l, 0, sizeof(l));
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MIN_MS", "100");
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MAX_MS", "20000");
    /* Nothing known: the ceiling. */
    assert_int_equal(lm_deadline_ns(&dev, &l, -1, 1), 20000 * MS);
    /* The estimate, loosely, before enough runs: 100 x 5 ms. */
    assert_int_equal(lm_deadline_ns(&dev, &l, 5000, 1), 500 * MS);
    /* ... never below the floor, nor above the ceiling. */
    assert_int_equal(lm_deadline_ns(&dev, &l, 10, 1), 100 * MS);
    assert_int_equal(lm_deadline_ns(&dev, &l, 1e6, 1), 20000 * MS);
    /* An emulated card's estimate is the card's time, not the emulation's. */
    dev.props.flags = LM_DEVICE_EMULATED;
    assert_int_equal(lm_deadline_ns(&dev, &l, 5000, 1), 20000 * MS);
    /* Measured: 8 x the p99, for emulated cards too. */
    for (int i = 0; i < LM_DEADLINE_MIN_SAMPLES; i++)
        lm_latency_record(&l, 30 * MS);
    assert_near(lm_deadline_ns(&dev, &l, 5000, 1), 240 * MS);
    /* Behind two others on the device, three times as long. */
    assert_near(lm_deadline_ns(&dev, &l, 5000, 3), 720 * MS);
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MIN_MS", "500");
    assert_int_equal(lm_deadline_ns(&dev, &l, 5000, 1), 500 * MS);
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MIN_MS", NULL);
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MAX_MS", NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(quantiles),
    cmocka_unit_test(rule),
};

LM_TEST_MAIN(tests)
