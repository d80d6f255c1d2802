#!/usr/bin/env bash
# tools/bench/show.sh — the commands that read the whole flow table, timed at scale (issue 16:
# `node show`, `vip show`, `flow show node X` and `flow show vip V` at 4M flows, <= 1 s each).
# Root; no lab: a scratch network namespace with one veth (the program attached in generic mode,
# no traffic) and a private bpffs directory, both removed at the end, also on failure or Ctrl-C.
# tools/scale/populate.c adds the VIPs and nodes through libebb and pins the flows into the
# bucket table through include/ebb_flowtable.h, as the datapath pins them (IPv4, all live).
# Each command runs RUNS times (text and -j); the medians of its wall time and of its CPU time
# (user + sys: on a loaded machine most of the wall time is waiting for a CPU) are printed, with
# the load average before and after, and the output's line count.
# Usage: tools/bench/show.sh [--flows N] [--vips N] [--nodes N] [--runs N] [--ebbctl PATH]...
#   --ebbctl PATH (repeatable): time that build too, on the same table (e.g. one from before a
#   change); its outputs are compared with this tree's byte for byte.
set -u
cd "$(dirname "$0")/../.."
OUTPUT=${OUTPUT:-.output}
VIPS=64 NODES=1000 FLOWS=4194304 RUNS=5 OTHERS=()
while [ $# -gt 0 ]; do
	case $1 in
	--vips) VIPS=$2; shift 2 ;;
	--nodes) NODES=$2; shift 2 ;;
	--flows) FLOWS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--ebbctl) OTHERS+=("$2"); shift 2 ;;
	*) echo "Error: usage: $0 [--flows N] [--vips N] [--nodes N] [--runs N] [--ebbctl PATH]..." >&2; exit 2 ;;
	esac
done
[ -x /usr/bin/time ] || { echo "Error: no /usr/bin/time (Debian package time)" >&2; exit 1; }
SCRATCH=show
. tools/scale/scratch.sh # NS, DIR, TMP, CTL, $TMP/populate
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== setup: $VIPS IPv4 VIPs, $NODES nodes, $FLOWS flows ($(nproc) CPUs, load $(load))"
nsenter --net="/run/netns/$NS" -- "$CTL" --bpffs "$DIR" prog attach dev v0 mode generic flows "$FLOWS" \
	>/dev/null || exit 1
"$TMP/populate" "$DIR" "$VIPS" "$NODES" "$FLOWS" v4 | sed 's/^/   /'
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1

median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }
# timed CTL NAME TAG ARGS...: RUNS runs of CTL ARGS; prints the medians and the output's lines
timed() {
	local ctl=$1 name=$2 out=$TMP/out.$3 i lines
	shift 3
	: >"$TMP/times"
	for ((i = 0; i < RUNS; i++)); do
		# nsenter execs ebbctl: its times are ebbctl's
		/usr/bin/time -f '%e %U %S' -o "$TMP/time" nsenter --net="/run/netns/$NS" -- \
			"$ctl" --bpffs "$DIR" "$@" >"$out.$i" 2>&1 ||
			{ echo "Error: $ctl $*: exit $?: $(head -3 "$out.$i")" >&2; exit 1; }
		awk '{ print $1, $2 + $3 }' "$TMP/time" >>"$TMP/times"
	done
	lines=$(wc -l <"$out.0")
	printf '  %-38s wall %7s s  cpu %7s s  (walls: %s; %s lines)\n' "$name" \
		"$(cut -d' ' -f1 "$TMP/times" | median)" "$(cut -d' ' -f2 "$TMP/times" | median)" \
		"$(cut -d' ' -f1 "$TMP/times" | tr '\n' ' ' | sed 's/ $//')" "$lines"
}

node1=10.1.0.1 vip1=198.51.100.1:80/tcp
run_all() {
	local ctl=$1 tag=$2
	echo "== $ctl (load $(load))"
	timed "$ctl" "node show" "$tag.ns" node show
	timed "$ctl" "node show -j" "$tag.nsj" -j node show
	timed "$ctl" "vip show" "$tag.vs" vip show
	timed "$ctl" "vip show -j" "$tag.vsj" -j vip show
	timed "$ctl" "flow show node $node1" "$tag.fn" flow show node "$node1"
	timed "$ctl" "flow show node $node1 -j" "$tag.fnj" -j flow show node "$node1"
	timed "$ctl" "flow show vip $vip1" "$tag.fv" flow show vip "$vip1"
	timed "$ctl" "flow show vip $vip1 -j" "$tag.fvj" -j flow show vip "$vip1"
	echo "   (load after: $(load))"
}
run_all "$CTL" this
i=0
for other in "${OTHERS[@]}"; do
	run_all "$other" "o$i"
	# the same table: the same output, but for the flows' idle seconds
	for f in ns nsj vs vsj fn fnj fv fvj; do
		if ! diff <(sed -E 's/ *[0-9]+\.[0-9]+ *$//; s/"idle_s":[0-9.e+-]+//g' "$TMP/out.this.$f.0") \
			<(sed -E 's/ *[0-9]+\.[0-9]+ *$//; s/"idle_s":[0-9.e+-]+//g' "$TMP/out.o$i.$f.0") >"$TMP/diff"; then
			echo "   output of $f differs from $CTL's:"
			head -4 "$TMP/diff" | sed 's/^/     /'
		fi
	done
	i=$((i + 1))
done
