#!/usr/bin/env bash
# tutorial/01-tokens/check.sh: a naive BPE trainer built on your merge step must learn bpe_train's merges.
# Checks tutorial/exercises/01_bpe_merge.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
for f in data/tinyshakespeare/input.txt data/gpt2/encoder.json data/tinyshakespeare_bpe1k/encoder.json; do
    [ -f "$f" ] || fail "$f is missing: run \`make data\` first"
done
check_exercise chapter01 tutorial/exercises/01_bpe_merge.cpp
