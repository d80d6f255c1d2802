#!/usr/bin/env bash
# ebbd's health checks: nginx stopped on n2 -> n2 `down` (on-down runs, new connections avoid
# it); nginx started again -> back to `active` (on-up). A draining node whose checks fail goes
# `down` and comes back `draining`, its live flow still there, never `active`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
N2=$(node_ip4 2) N3=$(node_ip4 3)

hook_script "\$EBB_EVENT \$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
hooks = { on-down = ["$TMP/hook.sh"]; on-up = ["$TMP/hook.sh"]; };
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
} );
CONF

# nginx_stop N: stops node N's nginx; true once it has exited (5 s at most).
nginx_stop() {
	local pid
	pid=$(cat "$(nginx_dir "$1")/nginx.pid")
	kill -TERM "$pid"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

check "vip add $VIP" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
start_ebbd
sleep 2
check "healthy nodes stay active under checks" \
	[ "$(ctl -j node show | json_get '",".join(n["state"] for n in d)')" = active,active,active ]

# --- nginx stopped on n2
t0=$(date +%s.%N)
check "nginx on n2 stopped" nginx_stop 2
check "n2 goes down" ctl node wait "$N2" state down timeout 5
note "n2 down $(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s after nginx stopped (fall 2, interval 0.5 s)"
check "... logged with the failing check" [ -n "$(events down node="$N2" reason=health_check)" ]
for i in $(seq 30); do on client curl -s -m 2 http://203.0.113.10/ || echo FAIL; done >"$TMP/curls"
check "30 new connections all answered, by n1/n3 only ($(sort "$TMP/curls" | uniq -c | tr '\n' ' '))" \
	[ "$(grep -c '^n[13]$' "$TMP/curls")" = 30 ]
check "nginx on n2 started again" nginx_start 2
check "n2 comes back active (its state before down)" ctl node wait "$N2" state active timeout 5
check "on-down then on-up ran once each for n2" \
	[ "$(grep -c "^down $N2 active down\$" "$HOOKS"):$(grep -c "^up $N2 down active\$" "$HOOKS")" = 1:1 ]

# --- a draining node that fails comes back draining
hold "$TMP/hold.out" 50 n3=1
check "an idle connection held on n3 ($(cat "$TMP/hold.out"))" grep -q "ready n3=1" "$TMP/hold.out"
check "node drain n3" ctl node drain "$N3"
sleep 0.6
check "n3 is draining (its flow is live)" [ "$(state_of "$N3")" = draining ]
# n3 can no longer answer the LB (the checks); the client's DSR path is untouched.
check "n3 cut off from the LB's checks" ip -n "${PFX}n3" route add blackhole "$LB_IP4/32"
check "draining n3 goes down" ctl node wait "$N3" state down timeout 5
check "... and ebbd recorded draining as where it returns" \
	[ "$(events down node="$N3" | field old_state)" = draining ]
check "n3 reachable again" ip -n "${PFX}n3" route del blackhole "$LB_IP4/32"
check "n3 comes back draining, not active" ctl node wait "$N3" state draining timeout 5
sleep 0.6
check "... and stays draining while its flow lives" [ "$(state_of "$N3")" = draining ]
check "on-down/on-up for n3 say draining -> down -> draining" \
	[ "$(grep -c "^down $N3 draining down\$" "$HOOKS"):$(grep -c "^up $N3 down draining\$" "$HOOKS")" = 1:1 ]
check "ebbd never made a node inactive here (down is not a finished drain)" [ -z "$(events drained)" ]
finish
