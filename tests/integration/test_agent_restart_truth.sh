#!/usr/bin/env bash
# ebbd SIGKILLed while a node drains holding a connection, judged by the node (issue 14's proof):
# test_agent_restart.sh with the nodes running the node program and the pool reading their own
# counts: the new ebbd keeps the node draining while its connection lives, then retires it
# verified, flows_cut 0.
RESTART_TRUTH=1 exec bash "$(dirname "$0")/test_agent_restart.sh"
