#!/usr/bin/env bash
# tutorial/15-fast-attention/check.sh: chapter 15's check: your online-softmax attention against attention_forward.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_training tutorial/harness_training.cpp tutorial/exercises/1[0-7]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_training chapter15 --self-test && pass "the checker accepts a correct attention_forward_tiled and rejects a wrong one" || fail "the checker itself is broken"
else
    build/tutorial/harness_training chapter15 && pass "your attention_forward_tiled (tutorial/exercises/15_flash_attention.cpp) is right" || fail "edit tutorial/exercises/15_flash_attention.cpp and run this again"
fi
