# ebb — build, test, bench, demo, install.  `make V=1` shows full commands.
OUTPUT ?= .output
CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
PREFIX ?= /usr/local
SYSTEMDDIR ?= /lib/systemd/system
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

INCLUDES := -I$(OUTPUT) -Iinclude -Iuser -Iuser/lib -Iuser/fleet
CFLAGS ?= -g -O2
CFLAGS += -Wall -Wextra -Werror -std=gnu11 $(INCLUDES) $(EXTRA_CFLAGS) $(SAN_CFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__bpf__ -I. -Iinclude -Ibpf \
	-Wall -Werror $(EXTRA_CFLAGS)
LDLIBS := -lbpf -lelf -lz -ljson-c -lcrypto
# The fleet's etcd client speaks HTTP: only what links libebb_fleet needs libcurl.
FLEET_LDLIBS := -lcurl
# Every object records the headers it included (-MMD -MP, .d beside the .o): touching a header
# rebuilds what uses it, and a deleted header does not break the build.
DEPFLAGS = -MMD -MP -MF $(@:.o=.d)

BPF_PROGS := balancer decap node peer_pass conns
BPF_OBJS := $(patsubst %,$(OUTPUT)/%.bpf.o,$(BPF_PROGS))
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_PROGS))
# Issue 16's flow-table prototype (tools/bench/flowtable.bpf.c, doc/flow-table.md): one object
# per variant for the bench, and skeletons of the candidate and of its torn twin for its test.
# -mcpu=v3: an entry is changed by a 64-bit compare-and-swap.
FT_VARIANTS := none lru a8w8 a8w8ff a8w8c1 a8w4 a8w8mul a8w8jif a8w8il a8w4il torn
ft_flags_none := -DFT_NONE
ft_flags_lru := -DFT_LRU
ft_flags_a8w8 :=
ft_flags_a8w8ff := -DFT_POLICY=0
ft_flags_a8w8c1 := -DFT_CHOICES=1
ft_flags_a8w4 := -DFT_WAYS=4
ft_flags_a8w8mul := -DFT_HASH=1
ft_flags_a8w8jif := -DFT_CLOCK=1
ft_flags_a8w8il := -DFT_KEYS_INLINE=1
ft_flags_a8w4il := -DFT_WAYS=4 -DFT_KEYS_INLINE=1
ft_flags_torn := -DFT_TORN=1
FT_OBJS := $(patsubst %,$(OUTPUT)/bench/ft_%.bpf.o,$(FT_VARIANTS))
# The benchmark's floor (swap the MACs, XDP_TX): the bench's own program, not the product's.
FLOOR_OBJ := $(OUTPUT)/bench/floor_tx.bpf.o
LIBEBB_SRCS := $(wildcard user/lib/*.c)
LIBEBB_OBJS := $(patsubst user/lib/%.c,$(OUTPUT)/lib/%.o,$(LIBEBB_SRCS))
# The fleet (user/fleet: the desired state in etcd, its schema, the etcd client): a library of
# its own, linked by the binaries that have fleet commands (ebbctl, ebbd) and its schema's test.
FLEET_OBJS := $(patsubst user/fleet/%.c,$(OUTPUT)/fleet/%.o,$(wildcard user/fleet/*.c))
EBBCTL_OBJS := $(patsubst user/ebbctl/%.c,$(OUTPUT)/obj/ebbctl/%.o,$(wildcard user/ebbctl/*.c))
EBBD_OBJS := $(patsubst user/ebbd/%.c,$(OUTPUT)/obj/ebbd/%.o,$(wildcard user/ebbd/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))
BENCHES := $(patsubst tools/bench/%.c,$(OUTPUT)/bench/%,$(wildcard tools/bench/bench_*.c))
LOADGENS := $(patsubst tools/load/%.c,$(OUTPUT)/load/%,$(wildcard tools/load/*.c))
BINS := $(OUTPUT)/ebbctl $(if $(EBBD_OBJS),$(OUTPUT)/ebbd)
EBBD_LDLIBS := -lconfig
# libFuzzer harnesses (clang -fsanitize=fuzzer; the runtime is Debian's libclang-rt-14-dev).
FUZZERS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -std=gnu11 $(INCLUDES) -Itests/unit
FUZZ_TIME ?= 60

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps vmlinux test unit integration bench bench-katran demo demo-fleet install clean fuzz check-asan \
	man-synopsis

# Plain `make` only builds: it never calls apt. `make deps` installs what is missing; test,
# demo and bench run it first, then build (a sub-make, so that -j never builds before deps).
all: $(BPF_OBJS) $(FT_OBJS) $(FLOOR_OBJ) $(BINS) $(UNIT_TESTS) $(BENCHES) $(LOADGENS) $(FUZZERS) $(OUTPUT)/libclockskew.so

# Missing Debian packages, installed once (idempotent; see tools/deps.sh).
deps:
	$(Q)bash tools/deps.sh

vmlinux:
	$(call msg,GEN,vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h

$(OUTPUT) $(OUTPUT)/lib $(OUTPUT)/fleet $(OUTPUT)/tests $(OUTPUT)/bench $(OUTPUT)/load $(OUTPUT)/obj/ebbctl $(OUTPUT)/obj/ebbd $(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(OUTPUT)/$*.bpf.d -c $< -o $@

# The flow-table prototype's variants (FT_VARIANTS above).
$(OUTPUT)/bench/ft_%.bpf.o: tools/bench/flowtable.bpf.c tools/bench/flowtable.h include/ebb.h | $(OUTPUT)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -mcpu=v3 -Itools/bench $(ft_flags_$*) -c $< -o $@

$(FLOOR_OBJ): tools/bench/floor_tx.bpf.c | $(OUTPUT)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/floor_tx.skel.h: $(FLOOR_OBJ)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor_tx_bpf > $@

$(OUTPUT)/flowtable.skel.h: $(OUTPUT)/bench/ft_a8w8.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name flowtable_bpf > $@

$(OUTPUT)/flowtable_torn.skel.h: $(OUTPUT)/bench/ft_torn.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name flowtable_torn_bpf > $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# User-space objects: the skeletons must exist before the first compile (order-only); after
# that the .d files name exactly the headers, skeletons included, each object depends on.
$(OUTPUT)/lib/%.o: user/lib/%.c | $(OUTPUT)/lib $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/libebb.a: $(LIBEBB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/fleet/%.o: user/fleet/%.c | $(OUTPUT)/fleet $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/libebb_fleet.a: $(FLEET_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/obj/ebbctl/%.o: user/ebbctl/%.c | $(OUTPUT)/obj/ebbctl $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/ebbctl: $(EBBCTL_OBJS) $(OUTPUT)/libebb_fleet.a $(OUTPUT)/libebb.a
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) $(FLEET_LDLIBS) -o $@

$(OUTPUT)/obj/ebbd/%.o: user/ebbd/%.c | $(OUTPUT)/obj/ebbd $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Iuser/ebbd $(DEPFLAGS) -c $< -o $@

# The commit this build is of, for ebbd's ebb_build_info: rewritten only when it changes, so a
# new commit recompiles metrics.c alone. "unknown" outside a git checkout.
$(OUTPUT)/build_commit.h: FORCE | $(OUTPUT)
	$(Q)c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	line="#define EBB_GIT_COMMIT \"$$c\""; \
	[ "$$(cat $@ 2>/dev/null)" = "$$line" ] || echo "$$line" > $@

$(OUTPUT)/obj/ebbd/metrics.o: $(OUTPUT)/build_commit.h

FORCE:

$(OUTPUT)/ebbd: $(EBBD_OBJS) $(OUTPUT)/libebb_fleet.a $(OUTPUT)/libebb.a
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) $(FLEET_LDLIBS) $(EBBD_LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(OUTPUT)/libebb.a | $(OUTPUT)/tests $(SKELS)
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb.a $(LDLIBS) -o $@

# The flow-table prototype's test: its two skeletons (candidate and torn) and its header.
$(OUTPUT)/tests/test_flowtable: tests/unit/test_flowtable.c $(OUTPUT)/libebb.a $(OUTPUT)/flowtable.skel.h $(OUTPUT)/flowtable_torn.skel.h | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itools/bench -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb.a $(LDLIBS) -lpthread -o $@

# The flow table's concurrency test: the product's table functions in a stress program, built
# as they are and with every CAS torn in two halves (EBB_FT_TORN: the check must catch that).
$(OUTPUT)/tests/ft_stress.bpf.o: tests/unit/bpf/ft_stress.bpf.c tests/unit/ft_stress.h include/ebb_flowtable.h include/ebb.h | $(OUTPUT)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Itests/unit -c $< -o $@

$(OUTPUT)/tests/ft_stress_torn.bpf.o: tests/unit/bpf/ft_stress.bpf.c tests/unit/ft_stress.h include/ebb_flowtable.h include/ebb.h | $(OUTPUT)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Itests/unit -DEBB_FT_TORN -c $< -o $@

$(OUTPUT)/ft_stress.skel.h: $(OUTPUT)/tests/ft_stress.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name ft_stress_bpf > $@

$(OUTPUT)/ft_stress_torn.skel.h: $(OUTPUT)/tests/ft_stress_torn.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name ft_stress_torn_bpf > $@

$(OUTPUT)/tests/test_ft_concurrency: tests/unit/test_ft_concurrency.c $(OUTPUT)/libebb.a $(OUTPUT)/ft_stress.skel.h $(OUTPUT)/ft_stress_torn.skel.h | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb.a $(LDLIBS) -lpthread -o $@

# The fleet schema's test: the fleet library, not the etcd it never calls (still linked: one
# library).
$(OUTPUT)/tests/test_fleet_schema: tests/unit/test_fleet_schema.c $(OUTPUT)/libebb_fleet.a $(OUTPUT)/libebb.a | $(OUTPUT)/tests $(SKELS)
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb_fleet.a $(OUTPUT)/libebb.a $(LDLIBS) $(FLEET_LDLIBS) -o $@

# ebbd's drain decision is a pure function (user/ebbd/drain_decide.c): its test links it alone.
$(OUTPUT)/tests/test_drain_decide: tests/unit/test_drain_decide.c $(OUTPUT)/obj/ebbd/drain_decide.o | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Iuser/ebbd -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/obj/ebbd/drain_decide.o -o $@

# So is its scaling decision (user/ebbd/scale_decide.c).
$(OUTPUT)/tests/test_scale_decide: tests/unit/test_scale_decide.c $(OUTPUT)/obj/ebbd/scale_decide.o | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Iuser/ebbd -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/obj/ebbd/scale_decide.o -lm -o $@

# And the leader election's (user/ebbd/elect_decide.c).
$(OUTPUT)/tests/test_elect_decide: tests/unit/test_elect_decide.c $(OUTPUT)/obj/ebbd/elect_decide.o | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Iuser/ebbd -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/obj/ebbd/elect_decide.o -o $@

$(OUTPUT)/bench/%: tools/bench/%.c $(OUTPUT)/libebb.a | $(OUTPUT)/bench $(SKELS) $(OUTPUT)/floor_tx.skel.h
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itools/bench -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb.a $(LDLIBS) -o $@

$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(OUTPUT)/libebb.a | $(OUTPUT)/fuzz $(SKELS)
	$(call msg,FUZZER,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -MT $@ -MF $@.d $< $(OUTPUT)/libebb.a $(LDLIBS) -o $@

$(OUTPUT)/load/%: tools/load/%.c | $(OUTPUT)/load
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -MT $@ -MF $@.d $< -o $@

# LD_PRELOAD shim skewing a test command's wall clock (tests/shim/clockskew.c).
$(OUTPUT)/libclockskew.so: tests/shim/clockskew.c | $(OUTPUT)
	$(call msg,SHLIB,$@)
	$(Q)$(CC) $(CFLAGS) -fPIC -shared $< -ldl -o $@

# The recorded header dependencies (absent before the first build: nothing to rebuild then).
-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/*/*.d $(OUTPUT)/obj/*/*.d)

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tests/run.sh

# FUZZ_TIME seconds of fuzzing the balancer (tests/fuzz/fuzz.sh); the corpus grows in
# $(OUTPUT)/fuzz/corpus from one run to the next.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)FUZZ_TIME=$(FUZZ_TIME) bash tests/fuzz/fuzz.sh

# ebbctl and ebbd built with AddressSanitizer and UBSan (in $(OUTPUT)/asan), then CLI fuzzing
# against a scratch state and configuration fuzzing through ebbd --check (tests/asan/).
# ASAN_CLI_RUNS / ASAN_CONFIG_RUNS / ASAN_SEED change the counts and the seed.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
check-asan: deps
	$(Q)$(MAKE) --no-print-directory OUTPUT=$(OUTPUT)/asan SAN_CFLAGS="$(SAN)" \
		$(OUTPUT)/asan/ebbctl $(OUTPUT)/asan/ebbd
	$(Q)bash tests/asan/fuzz_config.sh $(OUTPUT)/asan $(or $(ASAN_CONFIG_RUNS),2000) $(or $(ASAN_SEED),1)
	$(Q)bash tests/asan/fuzz_cli.sh $(OUTPUT)/asan $(or $(ASAN_CLI_RUNS),1000) $(or $(ASAN_SEED),1)

# ebbctl(8)'s SYNOPSIS written anew from `ebbctl help` (tests/integration/test_cli_tables.sh
# fails while they differ).
man-synopsis: all
	$(Q)python3 tools/man_synopsis.py $(OUTPUT)/ebbctl --write doc/ebbctl.8

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tools/bench.sh

# ebb beside Katran per packet, RUNS runs of ROUNDS rounds: make bench-katran KATRAN_SRC=DIR
bench-katran: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tools/bench/vs_katran.sh --runs $(or $(RUNS),3) --rounds $(or $(ROUNDS),11) $(KATRAN_SRC)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tools/demo.sh

# The fleet: 3 LB hosts behind a BGP router, etcd; an LB host leaves, a node is scaled in.
demo-fleet: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tools/demo-fleet.sh

install: all
	install -D -m 0755 $(OUTPUT)/ebbctl $(DESTDIR)$(PREFIX)/sbin/ebbctl
	$(if $(wildcard user/ebbd/*.c),install -D -m 0755 $(OUTPUT)/ebbd $(DESTDIR)$(PREFIX)/sbin/ebbd)
	install -D -m 0644 $(OUTPUT)/balancer.bpf.o $(DESTDIR)$(PREFIX)/lib/ebb/balancer.bpf.o
	install -D -m 0644 $(OUTPUT)/peer_pass.bpf.o $(DESTDIR)$(PREFIX)/lib/ebb/peer_pass.bpf.o
	install -D -m 0644 doc/ebbctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/ebbctl.8
	install -D -m 0644 doc/ebbd.8 $(DESTDIR)$(PREFIX)/share/man/man8/ebbd.8
	$(foreach u,ebbd.service ebbd-save.service ebbd-save.timer,\
		install -d $(DESTDIR)$(SYSTEMDDIR) && \
		sed 's|@SBINDIR@|$(PREFIX)/sbin|g' tools/$(u) > $(DESTDIR)$(SYSTEMDDIR)/$(u) && \
		chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$(u);)
	install -D -m 0644 tools/ebbctl.bash-completion $(DESTDIR)/usr/share/bash-completion/completions/ebbctl
	install -D -m 0644 tools/ebbd.example.conf $(DESTDIR)$(PREFIX)/share/doc/ebb/ebbd.example.conf
	@# The unit checks /etc/ebb/ebbd.conf before it starts ebbd: a first install gives one with
	@# no pools; an operator's own file is never overwritten.
	[ -e $(DESTDIR)/etc/ebb/ebbd.conf ] || install -D -m 0644 tools/ebbd.conf $(DESTDIR)/etc/ebb/ebbd.conf

clean:
	rm -rf $(OUTPUT)
