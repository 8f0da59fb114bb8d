/*
 * fuzz_onnx.c - libFuzzer target for the model loader: every byte string must
 * load or fail with a message, never crash, leak or allocate without bound.
 * Models that load are also run once on small default inputs, which exercises
 * shape planning and the kernels' argument checks.
 */
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "core/tensor.h"
#include "loom/loom.h"

#define MAX_INPUT_ELEMENTS 4096

static loom_context *ctx;

static void run_once(loom_model *m)
{
    size_t n_in = loom_model_input_count(m), n_out = loom_model_output_count(m);
    if (n_in > 16 || n_out > 16)
        return;
    loom_tensor *in[16] = {0}, *out[16] = {0};
    for (size_t i = 0; i < n_in; i++) {
        loom_value_info info;
        int64_t dims[LOOM_MAX_RANK];
        loom_model_input_info(m, i, &info);
        for (int d = 0; d < info.rank; d++)
            dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
        int64_t n = lm_dims_count(info.rank, dims);
        if (n < 0 || n > MAX_INPUT_ELEMENTS ||
            loom_tensor_create(info.dtype, info.rank, dims, &in[i]))
            goto out;
    }
    loom_model_run(m, in, n_in, out, n_out);
out:
    for (size_t i = 0; i < 16; i++) {
        loom_tensor_destroy(in[i]);
        loom_tensor_destroy(out[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        setenv("LOOM_LOOP_MAX_TRIPS", "1000", 1); /* a mutated Loop may never end */
        loom_context_options opts;
        loom_context_options_init(&opts);
        opts.num_threads = 1;
        opts.device = "cpu"; /* the loader and the CPU kernels are what is fuzzed */
        if (loom_context_create(&opts, &ctx))
            return 0;
        lm_max_tensor_bytes = 64 << 20; /* stay far below libFuzzer's RSS limit */
    }
    loom_model *m = NULL;
    if (loom_model_load_memory(ctx, data, size, "fuzz", &m) == LOOM_OK) {
        run_once(m);
        loom_model_destroy(m);
    }
    return 0;
}
