#!/usr/bin/env bash
# tutorial/04-layernorm/check.sh: your LayerNorm backward against layernorm_backward.
# Checks tutorial/exercises/04_layernorm.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise harness_basics chapter04 tutorial/exercises/04_layernorm.cpp
