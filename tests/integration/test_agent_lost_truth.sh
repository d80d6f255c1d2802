#!/usr/bin/env bash
# The lost-table drain judged by the node (issue 14's proof), the flush after ebbd listed the
# node's flows: test_agent_lost_state.sh with the nodes running the node program and ebbd reading
# their own counts, every drain verified (flows_cut 0), LOST_ROUNDS (default 10) rounds.
# test_agent_lost_truth_unlisted.sh runs the other order: 20 repetitions in all.
LOST_TRUTH=1 LOST_ORDERS=listed exec bash "$(dirname "$0")/test_agent_lost_state.sh"
