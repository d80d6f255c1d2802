#!/usr/bin/env bash
# The lost-table drain judged by the node (issue 14's proof), the flush before ebbd listed the
# node's flows: test_agent_lost_state.sh with the nodes' own counts, LOST_ROUNDS (default 10)
# rounds of that order (test_agent_lost_truth.sh runs the other).
LOST_TRUTH=1 LOST_ORDERS=unlisted exec bash "$(dirname "$0")/test_agent_lost_state.sh"
