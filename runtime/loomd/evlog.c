/* evlog.c - loomd's JSON-lines log: one object per line for events and for each request. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "loomd/evlog.h"
#include "loomd/sbuf.h"

struct evlog {
    FILE *f;
    bool own;
    bool access;
    pthread_mutex_t lock; /* Protects writes to f, so lines never interleave. */
};

evlog *evlog_open(const char *path, bool access_log)
{
    evlog *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    if (path) {
        l->f = fopen(path, "ae");
        if (!l->f) {
            int e = errno;
            free(l);
            errno = e;
            return NULL;
        }
        l->own = true;
    } else {
        l->f = stderr;
    }
    l->access = access_log;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void evlog_close(evlog *l)
{
    if (!l)
        return;
    if (l->own)
        fclose(l->f);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void put_time(sbuf *b)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char t[40];
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    sbuf_printf(b, "{\"ts\":\"%s.%06ldZ\"", t, ts.tv_nsec / 1000);
}

static void emit(evlog *l, sbuf *b)
{
    sbuf_puts(b, "}\n");
    if (!b->oom) {
        pthread_mutex_lock(&l->lock);
        fwrite(b->data, 1, b->len, l->f);
        fflush(l->f);
        pthread_mutex_unlock(&l->lock);
    }
    sbuf_free(b);
}

void evlog_event(evlog *l, const char *level, const char *event, const char *fmt, ...)
{
    if (!l)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbuf b = {0};
    put_time(&b);
    sbuf_puts(&b, ",\"level\":");
    sbuf_json_str(&b, level);
    sbuf_puts(&b, ",\"event\":");
    sbuf_json_str(&b, event);
    sbuf_puts(&b, ",\"msg\":");
    sbuf_json_str(&b, msg);
    emit(l, &b);
}

void evlog_access(evlog *l, const evlog_access_rec *r)
{
    if (!l || !l->access)
        return;
    sbuf b = {0};
    put_time(&b);
    sbuf_puts(&b, ",\"event\":\"access\",\"request_id\":");
    sbuf_json_str(&b, r->request_id ? r->request_id : "");
    sbuf_puts(&b, ",\"method\":");
    sbuf_json_str(&b, r->method ? r->method : "");
    sbuf_puts(&b, ",\"path\":");
    sbuf_json_str(&b, r->path ? r->path : "");
    sbuf_puts(&b, ",\"transport\":");
    sbuf_json_str(&b, r->transport ? r->transport : "");
    sbuf_printf(&b, ",\"uid\":%ld,\"gid\":%ld,\"status\":%d,\"duration_us\":%lld", r->uid, r->gid,
                r->status, (long long)r->duration_us);
    sbuf_printf(&b, ",\"bytes_in\":%zu,\"bytes_out\":%zu", r->bytes_in, r->bytes_out);
    if (r->error) {
        sbuf_puts(&b, ",\"error\":");
        sbuf_json_str(&b, r->error);
    }
    emit(l, &b);
}
