# mk/loomd.mk - loomd (the serving daemon), its C client, loom-perf and their tests.
# Included by the top-level Makefile after DEPS_PACKAGES/DEPS_TARGETS/TEST_SUITES.
#
#   make run-loomd    start loomd on the example repository, print a curl example
#   make test-loomd   end-to-end tests + libFuzzer over the request handler
#   make bench-loomd  latency and throughput (loom-perf), perf_analyzer

DEPS_PACKAGES += libmicrohttpd-dev libjson-c-dev libssl-dev libcurl4-openssl-dev curl \
                 python3-venv python3-onnx python3-numpy
PY_PACKAGES   += tritonclient[http]
TEST_SUITES   += test-loomd
BENCH_SUITES  += bench-loomd

LOOMD_SRC    := $(sort $(wildcard runtime/loomd/*.c))
LOOMD_LIBOBJ := $(filter-out $(BUILD)/obj/runtime/loomd/main.o,$(LOOMD_SRC:%.c=$(BUILD)/obj/%.o))
LOOMD_LIBS   := -lmicrohttpd -ljson-c -lcrypto
LOOMD        := $(BUILD)/bin/loomd
LOOMD_REPO   := $(BUILD)/loomd-repo
LOOMD_BENCH_REPO := $(BUILD)/loomd-bench-repo

.PHONY: run-loomd test-loomd bench-loomd loomd-repo deps-perf-analyzer

all: $(LOOMD)

$(LOOMD): $(BUILD)/obj/runtime/loomd/main.o $(LOOMD_LIBOBJ) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LOOMD_LIBS) $(LDLIBS)

# The example repository: small models generated with onnx.helper (fixed seeds).
$(LOOMD_REPO)/.stamp: tests/loomd/make_repo.py
	$(Q)rm -rf $(LOOMD_REPO) && /usr/bin/python3 tests/loomd/make_repo.py $(LOOMD_REPO)
	@touch $@

loomd-repo: $(LOOMD_REPO)/.stamp

# The same models and the benchmark's large ones (make_repo.py --bench).
$(LOOMD_BENCH_REPO)/.stamp: tests/loomd/make_repo.py
	$(Q)rm -rf $(LOOMD_BENCH_REPO) && /usr/bin/python3 tests/loomd/make_repo.py $(LOOMD_BENCH_REPO) --bench
	@touch $@

# The C client: libcurl for HTTP (Unix socket or TCP), json-c for responses.
CLIENT_SRC   := $(sort $(wildcard runtime/client/*.c))
CLIENT_OBJ   := $(CLIENT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/runtime/loomd/sbuf.o
LIBCLIENT_A  := $(BUILD)/lib/libloom-client.a
CLIENT_LIBS  := -lcurl -ljson-c

all: $(LIBCLIENT_A)

$(LIBCLIENT_A): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# loomctl infer talks to loomd through the client library.
$(BUILD)/bin/loomctl: $(LIBCLIENT_A)
$(BUILD)/bin/loomctl: LDLIBS += $(CLIENT_LIBS)

# Triton's Python client for tests against the loopback listener goes into the
# project's venv (`make venv`, run by deps).
LOOMD_VENV := $(BUILD)/venv

# Triton's perf_analyzer for bench-loomd. PyPI's perf-analyzer is a placeholder and
# tritonclient's current wheels no longer carry the binary; 2.40.0 (Nov 2023) is one
# that does (tritonclient-2.40.0.data/data/bin/perf_analyzer). It is pinned and put in
# a directory of its own with pip --target, so the venv's tritonclient stays current.
# It links libb64.so.0d (Debian's libb64-0d) and libcudart.so.12, which PyPI's CUDA
# runtime package provides (loaded, never used: no CUDA shared memory is asked for).
PERF_ANALYZER_DIR := $(BUILD)/perf-analyzer
PERF_ANALYZER_PIP := tritonclient==2.40.0 nvidia-cuda-runtime-cu12==12.9.79
DEPS_PACKAGES     += libb64-0d
DEPS_TARGETS      += deps-perf-analyzer

deps-perf-analyzer:
	@tools/install-deps.sh python3-venv libb64-0d
	@$(MAKE) --no-print-directory venv
	@if [ "$$(cat $(PERF_ANALYZER_DIR)/.packages 2>/dev/null)" != "$(PERF_ANALYZER_PIP)" ]; then \
	    echo "deps: perf_analyzer in $(PERF_ANALYZER_DIR) ($(PERF_ANALYZER_PIP))"; \
	    rm -rf $(PERF_ANALYZER_DIR) && \
	    $(LOOMD_VENV)/bin/pip install -q --no-deps --only-binary=:all: \
	        --target $(PERF_ANALYZER_DIR) $(PERF_ANALYZER_PIP) && \
	    echo "$(PERF_ANALYZER_PIP)" > $(PERF_ANALYZER_DIR)/.packages; fi

LOOMPERF_SRC := $(sort $(wildcard tools/loom-perf/*.c))
LOOMPERF     := $(BUILD)/bin/loom-perf

all: $(LOOMPERF)

$(LOOMPERF): $(LOOMPERF_SRC:%.c=$(BUILD)/obj/%.o) $(LIBCLIENT_A) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) $(LDLIBS)

$(BUILD)/tests/loomd-client-test: tests/loomd/client_test.c $(LIBCLIENT_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) $(LDLIBS)

LOOMD_E2E_DEPS := $(LOOMD) $(LOOMPERF) $(BUILD)/bin/loomctl $(BUILD)/tests/loomd-client-test \
                  $(BUILD)/tests/loomd-unit \
                  $(LOOMD_REPO)/.stamp

# End-to-end tests, then libFuzzer over the request handler (FUZZ_HTTP_TIME s).
test-loomd: $(LOOMD_E2E_DEPS) $(FPGA_XCLBIN)
	@BUILD=$(BUILD) LOOM_XCLBIN=$(abspath $(FPGA_XCLBIN)) LOOMD_UNIT=$(BUILD)/tests/loomd-unit \
	    LOOMD_FUZZ="$(MAKE) --no-print-directory -s fuzz-http" tests/loomd/e2e.sh

# libFuzzer over the request handler (clang, ASan+UBSan), with the example models loaded;
# the library and loomd's objects are built in fuzz-onnx's tree, with its flags.
FUZZ_HTTP_TIME  ?= 45
FUZZ_HTTP_BUILD := $(BUILD)/fuzz-http
FUZZ_HTTP_OBJ   := $(patsubst $(BUILD)/%,$(FUZZ_BUILD)/%,$(LOOMD_LIBOBJ))
FUZZ_HTTP_OBJ   := $(filter-out %/http.o %/listen.o,$(FUZZ_HTTP_OBJ))
fuzz-http: $(LOOMD_REPO)/.stamp
	@$(FUZZ_MAKE) $(FUZZ_BUILD)/lib/libloom.a $(FUZZ_HTTP_OBJ)
	@mkdir -p $(FUZZ_HTTP_BUILD)/corpus
	$(Q)clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -o $(FUZZ_HTTP_BUILD)/fuzz-http \
	    tests/fuzz/fuzz_http.c $(FUZZ_HTTP_OBJ) $(FUZZ_BUILD)/lib/libloom.a $(LOOMD_LIBS) $(LDLIBS)
	@LOOMD_FUZZ_REPO=$(LOOMD_REPO) $(FUZZ_HTTP_BUILD)/fuzz-http -max_total_time=$(FUZZ_HTTP_TIME) \
	    -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_HTTP_BUILD)/ $(FUZZ_HTTP_BUILD)/corpus tests/fuzz/corpus/http > $(FUZZ_HTTP_BUILD)/fuzz-http.log 2>&1; rc=$$?; \
	    tail -n 5 $(FUZZ_HTTP_BUILD)/fuzz-http.log; \
	    if [ $$rc -eq 0 ]; then echo "fuzz-http: 1 passed, 0 failed"; \
	    else echo "fuzz-http: 0 passed, 1 failed"; exit 1; fi

bench-loomd: $(LOOMD) $(LOOMPERF) $(LOOMD_BENCH_REPO)/.stamp
	@BUILD=$(BUILD) tests/loomd/bench.sh

# Starts loomd on the example repository in the foreground (Ctrl-C drains and stops).
LOOMD_RUN_SOCKET ?= $(abspath $(BUILD))/loomd.sock
# One emulated card (LOOM_EMULATED_CARDS, default 1) programmed with the emulator's
# bitstream, so the int8 example model runs on card:0 on any machine.
run-loomd: $(LOOMD) $(LOOMD_REPO)/.stamp $(FPGA_XCLBIN)
	@LOOM_EMULATED_CARDS=$${LOOM_EMULATED_CARDS:-1} LOOM_XCLBIN=$(abspath $(FPGA_XCLBIN)) \
	    tests/loomd/run-example.sh $(LOOMD) $(LOOMD_REPO) $(LOOMD_RUN_SOCKET)

# What `make install` should add for loomd (the top-level install target calls this).
# Units go where systemd looks for $(PREFIX)=/usr/local; enable loomd.socket for
# socket activation or loomd.service to start at boot.
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
install-loomd: $(LOOMD) $(LOOMPERF) $(LIBCLIENT_A)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/loom \
	    $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(PREFIX)/share/loom
	install -m 755 $(LOOMD) $(LOOMPERF) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBCLIENT_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 runtime/include/loom/loom_client.h $(DESTDIR)$(PREFIX)/include/loom/
	sed -e 's|@PREFIX@|$(PREFIX)|' runtime/loomd/systemd/loomd.service \
	    > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/loomd.service
	install -m 644 runtime/loomd/systemd/loomd.socket $(DESTDIR)$(SYSTEMD_UNIT_DIR)/
	install -m 644 runtime/loomd/systemd/loomd.json.example $(DESTDIR)$(PREFIX)/share/loom/

# cmocka tests of loomd's modules (config, codec, scheduler), run first by test-loomd.
$(BUILD)/tests/loomd-unit: tests/loomd/unit_loomd.c $(filter-out %/http.o %/listen.o,$(LOOMD_LIBOBJ)) \
                           $(BUILD)/obj/tests/unit/lib/onnx_builder.o $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LOOMD_LIBS) $(LDLIBS) -lcmocka

# The same end-to-end tests against loomd and its clients built with ASan+UBSan
# (sharing $(BUILD)/asan with unit-asan). Leak reports are off: the daemons are
# killed mid-run by design; the 220-reload RSS check covers leaks across reloads.
# ASan's quarantine is cut to 8 MiB: the default 256 MiB of freed memory held
# back from reuse grows RSS steadily through the reload loop (14 MiB where the
# plain build grows 0) and would hide a real leak, or fail the check without
# one; 8 MiB still catches use after free of anything recently freed.
TEST_SUITES += test-loomd-asan
LOOMD_ASAN := $(BUILD)/asan
test-loomd-asan: $(LOOMD_REPO)/.stamp $(FPGA_XCLBIN)
	@$(MAKE) --no-print-directory $(SUBMAKE_J) BUILD=$(LOOMD_ASAN) SAN=1 OPT=-O1 $(LOOMD_ASAN)/bin/loomd \
	    $(LOOMD_ASAN)/bin/loom-perf $(LOOMD_ASAN)/bin/loomctl $(LOOMD_ASAN)/tests/loomd-client-test \
	    $(LOOMD_ASAN)/tests/loomd-unit
	@ln -sfn $(abspath $(LOOMD_REPO)) $(LOOMD_ASAN)/loomd-repo
	@ln -sfn $(abspath $(LOOMD_VENV)) $(LOOMD_ASAN)/venv
	@ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=8 BUILD=$(LOOMD_ASAN) LOOM_XCLBIN=$(abspath $(FPGA_XCLBIN)) LOOMD_UNIT=$(LOOMD_ASAN)/tests/loomd-unit \
	    tests/loomd/e2e.sh
