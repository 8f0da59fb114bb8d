/*
 * cpulist.c - parses a Linux CPU list into a cpu_set_t. The format is the
 * kernel's (Documentation/admin-guide/cputopology.rst): numbers and inclusive
 * ranges separated by commas. Only CPUs this process may use are accepted, so
 * binding never fails later for a reason the caller could have been told now.
 */
#include <ctype.h>
#include <stdlib.h>

#include "cpulist.h"
#include "error.h"

/* Reads a CPU number at *p; 0 or an error naming @list and the position. */
static loom_status read_cpu(const char *list, const char **p, long *cpu)
{
    if (!isdigit((unsigned char)**p))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "cpu list '%s': expected a CPU number at position %td", list,
                        *p - list + 1);
    char *end;
    *cpu = strtol(*p, &end, 10);
    if (*cpu >= CPU_SETSIZE)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "cpu list '%s': CPU %ld at position %td is beyond the largest (%d)", list,
                        *cpu, *p - list + 1, CPU_SETSIZE - 1);
    *p = end;
    return LOOM_OK;
}

loom_status lm_cpulist_parse(const char *list, cpu_set_t *out, int *count)
{
    cpu_set_t allowed;
    const char *p = list;
    loom_status s;

    if (!list || !*list)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "cpu list is empty");
    if (sched_getaffinity(0, sizeof(allowed), &allowed))
        return lm_error(LOOM_ERR_RUNTIME, "cpu list '%s': cannot read this process's CPUs", list);
    CPU_ZERO(out);
    for (;;) {
        long lo, hi;
        if ((s = read_cpu(list, &p, &lo)))
            return s;
        hi = lo;
        if (*p == '-') {
            p++;
            if ((s = read_cpu(list, &p, &hi)))
                return s;
            if (hi < lo)
                return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                                "cpu list '%s': range %ld-%ld runs backwards", list, lo, hi);
        }
        for (long c = lo; c <= hi; c++)
            CPU_SET((int)c, out);
        if (*p == '\0')
            break;
        if (*p != ',')
            return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                            "cpu list '%s': unexpected '%c' at position %td (numbers, ranges "
                            "like 0-3, and commas only)",
                            list, *p, p - list + 1);
        p++;
    }
    /* Syntax first, then availability: a typo is reported as a typo. */
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, out) && !CPU_ISSET(c, &allowed))
            return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                            "cpu list '%s': CPU %d is not available to this process", list, c);
    *count = CPU_COUNT(out);
    return LOOM_OK;
}
