# Reading the balancer's maps as the datapath sees them (sourced by suites of either lab).

# ring_dump BPFFS RING: the lookup table installed as RING (EBB_RING_NEW(vip) = vip id x 2): its
# max_entries, then its elements, one "key value" a line. The outer map holds the inner map's id.
ring_dump() {
	local id
	id=$(bpftool -j map lookup pinned "$1/rings" key $(($2)) 0 0 0 | python3 -c 'import json, sys
v = json.load(sys.stdin)["value"]
print(v if isinstance(v, int) else int.from_bytes(bytes(int(x, 16) for x in v), "little"))')
	bpftool -j map show id "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["max_entries"])'
	bpftool -j map dump id "$id" | python3 -c 'import json, sys
for e in json.load(sys.stdin):
    print(e["key"], e["value"])'
}
