#!/usr/bin/env bash
# The fuzz suite of `make test`: a bounded pass of the balancer's fuzzer (tests/fuzz/fuzz.sh)
# from the unit tests' frames, in a temporary corpus, as TAP. FUZZ_TIME seconds (default 25);
# `make fuzz` runs longer and keeps its corpus.
FUZZ_TIME=${FUZZ_TIME_TEST:-25} exec bash "$(dirname "$0")/fuzz.sh" --tap
