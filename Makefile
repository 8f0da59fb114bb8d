# Loom - every entry point of the project. See README.md.
#
#   make deps        install the Debian packages the project needs (idempotent)
#   make all         build libloom, loomctl, loom-conformance into $(BUILD)
#   make run         deps + all, then run the example model
#   make test        every test suite; ends with "N passed, N failed"
#   make bench       benchmarks against peers (not part of test)
#   make install     PREFIX=/usr/local DESTDIR=
#
# Userspace builds out of tree into $(BUILD) (default build/). The sanitizer
# build lives in $(BUILD)/asan and is made by re-invoking make with SAN=1.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
SAN     ?=

ifeq ($(origin CC),default)
CC := gcc
endif

OPT      ?= -O2 $(if $(findstring clang,$(CC)),,-fvect-cost-model=dynamic)
CPPFLAGS += -D_GNU_SOURCE -Iruntime/include -Iruntime -Itools -I$(BUILD)/gen
CFLAGS   += -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -fvisibility=hidden -pthread $(EXTRA_CFLAGS)
LDLIBS   += -lprotobuf-c -lhwloc -lm -lpthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# Quiet by default; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

GEN        := $(BUILD)/gen
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_PB_C  := $(GEN)/onnx/onnx.pb-c.c
ONNX_PB_H  := $(GEN)/onnx/onnx.pb-c.h

RUNTIME_SRC := $(sort $(wildcard runtime/*.c runtime/core/*.c runtime/cpu/*.c runtime/cpu/ops/*.c))
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
LIBLOOM_A   := $(BUILD)/lib/libloom.a
LIBLOOM_SO  := $(BUILD)/lib/libloom.so

TOOL_COMMON_SRC := $(sort $(wildcard tools/common/*.c))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LOOMCTL_SRC     := $(sort $(wildcard tools/loomctl/*.c))
CONFORMANCE_SRC := $(sort $(wildcard tools/conformance/*.c))

BINS := $(BUILD)/bin/loomctl $(BUILD)/bin/loom-conformance

.PHONY: all deps run test bench install conformance unit unit-bins clean format check-format fuzz models \
        bench-models bench-planner models-export venv unit-asan conformance-asan conformance-update fuzz-onnx
all: $(LIBLOOM_A) $(LIBLOOM_SO) $(BINS)

# Debian packages the userspace build, tests and benchmarks need. Fragments in
# mk/ add theirs (DEPS_PACKAGES) and extra install steps (DEPS_TARGETS), and
# test suites (TEST_SUITES) that `make test` runs after the core ones.
DEPS_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev clang-format \
                 protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata \
                 libcmocka-dev python3-torch python3-torchvision python3-onnx python3-numpy \
                 libopenblas-dev python3-venv libhwloc-dev hwloc
DEPS_TARGETS  :=
TEST_SUITES   :=
BENCH_SUITES  := bench-models bench-planner
PY_PACKAGES   := onnxruntime onnx numpy openvino sympy

# Whole-tree builds inside test suites (sanitizer and fuzzer trees, the unit
# binaries) use every CPU even when `make test` was started without -j; under
# a parallel make they share its jobs instead.
SUBMAKE_J = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(shell nproc))

# The libFuzzer targets' build tree: clang, ASan+UBSan, coverage instrumented.
# fuzz-onnx and loomd's fuzz-http link the same library from it.
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_MAKE   = $(MAKE) --no-print-directory $(SUBMAKE_J) BUILD=$(FUZZ_BUILD) CC=clang SAN=1 OPT=-O1 \
              EXTRA_CFLAGS="-fsanitize=fuzzer-no-link"

-include mk/*.mk

$(ONNX_PB_C) $(ONNX_PB_H): $(ONNX_PROTO)
	@mkdir -p $(GEN)
	$(Q)protoc-c --c_out=$(GEN) -I/usr/include $(ONNX_PROTO)

$(BUILD)/obj/gen/onnx.pb-c.o: $(ONNX_PB_C)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=c11 $(OPT) -g -fPIC -w -c $< -o $@

$(BUILD)/obj/%.o: %.c $(ONNX_PB_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBLOOM_A): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBLOOM_SO): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS) -Wl,-soname,libloom.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/bin/loomctl: $(LOOMCTL_SRC:%.c=$(BUILD)/obj/%.o) $(TOOL_COMMON_OBJ) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/loom-conformance: $(CONFORMANCE_SRC:%.c=$(BUILD)/obj/%.o) $(TOOL_COMMON_OBJ) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

clean:
	rm -rf $(BUILD)

deps: $(DEPS_TARGETS)
	@tools/install-deps.sh $(DEPS_PACKAGES)
	@$(MAKE) --no-print-directory venv

# Test and benchmark peers from PyPI (ONNX Runtime, OpenVINO; fragments add theirs to
# PY_PACKAGES), in one venv under build/. Rebuilt only when the list changes.
VENV := $(BUILD)/venv
venv:
	@want="$(sort $(PY_PACKAGES))"; \
	if [ "$$(cat $(VENV)/.packages 2>/dev/null)" != "$$want" ]; then \
	    echo "deps: venv $(VENV) ($$want)"; \
	    rm -rf $(VENV) && /usr/bin/python3 -m venv $(VENV) && \
	    $(VENV)/bin/pip install -q $$want && echo "$$want" > $(VENV)/.packages; fi

# ---------------------------------------------------------------- example run

EXAMPLE_MODEL := $(BUILD)/models/squeezenet1_1_opset13/model.onnx

$(BUILD)/models/.stamp: tests/models/export_torchvision.py tests/models/arch_zoo.py
	/usr/bin/python3 tests/models/export_torchvision.py $(BUILD)/models 2>&1 | grep -v -i warning
	@touch $@

# A voice-activity model with If and Loop, scripted rather than traced.
$(BUILD)/models/.voice-stamp: tests/models/export_voice.py
	/usr/bin/python3 tests/models/export_voice.py $(BUILD)/models
	@touch $@

# The BERT encoder's int8 forms (QDQ and dynamic) from ONNX Runtime's quantizers,
# with ONNX Runtime's outputs as references: the venv's Python, not Debian's.
$(BUILD)/models/.stamp-int8: $(BUILD)/models/.stamp tests/models/quantize_models.py | venv
	$(VENV)/bin/python tests/models/quantize_models.py $(BUILD)/models 2>&1 | grep -v -i warning
	@touch $@

# The BERT encoder as ONNX Runtime's transformer optimizer fuses it into
# com.microsoft operators (Attention, SkipLayerNormalization...), with
# ONNX Runtime's outputs as references. Not piped through a filter: the
# script fails (and so must the rule) when the optimizer fused too little.
$(BUILD)/models/.stamp-ortopt: $(BUILD)/models/.stamp tests/models/optimize_bert.py | venv
	$(VENV)/bin/python tests/models/optimize_bert.py $(BUILD)/models
	@touch $@

models-export: $(BUILD)/models/.stamp $(BUILD)/models/.voice-stamp $(BUILD)/models/.stamp-int8 \
               $(BUILD)/models/.stamp-ortopt

# The main job: loomd serving the example repository on a Unix socket (Ctrl-C
# drains and stops it). `make run-example` runs one model with loomctl instead.
run: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory run-loomd

run-example: all models-export
	$(BUILD)/bin/loomctl run $(EXAMPLE_MODEL) --repeat 20 --stats

# ---------------------------------------------------------------- tests

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIB  := $(sort $(wildcard tests/unit/lib/*.c))

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_LIB:%.c=$(BUILD)/obj/%.o) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit-bins: $(UNIT_BINS)

# Runs every unit test binary, as many at once as there are CPUs; each ends
# with "N passed, N failed".
unit:
	@$(MAKE) --no-print-directory $(SUBMAKE_J) unit-bins
	@LOOM_TEST_DATA=/usr/share/libonnx-testdata/data tests/run-unit.sh $(UNIT_BINS)

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN=1 OPT=-O1 unit

CONFORMANCE_DIRS := $(addprefix /usr/share/libonnx-testdata/data/,node simple pytorch-converted pytorch-operator)
CONFORMANCE_EXPECT := tests/conformance/expected-pass.txt

# Every ONNX backend test; fails only on a regression against the expected list.
conformance: $(BUILD)/bin/loom-conformance
	@$(BUILD)/bin/loom-conformance --quiet --table $(BUILD)/conformance.md \
	    --expect $(CONFORMANCE_EXPECT) $(CONFORMANCE_DIRS)

# Conformance under the sanitizers: catches kernels reading out of bounds,
# and (LOOM_POISON_OUTPUTS) kernels that claim to store every output element
# but skip some.
conformance-asan:
	@$(MAKE) --no-print-directory $(SUBMAKE_J) BUILD=$(BUILD)/asan SAN=1 OPT=-O1 \
	    $(BUILD)/asan/bin/loom-conformance
	@ASAN_OPTIONS=detect_leaks=1 LOOM_POISON_OUTPUTS=1 $(BUILD)/asan/bin/loom-conformance --quiet \
	    --expect $(CONFORMANCE_EXPECT) $(CONFORMANCE_DIRS)

# Regenerates the expected-pass list from the current results (review the diff).
conformance-update: $(BUILD)/bin/loom-conformance
	@$(BUILD)/bin/loom-conformance $(CONFORMANCE_DIRS) | sed -n 's/^PASS \([^ ]*\).*/\1/p' \
	    > $(CONFORMANCE_EXPECT); wc -l $(CONFORMANCE_EXPECT)

# torchvision architectures exported by PyTorch, compared with PyTorch's outputs.
models: $(BUILD)/bin/loom-conformance models-export
	@$(BUILD)/bin/loom-conformance $(BUILD)/models

FUZZ_TIME  ?= 60

# libFuzzer over the model loader (clang), seeded from tests/fuzz/corpus/onnx.
fuzz-onnx:
	@$(FUZZ_MAKE) $(FUZZ_BUILD)/lib/libloom.a
	@mkdir -p $(FUZZ_BUILD)/corpus-onnx
	clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -o $(FUZZ_BUILD)/fuzz-onnx \
	    tests/fuzz/fuzz_onnx.c $(FUZZ_BUILD)/lib/libloom.a $(LDLIBS)
	@$(FUZZ_BUILD)/fuzz-onnx -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-onnx tests/fuzz/corpus/onnx \
	    > $(FUZZ_BUILD)/fuzz-onnx.log 2>&1; rc=$$?; tail -n 20 $(FUZZ_BUILD)/fuzz-onnx.log; \
	    if [ $$rc -eq 0 ]; then echo "fuzz-onnx: 1 passed, 0 failed"; \
	    else echo "fuzz-onnx: 0 passed, 1 failed"; exit 1; fi

CORE_SUITES := unit unit-asan conformance conformance-asan models fuzz-onnx

test: all
	@BUILD=$(BUILD) tests/run-suites.sh $(CORE_SUITES) $(TEST_SUITES)

# ---------------------------------------------------------------- benchmarks

# Model latency against ONNX Runtime and OpenVINO (fp32 and int8 QDQ), batch 1,
# 1 and 2 threads; BENCH_BASELINE=path/to/loomctl adds another build's figure
# (main's, for before/after) in the same run.
BENCH_BASELINE ?=
bench-models: all models-export venv
	@$(VENV)/bin/python tests/bench/bench_models.py --loomctl $(BUILD)/bin/loomctl \
	    --models $(BUILD)/models --threads 1,2 --runs 50 --qdq \
	    $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE))

# The planner's plan against every single-device plan (emulated card, PoCL, CPU) on QDQ models.
bench-planner: all models-export venv $(FPGA_XCLBIN)
	@LOOM_XCLBIN=$(abspath $(FPGA_XCLBIN)) $(VENV)/bin/python tests/bench/bench_planner.py \
	    --loomctl $(BUILD)/bin/loomctl --models $(BUILD)/models --runs 20

bench: all
	@for b in $(BENCH_SUITES); do echo "=== $$b"; $(MAKE) --no-print-directory -s $$b || exit 1; done

# ---------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/include/loom $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIBLOOM_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBLOOM_SO) $(DESTDIR)$(PREFIX)/lib/libloom.so.0
	ln -sf libloom.so.0 $(DESTDIR)$(PREFIX)/lib/libloom.so
	install -m 644 runtime/include/loom/*.h $(DESTDIR)$(PREFIX)/include/loom/
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS_PRIVATE@|$(strip $(LDLIBS))|' runtime/libloom.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libloom.pc
	@$(MAKE) --no-print-directory install-loomd

format:
	clang-format -i $$(git ls-files 'runtime/*.[ch]' 'tools/*.[ch]' 'tests/*.[ch]' 'hls/*.[ch]')

check-format:
	clang-format --dry-run -Werror $$(git ls-files 'runtime/*.[ch]' 'tools/*.[ch]' 'tests/*.[ch]' 'hls/*.[ch]')

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
