#!/usr/bin/env bash
# The drain test, unchanged, with the nodes behind IPIP tunnels and ebb's decapsulator.
EBB_FWD=ipip EBB_FAMILY=4 exec bash "$(dirname "$0")/test_drain.sh"
