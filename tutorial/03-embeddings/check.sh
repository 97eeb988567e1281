#!/usr/bin/env bash
# tutorial/03-embeddings/check.sh: your embedding forward and backward against encoder_forward/backward.
# Checks tutorial/exercises/03_encoder.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter03 --self-test \
        && pass "chapter 03: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 03: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter03 \
        && pass "chapter 03: tutorial/exercises/03_encoder.cpp agrees with the reference" \
        || fail "chapter 03: tutorial/exercises/03_encoder.cpp does not agree yet (see above)"
fi
