#!/usr/bin/env bash
# tutorial/09-crossentropy/check.sh: your softmax/cross-entropy gradient against the fused crossentropy_backward.
# Checks tutorial/exercises/09_crossentropy.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
for f in data/tinyshakespeare_bpe1k/val_000000.bin; do
    [ -f "$f" ] || fail "$f is missing: run \`make data\` first"
done
check_exercise chapter09 tutorial/exercises/09_crossentropy.cpp
