#!/usr/bin/env bash
# tutorial/07-gelu-mlp/check.sh: your GELU derivative against gelu_backward.
# Checks tutorial/exercises/07_gelu.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter07 tutorial/exercises/07_gelu.cpp
