#!/usr/bin/env bash
# tutorial/03-embeddings/check.sh: your embedding forward and backward against encoder_forward/backward.
# Checks tutorial/exercises/03_encoder.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter03 tutorial/exercises/03_encoder.cpp
