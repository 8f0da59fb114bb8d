/* error.h - the thread-local last error that loom_last_error() returns. */
#ifndef LOOM_CORE_ERROR_H
#define LOOM_CORE_ERROR_H

#include <stdarg.h>

#include "loom/loom.h"

#define LM_ERROR_LEN 1024

/* Records a printf-style message for this thread and returns @status. */
loom_status lm_error(loom_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
loom_status lm_verror(loom_status status, const char *fmt, va_list ap);

/* Puts "@prefix: " in front of the current message (adds context while unwinding). */
void lm_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Puts "device @name: " in front of the current message unless it already
 * starts with the device's name (backends name their device themselves). */
void lm_error_prefix_device(const char *name);

/* Forgets the current message. */
void lm_error_clear(void);

/* Between these, lm_error() and lm_error_prefix() leave this thread's message
 * alone: for queries that may fail without it being an error, such as a
 * device's supports(), which checks a node with the same code that reports
 * a bad node at compile time. Nests. */
void lm_error_quiet_begin(void);
void lm_error_quiet_end(void);

#endif
