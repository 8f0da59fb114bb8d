/*
 * event.h - completion events: a device signals one when work it was given
 * has finished, with the work's status and error message; anyone, on any
 * thread or device, can wait for it.
 *
 * Events are reference-counted: the submitter and every waiter hold one. A
 * failed run's message travels with the event, so the waiting thread reports
 * it as its own (loom_last_error()).
 */
#ifndef LOOM_CORE_EVENT_H
#define LOOM_CORE_EVENT_H

#include <stdbool.h>

#include "loom/loom.h"

typedef struct lm_event lm_event;

/* A new unsignalled event with one reference; NULL on allocation failure
 * (the error is set). */
lm_event *lm_event_create(void);
lm_event *lm_event_ref(lm_event *ev);
void lm_event_unref(lm_event *ev);

/* Makes a signalled event unsignalled again, for reuse by its only holder. */
void lm_event_reset(lm_event *ev);

/* Marks @ev done with @status; a failure carries this thread's last error
 * message. Signalling twice keeps the first outcome. */
void lm_event_signal(lm_event *ev, loom_status status);

/* Waits until @ev is signalled and returns its status; on failure this
 * thread's last error becomes the event's message. */
loom_status lm_event_wait(lm_event *ev);

/* Whether @ev has been signalled (no waiting). */
bool lm_event_done(lm_event *ev);

#endif
