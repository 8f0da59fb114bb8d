/* sbuf.h - a growable byte buffer for building HTTP bodies (JSON and binary tensor data). */
#ifndef LOOMD_SBUF_H
#define LOOMD_SBUF_H

#include <stdbool.h>
#include <stddef.h>

/* @oom sticks once an allocation fails, so builders append freely and check once. */
typedef struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} sbuf;

void sbuf_free(sbuf *b);
/* Makes room for @n more bytes; false (and @oom set) if that fails. */
bool sbuf_reserve(sbuf *b, size_t n);
void sbuf_add(sbuf *b, const void *data, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends @v in decimal: what sbuf_printf("%lld") does, without printf's cost on
 * the per-request path. */
void sbuf_int(sbuf *b, long long v);
/* Appends @s as a JSON string literal, quotes included. */
void sbuf_json_str(sbuf *b, const char *s);
/* Hands the NUL-terminated buffer to the caller (NULL if out of memory) and resets @b. */
char *sbuf_take(sbuf *b, size_t *len);

#endif
