# ebb — build, test, bench, demo, install.  `make V=1` shows full commands.
OUTPUT ?= .output
CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
PREFIX ?= /usr/local
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

INCLUDES := -I$(OUTPUT) -Iinclude -Iuser -Iuser/lib
CFLAGS ?= -g -O2
CFLAGS += -Wall -Wextra -Werror -std=gnu11 $(INCLUDES) $(EXTRA_CFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__bpf__ -I. -Iinclude -Ibpf \
	-Wall -Werror $(EXTRA_CFLAGS)
LDLIBS := -lbpf -lelf -lz -ljson-c

BPF_PROGS := balancer decap peer_pass floor_tx
BPF_OBJS := $(patsubst %,$(OUTPUT)/%.bpf.o,$(BPF_PROGS))
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_PROGS))
LIBEBB_SRCS := $(wildcard user/lib/*.c)
LIBEBB_OBJS := $(patsubst user/lib/%.c,$(OUTPUT)/lib/%.o,$(LIBEBB_SRCS))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))
BENCHES := $(patsubst tools/bench/%.c,$(OUTPUT)/bench/%,$(wildcard tools/bench/bench_*.c))
LOADGENS := $(patsubst tools/load/%.c,$(OUTPUT)/load/%,$(wildcard tools/load/*.c))
BINS := $(OUTPUT)/ebbctl $(if $(wildcard user/ebbd/*.c),$(OUTPUT)/ebbd)
EBBD_LDLIBS := -lconfig -lmicrohttpd

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps vmlinux test unit integration bench demo install clean

all: deps $(BPF_OBJS) $(BINS) $(UNIT_TESTS) $(BENCHES) $(LOADGENS)

# Missing Debian packages, installed once (idempotent; see tools/deps.sh).
deps:
	$(Q)bash tools/deps.sh

vmlinux:
	$(call msg,GEN,vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h

$(OUTPUT) $(OUTPUT)/lib $(OUTPUT)/tests $(OUTPUT)/bench $(OUTPUT)/load:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h include/*.h) vmlinux.h | $(OUTPUT) deps
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/lib/%.o: user/lib/%.c $(wildcard user/*.h include/*.h) $(SKELS) | $(OUTPUT)/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/libebb.a: $(LIBEBB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/ebbctl: user/ebbctl/*.c $(wildcard user/*.h) $(OUTPUT)/libebb.a
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) user/ebbctl/*.c $(OUTPUT)/libebb.a $(LDLIBS) -o $@

$(OUTPUT)/ebbd: $(wildcard user/ebbd/*.c user/ebbd/*.h) $(wildcard user/*.h) $(OUTPUT)/libebb.a
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -Iuser/ebbd $(filter %.c,$^) $(OUTPUT)/libebb.a $(LDLIBS) $(EBBD_LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c tests/unit/*.h $(OUTPUT)/libebb.a | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $< $(OUTPUT)/libebb.a $(LDLIBS) -o $@

$(OUTPUT)/bench/%: tools/bench/%.c $(wildcard tools/bench/*.h tests/unit/*.h) $(OUTPUT)/libebb.a | $(OUTPUT)/bench
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itools/bench $< $(OUTPUT)/libebb.a $(LDLIBS) -o $@

$(OUTPUT)/load/%: tools/load/%.c | $(OUTPUT)/load
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

test: all
	$(Q)bash tests/run.sh

bench: all
	$(Q)bash tools/bench.sh

demo: all
	$(Q)bash tools/demo.sh

install: all
	install -D -m 0755 $(OUTPUT)/ebbctl $(DESTDIR)$(PREFIX)/sbin/ebbctl
	$(if $(wildcard user/ebbd/*.c),install -D -m 0755 $(OUTPUT)/ebbd $(DESTDIR)$(PREFIX)/sbin/ebbd)
	install -D -m 0644 $(OUTPUT)/balancer.bpf.o $(DESTDIR)$(PREFIX)/lib/ebb/balancer.bpf.o
	install -D -m 0644 $(OUTPUT)/peer_pass.bpf.o $(DESTDIR)$(PREFIX)/lib/ebb/peer_pass.bpf.o
	install -D -m 0644 doc/ebbctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/ebbctl.8
	install -D -m 0644 doc/ebbd.8 $(DESTDIR)$(PREFIX)/share/man/man8/ebbd.8
	install -D -m 0644 tools/ebbd.service $(DESTDIR)/lib/systemd/system/ebbd.service
	install -D -m 0644 tools/ebbctl.bash-completion $(DESTDIR)/usr/share/bash-completion/completions/ebbctl

clean:
	rm -rf $(OUTPUT)
