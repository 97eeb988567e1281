#!/usr/bin/env bash
# tutorial/08-block/check.sh: your transformer block, built from the real layers, inside gpt_forward.
# Checks tutorial/exercises/08_block.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter08 tutorial/exercises/08_block.cpp layernorm_forward matmul_forward attention_forward gelu_forward residual_forward
