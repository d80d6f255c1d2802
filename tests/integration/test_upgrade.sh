#!/usr/bin/env bash
# `prog upgrade` swaps the program under live keep-alive connections: every connection stays on
# its node (no node sees a new connection, wrk sees 0 errors), the flow table is kept, and an
# object with another map layout is refused without touching anything.
. "$(dirname "$0")/lib.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
check "vip add $VIP" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
prog_id() { ctl -j prog show | json_get 'd[0]["prog_id"]'; }
old_id=$(prog_id)

# wrk runs until it is stopped after both upgrades (SIGINT: it prints its report)
# (nsenter execs wrk: $! is wrk's own pid, which SIGINT must reach; through `on`, a function,
# it would be a subshell's, and the subshell ignores SIGINT)
nsenter --net="/run/netns/${PFX}client" wrk -t2 -c24 -d600s http://203.0.113.10/ >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
for _ in $(seq 1 300); do
	flows_before=$(ctl -j vip show $VIP | json_get 'd[0]["flows"]')
	[ "${flows_before:-0}" -ge 24 ] 2>/dev/null && break
	sleep 0.1
done
pins() {
	ctl -j flow show vip $VIP | python3 -c '
import json, sys
for f in sorted(json.load(sys.stdin), key=lambda f: (f["src"], f["sport"])):
    print("%s:%s>%s" % (f["src"], f["sport"], f["node"]))' | LC_ALL=C sort
}
pins >"$TMP/pins.before"
# syn_recent's header (include/ebb.h): since when every SYN pin is recorded. A new program
# cannot know that the one before it recorded its pins: every load restarts the window.
recent_since() {
	bpftool -j map lookup pinned "$BPFFS/syn_recent" key 0 0 0 0 |
		json_get 'd["formatted"]["value"]["word"] if "formatted" in d else int.from_bytes(bytes(int(x, 16) for x in d["value"]), "little")'
}
ancient=9223372036854775809 # (1 << 63) | 1: valid, since 1 ns after boot
mono_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }
# restarted_since T: the header is unset, or was started (by the datapath's first question)
# at CLOCK_MONOTONIC T or later (a coarse clock's tick of margin)
restarted_since() {
	python3 -c 'import sys
w, t = int(sys.argv[1]), int(sys.argv[2])
sys.exit(0 if w == 0 or (w >> 63 and (w & ((1 << 63) - 1)) >= t - 100000000) else 1)' "$(recent_since)" "$1"
}
bpftool map update pinned "$BPFFS/syn_recent" key 0 0 0 0 value 1 0 0 0 0 0 0 0x80
check "syn_recent's header planted as trusted since long ago ($(recent_since))" [ "$(recent_since)" = "$ancient" ]
upgrade_at=$(date +%s.%N)
t_up=$(mono_ns)
check "prog upgrade (built-in object)" ctl prog upgrade
mid_id=$(prog_id)
check "the device runs a new program ($old_id -> $mid_id)" [ "$mid_id" != "$old_id" ]
check "... and syn_recent's window starts again ($(recent_since): 0, or since the upgrade at $t_up)" \
	restarted_since "$t_up"
sleep 1
# State made by an ebb from before syn_recent has no such map: the program makes it.
rm "$BPFFS/syn_recent"
t_up=$(mono_ns)
check "prog upgrade obj $OUTPUT/balancer.bpf.o (state without syn_recent)" ctl prog upgrade obj "$OUTPUT/balancer.bpf.o"
new_id=$(prog_id)
check "... and again a new program ($mid_id -> $new_id)" [ "$new_id" != "$mid_id" ]
check "... which made and pinned syn_recent, its window not begun or begun since $t_up ($(recent_since))" \
	restarted_since "$t_up"

pins >"$TMP/pins.after"
kept=$(LC_ALL=C comm -12 "$TMP/pins.before" "$TMP/pins.after" | grep -c .)
check "the flow table survived both upgrades: $kept of $(grep -c . "$TMP/pins.before") pins unchanged" \
	[ "$kept" -eq "$(grep -c . "$TMP/pins.before")" -a "$kept" -gt 0 ]

# An object built for another map layout must be refused, changing nothing.
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -D__bpf__ -DEBB_MAP_LAYOUT_VERSION=99 \
	-I"$EBB_ROOT" -I"$EBB_ROOT/include" -I"$EBB_ROOT/bpf" \
	-c "$EBB_ROOT/bpf/balancer.bpf.c" -o "$TMP/layout99.bpf.o"
ctl prog upgrade obj "$TMP/layout99.bpf.o" 2>"$TMP/refused.err"
check "an upgrade to map layout 99 is refused" [ $? -ne 0 ]
check "... with a clear error: $(head -c 90 "$TMP/refused.err")" grep -q '^Error: refusing: .*layout version [0-9]*, the program expects 99' "$TMP/refused.err"
check "... and the running program is unchanged" [ "$(prog_id)" = "$new_id" ]
check "a missing object file is an error" bash -c "! nsenter --net=/run/netns/${PFX}lb $EBBCTL --bpffs $BPFFS prog upgrade obj /nonexistent.o 2>/dev/null"

kill -INT $wrk_pid
wait $wrk_pid
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors, $non2xx non-2xx; $flows_before flows before the upgrade"
check "wrk: requests served through both upgrades ($reqs)" [ "$reqs" -gt 1000 ]
check "wrk: 0 socket errors ($sock)" [ "$sock" -eq 0 ]
check "wrk: 0 non-2xx ($non2xx)" [ "$non2xx" -eq 0 ]
for i in 1 2 3; do
	read -r _ _ new_conns < <(conns_around $i "$upgrade_at")
	check "n$i: every connection after the upgrades is one it had before ($new_conns new)" [ "$new_conns" -eq 0 ]
done
finish
