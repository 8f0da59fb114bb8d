/* device.c - what core does for every device alike (device.h). */
#include "device.h"
#include "numa.h"

void lm_device_submit(lm_device *dev, void *segment, loom_tensor *const *in,
                      loom_tensor *const *out, uint64_t deadline_ns, lm_event *done)
{
    /* The thread that copies inputs in, submits and waits runs on the
     * device's own node while it does (a no-op on one node). */
    cpu_set_t saved;
    bool moved = lm_numa_feed_begin(dev, &saved);
    if (dev->ops->submit) {
        loom_status s = dev->ops->submit(dev, segment, in, out, deadline_ns, done);
        if (s) /* nothing was queued: the device will not signal */
            lm_event_signal(done, s);
    } else {
        lm_event_signal(done, dev->ops->run(dev, segment, in, out, deadline_ns));
    }
    lm_numa_feed_end(moved, &saved);
}
