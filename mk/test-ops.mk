# mk/test-ops.mk - the cross-backend op harness (tests/ops/): every (op,
# shape case) of its table on cpu, opencl:0 and the emulated card:0 against
# the CPU, through the public API. Included by the top-level Makefile.
#
#   make test-ops      the harness (TEST_SUITES); OPS_ARGS="-v -o Conv -d card:0"

OPS_SRC := $(sort $(wildcard tests/ops/*.c))
OPS_BIN := $(BUILD)/tests/ops/loom-ops
# Defined by mk/fpga-rt.mk and mk/opencl.mk; the defaults keep this one standalone.
FPGA_XCLBIN  ?= $(BUILD)/bitstreams/loom-emu.xclbin
OPENCL_CACHE ?= $(abspath $(BUILD))/loom-cache

.PHONY: test-ops
TEST_SUITES += test-ops

$(OPS_BIN): $(OPS_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/lib/onnx_builder.o $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OPS_SRC:%.c=$(BUILD)/obj/%.o): CPPFLAGS += -Itests/unit

# The OpenCL programs come from the cache the other OpenCL suites fill, so
# only a cold cache pays PoCL's builds. Kernels that claim to store every
# output element start from poisoned outputs (LOOM_POISON_OUTPUTS).
test-ops: $(OPS_BIN) $(FPGA_XCLBIN)
	@LOOM_CACHE_DIR=$(OPENCL_CACHE) LOOM_XCLBIN=$(FPGA_XCLBIN) LOOM_POISON_OUTPUTS=1 \
	    $(OPS_BIN) $(OPS_ARGS)
