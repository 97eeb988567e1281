#!/usr/bin/env bash
# tutorial/05-matmul/check.sh: your linear-layer backward against matmul_backward; prints gemm's GFLOP/s.
# Checks tutorial/exercises/05_matmul.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter05 --self-test \
        && pass "chapter 05: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 05: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter05 \
        && pass "chapter 05: tutorial/exercises/05_matmul.cpp agrees with the reference" \
        || fail "chapter 05: tutorial/exercises/05_matmul.cpp does not agree yet (see above)"
fi
