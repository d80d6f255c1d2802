#!/usr/bin/env bash
# The lost-table drain judged by the node (issue 14's proof): test_agent_lost_state.sh with the
# nodes running the node program and ebbd reading their own counts, every drain verified
# (flows_cut 0), LOST_ROUNDS (default 10) rounds per order: 20 in all.
LOST_TRUTH=1 exec bash "$(dirname "$0")/test_agent_lost_state.sh"
