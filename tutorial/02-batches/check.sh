#!/usr/bin/env bash
# tutorial/02-batches/check.sh: your micro-batch start offsets against the DataLoader's.
# Checks tutorial/exercises/02_batch_start.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter02 --self-test \
        && pass "chapter 02: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 02: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter02 \
        && pass "chapter 02: tutorial/exercises/02_batch_start.cpp agrees with the reference" \
        || fail "chapter 02: tutorial/exercises/02_batch_start.cpp does not agree yet (see above)"
fi
