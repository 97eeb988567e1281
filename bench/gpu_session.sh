#!/usr/bin/env bash
# gpu_session.sh: everything a session with one GPU (H100, sm_90) checks, in one go, in about
# eight minutes, with the tables at the end:
#   1. build train_gpt (bf16), train_gpt_fp32, build/test_gpu, build/test_gpu_fp32, train_gpt_cpu
#   2. run both GPU test binaries (each layer, the whole model, determinism, checkpoints, resume)
#   3. compute-sanitizer memcheck and racecheck on a tiny model (`make sanitize`)
#   4. the GPT-2 124M benchmark against PyTorch (bench/bench_gpu.sh)
#
#   bash bench/gpu_session.sh            # from the repository root or anywhere
#
# The data (data/, about 7 MB, made by `make data`) must be there: bring it along, or set
# DATA_MIRROR to a folder with tinyshakespeare/input.txt and gpt2/{encoder.json,vocab.bpe}.
# Each stage has a time limit; a stage that fails is reported and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
LOGS=${LOGS:-$(mktemp -d)}
START=$(date +%s)
declare -a NAMES RESULTS TIMES

stage() {  # name, time limit (s), command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s) log="$LOGS/$(echo "$name" | tr -c 'A-Za-z0-9_\n-' '_').log"
  LAST_LOG=$log
  echo "=== $name (limit ${limit}s, log $log)"
  timeout "$limit" bash -c "$*" > "$log" 2>&1
  local rc=$?
  tail -25 "$log"
  local verdict=PASS
  [ $rc -eq 0 ] || verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"
  NAMES+=("$name"); RESULTS+=("$verdict"); TIMES+=("$(( $(date +%s) - t0 ))")
}

nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv || echo "nvidia-smi failed: no GPU?"
nvcc --version | tail -1

if [ ! -f data/tinyshakespeare_bpe1k/train_000000.bin ] || [ ! -f data/tinyshakespeare/train_000000.bin ]; then
  stage "make data" 120 "make prepare_data >/dev/null && make data"
fi

NPROC=$(nproc)
stage "build: bf16 + fp32 trainers and tests" 300 \
  "make -j$NPROC train_gpt train_gpt_fp32 build/test_gpu build/test_gpu_fp32 train_gpt_cpu"
# a compiler warning counts as a failure of the build
if grep -qi 'warning' "$LAST_LOG"; then RESULTS[-1]="${RESULTS[-1]} + WARNINGS"; fi

stage "test_gpu (bf16)" 150 "./build/test_gpu"
stage "test_gpu_fp32" 150 "./build/test_gpu_fp32"
stage "compute-sanitizer memcheck + racecheck" 180 "make sanitize"
stage "benchmark GPT-2 124M" 240 "bash bench/bench_gpu.sh"

echo
echo "================================================================ summary ($(( $(date +%s) - START )) s)"
printf "| %-42s | %-28s | %6s |\n" "stage" "result" "s"
printf "|%s|%s|%s|\n" "--------------------------------------------" "------------------------------" "--------"
for i in "${!NAMES[@]}"; do printf "| %-42s | %-28s | %6s |\n" "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"; done
echo
for f in "$LOGS"/test_gpu_*.log; do
  [ -f "$f" ] || continue
  echo "--- $(basename "$f"): doctest summary and messages"
  grep -E 'test cases:|MESSAGE|loss|ERROR|error' "$f" | head -30
done
echo
echo "--- benchmark table"
sed -n '/^GPT-2 124M/,$p' "$LOGS/benchmark_GPT-2_124M.log" 2>/dev/null || echo "(no benchmark table)"
echo
echo "logs: $LOGS"
