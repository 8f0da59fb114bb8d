/*
 * log.h - libloom's messages, delivered to the log callbacks of the live
 * contexts (loom_context_options.log) instead of being printed.
 *
 * Devices, kernels and OpenCL programs are shared by every context of the
 * process, so the code that has something to say rarely knows a context:
 * lm_log() hands a message to every registered sink whose level admits it.
 * When nobody listens at that level it returns after one atomic load, so
 * hot paths may log freely.
 */
#ifndef LOOM_CORE_LOG_H
#define LOOM_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "loom/loom.h"

/* The longest message delivered, including the NUL; longer ones are cut. */
#define LM_LOG_LEN 1024

/* True when some sink would receive a message at @level (one atomic load). */
bool lm_log_enabled(loom_log_level level);

/* Formats and delivers one message at @level; a no-op when nobody listens. */
void lm_log(loom_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lm_vlog(loom_log_level level, const char *fmt, va_list ap);

/*
 * Adds a sink for @owner (a context): @fn receives the messages at @level
 * and below (0 means LOOM_LOG_WARN). NULL @fn registers nothing. Returns
 * LOOM_ERR_NO_MEMORY, with the error set, when the sink cannot be allocated.
 */
loom_status lm_log_attach(const void *owner, loom_log_fn fn, void *user, loom_log_level level);

/* Removes @owner's sink; once it returns, its callback is not running and
 * will not be called again. A no-op for an owner without one. */
void lm_log_detach(const void *owner);

#endif
