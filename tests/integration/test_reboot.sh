#!/usr/bin/env bash
# Reboot survival (issue 11): the configuration is saved with the very commands the systemd unit
# runs on stop (ExecStopPost) and restored with the one it runs at boot (ExecStartPre). A reboot
# is simulated as bpffs loses it: the balancer detached and every pin deleted. After the
# restore the balancer is attached again, the configuration (attachments, settings, VIPs,
# timeouts, nodes, weights, states) is the same, each lookup table is byte-identical, and 120
# real curls from fixed source ports land on exactly the nodes they reached before.
# A weight changed in place (`node set`) must give the same tables as a node added with that
# weight: the restore adds it so, and the tables are compared.
. "$(dirname "$0")/lib.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
STATE=$TMP/var-lib-ebb/state
mkdir -p "${STATE%/*}"
# The unit's own commands, with this test's paths: @SBINDIR@ -> the build, --bpffs the lab's.
unit_cmd() { # unit_cmd DIRECTIVE: the ebbctl argv of that line of tools/ebbd.service
	grep "^$1=" "$EBB_ROOT/tools/ebbd.service" | grep ebbctl | head -1 |
		sed -e "s|^$1=-\?@SBINDIR@/ebbctl ||" -e "s|/var/lib/ebb/state|$STATE|"
}
boot_cmd=$(unit_cmd ExecStartPre)
stop_cmd=$(unit_cmd ExecStopPost)
check "the unit restores at boot: ExecStartPre=ebbctl $boot_cmd" [ -n "$boot_cmd" ]
check "the unit saves on stop: ExecStopPost=ebbctl $stop_cmd" [ -n "$stop_cmd" ]

check "first boot, no state file yet: the boot command succeeds and does nothing" ctl $boot_cmd
check "vip add with timeouts" ctl vip add $VIP tcp-idle 600 fin-timeout 5 drain-timeout 120
check "node add n1 weight 100" ctl node add "$(node_ip4 1)" vip $VIP
check "node add n2 weight 100" ctl node add "$(node_ip4 2)" vip $VIP
check "node add n3 inactive" ctl node add "$(node_ip4 3)" vip $VIP inactive
check "node set n2 weight 300 (in place)" ctl node set "$(node_ip4 2)" vip $VIP weight 300
check "vip set udp-idle 30" ctl vip set $VIP udp-idle 30
check "prog set flood-rate 20000" ctl prog set flood-rate 20000

# The same client ports again after the reboot: no TIME_WAIT socket may refuse them (the client
# keeps none; a real client would use new ports, and placement is per flow anyway).
on client sysctl -qw net.ipv4.tcp_max_tw_buckets=0
curls() { # 120 curls from fixed ports: the answering node of each
	for port in $(seq 21000 21119); do
		on client curl -s -m 3 --local-port "$port" http://203.0.113.10/ || echo FAIL
	done
}
tables() { # the content of every lookup table, by ring slot
	bpftool map dump pinned "$BPFFS/rings" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    k = int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
    v = int.from_bytes(bytes(int(b, 16) for b in e["value"]), "little")
    print(k, v)' | sort -n | while read -r slot id; do
		echo "ring $slot: $(bpftool map dump id "$id" | md5sum | cut -c1-16)"
	done
}
curls >"$TMP/before"
check "120 curls answered before the reboot ($(sort "$TMP/before" | uniq -c | tr -s ' \n' ' '))" \
	[ "$(grep -c '^n[12]$' "$TMP/before")" -eq 120 ]
tables >"$TMP/tables.before"
ctl -j prog show >"$TMP/prog.before"
check "stop: ebbctl $stop_cmd" ctl $stop_cmd
check "the state file holds the configuration" grep -q "node add $(node_ip4 2) vip $VIP weight 300" "$STATE"
note "the state file:"
sed 's/^/#   /' "$STATE"

# --- the reboot: the balancer detached, bpffs empty -----------------------------------------
check "reboot: prog detach dev eth0" ctl prog detach dev eth0
rm -rf "$BPFFS"
check "reboot: every pin is gone" [ ! -e "$BPFFS" ]
on client curl -s -m 2 http://203.0.113.10/ >"$TMP/down" 2>&1
check "while detached the VIP does not answer" [ ! -s "$TMP/down" ]

check "boot: ebbctl $boot_cmd" ctl $boot_cmd
ctl -j prog show >"$TMP/prog.after"
check "prog show -j after boot: eth0 native, flow table, flood-rate 20000 as before" python3 - "$TMP/prog.before" "$TMP/prog.after" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
strip = lambda l: [{k: v for k, v in d.items() if k not in ("prog_id", "link_id", "loaded_at")} for d in l]
print("# before:", strip(a)); print("# after: ", strip(b))
sys.exit(0 if strip(a) == strip(b) and b[0]["flood_rate"] == 20000 else 1)
PY
ctl save >"$TMP/resaved"
check "saved again after boot: the same configuration (dated header and its end line aside)" \
	cmp -s <(sed '1d;$d' "$STATE") <(sed '1d;$d' "$TMP/resaved")
tables >"$TMP/tables.after"
check "every lookup table byte-identical after boot ($(wc -l <"$TMP/tables.after") tables; n2 added at weight 300 = set to 300)" \
	cmp -s "$TMP/tables.before" "$TMP/tables.after"
curls >"$TMP/after"
note "after boot: $(sort "$TMP/after" | uniq -c | tr -s ' \n' ' ')"
check "120 curls after boot: every one on the node it reached before" cmp -s "$TMP/before" "$TMP/after"
check "boot again with the state pinned (ebbd restarted alone): nothing touched" ctl $boot_cmd
tables >"$TMP/tables.again"
check "tables unchanged by the second boot command" cmp -s "$TMP/tables.before" "$TMP/tables.again"
check "node n3 is still inactive" [ "$(ctl -j node show "$(node_ip4 3)" | json_get 'd[0]["state"]')" = inactive ]
check "vip timeouts kept (tcp 600, udp 30, fin 5, drain 120)" [ "$(ctl -j vip show $VIP | json_get '[d[0][k] for k in ("tcp_idle_s","udp_idle_s","fin_timeout_s","drain_timeout_s")]')" = "[600, 30, 5, 120]" ]

# Day one under systemd, through the installed files: `make install` into a scratch root gives
# the unit, its save timer enabled and started with it, and a configuration its ExecStartPre
# check accepts; a second install keeps the operator's own configuration.
ROOT=$TMP/root
check "make install into a scratch root" make -s -C "$EBB_ROOT" install DESTDIR="$ROOT" OUTPUT="$OUTPUT" PREFIX=/usr/local
unit=$ROOT/lib/systemd/system/ebbd.service
check "installed: /etc/ebb/ebbd.conf (none was there)" [ -s "$ROOT/etc/ebb/ebbd.conf" ]
check_cmd=$(sed -n 's|^ExecStartPre=\(/usr/local/sbin/ebbd --check .*\)|\1|p' "$unit" | sed "s|/usr/local/sbin|$ROOT/usr/local/sbin|; s|/etc/ebb|$ROOT/etc/ebb|")
# shellcheck disable=SC2086 # the unit's argv
check "the installed unit's check passes on the installed configuration: ${check_cmd//$ROOT/}" \
	sh -c "[ -n '$check_cmd' ] && $check_cmd >/dev/null"
check "the unit starts the save timer with ebbd (Wants=ebbd-save.timer)" grep -qx 'Wants=ebbd-save.timer' "$unit"
check "enabling the unit enables the save timer (Also=ebbd-save.timer)" grep -qx 'Also=ebbd-save.timer' "$unit"
check "the timer is installed and stops with ebbd (PartOf=ebbd.service)" \
	grep -qx 'PartOf=ebbd.service' "$ROOT/lib/systemd/system/ebbd-save.timer"
echo 'interval = 2.0; # the operator'"'"'s' >>"$ROOT/etc/ebb/ebbd.conf"
cp "$ROOT/etc/ebb/ebbd.conf" "$TMP/conf.mine"
make -s -C "$EBB_ROOT" install DESTDIR="$ROOT" OUTPUT="$OUTPUT" PREFIX=/usr/local >/dev/null 2>&1
check "a second install keeps the operator's configuration" cmp -s "$TMP/conf.mine" "$ROOT/etc/ebb/ebbd.conf"
finish
