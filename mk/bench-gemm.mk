# bench-gemm: our SGEMM vs OpenBLAS (1 and 2 threads) and our int8 GEMM vs our
# SGEMM, at square sizes and real conv-layer shapes. Prints; never gates.
# OpenBLAS is linked here only: libloom itself never depends on it.

BENCH_SUITES += bench-gemm

.PHONY: bench-gemm

$(BUILD)/bench/bench_gemm: tests/bench/bench_gemm.c $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -I/usr/include/x86_64-linux-gnu/openblas-pthread $(CFLAGS) $(LDFLAGS) \
	    -o $@ $^ $(LDLIBS) -lopenblas

bench-gemm: $(BUILD)/bench/bench_gemm
	@$(BUILD)/bench/bench_gemm $(BENCH_GEMM_ARGS)
