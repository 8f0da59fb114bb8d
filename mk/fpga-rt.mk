# mk/fpga-rt.mk - the runtime's FPGA backend (runtime/fpga/), its tests and
# the Fashion-MNIST model. Included by the top-level Makefile.
#
#   make fpga-test     shims, device and loomctl on the emulated card (TEST_SUITES)
#   make fpga-mnist    train (cached), quantize, compare the emulated card with fp32
#   make fpga-qemu     the int8 model through loom.ko + loom-cardsim in QEMU

DEPS_PACKAGES += libdrm-dev libxrt-dev dataset-fashion-mnist

DRM_CFLAGS := $(shell pkg-config --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm)
HAVE_XRT   := $(wildcard /usr/include/xrt/xrt/xrt_device.h)

# The backend, the card model it emulates, the CUs (one implementation with
# cardsim and the HLS sources) and the kernel's hardened xclbin parser.
FPGA_RT_SRC := $(sort $(wildcard runtime/fpga/*.c)) hls/card/loom_card.c \
               $(sort $(wildcard hls/*.c)) kernel/loom_xclbin.c
RUNTIME_OBJ += $(FPGA_RT_SRC:%.c=$(BUILD)/obj/%.o)
LDLIBS      += -ldrm -ldl

$(BUILD)/obj/runtime/fpga/%.o $(BUILD)/obj/kernel/%.o $(BUILD)/obj/hls/%.o: \
    CPPFLAGS += $(DRM_CFLAGS)
# XRT's C API headers, when libxrt-dev is there (the shim loads XRT with dlopen).
$(BUILD)/obj/runtime/fpga/shim_xrt.o: CPPFLAGS += $(if $(HAVE_XRT),-DLOOM_HAVE_XRT -I/usr/include/xrt)
$(BUILD)/obj/runtime/fpga/cards.o: \
    CPPFLAGS += -DLOOM_BUILD_BITSTREAM_DIR='"$(abspath $(BUILD))/bitstreams"' \
                -DLOOM_BITSTREAM_DIR='"$(PREFIX)/share/loom/bitstreams"'

# ---------------------------------------------------------------- tests

.PHONY: fpga-test fpga-cli fpga-mnist fpga-qemu fpga-e2e
TEST_SUITES += fpga-test fpga-cli fpga-mnist

# The emulated card's default xclbin (fpga-hw builds it with loom-xclbin).
FPGA_XCLBIN ?= $(BUILD)/bitstreams/loom-emu.xclbin

$(BUILD)/tests/fpga/test_fpga: tests/fpga/test_fpga.c $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/unit/lib/*.c)) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The unit test of device error classes runs the emulated card, programmed
# with the default xclbin the build's bitstreams/ holds (not linked: order only).
$(BUILD)/tests/test_device_errors: | $(FPGA_XCLBIN)
# So does the NUMA test, whose emulated cards are placed on fixtures, and the
# pipeline's, whose plans put their int8 part on the card.
$(BUILD)/tests/test_numa: | $(FPGA_XCLBIN)
$(BUILD)/tests/test_pipeline: | $(FPGA_XCLBIN)

fpga-test: $(BUILD)/tests/fpga/test_fpga $(FPGA_XCLBIN)
	@LOOM_XCLBIN=$(FPGA_XCLBIN) $(BUILD)/tests/fpga/test_fpga

$(BUILD)/tests/fpga/fmnist_eval: tests/fpga/fmnist_eval.c $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fashion-MNIST: train once (cached under $(BUILD)/fmnist), quantize with
# loomctl, run all 10,000 test images on the emulated card.
FMNIST := $(BUILD)/fmnist

$(FMNIST)/fashion_mnist.onnx: tests/models/train_fashion_mnist.py
	@mkdir -p $(FMNIST)
	@/usr/bin/python3 tests/models/train_fashion_mnist.py $(FMNIST) 2>&1 | grep -v -i warning

$(FMNIST)/fashion_mnist_int8.onnx: $(FMNIST)/fashion_mnist.onnx $(BUILD)/bin/loomctl
	@$(BUILD)/bin/loomctl quantize $< --calibrate $(FMNIST)/calib -o $@

# loomctl examine/program/quantize/run on the emulated card.
fpga-cli: $(BUILD)/bin/loomctl $(FPGA_XCLBIN) $(FMNIST)/fashion_mnist.onnx
	@sh tests/fpga/cli.sh $(BUILD)/bin/loomctl $(FPGA_XCLBIN) $(FMNIST)/fashion_mnist.onnx $(FMNIST)/calib

fpga-mnist: $(FMNIST)/fashion_mnist_int8.onnx $(BUILD)/tests/fpga/fmnist_eval $(FPGA_XCLBIN)
	@LOOM_XCLBIN=$(FPGA_XCLBIN) $(BUILD)/tests/fpga/fmnist_eval --emulated 1 --device card:0 \
	    --int8 $(FMNIST)/fashion_mnist_int8.onnx --fp32 $(FMNIST)/fashion_mnist.onnx \
	    --images $(FMNIST)/t10k-images.u8 --labels $(FMNIST)/t10k-labels.u8

# ---------------------------------------------------------------- end to end in QEMU
# What the guest runs, into $(FPGA_E2E): fmnist_eval, loomctl, numa_guest and
# failover_guest as built here (stripped), with every shared library they
# load (lib/, the dynamic loader included: tests/kernel/guest-libs.sh), the
# int8 model, test images and the emulated card's logits for them.
# tests/kernel/run-qemu.sh puts the directory into the guest's initramfs;
# init.sh runs its run.sh and failover_guest against card 0, and numa_guest
# in the two-node guest. mk/orchestration.mk adds the device plugin and its
# guest test to GUEST_BINS when gRPC is installed.
FPGA_E2E       := $(BUILD)/tests/fpga/e2e
FPGA_E2E_COUNT := 200
FPGA_E2E_BATCH := 50
GUEST_BINS     := $(BUILD)/tests/fpga/fmnist_eval $(BUILD)/bin/loomctl \
                  $(BUILD)/tests/fpga/numa_guest $(BUILD)/tests/fpga/failover_guest

$(BUILD)/tests/fpga/numa_guest $(BUILD)/tests/fpga/failover_guest: $(BUILD)/tests/fpga/%: \
    tests/fpga/%.c $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(FPGA_E2E)/.stamp: $(GUEST_BINS) tests/kernel/guest-libs.sh \
                    $(FMNIST)/fashion_mnist_int8.onnx $(FPGA_XCLBIN) tests/fpga/e2e-run.sh
	@rm -rf $(FPGA_E2E)
	@mkdir -p $(FPGA_E2E)
	@for b in $(GUEST_BINS); do strip -o $(FPGA_E2E)/$$(basename $$b) $$b; done
	@sh tests/kernel/guest-libs.sh $(FPGA_E2E)/lib $(GUEST_BINS)
	@cp $(FMNIST)/fashion_mnist_int8.onnx $(FPGA_E2E)/model.onnx
	@cp $(FPGA_XCLBIN) $(FPGA_E2E)/loom-emu.xclbin
	@cp tests/fpga/e2e-run.sh $(FPGA_E2E)/run.sh
	@head -c $$(($(FPGA_E2E_COUNT) * 784)) $(FMNIST)/t10k-images.u8 > $(FPGA_E2E)/images.u8
	@printf 'COUNT=%s\nBATCH=%s\n' $(FPGA_E2E_COUNT) $(FPGA_E2E_BATCH) > $(FPGA_E2E)/params.sh
	@LOOM_XCLBIN=$(FPGA_XCLBIN) LOOM_NO_XRT=1 $(BUILD)/tests/fpga/fmnist_eval --emulated 1 \
	    --device card:0 --int8 $(FPGA_E2E)/model.onnx --images $(FPGA_E2E)/images.u8 \
	    --count $(FPGA_E2E_COUNT) --batch $(FPGA_E2E_BATCH) --write $(FPGA_E2E)/expected.bin >/dev/null
	@touch $@

fpga-e2e: $(FPGA_E2E)/.stamp
check-kernel: fpga-e2e

# Only the QEMU run on one kernel (6.1), for working on the end-to-end test.
fpga-qemu: deps-kernel fpga-e2e
	@$(MAKE) --no-print-directory -s -j2 $(BUILD)/kmod/6.1/loom.ko kernel-tests loom-cardsim
	@sh tests/kernel/run-qemu.sh 6.1 $(BUILD) | grep -E 'fpga\.|^not ok|# 6.1'
