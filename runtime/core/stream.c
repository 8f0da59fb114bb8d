/*
 * stream.c - runs issued to a device without waiting for them.
 *
 * The executor issues a device segment and goes on with segments that do
 * not depend on it (run.c), joining it where its outputs are read. A device
 * with a submit op queues the run itself (OpenCL: an in-order command queue
 * and a completion callback). One without (a card's run() submits the chain
 * and waits on the calling thread) gets a stream: one thread of its own,
 * started at its first such run, that runs them in order and signals their
 * events. The thread lives until the registry destroys the device.
 */
#include <pthread.h>
#include <stdlib.h>

#include "device.h"
#include "error.h"

typedef struct stream_job {
    struct stream_job *next;
    void *segment;
    loom_tensor *const *in;
    loom_tensor *const *out;
    uint64_t deadline_ns;
    lm_event *done;
} stream_job;

struct lm_stream {
    lm_device *dev;
    pthread_mutex_t lock; /* protects head, tail and stop */
    pthread_cond_t wake;  /* a job was queued, or stop was set */
    stream_job *head, **tail;
    bool stop;
    pthread_t thread;
};

/* Guards every device's stream pointer while one is made or stopped. */
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;

static void *stream_main(void *arg)
{
    lm_stream *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (!st->head && !st->stop)
            pthread_cond_wait(&st->wake, &st->lock);
        stream_job *j = st->head;
        if (!j)
            break; /* stopped with nothing left */
        if (!(st->head = j->next))
            st->tail = &st->head;
        pthread_mutex_unlock(&st->lock);
        lm_device_submit(st->dev, j->segment, j->in, j->out, j->deadline_ns, j->done);
        lm_event_unref(j->done);
        free(j);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* @dev's stream, started if it has none; NULL when it cannot be. */
static lm_stream *stream_of(lm_device *dev)
{
    pthread_mutex_lock(&streams_lock);
    lm_stream *st = dev->stream;
    if (!st && (st = calloc(1, sizeof(*st)))) {
        st->dev = dev;
        st->tail = &st->head;
        pthread_mutex_init(&st->lock, NULL);
        pthread_cond_init(&st->wake, NULL);
        if (pthread_create(&st->thread, NULL, stream_main, st)) {
            pthread_mutex_destroy(&st->lock);
            pthread_cond_destroy(&st->wake);
            free(st);
            st = NULL;
        }
        dev->stream = st;
    }
    pthread_mutex_unlock(&streams_lock);
    return st;
}

void lm_device_issue(lm_device *dev, void *segment, loom_tensor *const *in, loom_tensor *const *out,
                     uint64_t deadline_ns, lm_event *done)
{
    if (dev->ops->submit) {
        lm_device_submit(dev, segment, in, out, deadline_ns, done);
        return;
    }
    lm_stream *st = stream_of(dev);
    stream_job *j = st ? malloc(sizeof(*j)) : NULL;
    if (!j) { /* no thread to hand it to: run it here, which is only slower */
        lm_device_submit(dev, segment, in, out, deadline_ns, done);
        return;
    }
    *j = (stream_job){NULL, segment, in, out, deadline_ns, lm_event_ref(done)};
    pthread_mutex_lock(&st->lock);
    *st->tail = j;
    st->tail = &j->next;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

void lm_device_stream_stop(lm_device *dev)
{
    pthread_mutex_lock(&streams_lock);
    lm_stream *st = dev->stream;
    dev->stream = NULL;
    pthread_mutex_unlock(&streams_lock);
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->stop = true; /* after the jobs queued: every event is signalled */
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->wake);
    free(st);
}
