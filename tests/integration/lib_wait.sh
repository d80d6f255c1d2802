# shellcheck shell=bash
# The suites' waits: wait_for, holds, gave_up (lib_fleet.sh's within says gave_up too).
# holds OP VALUE COMMAND...: true when COMMAND's output compares to VALUE by OP (test's =,
# -gt or -ge). For wait_for, which runs its command anew each try: a "$(...)" in wait_for's own
# arguments is expanded once, before the first try, and the wait then runs out its bound.
holds() {
	local op=$1 want=$2 got
	shift 2
	got=$("$@")
	case $op in
	=) [ "$got" = "$want" ] ;;
	-gt | -ge) [ "$got" "$op" "$want" ] 2>/dev/null ;; # not a number yet: false, quietly
	*) return 2 ;;
	esac
}

# wait_for TRIES COMMAND...: runs COMMAND every 0.1 s until it succeeds, TRIES times at most;
# its status. The suite checks what it waited for afterwards (or through check).
wait_for() {
	local tries=$1
	shift
	for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
	gave_up "wait_for $tries $*"
	return 1
}

# gave_up WHAT...: a wait that ran out its bound says so in the suite's log (a TAP comment on
# stderr): the check after it fails or not, but a wait that always runs out (its condition read
# once, or never true) shows here instead of silently costing its whole bound.
gave_up() { echo "# gave up waiting: $*" >&2; }
