/*
 * loomctl - operate Loom: run models (more subcommands arrive with the driver,
 * the planner and loomd).
 *
 *   loomctl [-v|-vv] COMMAND ...   (-v/--verbose may follow the command too)
 *   loomctl run MODEL [--input NAME=FILE.npy|.pb ...] [--device D] [--threads N]
 *                     [--cpus LIST] [--repeat N] [--output-dir DIR] [--fp16]
 *                     [--shapes FILE] [--stats]
 *   loomctl examine [--json]
 *   loomctl plan MODEL [--device LIST] [--dim NAME=SIZE ...] [--json]
 *   loomctl program CARD FILE.xclbin
 *   loomctl quantize MODEL --calibrate DIR -o OUT [--method minmax|percentile|entropy]
 */
#include <stdio.h>
#include <string.h>

#include "loomctl.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: loomctl [-v|-vv] COMMAND [ARGS]\n\n"
               "  -v, --verbose  libloom's log on stderr: -v adds info (programs built,\n"
               "                 device totals), -vv debug (kernels chosen); warnings and\n"
               "                 errors are always shown; may follow the command too\n\n"
               "commands:\n"
               "  run MODEL [--input NAME=FILE.npy|.pb ...] [--device D] [--threads N]\n"
               "            [--repeat N] [--output-dir DIR] [--dim NAME=SIZE ...] [--stats]\n"
               "            [--fp16] [--cpus LIST] [--shapes FILE]\n"
               "      run an ONNX model; inputs not given are filled with a fixed pattern and\n"
               "      symbolic dims not bound with --dim are 1;\n"
               "      prints outputs and latency (min/p50/p99 over N runs after a warm-up);\n"
               "      --stats adds fusion counts, the arena's peak size, packed-weight and\n"
               "      plan cache bytes and planning time; --shapes runs each line's shape\n"
               "      (\"batch=4 seq=17\": symbolic dims by name) N+1 times and prints its\n"
               "      first-run latency, p50 and RSS; --fp16 keeps\n"
               "      weights and activations as half on OpenCL devices (float arithmetic);\n"
               "      --cpus binds the worker threads to a CPU list such as 0-3,8 (with\n"
               "      --threads 0, one thread per CPU in it)\n"
               "  examine [--json]\n"
               "      list the devices (Loom cards, OpenCL, CPU) with their properties and health\n"
               "  plan MODEL [--device LIST] [--dim NAME=SIZE ...] [--json]\n"
               "      where each node runs and why, estimated times, segments and transfers\n"
               "  program CARD FILE.xclbin\n"
               "      load a bitstream onto a Loom card (card:N, xrt:N)\n"
               "  quantize MODEL --calibrate DIR -o OUT [--method minmax|percentile|entropy]\n"
               "           [--percentile P]\n"
               "      fp32 model to QDQ int8 (per-channel weights, calibrated activations);\n"
               "      DIR holds .npy/.pb inputs\n"
               "  infer MODEL [--socket PATH | --tcp HOST:PORT] [--version V]\n"
               "              (--input NAME=FILE.npy|.pb ... | --json FILE|-)\n"
               "      send one request to loomd; prints the response as JSON\n"
               "  version   print the version\n");
}

int main(int argc, char **argv)
{
    argc = loomctl_take_verbose(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return loomctl_run(argc - 2, argv + 2);
    if (strcmp(cmd, "examine") == 0)
        return loomctl_examine(argc - 2, argv + 2);
    if (strcmp(cmd, "plan") == 0)
        return loomctl_plan(argc - 2, argv + 2);
    if (strcmp(cmd, "program") == 0)
        return loomctl_program(argc - 2, argv + 2);
    if (strcmp(cmd, "quantize") == 0)
        return loomctl_quantize(argc - 2, argv + 2);
    if (strcmp(cmd, "infer") == 0)
        return loomctl_infer(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("loomctl %d.%d.%d\n", LOOM_VERSION_MAJOR, LOOM_VERSION_MINOR, LOOM_VERSION_PATCH);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "loomctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
