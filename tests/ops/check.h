/* check.h - output buffers with sentinel bytes around them, and comparing a
 * device's outputs with the CPU's. */
#ifndef LOOM_TESTS_OPS_CHECK_H
#define LOOM_TESTS_OPS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

/* An output tensor borrowing the middle of a buffer whose two ends hold a
 * known pattern: a kernel writing past either end of its output changes it. */
typedef struct ops_guarded {
    uint8_t *raw;
    size_t size;
    loom_tensor *t;
} ops_guarded;

/* A guarded tensor shaped like @like (a CPU result), its body pre-filled with
 * 0xff bytes (NaN or -1) so that elements a device never writes show up. */
loom_status ops_guarded_create(const loom_tensor *like, ops_guarded *g);
/* NULL when both guards are intact, else "before" or "after", with the
 * nearest changed byte's distance from the body at @offset (1: adjacent). */
const char *ops_guarded_broken(const ops_guarded *g, size_t *offset);
void ops_guarded_free(ops_guarded *g);

/* What differs between two outputs of the same shape and dtype. */
typedef struct ops_diff {
    size_t bad;              /* elements beyond the tolerance */
    size_t worst;            /* index of the largest excess */
    double max_abs, max_rel; /* over all elements */
    double want, got;        /* at @worst */
} ops_diff;

/* Compares @got with @want element by element: |got - want| <= atol + rtol
 * |want| (NaN equals NaN; integers use the same formula, so 0, 0 is exact). */
void ops_compare(const loom_tensor *want, const loom_tensor *got, double atol, double rtol,
                 ops_diff *d);

#endif
