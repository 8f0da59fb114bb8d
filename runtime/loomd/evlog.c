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

/* {"ts":"2026-01-02T03:04:05.123456Z" - the date part is formatted once a second
 * per thread: gmtime and strftime were most of an access line's cost. */
static void put_time(sbuf *b)
{
    static _Thread_local time_t sec = -1;
    static _Thread_local char date[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        sec = ts.tv_sec;
    }
    char us[8] = {'.'};
    for (long v = ts.tv_nsec / 1000, i = 6; i >= 1; i--, v /= 10)
        us[i] = (char)('0' + v % 10);
    sbuf_puts(b, "{\"ts\":\"");
    sbuf_puts(b, date);
    sbuf_add(b, us, 7);
    sbuf_puts(b, "Z\"");
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

void evlog_libloom(void *user, loom_log_level level, const char *msg)
{
    evlog_event(user, loom_log_level_name(level), "libloom", "%s", msg);
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
    static const char *const names[] = {",\"uid\":",         ",\"gid\":",      ",\"status\":",
                                        ",\"duration_us\":", ",\"bytes_in\":", ",\"bytes_out\":"};
    const long long values[] = {r->uid,
                                r->gid,
                                r->status,
                                (long long)r->duration_us,
                                (long long)r->bytes_in,
                                (long long)r->bytes_out};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sbuf_puts(&b, names[i]);
        sbuf_int(&b, values[i]);
    }
    if (r->error) {
        sbuf_puts(&b, ",\"error\":");
        sbuf_json_str(&b, r->error);
    }
    emit(l, &b);
}
