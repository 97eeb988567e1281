#!/usr/bin/env bash
# tutorial/11-adamw/check.sh: chapter 11's check: the LR schedule's contract, and your AdamW step against gpt_update.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checker: a
# correct implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter11 tutorial/exercises/11_adamw.cpp
