/* sbuf.c - a growable byte buffer for building HTTP bodies (JSON and binary tensor data). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomd/sbuf.h"

void sbuf_free(sbuf *b)
{
    free(b->data);
    *b = (sbuf){0};
}

bool sbuf_reserve(sbuf *b, size_t n)
{
    if (b->oom)
        return false;
    /* +1 keeps room for the NUL that sbuf_take() adds. */
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void sbuf_add(sbuf *b, const void *data, size_t n)
{
    if (n == 0 || !sbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[128];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sbuf_add(b, small, (size_t)n);
        return;
    }
    if (!sbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_json_str(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sbuf_add(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sbuf_add(b, e, 6);
        } else {
            sbuf_add(b, p, 1);
        }
    }
    sbuf_add(b, "\"", 1);
}

char *sbuf_take(sbuf *b, size_t *len)
{
    if (!b->oom && !b->data)
        sbuf_reserve(b, 0);
    if (b->oom) {
        sbuf_free(b);
        if (len)
            *len = 0;
        return NULL;
    }
    char *p = b->data;
    p[b->len] = '\0';
    if (len)
        *len = b->len;
    *b = (sbuf){0};
    return p;
}

void sbuf_int(sbuf *b, long long v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    /* Negate as unsigned so LLONG_MIN works too. */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    sbuf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}
