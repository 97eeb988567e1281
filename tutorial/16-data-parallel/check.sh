#!/usr/bin/env bash
# tutorial/16-data-parallel/check.sh: chapter 16's check, the CPU data-parallel trainer under mpirun.
#  1. 2 ranks x batch 2 (train_gpt_cpu_mpi) and 1 rank x batch 4 (train_gpt_cpu) and 1 rank x
#     batch 2 x 2 accumulation steps see the same tokens (DESIGN.md section 4), so they must
#     print the same training and validation losses, within 1e-5 relative;
#  2. ZeRO-1 (--zero 1: each rank updates its shard, then the parameters are all-gathered)
#     against plain data parallel (--zero 0): the same step lines and bitwise the same weights.
# SKIP where ./train_gpt_cpu_mpi (make, with MPI installed) or mpirun is missing.
# Prints PASS, FAIL or SKIP last. No exercise: the same checks run with TUTORIAL_SELF_TEST=1.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
command -v mpirun > /dev/null || skip "mpirun not found (apt-get install openmpi-bin libopenmpi-dev, then make)"
[ -x ./train_gpt_cpu_mpi ] || skip "./train_gpt_cpu_mpi not built (make builds it where mpicxx is found)"
trainer_run_setup tutorial16
ARGS=(--train $DATA/train_000000.bin --val $DATA/val_000000.bin --vocab-size 1024 --n-layer 2 --n-head 4
      --n-embd 64 --seq-len 64 --steps 6 --lr 3e-3 --warmup 2 --eval-every 3 --eval-batches 2 --sample-tokens 0 --threads 1)
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2 ./train_gpt_cpu_mpi)
run() { local name=$1; shift; "$@" > "$OUT/$name.txt" 2>&1 || { tail -20 "$OUT/$name.txt"; fail "$name: $* failed"; }; }
run ranks2 "${MPI[@]}" "${ARGS[@]}" --batch 2
run rank1 ./train_gpt_cpu "${ARGS[@]}" --batch 4
run accum2 ./train_gpt_cpu "${ARGS[@]}" --batch 2 --grad-accum 2 --eval-batches 4   # validation: the same 512 tokens
run zero0 "${MPI[@]}" "${ARGS[@]}" --batch 2 --zero 0 --out "$OUT/z0"
run zero1 "${MPI[@]}" "${ARGS[@]}" --batch 2 --zero 1 --out "$OUT/z1"

# "step k | loss" and "val loss" figures, one per line
losses() { grep -E '^(step [0-9]+/|val loss)' "$1" | sed -E 's/^step ([0-9]+)\/[0-9]+ \| loss ([0-9.]+).*/step \1 \2/; s/^val loss ([0-9.]+) \| step ([0-9]+)/val \2 \1/'; }
compare() {   # largest relative difference between the losses of two runs; fails on a different shape
    paste <(losses "$OUT/$1.txt") <(losses "$OUT/$2.txt") | awk -v a="$1" -v b="$2" '
        NF != 6 || $1 != $4 || $2 != $5 { bad = 1 }
        { d = $3 - $6; if (d < 0) d = -d; r = d / ($6 < 0 ? -$6 : $6); if (r > worst) worst = r; n++ }
        END { if (bad || n < 8) { print "the runs " a " and " b " print different lines"; exit 1 }
              printf "  %-7s vs %-7s: %d losses, largest relative difference %.1e\n", a, b, n, worst; exit worst > 1e-5 }'
}
echo "losses of 2 ranks x batch 2:"; losses "$OUT/ranks2.txt" | sed 's/^/  /'
compare ranks2 rank1 || fail "2 ranks x batch 2 and 1 rank x batch 4 disagree by more than 1e-5"
compare accum2 rank1 || fail "batch 2 x 2 accumulation steps and batch 4 disagree by more than 1e-5"
strip() { grep -E '^(step|val loss)' "$1" | sed -E 's/ \| [0-9.]+ ms \| [0-9]+ tok\/s$//'; }
diff <(strip "$OUT/zero0.txt") <(strip "$OUT/zero1.txt") || fail "--zero 1 prints different step lines from --zero 0"
cmp -s "$OUT/z0/step_000006/model.safetensors" "$OUT/z1/step_000006/model.safetensors" ||
    fail "--zero 1 and --zero 0 end with different weights"
echo "  --zero 1 vs --zero 0: the same step lines and bitwise the same final weights"
pass "data parallel matches one process, and ZeRO-1 matches plain data parallel"
