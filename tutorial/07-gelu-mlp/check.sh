#!/usr/bin/env bash
# tutorial/07-gelu-mlp/check.sh: your GELU derivative against gelu_backward.
# Checks tutorial/exercises/07_gelu.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter07 --self-test \
        && pass "chapter 07: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 07: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter07 \
        && pass "chapter 07: tutorial/exercises/07_gelu.cpp agrees with the reference" \
        || fail "chapter 07: tutorial/exercises/07_gelu.cpp does not agree yet (see above)"
fi
