# bench-vmath: the vector transcendentals of runtime/cpu/vmath.h against
# glibc's libm, same data, same run. Prints; never gates.

BENCH_SUITES += bench-vmath

.PHONY: bench-vmath

$(BUILD)/bench/bench_vmath: tests/bench/bench_vmath.c $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-vmath: $(BUILD)/bench/bench_vmath
	@$(BUILD)/bench/bench_vmath
