#!/usr/bin/env bash
# tutorial/17-measuring/check.sh: chapter 17's check. FLOPs per token of a training step for
# GPT-2 124M: the 6N + 6LCT estimate against the FLOPs counted from gpt_forward and
# gpt_backward's matmuls and attention loops (within 1%). It also measures this machine's
# GEMM speed and FMA peak and prints them; speeds are never asserted (they depend on the
# machine and on what else runs on it).
# Prints PASS or FAIL last. No exercise: the same check runs with TUTORIAL_SELF_TEST=1.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
reference_program harness_training
build/tutorial/harness_training chapter17 && pass "6N + 6LCT counts a training step's FLOPs" || fail "the FLOP count disagrees"
