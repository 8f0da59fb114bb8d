/* event.c - completion events (event.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "event.h"

struct lm_event {
    atomic_int refs;
    pthread_mutex_t lock; /* protects done, status and message */
    pthread_cond_t cond;  /* broadcast when done becomes true */
    bool done;
    loom_status status;
    char message[LM_ERROR_LEN];
};

lm_event *lm_event_create(void)
{
    lm_event *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        lm_error(LOOM_ERR_NO_MEMORY, "out of memory for an event");
        return NULL;
    }
    atomic_init(&ev->refs, 1);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    return ev;
}

lm_event *lm_event_ref(lm_event *ev)
{
    atomic_fetch_add(&ev->refs, 1);
    return ev;
}

void lm_event_unref(lm_event *ev)
{
    if (!ev || atomic_fetch_sub(&ev->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->cond);
    free(ev);
}

void lm_event_reset(lm_event *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->done = false;
    ev->status = LOOM_OK;
    ev->message[0] = '\0';
    pthread_mutex_unlock(&ev->lock);
}

void lm_event_signal(lm_event *ev, loom_status status)
{
    pthread_mutex_lock(&ev->lock);
    if (!ev->done) {
        ev->done = true;
        ev->status = status;
        if (status)
            snprintf(ev->message, sizeof(ev->message), "%s", loom_last_error());
        pthread_cond_broadcast(&ev->cond);
    }
    pthread_mutex_unlock(&ev->lock);
}

loom_status lm_event_wait(lm_event *ev)
{
    pthread_mutex_lock(&ev->lock);
    while (!ev->done)
        pthread_cond_wait(&ev->cond, &ev->lock);
    loom_status s = ev->status;
    if (s)
        lm_error(s, "%s", ev->message);
    pthread_mutex_unlock(&ev->lock);
    return s;
}

bool lm_event_done(lm_event *ev)
{
    pthread_mutex_lock(&ev->lock);
    bool done = ev->done;
    pthread_mutex_unlock(&ev->lock);
    return done;
}
