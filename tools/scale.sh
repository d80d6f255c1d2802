#!/usr/bin/env bash
# ebbctl at the limits, by hand (root; several minutes, ~500 MB of locked memory): 64 VIPs (the
# most there can be), 1000 nodes, a flow table of 4M entries filled with live flows, then each
# command timed. Everything runs in a scratch network namespace on a private bpffs directory,
# removed at the end, also on failure or Ctrl-C. Not part of `make test`.
# Usage: tools/scale.sh [--vips N] [--nodes N] [--flows N] [--old-ebbctl PATH]
#   --old-ebbctl times `vip show` with another build too (e.g. one from before a change).
set -u
cd "$(dirname "$0")/.."
OUTPUT=${OUTPUT:-.output}
VIPS=64 NODES=1000 FLOWS=4194304 OLD=
while [ $# -gt 0 ]; do
	case $1 in
	--vips) VIPS=$2; shift 2 ;;
	--nodes) NODES=$2; shift 2 ;;
	--flows) FLOWS=$2; shift 2 ;;
	--old-ebbctl) OLD=$2; shift 2 ;;
	*) echo "usage: $0 [--vips N] [--nodes N] [--flows N] [--old-ebbctl PATH]" >&2; exit 1 ;;
	esac
done
SCRATCH=scale
. tools/scale/scratch.sh # NS, DIR, TMP, CTL, ctl, $TMP/populate
vip() { printf '[2001:db8:100::%x]:80/tcp' "$1"; }
node() { printf '2001:db8:1::%x' "$1"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
# timed NAME CMD...: runs CMD (output to $TMP/out), prints its wall time
timed() {
	local name=$1 t0 t1 rc
	shift
	t0=$(now)
	"$@" >"$TMP/out" 2>&1
	rc=$?
	t1=$(now)
	printf '  %-44s %8.2f s  (exit %d)\n' "$name" "$(calc "$t1 - $t0")" "$rc"
}
echo "== setup: $VIPS VIPs, $NODES nodes, $FLOWS flows ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
timed "prog attach (flow table $FLOWS)" ctl prog attach dev v0 mode generic flows "$FLOWS"
timed "populate: VIPs, nodes, flows (libebb)" "$TMP/populate" "$DIR" "$VIPS" "$NODES" "$FLOWS"
sed 's/^/    /' "$TMP/out"

echo "== commands"
timed "vip show (all $VIPS)" ctl vip show
grep -c '/tcp' "$TMP/out" | sed 's/^/    VIPs listed: /'
awk 'NR > 1 { s += $5 } END { print "    flows counted: " s }' "$TMP/out"
[ -n "$OLD" ] && timed "vip show with $OLD" nsenter --net="/run/netns/$NS" -- "$OLD" --bpffs "$DIR" vip show
timed "vip show VIP" ctl vip show "$(vip 1)"
timed "node show (all $NODES)" ctl node show
timed "node show NODE" ctl node show "$(node 1)"
timed "flow show limit 10" ctl flow show limit 10
timed "flow show vip VIP limit 10" ctl flow show vip "$(vip 2)" limit 10
timed "flow lookup" ctl flow lookup '[2001:db8:2::1]:1234' "$(vip 1)"
timed "stats show" ctl stats show
timed "node drain NODE" ctl node drain "$(node 1)"
timed "node activate NODE" ctl node activate "$(node 1)"
timed "node add NODE vip VIP (a 2nd VIP)" ctl node add "$(node 1)" vip "$(vip 2)"
timed "node del NODE vip VIP force (purge walk)" ctl node del "$(node 1)" vip "$(vip 2)" force
timed "vip add: one VIP more" ctl vip add 203.0.113.200:80/tcp
sed 's/^/    /' "$TMP/out"
timed "vip del VIP force (purge walks)" ctl vip del "$(vip "$VIPS")" force
timed "vip add VIP (again)" ctl vip add "$(vip "$VIPS")"
