/* libFuzzer target for the kernel's xclbin parser (kernel/loom_xclbin.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernel/loom_xclbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t iface[16] = {0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53,
                                      0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b};
    struct loom_xclbin x;
    __u64 detail;
    void *copy;

    /* The kernel copies the container into its own buffer: do the same, exact size. */
    copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    loom_xclbin_parse(copy, size, (size & 1) ? iface : NULL, &x, &detail);
    free(copy);
    return 0;
}
