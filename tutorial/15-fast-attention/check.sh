#!/usr/bin/env bash
# tutorial/15-fast-attention/check.sh: chapter 15's check.
#  1. your online-softmax attention in C++ (tutorial/exercises/15_flash_attention.cpp) against
#     attention_forward, for several tile sizes, and its scratch memory, which must not grow with T;
#  2. your tiled CUDA kernel (tutorial/exercises/15_flash_tile.cu) through the CPU execution mode
#     for CUDA (tools/cudacpu/, no GPU needed) against causal attention in double precision;
#     skipped, and said so, where tools/cudacpu or the CUDA headers are missing.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) it checks the checkers: the
# solutions must pass and every planted mistake must fail with its hint.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
# part 1 in a subshell: check_exercise ends with PASS or FAIL and exits
part1=$( (check_exercise chapter15 tutorial/exercises/15_flash_attention.cpp) 2>&1 ); status1=$?
echo "$part1" | sed '$d'
verdict1=$(echo "$part1" | tail -1 | sed -E 's/^(PASS|FAIL): //')
if ! has_cudacpu; then
    [ $status1 = 0 ] && pass "$verdict1 (kernel exercise skipped: tools/cudacpu or the CUDA headers in $CUDA_INC not found)"
    fail "$verdict1"
fi
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    [ $status1 = 0 ] || fail "$verdict1"
    kernel_self_test tutorial/flash_harness.cu tutorial/solutions/15_flash_tile.cu \
        "rows that need several tiles are wrong" "rows that need several tiles are wrong" "causal mask missing"
    pass "$verdict1; the kernel check accepts its solution and rejects its planted mistakes"
fi
kernel_failed=""
if ! kernel_program tutorial/flash_harness.cu tutorial/exercises/15_flash_tile.cu "$TB/flash_tile"; then
    kernel_failed="tutorial/exercises/15_flash_tile.cu cannot be checked yet (see above)"
elif ! "$TB/flash_tile"; then
    kernel_failed="the kernel in tutorial/exercises/15_flash_tile.cu does not agree yet (see above)"
fi
[ $status1 = 0 ] && [ -z "$kernel_failed" ] && pass "$verdict1, and your tiled kernel agrees"
fail "$( [ $status1 = 0 ] || echo "$verdict1; ")${kernel_failed:-your tiled kernel agrees} (stuck? make hint CH=15)"
