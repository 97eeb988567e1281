#!/usr/bin/env bash
# tutorial/06-attention/check.sh: your causal attention forward against attention_forward.
# Checks tutorial/exercises/06_attention.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter06 tutorial/exercises/06_attention.cpp
