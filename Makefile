# iodirty: one non-recursive Makefile.
#
#   make                      build/iodirty (and the libraries it needs)
#   make check                build and run every test; last line "N passed, N failed, N skipped"
#   make SANITIZE=address,undefined check
#   make SANITIZE=thread check
#   make fuzz                 run every libFuzzer target for FUZZ_SECONDS each (clang)
#   make fuzz-smoke           the same for 10 s each (CI)
#   make V=1                  show the commands
#   make WERROR=0             warnings are not errors
#
# Sources are found by directory: a new .c under src/<component>/, bench/ or
# tests/ is built without touching this file.

CC        ?= cc
WERROR    ?= 1
SANITIZE  ?=
O         ?= 2

ifeq ($(SANITIZE),)
BUILD     ?= build
else
BUILD     ?= build/san-$(subst $(comma),-,$(SANITIZE))
endif
comma := ,

WARNINGS  := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
             -Wold-style-definition -Wshadow -Wundef -Wwrite-strings -Wvla
ifeq ($(WERROR),1)
WARNINGS  += -Werror
endif

CPPFLAGS  += -Iinclude -D_GNU_SOURCE
CFLAGS    += -std=c11 -O$(O) -g -pthread -fPIC -fno-strict-aliasing $(WARNINGS) -MMD -MP
LDFLAGS   += -pthread
LDLIBS    += -lxxhash

ifneq ($(SANITIZE),)
CFLAGS    += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Host side (the emulated kernel and hardware), in layering order, and the
# VMM side, which reaches the host only through the kernel ABI.
LIB_DIRS   := src/lib src/pt src/iommu src/iommufd src/dev src/vfio
LIB_SRCS   := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
VMM_DIRS   := src/vmm src/migrate
VMM_SRCS   := $(foreach d,$(VMM_DIRS),$(wildcard $(d)/*.c) $(wildcard $(d)/*.S))
SHIM_SRCS  := $(wildcard src/interpose/*.c)
CLI_SRCS   := $(wildcard src/cli/*.c) $(wildcard bench/*.c)
TEST_SRCS  := $(wildcard tests/*/*.c)

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
VMM_OBJS   := $(patsubst %.S,$(BUILD)/%.o,$(VMM_SRCS:%.c=$(BUILD)/%.o))
SHIM_OBJS  := $(SHIM_SRCS:%.c=$(BUILD)/%.o)
BENCH_ASM  := $(wildcard bench/*.S)
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/%.o) $(BENCH_ASM:%.S=$(BUILD)/%.o)
TEST_OBJS  := $(TEST_SRCS:%.c=$(BUILD)/%.o)

LIBIODIRTY := $(BUILD)/libiodirty.a
LIBVMM     := $(BUILD)/libiodirty-vmm.a
PRELOAD    := $(BUILD)/libiodirty-preload.so
IODIRTY    := $(BUILD)/iodirty
TESTBIN    := $(BUILD)/iodirty-test
# The tests that reach the host only through the kernel ABI (tests/abi, and
# the VMM's tests/vmm), with no emulation linked in: run under `iodirty exec`.
# Only src/lib members are pulled from libiodirty.a by the VMM library.
ABI_SRCS   := $(wildcard tests/abi/*.c) $(wildcard tests/vmm/*.c) tests/harness/test.c
ABI_OBJS   := $(ABI_SRCS:%.c=$(BUILD)/%.o)
ABITESTBIN := $(BUILD)/iodirty-abitest

.PHONY: all check fuzz fuzz-smoke clean format format-check
all: $(IODIRTY) $(PRELOAD)

# The shim stands in for libc's open/mmap/...: a sanitizer runtime calls
# them while it starts, before its shadow memory exists, so the shim itself
# is not instrumented by ThreadSanitizer.
$(SHIM_OBJS): CFLAGS += $(if $(findstring thread,$(SANITIZE)),-fno-sanitize=thread)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(CPPFLAGS) -c $< -o $@

$(LIBIODIRTY): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBVMM): $(VMM_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The shim is linked into the binaries, so their own opens of the device
# nodes reach the emulated host, and built as a preload library for others.
$(IODIRTY): $(CLI_OBJS) $(SHIM_OBJS) $(LIBVMM) $(LIBIODIRTY)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CLI_OBJS) $(SHIM_OBJS) $(LIBVMM) $(LIBIODIRTY) $(LDLIBS) -o $@

$(PRELOAD): $(SHIM_OBJS) $(LIBIODIRTY)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS) -Wl,-z,defs -Wl,--whole-archive $(SHIM_OBJS) $(LIBIODIRTY) -Wl,--no-whole-archive $(LDLIBS) -o $@

$(TESTBIN): $(TEST_OBJS) $(SHIM_OBJS) $(LIBVMM) $(LIBIODIRTY)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(TEST_OBJS) $(SHIM_OBJS) $(LIBVMM) $(LIBIODIRTY) $(LDLIBS) -o $@

$(ABITESTBIN): $(ABI_OBJS) $(LIBVMM) $(LIBIODIRTY)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(ABI_OBJS) $(LIBVMM) $(LIBIODIRTY) $(LDLIBS) -o $@

# The test binary runs every test in its own child; TESTS=glob narrows it.
# Every test in-process (emulation linked in), then the ABI tests again as
# an unmodified program under `iodirty exec`; one summary line at the end.
check: $(TESTBIN) $(ABITESTBIN) $(IODIRTY) $(PRELOAD)
	$(Q)CC=$(CC) SANITIZE=$(SANITIZE) scripts/check.sh $(BUILD) $(if $(TESTS),'$(TESTS)')

# Fuzz targets: fuzz/<name>.c, each built with libFuzzer + ASan/UBSan and run
# for FUZZ_SECONDS over its seed corpus fuzz/corpus/<name>/. New inputs go to
# build/fuzz/corpus-<name>/, crashes to build/fuzz/<name>-crash-*; a crash,
# leak or timeout (FUZZ_TIMEOUT seconds for one input) fails the target, and
# the rule once every target has run.
# fuzz-smoke is the short run for CI.
# A target is built with $(LIB_SRCS), or with the sources it names in
# FUZZ_LIBSRCS_<name> instead. FUZZ_SRCS=fuzz/<name>.c runs it alone.
FUZZ_SECONDS ?= 30
FUZZ_TIMEOUT ?= 25
FUZZ_SRCS    := $(wildcard fuzz/*.c)
FUZZ_LIBSRCS_migrate_stream := src/lib/alloc.c src/lib/range.c src/migrate/stream.c
FUZZ_LIBSRCS_iommufd_ioctl := $(foreach d,src/lib src/pt src/iommu src/iommufd,$(wildcard $(d)/*.c))
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=c11 -O1 -g -D_GNU_SOURCE -Iinclude -pthread $(WARNINGS) \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
fuzz:
ifeq ($(FUZZ_SRCS),)
	@echo "no fuzz targets yet"
else
	@mkdir -p $(FUZZ_BUILD)
	$(Q)set -e; failed=; for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		echo "  FUZZ    $$n ($(FUZZ_SECONDS)s)"; \
		srcs="$(LIB_SRCS)"; case $$n in $(foreach t,$(FUZZ_SRCS:fuzz/%.c=%),$(if $(FUZZ_LIBSRCS_$(t)),($(t)) srcs="$(FUZZ_LIBSRCS_$(t))";;)) esac; \
		clang $(FUZZ_CFLAGS) $$f $$srcs -o $(FUZZ_BUILD)/$$n $(LDLIBS); \
		mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
		$(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-timeout=$(FUZZ_TIMEOUT) -artifact_prefix=$(FUZZ_BUILD)/$$n- \
			$(FUZZ_BUILD)/corpus-$$n fuzz/corpus/$$n \
			> $(FUZZ_BUILD)/$$n.log 2>&1 || \
			{ tail -n 60 $(FUZZ_BUILD)/$$n.log; failed="$$failed $$n"; continue; }; \
		grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' $(FUZZ_BUILD)/$$n.log; \
	done; \
	if [ -n "$$failed" ]; then echo "  FUZZ    failed:$$failed"; exit 1; fi
endif

fuzz-smoke:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

format:
	$(Q)clang-format -i $(LIB_SRCS) $(filter %.c,$(VMM_SRCS)) $(CLI_SRCS) $(TEST_SRCS) $(SHIM_SRCS) $(wildcard include/iodirty/*.h src/*/*.h src/*/*/*.h tests/*/*.h)

clean:
	rm -rf build

-include $(VMM_OBJS:.o=.d) $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(SHIM_OBJS:.o=.d) $(ABI_OBJS:.o=.d)
