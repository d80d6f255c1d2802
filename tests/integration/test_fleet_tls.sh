#!/usr/bin/env bash
# Fleet mode, etcd security (doc/fleet.md "etcd security", issue 15 item 9): etcd runs as its
# production guide says (TLS with client certificates, auth on, ebbd as user ebb whose role
# reaches /ebb/F/ only) and the fleet works over it; whoever reaches etcd without what ebbd has
# changes nothing: plain http, https without a client certificate, a CA-signed certificate
# without a token, a wrong password, a user without the ebb role, and user ebb outside its prefix
# are all refused, and the fleet's desired state is the same range after as before. ebbd refuses
# to start on a plain http:// endpoint (naming the line) unless etcd-insecure = true, which it
# logs as a warning at start.
. "$(dirname "$0")/lib_fleet_core.sh"
DIRC=/sys/fs/bpf/$P-c
PLAIN_URL=http://127.0.0.1:23791
plain_pid= ebbd_c=
cleanup_tls() {
	local pid
	for pid in $ebbd_c $plain_pid; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$DIRC"
	cleanup
}
trap cleanup_tls EXIT

# ---- configuration ----
make_pki
# fleet_conf FILE BODY: a configuration whose fleet block is BODY (line 3 is the block's first)
fleet_conf() { printf 'metrics = "";\nfleet = {\n%b\n};\n' "$2" >"$1"; }
base='  name = "f";\n  host = "h";'
fleet_conf "$TMP/plain.conf" "$base\n  etcd = [\"https://127.0.0.1:2379\",\n    \"$PLAIN_URL\"];"
out=$(timeout 20 "$EBBD" --bpffs "$DIRC" --config "$TMP/plain.conf" 2>&1)
rc=$?
check "ebbd refuses to start on a plain http:// endpoint (exit $rc)" [ "$rc" -ne 0 -a "$rc" -ne 124 ]
check "... naming its line: $out" grep -q "^Error: $TMP/plain.conf:6: fleet 'etcd' endpoint \"$PLAIN_URL\" is plain http.*etcd-insecure = true" <<<"$out"
check "... and leaves no fleet marker" [ ! -e "$DIRC/fleet" ]
out=$("$EBBD" --check "$TMP/plain.conf" 2>&1)
check "ebbd --check says the same ($out)" grep -q "^Error: $TMP/plain.conf:6: .*plain http" <<<"$out"
fleet_conf "$TMP/nokey.conf" "$base\n  etcd = [\"$ETCD_URL\"];\n  etcd-cert = \"$PKI/ebb.pem\";"
out=$("$EBBD" --check "$TMP/nokey.conf" 2>&1)
check "--check: a client certificate without its key ($out)" grep -q "^Error: $TMP/nokey.conf:2: .*etcd-key" <<<"$out"
fleet_conf "$TMP/noca.conf" "$base\n  etcd = [\"$ETCD_URL\"];\n  etcd-ca = \"$TMP/missing.pem\";"
out=$("$EBBD" --check "$TMP/noca.conf" 2>&1)
check "--check: a CA file that cannot be read, at its line ($out)" grep -q "^Error: $TMP/noca.conf:6: 'etcd-ca': cannot read" <<<"$out"
fleet_conf "$TMP/rel.conf" "$base\n  etcd = [\"$ETCD_URL\"];\n  etcd-user = \"ebb\";\n  etcd-password-file = \"ebb.password\";"
out=$("$EBBD" --check "$TMP/rel.conf" 2>&1)
check "--check: a relative password file, at its line ($out)" grep -q "^Error: $TMP/rel.conf:7: 'etcd-password-file' must be an absolute path" <<<"$out"

# ---- the fleet over TLS + auth ----
fleet_setup
note "etcd at $ETCD_URL (TLS, client certificates, auth) in netns $CORE; fleet $FLEET"
check "vip add on A (through etcd over TLS, as user ebb)" ctl_a vip add $VIP
check "node add N1 on B" ctl_b node add $N1 vip $VIP mac $MAC1
check "... in A's maps" [ "$(node_state ctl_a $N1)" = active ]
# marker_ok: A's marker names the TLS files and the user, and holds no password
marker_ok() {
	bpftool map dump pinned "$DIRA/fleet" -j | python3 -c '
import json, sys
v = json.load(sys.stdin)[0]["value"]
s = bytes(int(b, 16) for b in v).split(b"\0")[0].decode()
m = json.loads(s)
pki, pw = sys.argv[1], open(sys.argv[1] + "/ebb.password").read().strip()
sys.exit(not (m.get("etcd_ca") == pki + "/ca.pem" and m.get("etcd_cert") == pki + "/ebb.pem"
              and m.get("etcd_key") == pki + "/ebb-key.pem" and m.get("etcd_user") == "ebb"
              and m.get("etcd_password_file") == pki + "/ebb.password" and pw not in s))' "$PKI"
}
check "the marker carries the TLS files and the user, not the password" marker_ok
check "ebbd logged the etcd security it uses" grep -q '"event":"fleet_start".*"etcd_tls":"client-cert","etcd_user":"ebb"' "$TMP/ebbd-lba.log"

# state_range: the fleet's desired state (every key, value and revision under /ebb/F/state/)
state_range() { etcdctl_ get --prefix "/ebb/$FLEET/state/" -w json | json_get 'sorted((k["key"], k["value"], k["mod_revision"]) for k in d.get("kvs", []))'; }
before=$(state_range)
check "the desired state reads back as root ($(wc -c <<<"$before") bytes)" [ -n "$before" -a "$before" != "[]" ]

# Hostile clients, each trying to read the state and to rewrite node N1 as drained.
b64() { printf %s "$1" | base64 -w0; }
KEY=$(b64 "/ebb/$FLEET/state/nodes/$N1")
EVIL=$(b64 '{"state":"inactive","weights":{}}')
# gw ARGS... -- PATH BODY: curl POST to etcd's JSON gateway; prints the answer, "CURL<rc>" on none
gw() {
	local args=() path body
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	path=$2 body=$3
	in_core curl -sS -m 5 "${args[@]}" -X POST "${URL_:-$ETCD_URL}$path" -d "$body" 2>/dev/null || echo "CURL$?"
}
CA=(--cacert "$PKI/ca.pem")
INTRUDER=("${CA[@]}" --cert "$PKI/intruder.pem" --key "$PKI/intruder-key.pem")
EBB=("${CA[@]}" --cert "$PKI/ebb.pem" --key "$PKI/ebb-key.pem")
put_body="{\"key\":\"$KEY\",\"value\":\"$EVIL\"}" get_body="{\"key\":\"$KEY\"}"
refused() { ! grep -q '"kvs"\|"revision"' <<<"$1"; }

a=$(URL_=${ETCD_URL/https/http} gw -- /v3/kv/put "$put_body")
check "plain http to a member: nothing ($a)" refused "$a"
a=$(URL_=${ETCD_URL/https/http} gw -- /v3/kv/range "$get_body")
check "plain http: no read either ($a)" refused "$a"
a=$(gw "${CA[@]}" -- /v3/kv/put "$put_body")
check "https without a client certificate: refused at the handshake ($a)" grep -q '^CURL' <<<"$a"
a=$(gw "${CA[@]}" -- /v3/kv/range "$get_body")
check "... no read either ($a)" grep -q '^CURL' <<<"$a"
a=$(gw -k -- /v3/kv/put "$put_body")
check "... not even trusting any server certificate ($a)" grep -q '^CURL' <<<"$a"
a=$(gw "${INTRUDER[@]}" -- /v3/kv/put "$put_body")
check "a CA-signed certificate without a token: refused by etcd auth ($a)" grep -q 'user name is empty' <<<"$a"
a=$(gw "${INTRUDER[@]}" -- /v3/kv/range "$get_body")
check "... no read either ($a)" grep -q 'user name is empty' <<<"$a"
a=$(gw "${INTRUDER[@]}" -- /v3/auth/authenticate '{"name":"ebb","password":"guess"}')
check "... a wrong password for ebb gets no token ($a)" grep -q 'authentication failed' <<<"$a"
a=$(gw "${INTRUDER[@]}" -H "Authorization: forged" -- /v3/kv/put "$put_body")
check "... a forged token is refused ($a)" grep -q 'invalid auth token' <<<"$a"
# a real etcd user without the ebb role
(umask 077 && openssl rand -hex 12 >"$TMP/nobody.password")
etcdctl_ user add nobody --interactive=false <"$TMP/nobody.password" >/dev/null
tok() { gw "${EBB[@]}" -- /v3/auth/authenticate "{\"name\":\"$1\",\"password\":\"$(cat "$2")\"}" | json_get 'd["token"]' 2>/dev/null; }
t=$(tok nobody "$TMP/nobody.password")
check "user nobody (no role) authenticates" [ -n "$t" ]
a=$(gw "${EBB[@]}" -H "Authorization: $t" -- /v3/kv/put "$put_body")
check "... but cannot write the fleet's state ($a)" grep -q 'permission denied' <<<"$a"
a=$(gw "${EBB[@]}" -H "Authorization: $t" -- /v3/kv/range "$get_body")
check "... nor read it ($a)" grep -q 'permission denied' <<<"$a"
t=$(tok ebb "$PKI/ebb.password")
a=$(gw "${EBB[@]}" -H "Authorization: $t" -- /v3/kv/put "{\"key\":\"$(b64 /ebb/other/state/serial)\",\"value\":\"$EVIL\"}")
check "user ebb cannot write outside /ebb/$FLEET/ ($a)" grep -q 'permission denied' <<<"$a"
a=$(gw "${EBB[@]}" -H "Authorization: $t" -- /v3/auth/user/add '{"name":"mallory","password":"x"}')
check "... nor add users ($a)" grep -q 'permission denied' <<<"$a"
after=$(state_range)
check "the desired state is unchanged after all that (same range, same revisions)" [ "$before" = "$after" ]
check "... and N1 is still active in B's maps" [ "$(node_state ctl_b $N1)" = active ]

# ---- the token expires / etcd restarts: ebbd and ebbctl authenticate again ----
stop_etcd
start_etcd || bail "etcd does not restart"
# a restarted member forgot every simple token: the next call is refused once, then re-authenticated
check "after an etcd restart (tokens forgotten), a write through A works" ctl_a node add $N2 vip $VIP mac $MAC2
n2_active() { [ "$(node_state ctl_b $N2)" = active ]; }
check "... and reaches B's maps (B's ebbd authenticated again)" wait_for 100 n2_active

# ---- etcd-insecure = true: runs, with a warning naming the line ----
nsenter --net="/run/netns/$CORE" -- etcd --name p1 --data-dir "$TMP/etcd-plain" --listen-client-urls "$PLAIN_URL" \
	--advertise-client-urls "$PLAIN_URL" --listen-peer-urls http://127.0.0.1:23801 \
	--initial-advertise-peer-urls http://127.0.0.1:23801 --initial-cluster p1=http://127.0.0.1:23801 \
	--log-level error >>"$TMP/etcd-plain.log" 2>&1 &
plain_pid=$!
plain_up() { in_core env ETCDCTL_API=3 etcdctl --endpoints="$PLAIN_URL" --dial-timeout=1s endpoint health >/dev/null 2>&1; }
wait_for 100 plain_up || bail "plain etcd does not start"
fleet_conf "$TMP/insecure.conf" "  name = \"$FLEET\";\n  host = \"lbc\";\n  etcd-insecure = true;\n  etcd = [\"$PLAIN_URL\"];\n  lease-ttl = $TTL;"
nsenter --net="/run/netns/$CORE" -- "$EBBD" --bpffs "$DIRC" --config "$TMP/insecure.conf" 2>>"$TMP/ebbd-lbc.log" &
ebbd_c=$!
wait_for 100 grep -q '"event":"fleet_etcd_insecure"' "$TMP/ebbd-lbc.log"
check "with etcd-insecure = true ebbd runs on http:// and warns at start, naming the line" \
	grep -q "\"level\":\"warn\",\"event\":\"fleet_etcd_insecure\",\"msg\":\"$TMP/insecure.conf:6: etcd is reached over plain http" "$TMP/ebbd-lbc.log"
reported() { [ -n "$(in_core env ETCDCTL_API=3 etcdctl --endpoints="$PLAIN_URL" get --keys-only "/ebb/$FLEET/last/lbc" 2>/dev/null)" ]; }
check "... and reports to that etcd" wait_for 100 reported
check "... ebbctl finds the http endpoint allowed in the marker (fleet show)" \
	bash -c "nsenter --net=/run/netns/$CORE -- '$CTL' --bpffs '$DIRC' fleet show | grep -q lbc"
check "ebbd C still running" kill -0 "$ebbd_c"
finish
