#!/usr/bin/env bash
# tutorial/13-cpu-to-gpu/check.sh: chapter 13's check.
#  1. memory arithmetic (build/tutorial/harness_training chapter13): the activation formula
#     against gpt_allocate_activations, the memory of each tensor family for GPT-2 124M, and
#     your gpt2_num_parameters (tutorial/exercises/13_param_count.cpp) against param_table;
#  2. every function of train_gpt_cpu.cpp's layers and model sections (the host launchers)
#     also exists in train_gpt.cu, so the two files read side by side (skipped, and said so,
#     where train_gpt.cu is absent), or is named at column 0 by a comment "// f() is folded into
#     g" where g is a function train_gpt.cu defines (the GPU does f's work inside g). gemm is
#     the exception: the GPU calls cuBLAS instead.
#  3. your three CUDA kernels (tutorial/exercises/13_kernels.cu) run through the CPU execution
#     mode for CUDA (tools/cudacpu/, no GPU needed) against plain loops (tutorial/kernels_harness.cu);
#     skipped, and said so, where tools/cudacpu or the CUDA headers are missing.
# Prints PASS or FAIL last. With TUTORIAL_SELF_TEST=1 (make test) the exercise part checks
# the checker, and the name check is tried on a copy of train_gpt.cu with a launcher missing.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    reference_program harness_training
    build/tutorial/harness_training chapter13 --self-test || fail "the checker itself is broken"
else   # the two exercises are independent: a failing count does not stop the kernels' check
    count_failed=""
    if ! learner_program chapter13 tutorial/exercises/13_param_count.cpp build/tutorial/chapter13; then
        count_failed="tutorial/exercises/13_param_count.cpp cannot be checked yet (see above)"
    elif ! build/tutorial/chapter13 chapter13; then
        count_failed="tutorial/exercises/13_param_count.cpp does not agree yet (see above)"
    fi
fi

# the non-static functions defined at column 0 between the "layers" and "data-parallel" banners
launchers() {
    awk '/^\/\/ layers:/ {on=1} /^\/\/ data-parallel:/ {on=0} on' train_gpt_cpu.cpp |
        grep -E '^(void|int|float|double|real|size_t) +[a-z_0-9]+\(' | sed -E 's/^[a-z_]+ +([a-z_0-9]+)\(.*/\1/' |
        grep -vx gemm | sort -u
}
# prints the names missing from the .cu file $1 (a definition or declaration at column 0, or
# a "folded into" comment naming a function that is one)
defined_in() { grep -Eq "^[A-Za-z_].*[^A-Za-z_0-9]$1\(" "$2"; }
missing_in() {
    for f in $(launchers); do
        defined_in "$f" "$1" && continue
        into=$(sed -nE "s|^// $f\(\) is folded into ([a-z_0-9]+).*|\1|p" "$1" | head -1)
        [ -n "$into" ] && defined_in "$into" "$1" && continue
        echo "$f"
    done
}

names=$(launchers)
echo "host launchers of train_gpt_cpu.cpp: $(echo $names)"
for must in encoder_forward layernorm_backward attention_forward crossentropy_backward gpt_forward gpt_update; do
    grep -qx "$must" <<<"$names" || fail "the launcher list lacks $must: has train_gpt_cpu.cpp's section banner changed?"
done
if [ ! -f train_gpt.cu ]; then
    pass "memory arithmetic (train_gpt.cu not present: its launcher names were not compared)"
fi
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then   # the name check must notice a launcher that is gone
    tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
    sed -E 's/([^A-Za-z_0-9])gelu_backward\(/\1gelu_backward_renamed(/g' train_gpt.cu > "$tmp"
    missing_in "$tmp" | grep -qx gelu_backward || fail "the name check did not notice gelu_backward missing from a copy of train_gpt.cu"
    # a "folded into" comment naming a function that is not there does not count
    sed -E 's/^(\/\/ residual_forward\(\) is folded into )[a-z_]+/\1no_such_function/' train_gpt.cu > "$tmp"
    missing_in "$tmp" | grep -qx residual_forward || fail "the name check accepted residual_forward folded into a function that does not exist"
fi
gone=$(missing_in train_gpt.cu)
[ -z "$gone" ] || fail "train_gpt.cu lacks these launchers of train_gpt_cpu.cpp: $(echo $gone)"
launchers_ok="all $(echo "$names" | wc -l) launchers of train_gpt_cpu.cpp are in train_gpt.cu"

# 3. the kernel exercises (tutorial/exercises/13_kernels.cu) through the CPU execution mode
if ! has_cudacpu; then
    [ -z "${count_failed:-}" ] || fail "$count_failed (stuck? make hint CH=13)"
    pass "memory arithmetic, and $launchers_ok (kernel exercises skipped: tools/cudacpu or the CUDA headers in $CUDA_INC not found)"
fi
if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
    # the solution must pass; each planted mistake (PLANT=k in tutorial/solutions/13_kernels.cu) must
    # fail with the hint that names it
    kernel_self_test tutorial/kernels_harness.cu tutorial/solutions/13_kernels.cu \
        "blockIdx.x * blockDim.x + threadIdx.x" "combine all 32 lanes" "__syncthreads missing"
    pass "memory arithmetic, $launchers_ok, and the kernel check catches its planted mistakes"
fi
kernels_failed=""
if ! kernel_program tutorial/kernels_harness.cu tutorial/exercises/13_kernels.cu "$TB/kernels"; then
    kernels_failed="tutorial/exercises/13_kernels.cu cannot be checked yet (see above)"
elif ! "$TB/kernels"; then
    kernels_failed="the kernels in tutorial/exercises/13_kernels.cu do not agree yet (see above)"
fi
if [ -n "${count_failed:-}" ] || [ -n "$kernels_failed" ]; then
    fail "$(echo "${count_failed:-}; $kernels_failed" | sed 's/^; //; s/; $//') (stuck? make hint CH=13)"
fi
pass "memory arithmetic, $launchers_ok, your parameter count and your three kernels agree"
