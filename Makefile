# gregor - one GNU Makefile, no configure step.
#   make            build gregord, gregor and the unit tests
#   make run        install build deps if missing, build gregord and gregor, start gregord
#                   (./data, 127.0.0.1:9092)
#   make test       install test deps if missing, build, run unit tests, short fuzz runs and
#                   integration tests, all under ASan+UBSan (SANITIZE=address,undefined is the
#                   default for `make test`; `make test SANITIZE=` runs it unsanitized)
#   make SANITIZE=address,undefined   sanitized build in its own dir (build-asan)
#   make fuzz       build the libFuzzer targets (clang, build-fuzz/) and run each FUZZ_SECONDS
#   make fuzz-ci    the same for 30 s each (part of `make test`)
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2

# `make test` is sanitized unless SANITIZE is given; `make`, `make run`
# stay optimised and unsanitized.
ifeq ($(origin SANITIZE),undefined)
ifneq ($(filter test,$(MAKECMDGOALS)),)
SANITIZE := address,undefined
endif
endif
SANITIZE ?=
# One build dir per configuration, so sanitized and plain objects never mix.
comma    := ,
ifeq ($(SANITIZE),)
BUILD    ?= build
else ifeq ($(SANITIZE),address$(comma)undefined)
BUILD    ?= build-asan
else
BUILD    ?= build-san-$(subst $(comma),-,$(SANITIZE))
endif

# src/ holds one folder per subsystem (docs/internals.md); every folder is on
# the include path, so a header is included by its name alone.
SRC_DIRS := src src/core src/net src/proto src/api src/storage src/coord src/obs
INCLUDES := $(SRC_DIRS:%=-I%)
CFLAGS   := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP $(INCLUDES)
LDFLAGS  :=
# -lre2 -lstdc++: the regular expressions of consumer-group subscriptions
# (src/coord/regex_re2.cc, the one C++ file: RE2 is what Kafka's RE2/J reproduces)
LDLIBS   := -lz -lzstd -llz4 -lsnappy -lmicrohttpd -lre2 -lstdc++ -lpthread -lm
CXXFLAGS := -std=c++17 $(OPT) -g -Wall -Wextra -Werror -MMD -MP $(INCLUDES)

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
CXXFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

SRC      := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c))
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_CXX  := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.cc))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o) $(BUILD)/gen/console_files.o
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit integ deps-build deps-test deps-fuzz deps-bench fuzz fuzz-build fuzz-ci bench bench-bin \
        clean docs
all: $(BUILD)/gregord $(BUILD)/gregor $(UNIT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# The web console's static files (src/obs/console/) become a C file that the
# binary carries (tools/embed.c): gregord stays one file.
CONSOLE_FILES := $(sort $(wildcard src/obs/console/*))
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/gen/console_files.c: $(CONSOLE_FILES) $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(CONSOLE_FILES)

$(BUILD)/gen/console_files.o: $(BUILD)/gen/console_files.c src/obs/console_files.h
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgregor.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/gregord: $(BUILD)/src/main.o $(BUILD)/libgregor.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icli -c $< -o $@

# the CLI is a librdkafka client; it shares with the broker only
# src/core/jstr.c (Kafka's strings as Java Strings: group placement,
# escaping) and src/core/alloc.c (the allocation wrappers)
$(BUILD)/gregor: $(CLI_OBJ) $(BUILD)/src/core/jstr.o $(BUILD)/src/core/alloc.o
	$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgregor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libgregor.a $(LDFLAGS) -lcmocka $(LDLIBS)

deps-build:
	@tools/deps.sh build

deps-test:
	@tools/deps.sh test

deps-fuzz:
	@tools/deps.sh fuzz

run: deps-build
	$(MAKE) $(BUILD)/gregord $(BUILD)/gregor
	$(BUILD)/gregord config/server.properties

unit: $(UNIT_BIN)
	@tools/run-unit.sh $(UNIT_BIN)

# The suite runs the broker and the CLI of this build (both rebuilt first).
# -rfEs prints every failure, error and skip reason.  The open-files limit is
# raised to INTEG_NOFILE where permitted (else to the hard limit): some tests
# need 20,000 descriptors.  GREGOR_STRICT=1 (set by `make test`, which has
# installed the test dependencies) makes a test whose precondition is missing
# (Burrow, ZooKeeper, strace, the open-files limit) fail instead of skip.
INTEG_NOFILE  ?= 65536
GREGOR_STRICT ?=
integ: $(BUILD)/gregord $(BUILD)/gregor
	ulimit -n $(INTEG_NOFILE) 2>/dev/null || ulimit -n $$(ulimit -Hn); \
	cd tests/integ && GREGORD=$(abspath $(BUILD)/gregord) GREGOR=$(abspath $(BUILD)/gregor) \
	    GREGOR_STRICT=$(GREGOR_STRICT) \
	    /usr/bin/python3 -m pytest -q -rfEs -p no:cacheprovider --timeout=180 .

# --no-print-directory: the test runners' summaries must be the last lines.
test: deps-test
	$(MAKE) --no-print-directory SANITIZE=$(SANITIZE) BUILD=$(BUILD) all
	$(MAKE) --no-print-directory SANITIZE=$(SANITIZE) BUILD=$(BUILD) unit
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory SANITIZE=$(SANITIZE) BUILD=$(BUILD) GREGOR_STRICT=1 integ

# ---- libFuzzer targets (tests/fuzz/, see docs/fuzzing.md) ----
# The library is rebuilt with clang and the fuzzer instrumentation in its
# own dir; each target runs with its committed seeds (tests/fuzz/corpus/)
# and grows a git-ignored work corpus (tests/fuzz/corpus-work/).
# FUZZ_ASAN=0 builds without AddressSanitizer (UBSan only) in its own dir,
# for long runs: ASan's mmap/poison of every large allocation makes
# fuzz_recovery ~20x slower (docs/fuzzing.md); replay the grown corpus with
# the ASan build afterwards.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ASAN    ?= 1
ifeq ($(FUZZ_ASAN),0)
FUZZ_BUILD   := build-fuzz-noasan
FUZZ_SAN     := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
FUZZ_CFLAGS  := -std=c11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP $(INCLUDES) $(FUZZ_SAN)
FUZZ_NAMES   := request batch recovery offsets_record config snapshot
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_CXX     ?= clang++
FUZZ_OBJ     := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(LIB_CXX:%.cc=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/src/%.o: src/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -std=c++17 -O1 -g -Wall -Wextra -Werror -MMD -MP $(INCLUDES) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libgregor.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

# linked by the C++ driver: the library holds C++ (RE2), whose sanitizer
# checks need the C++ parts of the sanitizer runtimes
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libgregor.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@.o
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $@.o $(FUZZ_BUILD)/libgregor.a $(LDLIBS)

fuzz-build: deps-fuzz
	$(MAKE) --no-print-directory $(FUZZ_BIN)

# One target at a time; a crash, leak or sanitizer report fails the run.
fuzz: fuzz-build
	@rc=0; for t in $(FUZZ_NAMES); do \
	    FUZZ_BUILD=$(FUZZ_BUILD) tools/fuzz-run.sh fuzz_$$t $(FUZZ_SECONDS) || rc=1; \
	done; exit $$rc

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# the regression test feeds the fuzz inputs through the targets' entry points
$(BUILD)/tests/test_fuzz_regress: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

# Benchmark harness: C clients and peers in build/bench/, driven by bench/run.py.
BENCH_BIN := $(addprefix $(BUILD)/bench/,kbench mockbroker redisbench disksync memwarm)
BENCH_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP

deps-bench:
	@tools/deps.sh bench

bench-bin: $(BENCH_BIN)

$(BUILD)/bench/kbench $(BUILD)/bench/mockbroker: $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lrdkafka -lpthread

$(BUILD)/bench/redisbench: bench/redisbench.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lhiredis -lpthread

$(BUILD)/bench/disksync $(BUILD)/bench/memwarm: $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench: deps-bench
	$(MAKE) --no-print-directory $(BUILD)/gregord bench-bin
	/usr/bin/python3 bench/run.py --build $(BUILD) --out BENCHMARKS.md

docs: $(BUILD)/gregord
	$(BUILD)/gregord --print-config-docs > docs/config.md

clean:
	rm -rf $(BUILD) build-fuzz build-fuzz-noasan

# Header dependencies (-MMD -MP) of every object and of the unit tests, the
# fuzz targets and the bench tools, which are compiled and linked in one step
# (their .d is named after the binary).
-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d $(CLI_OBJ:.o=.d) $(UNIT_BIN:=.d) $(BENCH_BIN:=.d) \
         $(FUZZ_OBJ:.o=.d) $(FUZZ_BIN:=.d)
