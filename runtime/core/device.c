/* device.c - what core does for every device alike (device.h). */
#include "device.h"

void lm_device_submit(lm_device *dev, void *segment, loom_tensor *const *in,
                      loom_tensor *const *out, lm_event *done)
{
    if (dev->ops->submit) {
        loom_status s = dev->ops->submit(dev, segment, in, out, done);
        if (s) /* nothing was queued: the device will not signal */
            lm_event_signal(done, s);
        return;
    }
    lm_event_signal(done, dev->ops->run(dev, segment, in, out));
}
