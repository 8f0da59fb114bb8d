/* env.c - reads and caches the variables of env.h's table; the one getenv() in runtime/. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env.h"

static const lm_env_info g_table[LM_ENV_COUNT] = {
#define LM_ENV_ROW(id, name, type, def, min, max, who, reader, meaning)                            \
    [LM_ENV_##id] = {name, LM_ENV_IS_##type, def, min, max, LM_ENV_FOR_##who, reader, meaning},
    LM_ENV_TABLE(LM_ENV_ROW)
#undef LM_ENV_ROW
};

/* A variable's value once read: @read is set (with release) after the value,
 * so a lookup that sees it needs no lock. */
typedef struct cached {
    atomic_bool read;
    bool set;  /* in the environment, even if empty */
    long num;  /* flags and numbers */
    char *str; /* strings: a copy, NULL when unset or empty */
} cached;

static cached g_cache[LM_ENV_COUNT];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* serialises first reads */

const lm_env_info *lm_env_info_of(int v)
{
    return v >= 0 && v < LM_ENV_COUNT ? &g_table[v] : NULL;
}

static bool is_off(const char *s)
{
    return !strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
           !strcasecmp(s, "false");
}

static long parse_int(const lm_env_info *e, const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (end == s || *end)
        return e->def;
    return n < e->min ? e->min : n > e->max ? e->max : n;
}

/* Caller holds g_lock. */
static void parse(const lm_env_info *e, cached *c)
{
    const char *s = getenv(e->name);
    bool set = s && *s;
    c->set = s != NULL;
    c->num = e->def;
    c->str = NULL;
    if (!set)
        return;
    if (e->type == LM_ENV_IS_FLAG)
        c->num = !is_off(s);
    else if (e->type == LM_ENV_IS_INT)
        c->num = parse_int(e, s);
    else
        c->str = strdup(s); /* out of memory reads as unset */
}

static const cached *lookup(lm_env_var v)
{
    cached *c = &g_cache[v];
    if (atomic_load_explicit(&c->read, memory_order_acquire))
        return c;
    pthread_mutex_lock(&g_lock);
    if (!atomic_load_explicit(&c->read, memory_order_relaxed)) {
        parse(&g_table[v], c);
        atomic_store_explicit(&c->read, true, memory_order_release);
    }
    pthread_mutex_unlock(&g_lock);
    return c;
}

bool lm_env_flag(lm_env_var v)
{
    return lookup(v)->num != 0;
}

long lm_env_int(lm_env_var v)
{
    return lookup(v)->num;
}

const char *lm_env_str(lm_env_var v)
{
    return lookup(v)->str;
}

bool lm_env_is_set(lm_env_var v)
{
    return lookup(v)->set;
}

void lm_env_reload(void)
{
    pthread_mutex_lock(&g_lock);
    for (int v = 0; v < LM_ENV_COUNT; v++) {
        atomic_store_explicit(&g_cache[v].read, false, memory_order_relaxed);
        free(g_cache[v].str);
        g_cache[v].str = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}
