#!/usr/bin/env bash
# tutorial/04-layernorm/check.sh: your LayerNorm backward against layernorm_backward.
# Checks tutorial/exercises/04_layernorm.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter04 tutorial/exercises/04_layernorm.cpp
