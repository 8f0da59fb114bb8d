# mk/kernel.mk - loom.ko, loom-cardsim, the kernel selftests and their QEMU
# runner. Included by the top-level Makefile (-include mk/*.mk); BUILD and CC
# come from there. Everything is built under $(BUILD)/.
#
#   make deps-kernel    apt packages + Debian's 6.1 and 6.12 kernels unpacked
#   make module         loom.ko for the running kernel's headers, if present
#   make check-kernel   both kernels in QEMU, the xclbin fuzzer, checkpatch

BUILD ?= build
CC ?= cc
KERNEL_TAGS := 6.1 6.12
KERNEL_SRC := Kbuild $(wildcard kernel/*.c kernel/*.h kernel/*.sh kernel/uapi/*.h)
KSELFTEST := $(BUILD)/ksrc/tools/testing/selftests
FUZZ_SECONDS ?= 60
KMAKE = env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES $(MAKE) -j2 --no-print-directory -s

.PHONY: deps-kernel module check-kernel kernel-modules kernel-tests fuzz-xclbin \
	checkpatch-kernel loom-cardsim

DEPS_TARGETS += deps-kernel
TEST_SUITES += check-kernel

deps-kernel:
	@sh tests/kernel/deps.sh $(BUILD)

# kbuild writes objects next to the sources: build a copy under $(BUILD), so
# nothing lands in the tree (and "make clean" there cannot touch $(BUILD)).
define kmod_rule
$(BUILD)/kmod/$(1)/loom.ko: $(KERNEL_SRC)
	@mkdir -p $$(@D)/kernel/uapi
	@cp Kbuild $$(@D)/ && cp kernel/*.c kernel/*.h kernel/*.sh $$(@D)/kernel/ && \
		cp kernel/uapi/*.h $$(@D)/kernel/uapi/
	@kdir=$$$$(ls -d $(BUILD)/kernels/$(1)/root/usr/src/linux-headers-*-amd64 2>/dev/null | head -n1); \
	test -n "$$$$kdir" || { echo "no $(1) headers: run make deps-kernel" >&2; exit 1; }; \
	$(KMAKE) -C $$$$kdir M=$$(abspath $$(@D)) modules 2>&1 | \
		grep -v -e 'Skipping BTF generation' -e '^make\[' ; test -f $$@
endef
$(foreach t,$(KERNEL_TAGS),$(eval $(call kmod_rule,$(t))))

kernel-modules: $(foreach t,$(KERNEL_TAGS),$(BUILD)/kmod/$(t)/loom.ko)

module:
	@kdir=/lib/modules/$$(uname -r)/build; \
	if [ -d $$kdir ]; then \
		mkdir -p $(BUILD)/kmod/host/kernel/uapi && cp Kbuild $(BUILD)/kmod/host/ && \
		cp kernel/*.c kernel/*.h kernel/*.sh $(BUILD)/kmod/host/kernel/ && \
		cp kernel/uapi/*.h $(BUILD)/kmod/host/kernel/uapi/ && \
		$(KMAKE) -C $$kdir M=$(abspath $(BUILD)/kmod/host) modules && \
		echo "built $(BUILD)/kmod/host/loom.ko for $$(uname -r)"; \
	else echo "module: no headers for $$(uname -r) (install linux-headers-$$(uname -r))"; fi

# The card model with the int8 CUs: HLS_CARD_SRC from mk/fpga-hw.mk.
$(BUILD)/bin/loom-cardsim: tools/loom-cardsim/cardsim.c $(HLS_CARD_SRC) $(HLS_HDRS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -o $@ tools/loom-cardsim/cardsim.c $(HLS_CARD_SRC) -lm

loom-cardsim: $(BUILD)/bin/loom-cardsim

$(KSELFTEST)/kselftest_harness.h:
	@mkdir -p $(BUILD)/ksrc
	@tar -C $(BUILD)/ksrc --strip-components=1 -xaf /usr/src/linux-source-6.1.tar.xz \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h

# Static, so the initramfs needs no libc.
$(BUILD)/tests/kernel/loom_test: tests/kernel/loom_test.c kernel/uapi/loom_accel.h kernel/loom_xclbin.h \
		kernel/loom_card_if.h $(KSELFTEST)/kselftest_harness.h
	@mkdir -p $(@D)
	$(CC) -static -O2 -g -Wall -Wno-unused-parameter -Wno-misleading-indentation -I$(KSELFTEST) -I/usr/include/libdrm \
		-o $@ tests/kernel/loom_test.c

# The card model on the host, under ASan/UBSan.
$(BUILD)/tests/kernel/card_model_test: tests/kernel/card_model_test.c $(HLS_CARD_SRC) $(HLS_HDRS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -o $@ tests/kernel/card_model_test.c $(HLS_CARD_SRC) -lm

kernel-tests: $(BUILD)/tests/kernel/loom_test $(BUILD)/tests/kernel/card_model_test

$(BUILD)/fuzz/xclbin_fuzz: tests/fuzz/xclbin_fuzz.c kernel/loom_xclbin.c kernel/loom_xclbin.h
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I/usr/include/libdrm -o $@ tests/fuzz/xclbin_fuzz.c kernel/loom_xclbin.c

$(BUILD)/fuzz/xclbin_layout: tests/fuzz/xclbin_layout.c kernel/loom_xclbin.c kernel/loom_xclbin.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Werror -I/usr/include/libdrm -o $@ tests/fuzz/xclbin_layout.c kernel/loom_xclbin.c

# The seed is the selftests' own valid container, written by the test binary.
fuzz-xclbin: $(BUILD)/fuzz/xclbin_fuzz $(BUILD)/fuzz/xclbin_layout $(BUILD)/tests/kernel/loom_test
	@$(BUILD)/fuzz/xclbin_layout
	@mkdir -p $(BUILD)/fuzz/corpus
	@$(BUILD)/tests/kernel/loom_test --write-xclbin $(BUILD)/fuzz/corpus/valid.xclbin
	@if $(BUILD)/fuzz/xclbin_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus >$(BUILD)/fuzz/fuzz.log 2>&1; then \
		echo "ok 2 xclbin parser fuzzed $(FUZZ_SECONDS)s ($$(grep -o 'Done [0-9]* runs' $(BUILD)/fuzz/fuzz.log))"; \
	else echo "not ok 2 xclbin parser fuzz: see $(BUILD)/fuzz/fuzz.log"; tail -30 $(BUILD)/fuzz/fuzz.log; exit 1; fi

KERNEL_CHECK_FILES = $(filter-out kernel/loom_config.h,$(wildcard kernel/*.c kernel/*.h kernel/uapi/*.h))

checkpatch-kernel: deps-kernel
	@out=$$(perl $(BUILD)/checkpatch/scripts/kernel-doc -none $(KERNEL_CHECK_FILES) 2>&1); \
	if [ -z "$$out" ]; then echo "ok 3 kernel-doc comments complete in kernel/"; \
	else echo "$$out" | sed 's/^/# /'; echo "not ok 3 kernel-doc comments in kernel/"; exit 1; fi
	@out=$$($(BUILD)/checkpatch/scripts/checkpatch.pl --strict --no-tree --terse --show-types \
		--ignore SPDX_LICENSE_TAG -f $(KERNEL_CHECK_FILES) Kbuild 2>&1 | \
		grep -v -e '^total:' -e 'has no obvious style problems' -e '^$$'); \
	if [ -z "$$out" ]; then echo "ok 1 checkpatch --strict kernel/"; \
	else echo "$$out" | sed 's/^/# /'; echo "not ok 1 checkpatch --strict kernel/"; exit 1; fi

check-kernel: deps-kernel
	@$(MAKE) --no-print-directory -s -j2 kernel-modules kernel-tests loom-cardsim \
		$(BUILD)/fuzz/xclbin_fuzz $(BUILD)/fuzz/xclbin_layout
	@sh tests/kernel/check.sh $(BUILD) "$(MAKE)" $(KERNEL_TAGS)

# Operators: install the module source for DKMS and the udev rule (root).
LOOM_DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kernel/dkms.conf)
LOOM_DKMS_DIR := $(DESTDIR)/usr/src/loom-$(LOOM_DKMS_VERSION)
.PHONY: dkms-install
dkms-install:
	install -d $(LOOM_DKMS_DIR)/kernel/uapi
	install -m 0644 Kbuild kernel/dkms.conf $(LOOM_DKMS_DIR)/
	install -m 0644 kernel/*.c kernel/*.h $(LOOM_DKMS_DIR)/kernel/
	rm -f $(LOOM_DKMS_DIR)/kernel/loom_config.h
	install -m 0755 kernel/probe.sh $(LOOM_DKMS_DIR)/kernel/
	install -m 0644 kernel/uapi/*.h $(LOOM_DKMS_DIR)/kernel/uapi/
	install -D -m 0644 kernel/70-loom.rules $(DESTDIR)/etc/udev/rules.d/70-loom.rules
	if [ -z "$(DESTDIR)" ]; then \
		dkms add -m loom -v $(LOOM_DKMS_VERSION) 2>/dev/null || true; \
		dkms build -m loom -v $(LOOM_DKMS_VERSION) && dkms install -m loom -v $(LOOM_DKMS_VERSION); \
	fi
