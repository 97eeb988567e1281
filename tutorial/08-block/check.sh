#!/usr/bin/env bash
# tutorial/08-block/check.sh: your transformer block, built from the real layers, inside gpt_forward.
# Checks tutorial/exercises/08_block.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise harness_basics chapter08 tutorial/exercises/08_block.cpp
