#!/usr/bin/env bash
# tutorial/07-gelu-mlp/check.sh: your GELU derivative against gelu_backward.
# Checks tutorial/exercises/07_gelu.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise harness_basics chapter07 tutorial/exercises/07_gelu.cpp
