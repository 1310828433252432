# gregor - one GNU Makefile, no configure step.
#   make            build gregord, gregor and the unit tests
#   make run        install build deps if missing, build, start gregord (./data, 127.0.0.1:9092)
#   make test       install test deps if missing, build, run unit + integration tests
#   make SANITIZE=address,undefined test
CC       ?= cc
BUILD    ?= build
SANITIZE ?=
OPT      ?= -O2

CFLAGS   := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -Isrc
LDFLAGS  :=
LDLIBS   := -lz -lzstd -llz4 -lsnappy -lpthread -lm

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

SRC      := $(wildcard src/*.c)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit integ deps-build deps-test clean docs
all: $(BUILD)/gregord $(BUILD)/gregor $(UNIT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgregor.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/gregord: $(BUILD)/src/main.o $(BUILD)/libgregor.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icli -c $< -o $@

# the CLI is a librdkafka client; it shares no code with the broker
$(BUILD)/gregor: $(CLI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgregor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libgregor.a $(LDFLAGS) -lcmocka $(LDLIBS)

deps-build:
	@tools/deps.sh build

deps-test:
	@tools/deps.sh test

run: deps-build
	$(MAKE) $(BUILD)/gregord
	$(BUILD)/gregord config/server.properties

unit: $(UNIT_BIN)
	@tools/run-unit.sh $(UNIT_BIN)

integ: $(BUILD)/gregord
	cd tests/integ && GREGORD=$(abspath $(BUILD)/gregord) /usr/bin/python3 -m pytest -q -rfE -p no:cacheprovider --timeout=180 .

# --no-print-directory: the test runners' summaries must be the last lines.
test: deps-test
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integ

docs: $(BUILD)/gregord
	$(BUILD)/gregord --print-config-docs > docs/config.md

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d $(CLI_OBJ:.o=.d)
