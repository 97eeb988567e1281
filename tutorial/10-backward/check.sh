#!/usr/bin/env bash
# tutorial/10-backward/check.sh: chapter 10's check: gpt_backward against your finite-difference gradient.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter10 tutorial/exercises/10_gradcheck.cpp
