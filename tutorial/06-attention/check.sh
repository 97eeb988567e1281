#!/usr/bin/env bash
# tutorial/06-attention/check.sh: your causal attention forward against attention_forward.
# Checks tutorial/exercises/06_attention.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter06 --self-test \
        && pass "chapter 06: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 06: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter06 \
        && pass "chapter 06: tutorial/exercises/06_attention.cpp agrees with the reference" \
        || fail "chapter 06: tutorial/exercises/06_attention.cpp does not agree yet (see above)"
fi
