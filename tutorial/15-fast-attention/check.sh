#!/usr/bin/env bash
# tutorial/15-fast-attention/check.sh: chapter 15's check: your online-softmax attention against attention_forward.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter15 tutorial/exercises/15_flash_attention.cpp
