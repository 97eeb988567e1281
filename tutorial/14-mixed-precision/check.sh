#!/usr/bin/env bash
# tutorial/14-mixed-precision/check.sh: chapter 14's check: your fp32-to-bf16 rounding, bit for bit, and how far a bf16 forward drifts from fp32.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_training tutorial/harness_training.cpp tutorial/exercises/1[0-7]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_training chapter14 --self-test && pass "the checker accepts a correct fp32_to_bf16 and rejects a wrong one" || fail "the checker itself is broken"
else
    build/tutorial/harness_training chapter14 && pass "your fp32_to_bf16 (tutorial/exercises/14_bf16.cpp) is right" || fail "edit tutorial/exercises/14_bf16.cpp and run this again"
fi
