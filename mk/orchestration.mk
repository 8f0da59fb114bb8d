# mk/orchestration.mk - Loom beyond one host: the Kubernetes and KServe manifests in
# deploy/ and their checks. Included by the top-level Makefile after mk/loomd.mk
# (alphabetical order), whose $(LOOMD) and $(LOOMD_REPO) it uses.
#
#   make test-deploy           the manifests, offline: core objects against the Kubernetes
#                              OpenAPI schemas (kubernetes-validate --strict, oldest and
#                              newest versions it ships), KServe objects against
#                              deploy/kserve/kserve.schema.json; broken fixtures must fail
#   make test-deploy-contract  loomd started as the ClusterServingRuntime's container
#                              (same arguments, /mnt/models, 0.0.0.0:8080 in a network
#                              namespace of its own); needs root

PY_PACKAGES += kubernetes-validate jsonschema
# ip(8) for the network namespaces of the contract, orchestrator and multi-host tests.
DEPS_PACKAGES += iproute2
TEST_SUITES += test-deploy test-deploy-contract

.PHONY: test-deploy test-deploy-contract

test-deploy:
	@$(VENV)/bin/python tests/deploy/validate.py .

test-deploy-contract: $(LOOMD) $(LOOMD_REPO)/.stamp
	@BUILD=$(BUILD) tests/deploy/contract.sh

# ---------------------------------------------------------------- the device plugin
# tools/loom-device-plugin: C++17 with Debian's gRPC; the protocol file is ours
# (deviceplugin/v1beta1, written from the documented API), compiled at build time.
#
#   make test-device-plugin   the plugin against a fake kubelet and a fake sysfs
#   make check-kernel         also runs it in the QEMU guest against loom.ko's cards
#                             (tests/kernel/init.sh), when gRPC is installed

DEPS_PACKAGES += libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
TEST_SUITES   += test-device-plugin

CXX        ?= g++
ifeq ($(origin CXX),default)
CXX := g++
endif
DP_DIR      := tools/loom-device-plugin
DP_GEN      := $(GEN)/deviceplugin
DP_PB       := $(DP_GEN)/deviceplugin.pb.cc $(DP_GEN)/deviceplugin.grpc.pb.cc
DP_PB_H     := $(DP_PB:.cc=.h)
DP_PB_OBJ   := $(DP_PB:$(GEN)/%.cc=$(BUILD)/obj/gen/%.o)
DP_SRC      := $(filter-out $(DP_DIR)/main.cc,$(sort $(wildcard $(DP_DIR)/*.cc)))
DP_OBJ      := $(DP_SRC:%.cc=$(BUILD)/obj/%.o)
DP_CXXFLAGS := -std=c++17 $(OPT) -g -Wall -Wextra -Werror -Wshadow -pthread \
               -I$(DP_GEN) -I$(DP_DIR) $(shell pkg-config --cflags grpc++ protobuf 2>/dev/null)
DP_LIBS     := $(shell pkg-config --libs grpc++ protobuf 2>/dev/null) -pthread
DEVICE_PLUGIN := $(BUILD)/bin/loom-device-plugin
DP_TEST     := $(BUILD)/tests/device-plugin-test
DP_GUEST    := $(BUILD)/tests/device-plugin-guest
DP_FAKE_OBJ := $(BUILD)/obj/tests/device-plugin/fake_kubelet.o

.PHONY: device-plugin test-device-plugin
device-plugin: $(DEVICE_PLUGIN)
all: $(DEVICE_PLUGIN)

$(DP_PB) $(DP_PB_H) &: $(DP_DIR)/deviceplugin.proto
	@mkdir -p $(DP_GEN)
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc -I$(DP_DIR) --cpp_out=$(DP_GEN) --grpc_out=$(DP_GEN) \
	    --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) $<

# Generated code: not ours to warn about.
$(BUILD)/obj/gen/deviceplugin/%.o: $(DP_GEN)/%.cc $(DP_PB_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) $(DP_CXXFLAGS) -w -c $< -o $@

$(BUILD)/obj/%.o: %.cc $(DP_PB_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) $(DP_CXXFLAGS) -MMD -MP -c $< -o $@

$(DEVICE_PLUGIN): $(BUILD)/obj/$(DP_DIR)/main.o $(DP_OBJ) $(DP_PB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CXX) -o $@ $^ $(DP_LIBS)

$(DP_TEST): $(BUILD)/obj/tests/device-plugin/test_device_plugin.o $(DP_FAKE_OBJ) $(DP_OBJ) \
    $(DP_PB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CXX) -o $@ $^ $(DP_LIBS)

$(DP_GUEST): $(BUILD)/obj/tests/device-plugin/guest_device_plugin.o $(DP_FAKE_OBJ) $(DP_PB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CXX) -o $@ $^ $(DP_LIBS)

# The plugin and its guest test ride in the kernel tests' end-to-end bundle
# (mk/fpga-rt.mk, included before this file: hence the extra prerequisite
# line, for GUEST_BINS there was already expanded in its rule's). Only where
# gRPC is installed, so that check-kernel does not need it; init.sh says when
# the bundle has no plugin.
DP_HAVE_GRPC := $(shell pkg-config --exists grpc++ protobuf 2>/dev/null && echo yes)
ifeq ($(DP_HAVE_GRPC),yes)
GUEST_BINS += $(DEVICE_PLUGIN) $(DP_GUEST)
$(FPGA_E2E)/.stamp: $(DEVICE_PLUGIN) $(DP_GUEST)
endif

test-device-plugin: $(DEVICE_PLUGIN) $(DP_TEST)
	@$(DP_TEST) $(DEVICE_PLUGIN)

-include $(wildcard $(BUILD)/obj/$(DP_DIR)/*.d $(BUILD)/obj/tests/device-plugin/*.d)

# ---------------------------------------------------------------- several hosts
# Three loomd network namespaces behind HAProxy in a fourth (veth pairs, addresses
# of their own): load spreads, a host killed mid-run costs no request, it rejoins.
#
#   make test-multihost   (root)

DEPS_PACKAGES += haproxy
TEST_SUITES   += test-multihost

.PHONY: test-multihost
test-multihost: $(LOOMD) $(LOOMPERF)
	@BUILD=$(BUILD) tests/multihost/multihost.sh

# `make install` also installs the device plugin (the top-level install target runs this).
.PHONY: install-device-plugin
install: install-device-plugin
install-device-plugin: $(DEVICE_PLUGIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(DEVICE_PLUGIN) $(DESTDIR)$(PREFIX)/bin/
