#!/usr/bin/env bash
# Installs the Debian packages ebb needs to build, test, bench and demo.
# Idempotent: asks apt only for what is missing, and runs `apt-get update` only then.
set -euo pipefail

PKGS=(
  clang llvm make gcc pkg-config          # toolchain (clang for BPF, gcc for user space)
  libclang-rt-14-dev                      # clang's libFuzzer and sanitizer runtimes (tests/fuzz)
  libbpf-dev bpftool libelf-dev zlib1g-dev libjson-c-dev   # libbpf stack, JSON output
  libconfig-dev                                            # ebbd: config file
  libcurl4-openssl-dev                                     # fleet: etcd's v3 JSON gateway over HTTP
  libssl-dev                                               # SHA-256 of saved configurations (libcrypto)
  iproute2 ethtool iputils-ping procps util-linux          # the lab: netns, veth, nsenter
  nginx-light wrk curl python3 time                         # real servers, real clients, test glue (time: tools/bench/show.sh)
  bird2 etcd-server etcd-client                            # the fleet: BGP/ECMP, desired state
  prometheus chromium systemd man-db                       # observe/unit tests: real Prometheus, headless browser, systemd-analyze, man
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Error: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Several builds may run at once (parallel worktrees, CI): wait for dpkg's lock rather than fail.
APT_LOCK=(-o DPkg::Lock::Timeout=600)
apt-get "${APT_LOCK[@]}" update -qq
apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx and prometheus on install; ebb's tests run their own instances inside
# lab namespaces.
for svc in nginx prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
    systemctl disable -q "$svc" || true
  fi
done
