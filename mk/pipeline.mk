# pipeline: the benchmark of pipelined inference (loom_model_submit, runtime/core/pipeline.c):
# throughput of two-stage plans (emulated card + CPU, opencl:0 + CPU) pipelined
# vs loom_model_run at concurrency 1, 8 and 32. Prints; never gates.

BENCH_SUITES += bench-pipeline
BENCH_PIPELINE_ARGS ?=

.PHONY: bench-pipeline

$(BUILD)/bench/bench_pipeline: tests/bench/bench_pipeline.c $(BUILD)/obj/tests/unit/lib/onnx_builder.o \
                               $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-pipeline: $(BUILD)/bench/bench_pipeline $(FPGA_XCLBIN)
	@LOOM_XCLBIN=$(abspath $(FPGA_XCLBIN)) LOOM_CACHE_DIR=$(OPENCL_CACHE) \
	    $(BUILD)/bench/bench_pipeline $(BENCH_PIPELINE_ARGS)
