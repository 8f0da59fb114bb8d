/*
 * cards.c - `loomctl program CARD FILE`: loads an xclbin onto a Loom card
 * (loom_device_program()) and says what the card carries now. A context
 * holds the card meanwhile, so an emulated card (which lives in this
 * process) is the same one before and after.
 */
#include <stdio.h>
#include <string.h>

#include "loomctl.h"

int loomctl_program(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: loomctl program CARD FILE.xclbin\n");
        return 2;
    }
    loom_context_options opts;
    loomctl_context_options_init(&opts);
    opts.device = argv[0];
    opts.fail_closed = 1;
    opts.num_threads = 1;
    loom_context *ctx = NULL;
    loom_status s = loom_context_create(&opts, &ctx);
    if (s == LOOM_ERR_NOT_FOUND) {
        fprintf(stderr, "loomctl program: no card '%s' (see loomctl examine)\n", argv[0]);
        return 1;
    }
    loom_device_info info = {.struct_size = sizeof(info)};
    if (s || (s = loom_device_program(argv[0], argv[1])) ||
        (s = loom_context_device_info(ctx, 0, &info))) {
        fprintf(stderr, "loomctl program: %s\n", loom_last_error());
        loom_context_destroy(ctx);
        return 1;
    }
    printf("%s: loaded %s (xclbin %s, %d compute units)\n", argv[0], argv[1], info.firmware,
           info.compute_units);
    loom_context_destroy(ctx);
    return 0;
}
