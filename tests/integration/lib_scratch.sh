# Shared by the CLI suites and the scale tools (tools/scale/scratch.sh): a scratch network
# namespace NS and bpffs directory DIR (set by the suite before sourcing), torn down on exit also
# on failure, ebbctl run inside NS, TAP helpers.
# shellcheck disable=SC2317  # functions called indirectly
cleanup() {
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	# Unpinning the link detaches the program; deleting the namespace removes the veths.
	rm -f "$DIR"/link_* 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$DIR" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILED=0
pass() { echo "ok - $1"; }
fail() { # fail DESC [DETAIL FILE…]
	local desc=$1 f; shift
	FAILED=$((FAILED + 1))
	echo "not ok - $desc"
	for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | head -20; done
}
bail() { echo "not ok - $1"; echo "Bail out! $1"; exit 1; }

ctl() { nsenter --net="/run/netns/$NS" -- "$CTL" --bpffs "$DIR" "$@"; }
ctl_raw() { nsenter --net="/run/netns/$NS" -- "$CTL" "$@"; }
