#!/usr/bin/env bash
# tutorial/10-backward/check.sh: chapter 10's check: gpt_backward against your finite-difference gradient.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_training tutorial/harness_training.cpp tutorial/exercises/1[0-7]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_training chapter10 --self-test && pass "the checker accepts a correct numeric_gradient and rejects a wrong one" || fail "the checker itself is broken"
else
    build/tutorial/harness_training chapter10 && pass "your numeric_gradient (tutorial/exercises/10_gradcheck.cpp) is right" || fail "edit tutorial/exercises/10_gradcheck.cpp and run this again"
fi
