#!/usr/bin/env bash
# tutorial/03-embeddings/check.sh: your embedding forward and backward against encoder_forward/backward.
# Checks tutorial/exercises/03_encoder.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise harness_basics chapter03 tutorial/exercises/03_encoder.cpp
