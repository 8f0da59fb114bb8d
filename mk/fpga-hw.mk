# mk/fpga-hw.mk - the int8 compute units (hls/), their testbenches, the card
# model's CUs, loom-xclbin and the bitstreams of bitstreams/. Included by the
# top-level Makefile (-include mk/*.mk); BUILD, CC, Q come from there.
#
#   make test-hls      every CU testbench and the card model's dispatch (TEST_SUITES)
#   make bitstreams    loom-xclbin and the xclbins of bitstreams/ into $(BUILD)/bitstreams
#   make test-xclbin   XRT's parser and the kernel's parser over every built xclbin (TEST_SUITES)
#   make hls-cycles    the cycle model's figures for representative layers
#   make -C hls vitis  how a vendor synthesizes the CUs with Vitis HLS (not run here)

DEPS_PACKAGES += libjson-c-dev uuid-dev libxrt-dev g++

# The CU functions, their checks, requantization and cycle model: one
# implementation for the HLS sources, the card model (loom-cardsim, the
# runtime's emulated card) and the testbenches. The card model is
# hls/card/loom_card.c plus these.
HLS_CU_SRC   := $(sort $(wildcard hls/*.c))
HLS_CARD_SRC := hls/card/loom_card.c $(HLS_CU_SRC)
HLS_HDRS     := $(wildcard hls/*.h hls/card/*.h) kernel/loom_card_if.h
HLS_TB_SRC   := $(sort $(wildcard hls/tb/tb_*.c))
HLS_TB_BINS  := $(HLS_TB_SRC:hls/tb/%.c=$(BUILD)/tests/hls/%)
HLS_TB_FLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wshadow \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined

.PHONY: test-hls
TEST_SUITES += test-hls

# Testbenches run under ASan/UBSan: an overrun of a tile or a window shows.
$(BUILD)/tests/hls/tb_%: hls/tb/tb_%.c hls/tb/tb.h $(HLS_CARD_SRC) $(HLS_HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(HLS_TB_FLAGS) -o $@ $< $(HLS_CARD_SRC) -lm

test-hls: $(HLS_TB_BINS)
	@pass=0; fail=0; for t in $(HLS_TB_BINS); do \
	    out=$$($$t 2>&1); rc=$$?; echo "$$out" | grep -v '^ok '; \
	    line=$$(echo "$$out" | grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' | tail -n1); \
	    p=$$(echo "$$line" | sed -nE 's/.*: ([0-9]+) passed.*/\1/p'); \
	    f=$$(echo "$$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); \
	    [ -n "$$line" ] || { p=0; f=1; }; [ $$rc -eq 0 ] || [ "$$f" -ne 0 ] || f=1; \
	    pass=$$((pass + p)); fail=$$((fail + f)); done; \
	echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# The cycle model's figures for representative layers (hls/README.md).
.PHONY: hls-cycles
$(BUILD)/tests/hls/cu-cycles-report: hls/tb/cu_cycles_report.c $(HLS_CU_SRC) $(HLS_HDRS)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $< $(HLS_CU_SRC) -lm

hls-cycles: $(BUILD)/tests/hls/cu-cycles-report
	@$<

# ---------------------------------------------------------------- xclbins

LOOM_XCLBIN   := $(BUILD)/bin/loom-xclbin
XCLBIN_SPECS  := $(filter-out bitstreams/manifest.json,$(sort $(wildcard bitstreams/*.json)))
XCLBINS       := $(XCLBIN_SPECS:bitstreams/%.json=$(BUILD)/bitstreams/%.xclbin)
# XRT loads $XILINX_XRT/lib/libxrt_core.so.2; Debian installs it in the multiarch dir.
XRT_LIBDIR    := $(shell gcc -print-multiarch 2>/dev/null | sed 's|^|/usr/lib/|')
XRT_ROOT      := $(BUILD)/xrt-root

.PHONY: bitstreams test-xclbin
all: bitstreams
TEST_SUITES += test-xclbin

$(LOOM_XCLBIN): tools/loom-xclbin/main.c hls/loom_cu.c $(HLS_HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -o $@ \
	    tools/loom-xclbin/main.c hls/loom_cu.c -ljson-c

$(BUILD)/bitstreams/%.xclbin: bitstreams/%.json $(LOOM_XCLBIN)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  XCLBIN  $@")
	$(Q)$(LOOM_XCLBIN) $< -o $@

bitstreams: $(XCLBINS)

$(BUILD)/tests/xclbin/xrt_parse: tests/xclbin/xrt_parse.cpp hls/loom_cu.c $(HLS_HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CXXLD   $@")
	$(Q)$(CC) -std=c11 -O1 -g -c hls/loom_cu.c -o $@.loom_cu.o
	$(Q)g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -I/usr/include/xrt -o $@ $< $@.loom_cu.o \
	    -lxrt_coreutil -ljson-c -luuid

$(BUILD)/tests/xclbin/kparse: tests/xclbin/kparse.c kernel/loom_xclbin.c kernel/loom_xclbin.h \
		$(HLS_CARD_SRC) $(HLS_HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(HLS_TB_FLAGS) -I/usr/include/libdrm -o $@ $< kernel/loom_xclbin.c $(HLS_CARD_SRC) -lm

# XRT's parser and the kernel's over every built xclbin, the manifest against
# the sources, refused specs, and byte-identical rebuilds.
test-xclbin: $(XCLBINS) $(BUILD)/tests/xclbin/xrt_parse $(BUILD)/tests/xclbin/kparse
	@mkdir -p $(XRT_ROOT)/lib && ln -sf $(XRT_LIBDIR)/libxrt_core.so.2 $(XRT_ROOT)/lib/
	@pass=0; fail=0; \
	out=$$(XILINX_XRT=$(abspath $(XRT_ROOT)) $(BUILD)/tests/xclbin/xrt_parse bitstreams/manifest.json \
	    $(BUILD)/bitstreams 2>&1); echo "$$out" | grep -v '^ok '; \
	p=$$(echo "$$out" | sed -nE 's/^xrt-parse: ([0-9]+) passed, ([0-9]+) failed/\1/p'); \
	f=$$(echo "$$out" | sed -nE 's/^xrt-parse: ([0-9]+) passed, ([0-9]+) failed/\2/p'); \
	pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-1})); \
	out=$$($(BUILD)/tests/xclbin/kparse $(XCLBINS) 2>&1); echo "$$out" | grep -v '^ok '; \
	p=$$(echo "$$out" | sed -nE 's/^kparse: ([0-9]+) passed, ([0-9]+) failed/\1/p'); \
	f=$$(echo "$$out" | sed -nE 's/^kparse: ([0-9]+) passed, ([0-9]+) failed/\2/p'); \
	pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-1})); \
	for s in $(XCLBIN_SPECS); do \
	    if grep -q "\"source\": \"$$(basename $$s)\"" bitstreams/manifest.json; then pass=$$((pass + 1)); \
	    else echo "not ok: $$s is missing from bitstreams/manifest.json"; fail=$$((fail + 1)); fi; \
	done; \
	for s in tests/xclbin/bad/*.json; do \
	    if $(LOOM_XCLBIN) $$s -o $(BUILD)/tests/xclbin/bad.xclbin 2>/dev/null; then \
	        echo "not ok: loom-xclbin accepted $$s"; fail=$$((fail + 1)); else pass=$$((pass + 1)); fi; \
	done; \
	d=$(BUILD)/tests/xclbin/custom; mkdir -p $$d; \
	printf 'LBBS\002\000\000\000\005\000\000\000\004\000\000\000' > $$d/custom.bin; \
	echo '{"name": "custom", "interface_uuid": "4c4d4e4f-5051-5253-5455-565758595a5b",' \
	    '"bitstream_file": "custom.bin", "cus": [{"kernel": "loom_qconv"}, {"kernel": "loom_qgemm"}]}' \
	    > $$d/custom.json; \
	if $(LOOM_XCLBIN) $$d/custom.json -o $$d/custom.xclbin && \
	    $(BUILD)/tests/xclbin/kparse $$d/custom.xclbin >/dev/null; then pass=$$((pass + 1)); \
	else echo "not ok: a spec with bitstream_file"; fail=$$((fail + 1)); fi; \
	for s in $(XCLBIN_SPECS); do \
	    SOURCE_DATE_EPOCH=1 $(LOOM_XCLBIN) $$s -o $(BUILD)/tests/xclbin/a.xclbin && \
	    SOURCE_DATE_EPOCH=1 $(LOOM_XCLBIN) $$s -o $(BUILD)/tests/xclbin/b.xclbin && \
	    cmp -s $(BUILD)/tests/xclbin/a.xclbin $(BUILD)/tests/xclbin/b.xclbin && \
	    pass=$$((pass + 1)) || { echo "not ok: $$s does not rebuild byte for byte"; fail=$$((fail + 1)); }; \
	done; \
	echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# Installed where the runtime looks for them (LOOM_BITSTREAM_DIR).
.PHONY: install-bitstreams
install: install-bitstreams
install-bitstreams: bitstreams
	install -d $(DESTDIR)$(PREFIX)/share/loom/bitstreams $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(XCLBINS) bitstreams/manifest.json $(DESTDIR)$(PREFIX)/share/loom/bitstreams/
	install -m 755 $(LOOM_XCLBIN) $(DESTDIR)$(PREFIX)/bin/
