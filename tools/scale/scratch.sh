# shellcheck shell=bash
# Sourced by the tools that fill a flow table at scale (tools/scale.sh, tools/bench/show.sh),
# from the repository's root, with OUTPUT set and SCRATCH naming the tool: checks for root and a
# built ebbctl (CTL), builds tools/scale/populate.c as $TMP/populate, and makes a scratch network
# namespace NS with one veth (v0, v1; up, no traffic) and a private bpffs directory DIR. The
# teardown is the CLI suites' (tests/integration/lib_scratch.sh): everything is removed at the
# end, also on failure or Ctrl-C.
NS=ebb$SCRATCH$$ DIR=/sys/fs/bpf/ebb-$SCRATCH-$$ TMP=$(mktemp -d "/tmp/ebb-$SCRATCH.XXXXXX")
CTL=$OUTPUT/ebbctl
. tests/integration/lib_scratch.sh
[ "$(id -u)" -eq 0 ] || { echo "Error: needs root" >&2; exit 1; }
[ -x "$CTL" ] || { echo "Error: no $CTL: run make first" >&2; exit 1; }
cc -O2 -Iinclude -Iuser -I"$OUTPUT" tools/scale/populate.c "$OUTPUT/libebb.a" -lbpf -lelf -lz -ljson-c \
	-o "$TMP/populate" || exit 1
ip netns add "$NS" && ip -n "$NS" link add v0 type veth peer name v1 && ip -n "$NS" link set v0 up &&
	ip -n "$NS" link set v1 up || exit 1
