/*
 * health.c - the devices' health state machine (health.h) and the prober
 * that brings quarantined devices back.
 *
 * States change with compare-and-swap, so concurrent reports of one fault
 * count one quarantine. The prober is a thread that exists only while some
 * device is out of service; it never holds the registry's last reference
 * (see probe_device), so it never destroys the devices it walks.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "env.h"
#include "health.h"
#include "kat.h"
#include "log.h"
#include "registry.h"

static atomic_uint_fast64_t epoch = 1;

static pthread_mutex_t prober_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the fields below */
static pthread_cond_t prober_wake = PTHREAD_COND_INITIALIZER;
static pthread_t prober;
static bool prober_running, prober_stop;
static bool prober_started; /* created and not joined yet */
/* One probe pass at a time: a caller's pass waits for the prober's. */
static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t lm_health_epoch(void)
{
    return atomic_load(&epoch);
}

bool lm_health_usable(const lm_device *dev)
{
    int s = atomic_load(&((lm_device *)dev)->health.state);
    return s == LOOM_DEVICE_HEALTHY || s == LOOM_DEVICE_SUSPECT;
}

const char *lm_device_state_name(int state)
{
    static const char *const names[] = {"healthy", "suspect", "quarantined", "probation"};
    return state >= 0 && state < 4 ? names[state] : "?";
}

/* Moves @dev from @from to @to; false if another thread moved it first. */
static bool move(lm_device *dev, int from, int to)
{
    if (!atomic_compare_exchange_strong(&dev->health.state, &from, to))
        return false;
    bool was_usable = from == LOOM_DEVICE_HEALTHY || from == LOOM_DEVICE_SUSPECT;
    bool usable = to == LOOM_DEVICE_HEALTHY || to == LOOM_DEVICE_SUSPECT;
    if (was_usable != usable)
        atomic_fetch_add(&epoch, 1);
    lm_log(usable ? LOOM_LOG_INFO : LOOM_LOG_WARN, "device %s: %s -> %s", dev->name,
           lm_device_state_name(from), lm_device_state_name(to));
    return true;
}

static void *prober_main(void *arg);

/* Joins a prober that has left its loop (it only returns now, without the
 * lock), unless this is that thread: probers are joined, never detached, so
 * that no thread of ours is still exiting when the process does. Caller
 * holds prober_lock. */
static void join_finished_prober_locked(void)
{
    if (prober_started && !prober_running && !pthread_equal(pthread_self(), prober)) {
        pthread_join(prober, NULL);
        prober_started = false;
    }
}

/* Starts the prober unless it runs. */
static void wake_prober(void)
{
    pthread_mutex_lock(&prober_lock);
    if (!prober_running && !prober_stop) {
        join_finished_prober_locked();
        if (!prober_started)
            prober_started = prober_running = pthread_create(&prober, NULL, prober_main, NULL) == 0;
    }
    pthread_mutex_unlock(&prober_lock);
}

bool lm_health_report(lm_device *dev, loom_status status)
{
    for (;;) {
        int s = atomic_load(&dev->health.state);
        if (status == LOOM_OK) {
            if (s != LOOM_DEVICE_SUSPECT || move(dev, s, LOOM_DEVICE_HEALTHY))
                return false;
            continue;
        }
        if (!lm_status_is_device_fault(status) || s == LOOM_DEVICE_QUARANTINED ||
            s == LOOM_DEVICE_PROBATION)
            return false;
        int to = status == LOOM_ERR_DEVICE_LOST || s == LOOM_DEVICE_SUSPECT
                     ? LOOM_DEVICE_QUARANTINED
                     : LOOM_DEVICE_SUSPECT;
        if (!move(dev, s, to))
            continue;
        if (to != LOOM_DEVICE_QUARANTINED)
            return false;
        atomic_fetch_add(&dev->health.quarantines, 1);
        wake_prober();
        return true;
    }
}

/* One quarantined device: back to probation if its driver answers, then
 * healthy if it passes its known-answer test. */
static void probe_device(lm_device *dev)
{
    if (atomic_load(&dev->health.state) != LOOM_DEVICE_QUARANTINED || !lm_device_answers(dev))
        return;
    if (!move(dev, LOOM_DEVICE_QUARANTINED, LOOM_DEVICE_PROBATION))
        return;
    char why[256] = "";
    loom_status s = lm_kat_run(dev, why, sizeof(why));
    if (s == LOOM_OK) {
        atomic_fetch_add(&dev->health.readmissions, 1);
        lm_log(LOOM_LOG_INFO, "device %s: known-answer test passed (%s)", dev->name, why);
        move(dev, LOOM_DEVICE_PROBATION, LOOM_DEVICE_HEALTHY);
    } else {
        atomic_fetch_add(&dev->health.kat_failures, 1);
        lm_log(LOOM_LOG_WARN, "device %s: known-answer test failed: %s", dev->name, why);
        move(dev, LOOM_DEVICE_PROBATION, LOOM_DEVICE_QUARANTINED);
    }
}

/* Probes every quarantined device; returns how many remain out of service. */
static int probe_pass(void)
{
    int out = 0;
    if (!lm_registry_try_acquire())
        return 0; /* the devices are going: nothing to probe */
    pthread_mutex_lock(&pass_lock);
    for (int i = 0; i < lm_registry_count(); i++) {
        lm_device *dev = lm_registry_device(i);
        probe_device(dev);
        out += !lm_health_usable(dev);
    }
    pthread_mutex_unlock(&pass_lock);
    lm_registry_release();
    return out;
}

void lm_health_probe_all(void)
{
    probe_pass();
}

static void *prober_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&prober_lock);
    while (!prober_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ms = lm_env_int(LM_ENV_HEALTH_PROBE_MS);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&prober_wake, &prober_lock, &until);
        if (prober_stop)
            break;
        pthread_mutex_unlock(&prober_lock);
        int out = probe_pass();
        pthread_mutex_lock(&prober_lock);
        if (out == 0)
            break; /* every device serves: the next quarantine starts a prober again */
    }
    prober_running = false;
    pthread_cond_broadcast(&prober_wake);
    pthread_mutex_unlock(&prober_lock);
    return NULL;
}

void lm_health_stop(void)
{
    pthread_mutex_lock(&prober_lock);
    prober_stop = true;
    pthread_cond_broadcast(&prober_wake);
    while (prober_running && !pthread_equal(pthread_self(), prober))
        pthread_cond_wait(&prober_wake, &prober_lock);
    join_finished_prober_locked();
    prober_stop = false;
    pthread_mutex_unlock(&prober_lock);
}
