/* jsonw.c - the JSON writer (jsonw.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static void put(lm_json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *grown = realloc(j->buf, cap);
        if (!grown) {
            j->failed = true;
            return;
        }
        j->buf = grown;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void putf(lm_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(lm_json *j, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    put(j, tmp, n > 0 && (size_t)n < sizeof(tmp) ? (size_t)n : 0);
}

/* A comma before every value but the first of its level, except right after a key. */
static void separate(lm_json *j, bool after_key)
{
    if (j->depth > 0 && !after_key) {
        if (j->has_item[j->depth - 1])
            put(j, ",", 1);
        j->has_item[j->depth - 1] = true;
    }
}

static bool after_key(const lm_json *j)
{
    return j->len > 0 && j->buf[j->len - 1] == ':';
}

static void open_level(lm_json *j, const char *c)
{
    separate(j, after_key(j));
    put(j, c, 1);
    if (j->depth < LM_JSON_MAX_DEPTH)
        j->has_item[j->depth] = false;
    else
        j->failed = true;
    j->depth++;
}

static void close_level(lm_json *j, const char *c)
{
    j->depth--;
    put(j, c, 1);
}

void lm_json_begin_object(lm_json *j)
{
    open_level(j, "{");
}

void lm_json_end_object(lm_json *j)
{
    close_level(j, "}");
}

void lm_json_begin_array(lm_json *j)
{
    open_level(j, "[");
}

void lm_json_end_array(lm_json *j)
{
    close_level(j, "]");
}

static void quoted(lm_json *j, const char *s)
{
    put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            putf(j, "\\%c", *p);
        else if (*p < 0x20)
            putf(j, "\\u%04x", *p);
        else
            put(j, (const char *)p, 1);
    }
    put(j, "\"", 1);
}

void lm_json_key(lm_json *j, const char *key)
{
    separate(j, false);
    quoted(j, key);
    put(j, ":", 1);
}

void lm_json_string(lm_json *j, const char *s)
{
    separate(j, after_key(j));
    quoted(j, s ? s : "");
}

void lm_json_number(lm_json *j, double v)
{
    separate(j, after_key(j));
    if (isfinite(v))
        putf(j, "%.6g", v);
    else
        put(j, "null", 4);
}

void lm_json_int(lm_json *j, int64_t v)
{
    separate(j, after_key(j));
    putf(j, "%lld", (long long)v);
}

void lm_json_bool(lm_json *j, bool v)
{
    separate(j, after_key(j));
    putf(j, "%s", v ? "true" : "false");
}

char *lm_json_finish(lm_json *j)
{
    if (j->failed || j->depth != 0) {
        free(j->buf);
        j->buf = NULL;
    }
    char *s = j->buf;
    memset(j, 0, sizeof(*j));
    return s;
}
