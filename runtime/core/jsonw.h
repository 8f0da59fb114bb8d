/*
 * jsonw.h - writes JSON text into a growing buffer: what libloom hands out
 * as JSON (a plan) without a JSON library of its own. Writes only; commas
 * between members and elements are placed by the writer.
 */
#ifndef LOOM_CORE_JSONW_H
#define LOOM_CORE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_JSON_MAX_DEPTH 16

typedef struct lm_json {
    char *buf;
    size_t len, cap;
    bool failed;                      /* out of memory: the text is incomplete */
    int depth;                        /* open objects and arrays */
    bool has_item[LM_JSON_MAX_DEPTH]; /* whether the level has a member yet */
} lm_json;

void lm_json_begin_object(lm_json *j);
void lm_json_end_object(lm_json *j);
void lm_json_begin_array(lm_json *j);
void lm_json_end_array(lm_json *j);
/* A member's name: the next value belongs to it. */
void lm_json_key(lm_json *j, const char *key);
void lm_json_string(lm_json *j, const char *s);
void lm_json_number(lm_json *j, double v); /* non-finite numbers are written as null */
void lm_json_int(lm_json *j, int64_t v);
void lm_json_bool(lm_json *j, bool v);
/* Takes the text (NUL-terminated, malloc'd) or NULL when writing failed. */
char *lm_json_finish(lm_json *j);

#endif
