#!/usr/bin/env bash
# The drain test, unchanged, with the nodes behind IPIP (IPv6-in-IPv6) tunnels and ebb's decapsulator.
EBB_FWD=ipip EBB_FAMILY=6 exec bash "$(dirname "$0")/test_drain.sh"
