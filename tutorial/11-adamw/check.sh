#!/usr/bin/env bash
# tutorial/11-adamw/check.sh: chapter 11's check: the LR schedule's contract, and your AdamW step against gpt_update.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_training tutorial/harness_training.cpp tutorial/exercises/1[0-7]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_training chapter11 --self-test && pass "the checker accepts a correct adamw_update and rejects a wrong one" || fail "the checker itself is broken"
else
    build/tutorial/harness_training chapter11 && pass "your adamw_update (tutorial/exercises/11_adamw.cpp) is right" || fail "edit tutorial/exercises/11_adamw.cpp and run this again"
fi
