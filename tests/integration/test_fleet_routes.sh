#!/usr/bin/env bash
# Fleet mode, BIRD's route files (issue 15, item 3): every VIP of the fleet's state reaches the
# router, however many and however long their addresses, and a host whose route files cannot
# be written or whose BIRD refuses the reload says so (log, `ebbctl fleet show`, metrics) until
# it is fixed.
# The route files are sized for ebb's limit (EBB_MAX_VIPS, 1024 since layout 9, both families
# together; fleet_bird.c); here mixes of 64 are run, each beyond the 2 KB the files were once
# cut at: 64 IPv4; 32 IPv4 + 32 IPv6; 64 IPv6 with the longest addresses the router takes
# (2001:db8:100:0:ffff:ffff:ffff:ffNN, 34 characters). (The limit itself is test_widen's.) Each VIP is written once through
# lb1's ebbctl (into etcd), announced by every LB host's ebbd and BIRD; the check is the
# router's BIRD: every address as a network, each with a route from all three hosts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("64 VIPs of one family and 32+32: every route on the router"
	"a route file that cannot be written, a reload BIRD refuses: shown until fixed")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
trap lab_teardown EXIT
trap 'exit 130' INT TERM
if ! "$LAB" up --fleet --ebbd --prefix "$PFX" --nodes 1 >"$TMP/lab-up.log" 2>&1; then
	sed 's/^/# /' "$TMP/lab-up.log"
	not_ok "lab up --fleet --ebbd"
	exit 1
fi
# shellcheck disable=SC1090
. "/run/ebb-lab/$PFX/env"

v4() { echo "203.0.113.$((10 + $1))"; }                     # v4 I: the I-th IPv4 VIP (0..63)
v6() { printf '2001:db8:100:0:ffff:ffff:ffff:ff%02x\n' "$1"; } # v6 I: the I-th IPv6 VIP
# add FAMILY FROM TO / del FAMILY FROM TO: VIPs I = FROM..TO written through lb1
add() { local i; for ((i = $2; i <= $3; i++)); do if [ "$1" = 4 ]; then lbctl 1 vip add "$(v4 "$i"):80/tcp"; else lbctl 1 vip add "[$(v6 "$i")]:80/tcp"; fi >/dev/null || return 1; done; }
del() { local i; for ((i = $2; i <= $3; i++)); do if [ "$1" = 4 ]; then lbctl 1 vip del "$(v4 "$i"):80/tcp"; else lbctl 1 vip del "[$(v6 "$i")]:80/tcp"; fi >/dev/null || return 1; done; }
# want FAMILY FROM TO: the networks those VIPs make, sorted
want() { local i; for ((i = $2; i <= $3; i++)); do if [ "$1" = 4 ]; then echo "$(v4 "$i")/32"; else echo "$(v6 "$i")/128"; fi; done | sort; }
# router_nets FAMILY: the networks in the router's BIRD table; router_routes FAMILY: its routes
router_nets() { rtbirdc show route table "master$1" 2>/dev/null | awk '$1 ~ /\// {print $1}' | sort; }
router_routes() { rtbirdc show route count table "master$1" 2>/dev/null | sed -nE 's/^([0-9]+) of [0-9]+ routes for ([0-9]+) networks.*/\1/p'; }
# router_has FAMILY WANTFILE: the router's networks are exactly those, each from all 3 hosts
router_has() { [ "$(router_nets "$1")" = "$(cat "$2")" ] && [ "$(router_routes "$1")" = $(($(wc -l <"$2") * LBS)) ]; }
router_has_both() { router_has 4 "$TMP/w4" && router_has 6 "$TMP/w6"; }
file_lines() { wc -l <"$(v LB_DIR "$1")/ebb-vips$2.conf"; }

# files_hold I: LB host I's route files have one line per wanted network
files_hold() { [ "$(file_lines "$1" 4)" = "$(wc -l <"$TMP/w4")" ] && [ "$(file_lines "$1" 6)" = "$(wc -l <"$TMP/w6")" ]; }
# expect NAME: the router has exactly the wanted networks of both families ($TMP/w4, $TMP/w6),
# each with a route from every LB host, and every host's files hold them
expect() {
	local name=$1 i
	within 60 router_has 4 "$TMP/w4" && within 30 router_has 6 "$TMP/w6"
	check "$name: the router has exactly the $(wc -l <"$TMP/w4") IPv4 and $(wc -l <"$TMP/w6") IPv6 VIP networks ($(router_nets 4 | grep -c .) + $(router_nets 6 | grep -c .); routes $(router_routes 4) + $(router_routes 6) from $LBS hosts)" \
		router_has_both
	for ((i = 1; i <= LBS; i++)); do
		check "... lb$i's route files hold $(file_lines "$i" 4) + $(file_lines "$i" 6) lines ($(cat "$(v LB_DIR "$i")/ebb-vips4.conf" "$(v LB_DIR "$i")/ebb-vips6.conf" | wc -c) bytes)" \
			files_hold "$i"
	done
}

# ---- mixes of 64 ----
check "64 IPv4 VIPs written through lb1" add 4 0 63
want 4 0 63 >"$TMP/w4"
: >"$TMP/w6"
expect "64 IPv4"
half() { del 4 32 63 && add 6 0 31; }
check "32 IPv4 VIPs deleted, 32 IPv6 added" half
want 4 0 31 >"$TMP/w4"
want 6 0 31 >"$TMP/w6"
expect "32 IPv4 + 32 IPv6"
all6() { del 4 0 31 && add 6 32 63; }
check "the other 32 IPv4 VIPs deleted, 32 more IPv6 added" all6
: >"$TMP/w4"
want 6 0 63 >"$TMP/w6"
expect "64 IPv6 (longest addresses)"

# ---- a route file that cannot be written (on lb1) ----
dir1=$(v LB_DIR 1)
mkdir "$dir1/ebb-vips4.conf.tmp" # the temporary file's name taken: fopen fails, also for root
check "IPv6 VIP 63 deleted while lb1 cannot write its route files" del 6 63 63
want 6 0 62 >"$TMP/w6"
routes_of() { fleet_get 2 "host(d, '$1').get('$2')"; }
# lb1_routes_are WORD: read anew at each try of within (a "$(...)" in within's arguments would
# be read once, and within would wait out its whole limit)
lb1_routes_are() { [ "$(routes_of lb1 routes)" = "$1" ]; }
within 30 lb1_routes_are failed
err=$(routes_of lb1 routes_error)
check "fleet show -j (on lb2): lb1 routes failed: $err" bash -c "[ '$(routes_of lb1 routes)' = failed ] && grep -q 'cannot write .*ebb-vips4.conf' <<<'$err'"
lbctl 2 fleet show >"$TMP/show.txt"
sed 's/^/#   /' "$TMP/show.txt"
check "fleet show (text, on lb2): lb1's ROUTES column says failed, and why below the table" \
	bash -c "grep -q '^lb1 .* failed\$' '$TMP/show.txt' && grep -q '^lb1: BIRD routes failed: cannot write' '$TMP/show.txt' && grep -q '^lb2 .* ok\$' '$TMP/show.txt'"
check "lb1's log says why (fleet_bird_file)" grep -q '"event":"fleet_bird_file".*ebb-vips4.conf.tmp\|"event":"fleet_bird_file".*ebb-vips4.conf' "$(ebbd_log 1)"
m=$(on lb1 curl -s -m 3 http://127.0.0.1:9477/metrics | sed -n 's/^ebb_fleet_routes_ok //p')
check "lb1's metrics: ebb_fleet_routes_ok $m" [ "$m" = 0 ]
sleep 1.5 # (not a wait for an event: the failure must still be shown after retries)
check "... still shown 1.5 s later (retried every second, not fixed)" [ "$(routes_of lb1 routes)" = failed ]
n_logged=$(log_events "$(ebbd_log 1)" fleet_bird_file | grep -c .)
check "... logged once, not at every retry ($n_logged line(s))" [ "$n_logged" = 1 ]
rmdir "$dir1/ebb-vips4.conf.tmp"
within 30 lb1_routes_are ok
check "fixed: lb1 routes ok again, no routes_error ($(routes_of lb1 routes), $(routes_of lb1 routes_error))" \
	bash -c "[ '$(routes_of lb1 routes)' = ok ] && [ '$(routes_of lb1 routes_error)' = None ]"
check "... lb1 logs fleet_bird_ok" grep -q '"event":"fleet_bird_ok"' "$(ebbd_log 1)"
expect "after the write failure"

# ---- a reload BIRD refuses (on lb1) ----
cp "$dir1/bird.conf" "$TMP/bird1.conf"
echo 'this is not bird syntax;' >>"$dir1/bird.conf"
check "IPv6 VIP 62 deleted while lb1's BIRD refuses its configuration" del 6 62 62
want 6 0 61 >"$TMP/w6"
within 30 lb1_routes_are failed
err=$(routes_of lb1 routes_error)
check "fleet show -j: lb1 routes failed: $err" bash -c "grep -q 'configure failed: .*syntax error' <<<'$err'"
check "lb1's log says why (fleet_bird_failed)" grep -q '"event":"fleet_bird_failed".*syntax error' "$(ebbd_log 1)"
cp "$TMP/bird1.conf" "$dir1/bird.conf"
within 30 lb1_routes_are ok
check "fixed: lb1 routes ok again" [ "$(routes_of lb1 routes)" = ok ]
expect "after the reload failure"
finish
