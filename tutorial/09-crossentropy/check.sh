#!/usr/bin/env bash
# tutorial/09-crossentropy/check.sh: your softmax/cross-entropy gradient against the fused crossentropy_backward.
# Checks tutorial/exercises/09_crossentropy.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the reference implementation must pass and a deliberately wrong one must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
for f in data/tinyshakespeare_bpe1k/val_000000.bin; do
    [ -f "$f" ] || fail "$f is missing: run \`make data\` first"
done
tutorial_build build/tutorial/harness_basics tutorial/harness_basics.cpp tutorial/exercises/0[1-9]_*.cpp
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    build/tutorial/harness_basics chapter09 --self-test \
        && pass "chapter 09: the checker accepts the reference and rejects a wrong version" \
        || fail "chapter 09: the checker itself is broken (see above)"
else
    build/tutorial/harness_basics chapter09 \
        && pass "chapter 09: tutorial/exercises/09_crossentropy.cpp agrees with the reference" \
        || fail "chapter 09: tutorial/exercises/09_crossentropy.cpp does not agree yet (see above)"
fi
