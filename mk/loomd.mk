# mk/loomd.mk - loomd (the serving daemon), its C client, loom-perf and their tests.
# Included by the top-level Makefile after DEPS_PACKAGES/DEPS_TARGETS/TEST_SUITES.
#
#   make run-loomd    start loomd on the example repository, print a curl example
#   make test-loomd   end-to-end tests + libFuzzer over the request handler
#   make bench-loomd  latency and throughput (loom-perf), perf_analyzer

DEPS_PACKAGES += libmicrohttpd-dev libjson-c-dev libssl-dev libcurl4-openssl-dev curl \
                 python3-venv python3-onnx python3-numpy
DEPS_TARGETS  += loomd-venv
TEST_SUITES   += test-loomd
BENCH_SUITES  += bench-loomd

LOOMD_SRC    := $(sort $(wildcard runtime/loomd/*.c))
LOOMD_LIBOBJ := $(filter-out $(BUILD)/obj/runtime/loomd/main.o,$(LOOMD_SRC:%.c=$(BUILD)/obj/%.o))
LOOMD_LIBS   := -lmicrohttpd -ljson-c -lcrypto
LOOMD        := $(BUILD)/bin/loomd
LOOMD_REPO   := $(BUILD)/loomd-repo

.PHONY: loomd-venv run-loomd test-loomd bench-loomd loomd-repo

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
