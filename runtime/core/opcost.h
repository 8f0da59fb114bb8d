/*
 * opcost.h - what running a node costs: its work (arithmetic and bytes moved,
 * from core's op semantics, the same for every device) and the estimate of
 * its time on a device, and of moving a value between devices.
 *
 * The estimate is a roofline: a device does @flops at its peak rate and moves
 * @bytes at its memory bandwidth, overlapped, plus a fixed cost per op; a
 * device's cost hook (a card's cycle model) replaces it where the device
 * knows better. Transfers cost the link's latency plus bytes over its
 * bandwidth. See runtime/README.md, "Cost model".
 */
#ifndef LOOM_CORE_OPCOST_H
#define LOOM_CORE_OPCOST_H

#include <stdbool.h>
#include <stddef.h>

#include "device.h"
#include "graph.h"
#include "tensor.h"

typedef struct lm_op_work {
    double flops; /* arithmetic operations (a multiply-add is two) */
    double bytes; /* bytes read and written, inputs and outputs once each */
    bool int8;    /* the arithmetic is 8-bit (int8 peak applies) */
} lm_op_work;

/* The work of @n with inputs @in and outputs @out (shapes; NULL entries are
 * absent values). */
lm_op_work lm_op_work_of(const lm_node *n, loom_tensor *const *in, loom_tensor *const *out);

/* Estimated microseconds of @n on @dev: a time measured for the same op,
 * shapes and attributes on the same kind of device (lm_cost_measured()),
 * else the device's cost hook if it has one and it answers, else the
 * roofline of lm_op_work_of() at the device's peaks; < 0 when the device's
 * peaks are unknown. */
double lm_cost_estimate_us(lm_device *dev, const lm_node *n, loom_tensor *const *in,
                           loom_tensor *const *out);

/* Records @us as the measured time of @n with @in on @dev, for later
 * estimates in this process and, once lm_cost_cache_save() ran, in later
 * ones (the cost cache, core/cache.h). */
void lm_cost_measured(const lm_device *dev, const lm_node *n, loom_tensor *const *in, double us);

/* Estimated microseconds to move @bytes from @from to @to (NULL: the host;
 * 0 on one device; between two non-host devices, through the host). */
double lm_transfer_us(const lm_device *from, const lm_device *to, size_t bytes);

/* lm_transfer_us() for host memory used by threads of NUMA node @host_node
 * (-1: any): a device hop's bytes take longer by the topology's distance
 * between that node and the device's (numa.h; 1.0 on one node). */
double lm_transfer_node_us(const lm_device *from, const lm_device *to, int host_node, size_t bytes);

#endif
