/*
 * partition_pack.c - memory repair for the latency fallback: when list
 * scheduling, which places steps in time order, fills a device and then
 * finds no room for a later step, place the steps by memory instead.
 *
 * Worst-fit decreasing: the largest need first, each on the allowed device
 * with the most room left (an unlimited device has all the room; ties go to
 * the cheaper device, then priority). A heuristic for bin packing, so it
 * may still fail where an assignment exists; only the exact DP is sure.
 * Local improvement then lowers the cost within the limits.
 */
#include <stdlib.h>

#include "error.h"
#include "partition_internal.h"

typedef struct sized {
    uint64_t need;
    int step;
} sized;

static int by_need(const void *x, const void *y)
{
    const sized *a = x, *b = y;
    if (a->need != b->need)
        return a->need > b->need ? -1 : 1;
    return a->step - b->step;
}

/* The device for step @i: most room left, then cheaper, then priority; -1: none. */
static int roomiest(const lm_pp *pp, int i, const uint64_t *used)
{
    int best = -1;
    uint64_t best_room = 0;
    for (int k = 0; k < pp->m; k++) {
        int d = pp->order[k];
        int64_t c = pp->cost[i * pp->m + d];
        if (c < 0 || (pp->cap[d] && used[d] + pp->need[i] > pp->cap[d]))
            continue;
        uint64_t room = pp->cap[d] ? pp->cap[d] - used[d] : UINT64_MAX;
        if (best < 0 || room > best_room || (room == best_room && c < pp->cost[i * pp->m + best]))
            best = d, best_room = room;
    }
    return best;
}

loom_status lm_part_pack(const lm_pp *pp, int *a)
{
    sized *by = malloc((size_t)pp->n * sizeof(sized));
    if (!by)
        return lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    for (int i = 0; i < pp->n; i++)
        by[i] = (sized){pp->need[i], i};
    qsort(by, (size_t)pp->n, sizeof(sized), by_need);
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    loom_status s = LOOM_OK;
    for (int k = 0; k < pp->n && !s; k++) {
        int i = by[k].step, d = roomiest(pp, i, used);
        if (d < 0) {
            char sb[96];
            s = lm_error(LOOM_ERR_NO_MEMORY,
                         "%s: no device has memory left for it (heuristic packing; the problem "
                         "is too wide for the exact DP)",
                         lm_pp_step(pp, i, sb, sizeof(sb)));
        } else {
            a[i] = d, used[d] += pp->need[i];
        }
    }
    free(by);
    return s;
}
