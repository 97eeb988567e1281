#!/usr/bin/env bash
# tutorial/14-mixed-precision/check.sh: chapter 14's check: your fp32-to-bf16 rounding, bit for bit, and how far a bf16 forward drifts from fp32.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter14 tutorial/exercises/14_bf16.cpp
