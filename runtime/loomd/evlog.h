/* evlog.h - loomd's JSON-lines log: one object per line for events and for each request. */
#ifndef LOOMD_EVLOG_H
#define LOOMD_EVLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "loom/loom.h"

typedef struct evlog evlog;

/* Logs to @path (appending), or to stderr when @path is NULL. NULL on failure, errno set. */
evlog *evlog_open(const char *path, bool access_log);
void evlog_close(evlog *l);

/* An event: @level "info"/"warn"/"error", @event a short name, @fmt the message. */
void evlog_event(evlog *l, const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A loom_log_fn for loom_context_options.log (user: the evlog): libloom's
 * messages become events "libloom" at their level ("debug" included). */
void evlog_libloom(void *user, loom_log_level level, const char *msg);

/* What the access log records about one finished request. */
typedef struct evlog_access_rec {
    const char *request_id;
    const char *method;
    const char *path;
    const char *transport; /* "unix" or "tcp" */
    long uid, gid;         /* -1 when the transport has no credentials */
    int status;
    int64_t duration_us;
    size_t bytes_in, bytes_out;
    const char *error; /* NULL on success */
} evlog_access_rec;

void evlog_access(evlog *l, const evlog_access_rec *r);

#endif
