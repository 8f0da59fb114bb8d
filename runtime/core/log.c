/* log.c - the sinks of the live contexts, and delivery of messages to them. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "log.h"

typedef struct sink {
    struct sink *next;
    const void *owner;
    loom_log_fn fn;
    void *user;
    int level;
} sink;

/* Held while the list changes and while callbacks run, so that a detached
 * sink is never called and callbacks never overlap. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sink *g_sinks; /* in attach order */
/* The most verbose level any sink takes, 0 with none: the whole cost of a
 * message nobody wants. */
static atomic_int g_max_level;
/* Set while this thread runs callbacks: a message a callback causes is
 * dropped instead of deadlocking on g_lock. */
static _Thread_local bool t_delivering;

const char *loom_log_level_name(loom_log_level level)
{
    switch (level) {
    case LOOM_LOG_ERROR:
        return "error";
    case LOOM_LOG_WARN:
        return "warn";
    case LOOM_LOG_INFO:
        return "info";
    case LOOM_LOG_DEBUG:
        return "debug";
    }
    return "?";
}

bool lm_log_enabled(loom_log_level level)
{
    return (int)level <= atomic_load_explicit(&g_max_level, memory_order_relaxed);
}

/* Caller holds g_lock. */
static void update_max_level(void)
{
    int max = 0;
    for (const sink *s = g_sinks; s; s = s->next)
        if (s->level > max)
            max = s->level;
    atomic_store_explicit(&g_max_level, max, memory_order_relaxed);
}

/* True when an earlier sink with @s's callback and user took the message:
 * contexts sharing one logger (loomd's) see each message once. */
static bool delivered_before(const sink *s, int level)
{
    for (const sink *e = g_sinks; e != s; e = e->next)
        if (e->fn == s->fn && e->user == s->user && level <= e->level)
            return true;
    return false;
}

void lm_vlog(loom_log_level level, const char *fmt, va_list ap)
{
    if (!lm_log_enabled(level) || t_delivering)
        return;
    int saved_errno = errno; /* logging on an error path must not change it */
    char msg[LM_LOG_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    pthread_mutex_lock(&g_lock);
    t_delivering = true;
    for (const sink *s = g_sinks; s; s = s->next)
        if ((int)level <= s->level && !delivered_before(s, (int)level))
            s->fn(s->user, level, msg);
    t_delivering = false;
    pthread_mutex_unlock(&g_lock);
    errno = saved_errno;
}

void lm_log(loom_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lm_vlog(level, fmt, ap);
    va_end(ap);
}

loom_status lm_log_attach(const void *owner, loom_log_fn fn, void *user, loom_log_level level)
{
    if (!fn)
        return LOOM_OK;
    sink *s = calloc(1, sizeof(*s));
    if (!s)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    s->owner = owner;
    s->fn = fn;
    s->user = user;
    int l = (int)level;
    s->level = l <= 0 ? LOOM_LOG_WARN : l > LOOM_LOG_DEBUG ? LOOM_LOG_DEBUG : l;
    pthread_mutex_lock(&g_lock);
    sink **tail = &g_sinks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    update_max_level();
    pthread_mutex_unlock(&g_lock);
    return LOOM_OK;
}

void lm_log_detach(const void *owner)
{
    pthread_mutex_lock(&g_lock);
    sink **p = &g_sinks;
    while (*p && (*p)->owner != owner)
        p = &(*p)->next;
    sink *gone = *p;
    if (gone) {
        *p = gone->next;
        update_max_level();
    }
    pthread_mutex_unlock(&g_lock);
    free(gone);
}
