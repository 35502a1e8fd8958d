# The libFuzzer build of the harnesses (GNU make; run through `make fuzz-build` or
# `make fuzz` from the top build directory, which pass the variables below). Every library
# source is compiled again with clang, coverage instrumentation and ASan+UBSan into
# t/fuzz/obj/, each library with its own include path as in the normal build; each
# t/fuzz/fuzz_NAME.c is linked with -fsanitize=fuzzer into t/fuzz/bin/fuzz_NAME, with the
# helpers it uses (the other t/fuzz/*.c files but replay.c, from an archive). Needs clang and its libFuzzer runtime
# (Debian: clang-14 and libclang-rt-14-dev, see docs/fuzzing.md).
#
# From mk/fuzz.am: srcdir builddir FUZZ_HARNESSES FUZZ_NAMES SHARED_SRC MASTER_SRC WORKER_SRC
#                  DEPS_CPPFLAGS DEPS_LIBS

FUZZ_CC ?= clang
FUZZ_SANITIZE ?= address,undefined
OBJ := $(builddir)/t/fuzz/obj
BIN := $(builddir)/t/fuzz/bin

SAN_FLAGS := -fsanitize=$(FUZZ_SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
COMMON_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter $(SAN_FLAGS) \
	-include $(builddir)/autoconf.h $(DEPS_CPPFLAGS) -DEXECD_FUZZING
LIB_CFLAGS := $(COMMON_CFLAGS) -fsanitize=fuzzer-no-link
HARNESS_CFLAGS := $(LIB_CFLAGS) -I$(srcdir)/master -I$(srcdir)/worker -I$(srcdir)/shared \
	-I$(srcdir)/t/fuzz -DEXECD_TEST_SRCDIR='"$(srcdir)"'

# Every t/fuzz/fuzz_NAME.c must be listed in mk/fuzz.am (its replay test in `make check`).
FOUND := $(sort $(patsubst fuzz_%.c,%,$(notdir $(wildcard $(srcdir)/t/fuzz/fuzz_*.c))))
MISSING := $(filter-out $(FUZZ_HARNESSES),$(FOUND))
ifneq ($(MISSING),)
$(error t/fuzz/fuzz_$(firstword $(MISSING)).c has no replay test: list it in mk/fuzz.am (docs/fuzzing.md))
endif

objs = $(patsubst %.c,$(OBJ)/%.o,$(filter %.c,$(1)))
SHARED_OBJ := $(call objs,$(SHARED_SRC))
MASTER_OBJ := $(call objs,$(MASTER_SRC))
WORKER_OBJ := $(call objs,$(WORKER_SRC))
HELPER_OBJ := $(call objs,$(addprefix t/fuzz/,$(filter-out fuzz_%.c replay.c,\
	$(notdir $(wildcard $(srcdir)/t/fuzz/*.c)))))
LIBS := $(OBJ)/libhelpers.a $(OBJ)/libmaster.a $(OBJ)/libworker.a $(OBJ)/libshared.a

all: $(addprefix $(BIN)/fuzz_,$(FUZZ_NAMES))

$(OBJ)/shared/%.o: $(srcdir)/shared/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LIB_CFLAGS) -I$(srcdir)/shared -MMD -MP -c -o $@ $<
$(OBJ)/master/%.o: $(srcdir)/master/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LIB_CFLAGS) -I$(srcdir)/master -I$(srcdir)/shared -MMD -MP -c -o $@ $<
$(OBJ)/worker/%.o: $(srcdir)/worker/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LIB_CFLAGS) -I$(srcdir)/worker -I$(srcdir)/shared -MMD -MP -c -o $@ $<
$(OBJ)/t/fuzz/%.o: $(srcdir)/t/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(HARNESS_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/libshared.a: $(SHARED_OBJ)
	rm -f $@ && ar cr $@ $^
$(OBJ)/libmaster.a: $(MASTER_OBJ)
	rm -f $@ && ar cr $@ $^
$(OBJ)/libworker.a: $(WORKER_OBJ)
	rm -f $@ && ar cr $@ $^
$(OBJ)/libhelpers.a: $(HELPER_OBJ)
	rm -f $@ && ar cr $@ $^

$(BIN)/fuzz_%: $(OBJ)/t/fuzz/fuzz_%.o $(LIBS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS) $(DEPS_LIBS)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

.PHONY: all
