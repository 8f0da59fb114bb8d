# mk/fpga-hw.mk - the int8 compute units (hls/), their testbenches, the card
# model's CUs, loom-xclbin and the bitstreams of bitstreams/. Included by the
# top-level Makefile (-include mk/*.mk); BUILD, CC, Q come from there.
#
#   make test-hls      every CU testbench and the card model's dispatch (TEST_SUITES)
#   make -C hls vitis  how a vendor synthesizes the CUs with Vitis HLS (not run here)

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
