/* no_infer.c - `loomctl infer` for the static guest build of loomctl: the QEMU
 * guest has neither loomd nor a static libcurl, so the subcommand says so. */
#include <stdio.h>

int loomctl_infer(int argc, char **argv);

int loomctl_infer(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "loomctl infer: not in this build (the guest tool has no HTTP client)\n");
    return 2;
}
