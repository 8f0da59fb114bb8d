/* deadline.c - the host's watchdog deadline for device segments (deadline.h). */
#include "deadline.h"
#include "device.h"
#include "env.h"

uint64_t lm_deadline_ns(const lm_device *dev, const lm_latency *lat, double est_us, int jobs)
{
    double lo = 1e6 * (double)lm_env_int(LM_ENV_DEVICE_DEADLINE_MIN_MS);
    double hi = 1e6 * (double)lm_env_int(LM_ENV_DEVICE_DEADLINE_MAX_MS);
    double ns = hi;
    if (lat && lm_latency_count(lat) >= LM_DEADLINE_MIN_SAMPLES)
        ns = LM_DEADLINE_P99_FACTOR * (double)lm_latency_quantile(lat, 0.99);
    else if (est_us > 0 && !(dev->props.flags & LM_DEVICE_EMULATED))
        ns = LM_DEADLINE_EST_FACTOR * est_us * 1e3;
    ns *= jobs > 1 ? jobs : 1; /* it may wait for the others first */
    ns = ns < lo ? lo : ns > hi ? hi : ns;
    return (uint64_t)ns;
}
