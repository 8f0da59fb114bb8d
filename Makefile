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

OPT      ?= -O2
CPPFLAGS += -D_GNU_SOURCE -Iruntime/include -Iruntime -Itools -I$(BUILD)/gen
CFLAGS   += -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -fvisibility=hidden -pthread
LDLIBS   += -lprotobuf-c -lm -lpthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

GEN        := $(BUILD)/gen
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_PB_C  := $(GEN)/onnx/onnx.pb-c.c
ONNX_PB_H  := $(GEN)/onnx/onnx.pb-c.h

RUNTIME_SRC := $(sort $(wildcard runtime/core/*.c runtime/cpu/*.c runtime/cpu/ops/*.c))
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
LIBLOOM_A   := $(BUILD)/lib/libloom.a
LIBLOOM_SO  := $(BUILD)/lib/libloom.so

TOOL_COMMON_SRC := $(sort $(wildcard tools/common/*.c))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LOOMCTL_SRC     := $(sort $(wildcard tools/loomctl/*.c))
CONFORMANCE_SRC := $(sort $(wildcard tools/conformance/*.c))

BINS := $(BUILD)/bin/loomctl $(BUILD)/bin/loom-conformance

.PHONY: all deps run test bench install conformance unit clean format check-format fuzz models
all: $(LIBLOOM_A) $(LIBLOOM_SO) $(BINS)

-include mk/*.mk

$(ONNX_PB_C) $(ONNX_PB_H): $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I/usr/include $(ONNX_PROTO)

$(BUILD)/obj/gen/onnx.pb-c.o: $(ONNX_PB_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(OPT) -g -fPIC -w -c $< -o $@

$(BUILD)/obj/%.o: %.c $(ONNX_PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBLOOM_A): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBLOOM_SO): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libloom.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/bin/loomctl: $(LOOMCTL_SRC:%.c=$(BUILD)/obj/%.o) $(TOOL_COMMON_OBJ) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/loom-conformance: $(CONFORMANCE_SRC:%.c=$(BUILD)/obj/%.o) $(TOOL_COMMON_OBJ) $(LIBLOOM_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
