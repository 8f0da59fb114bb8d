/* error.c - per-thread last error message behind loom_last_error(). */
#include <stdio.h>
#include <string.h>

#include "error.h"

static _Thread_local char last_error[LM_ERROR_LEN];
static _Thread_local int quiet; /* lm_error_quiet_begin() depth */

loom_status lm_verror(loom_status status, const char *fmt, va_list ap)
{
    if (!quiet)
        vsnprintf(last_error, sizeof(last_error), fmt, ap);
    return status;
}

void lm_error_quiet_begin(void)
{
    quiet++;
}

void lm_error_quiet_end(void)
{
    quiet--;
}

loom_status lm_error(loom_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lm_verror(status, fmt, ap);
    va_end(ap);
    return status;
}

void lm_error_prefix(const char *fmt, ...)
{
    if (quiet)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), olen = strlen(last_error);
    if (plen + olen + 3 > sizeof(last_error)) /* keep the prefix, cut the old tail */
        olen = sizeof(last_error) - plen - 3;
    memmove(last_error + plen + 2, last_error, olen);
    memcpy(last_error, prefix, plen);
    last_error[plen] = ':';
    last_error[plen + 1] = ' ';
    last_error[plen + 2 + olen] = '\0';
}

void lm_error_prefix_device(const char *name)
{
    if (strncmp(last_error, name, strlen(name)) != 0)
        lm_error_prefix("device %s", name);
}

void lm_error_clear(void)
{
    last_error[0] = '\0';
}

const char *loom_last_error(void)
{
    return last_error;
}

const char *loom_status_name(loom_status status)
{
    switch (status) {
    case LOOM_OK:
        return "LOOM_OK";
    case LOOM_ERR_INVALID_ARGUMENT:
        return "LOOM_ERR_INVALID_ARGUMENT";
    case LOOM_ERR_PARSE:
        return "LOOM_ERR_PARSE";
    case LOOM_ERR_INVALID_MODEL:
        return "LOOM_ERR_INVALID_MODEL";
    case LOOM_ERR_UNSUPPORTED:
        return "LOOM_ERR_UNSUPPORTED";
    case LOOM_ERR_NO_MEMORY:
        return "LOOM_ERR_NO_MEMORY";
    case LOOM_ERR_IO:
        return "LOOM_ERR_IO";
    case LOOM_ERR_SHAPE:
        return "LOOM_ERR_SHAPE";
    case LOOM_ERR_NOT_FOUND:
        return "LOOM_ERR_NOT_FOUND";
    case LOOM_ERR_RUNTIME:
        return "LOOM_ERR_RUNTIME";
    case LOOM_ERR_DEVICE_LOST:
        return "LOOM_ERR_DEVICE_LOST";
    case LOOM_ERR_DEVICE_TIMEOUT:
        return "LOOM_ERR_DEVICE_TIMEOUT";
    case LOOM_ERR_DEVICE_TRANSIENT:
        return "LOOM_ERR_DEVICE_TRANSIENT";
    case LOOM_ERR_CANCELED:
        return "LOOM_ERR_CANCELED";
    }
    return "LOOM_ERR_UNKNOWN";
}
