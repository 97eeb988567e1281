#!/usr/bin/env bash
# bench_gpu.sh: GPT-2 training throughput (124M, or 350M with --model) of ./train_gpt (bf16) on one GPU, T=1024, at
# the largest micro-batch that fits, beside PyTorch at its best (bf16 autocast, torch.compile,
# SDPA flash attention, fused AdamW) in the same run, and the MFU of both.
#
# What it is not: a scaling study. One GPU, one shape, the median over a handful of steps.
#
#   bash bench/bench_gpu.sh [--model 124M|350M] [--steps N] [--batch B] [--no-torch] [--tiny]
#
# ./train_gpt_cudnn (the same trainer with cuDNN's attention, `make train_gpt_cudnn`) runs at the
# same batch where it was built (at half of it where cuDNN's workspace does not fit). llm.c (train_gpt2cu, with cuDNN attention where its frontend
# headers are found) runs in the same call when its sources are in .deps/llm.c or LLMC_DIR
# (bench/gpu_deps.sh puts them there). ./train_gpt runs a second time at the same batch with its
# attention backward the other way (one block per head, or two kernels: see train_gpt.cu).
# Our figure is printed as soon as it is measured, before llm.c builds or PyTorch compiles.
# Under the table, the SM clock and power each trainer ran at (nvidia-smi, sampled): whether a
# card at its power limit slowed one more than another. BASELINE_TRAINER names an earlier build
# of train_gpt (bench/gpu_deps.sh --baseline REV makes one, with a NOTE beside it naming the
# commit) to run at the same batch: what the changes since it are worth, measured in one run.
# --tiny: a 2-layer model on the 1,024-token data, no peak measurement, no peers: for rehearsing
# this script through the CPU execution mode (TRAINER=build/train_gpt_cpumode).
#
# MFU = tokens/s x FLOPs per token / peak, with FLOPs per token = 6N + 6 L C T (N parameters
# without padding, as the project's benchmark definition) and peak = the bf16 matmul rate
# measured here, now, with cuBLAS (an 8192^3 GEMM), not the datasheet's number.
# Needs nvcc, `make train_gpt` and the GPT-2-tokenized tinyshakespeare shards (`make data`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TRAINER=${TRAINER:-./train_gpt}
CUDNN_TRAINER=${CUDNN_TRAINER:-./train_gpt_cudnn}
BASELINE_TRAINER=${BASELINE_TRAINER:-}
STEPS=12 BATCH="" TORCH=1 TINY=0 SIZE=124M
LLMC_DIR=${LLMC_DIR:-.deps/llm.c}
while [ $# -gt 0 ]; do
  case "$1" in
    --model) SIZE=${2:?--model needs 124M or 350M}; shift 2 ;;
    --steps) STEPS=${2:?--steps needs a value}; shift 2 ;;
    --batch) BATCH=${2:?--batch needs a value}; shift 2 ;;
    --no-torch) TORCH=0; shift ;;
    --tiny) TINY=1 TORCH=0 STEPS=4 BATCH=${BATCH:-4}; shift ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# GPT-2's sizes; LLMC_DEPTH is llm.c's -e flag for the same model trained from scratch
case "$SIZE" in
  124M) L=12 NH=12 C=768 LLMC_DEPTH=d12 ;;
  350M) L=24 NH=16 C=1024 LLMC_DEPTH=d24 ;;
  *) echo "error: --model $SIZE: expected 124M or 350M" >&2; exit 2 ;;
esac
[ -x "$TRAINER" ] || { echo "error: $TRAINER not found; build it with 'make train_gpt'" >&2; exit 1; }
DATA=data/tinyshakespeare/train_000000.bin
[ "$TINY" = 1 ] && DATA=data/tinyshakespeare_bpe1k/train_000000.bin
[ -f "$DATA" ] || { echo "error: $DATA not found; run 'make data' first" >&2; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader >&2 || true

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ------------------------------------------------------------------ peak bf16 matmul rate
cat > "$TMP/peak.cu" <<'CU'
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cstdio>
int main() {
    const int n = 8192, iters = 30;
    __nv_bfloat16 *a, *b, *c;
    cudaMalloc(&a, (size_t)n * n * 2); cudaMalloc(&b, (size_t)n * n * 2); cudaMalloc(&c, (size_t)n * n * 2);
    cudaMemset(a, 0, (size_t)n * n * 2); cudaMemset(b, 0, (size_t)n * n * 2);
    cublasHandle_t h; cublasCreate(&h);
    float alpha = 1, beta = 0;
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    for (int i = 0; i < iters + 5; i++) {
        if (i == 5) cudaEventRecord(e0);
        cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &beta, c,
                     CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    cudaEventRecord(e1); cudaEventSynchronize(e1);
    float ms; cudaEventElapsedTime(&ms, e0, e1);
    if (cudaGetLastError() != cudaSuccess) return 1;
    printf("%.1f\n", 2.0 * n * n * n * iters / (ms / 1000) / 1e12);
    return 0;
}
CU
if [ "$TINY" = 1 ]; then
  PEAK=""   # no GPU to measure: no MFU
else
  nvcc -O2 -o "$TMP/peak" "$TMP/peak.cu" -lcublas
  PEAK=$("$TMP/peak")
  echo "measured bf16 matmul peak: $PEAK TFLOP/s" >&2
fi

# ------------------------------------------------------------------ ours
T=1024 V=50257
[ "$TINY" = 1 ] && { L=2 NH=2 C=64 T=64 V=1024; }
N_PARAMS=$(( V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C ))
FLOPS_PER_TOKEN=$(( 6 * N_PARAMS + 6 * L * C * T ))
MODEL="--n-layer $L --n-head $NH --n-embd $C --seq-len $T --vocab-size $V"

# the SM clock and power while each trainer runs: nvidia-smi samples them every 200 ms in the
# background. A GPU held at its power limit lowers its clock; Nsight Compute times one kernel
# at a time (bench/profile_gpu.sh), so a step can take longer than its kernels' sum there.
SAMPLE=0
[ "$TINY" = 0 ] && command -v nvidia-smi >/dev/null && SAMPLE=1
sampled() {  # tag command... : runs the command with the sampler beside it; its exit status
  local rc=0 pid=""
  if [ "$SAMPLE" = 1 ]; then
    nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader,nounits -lms 200 > "$TMP/clocks_$1.csv" 2>/dev/null &
    pid=$!
  fi
  "${@:2}" || rc=$?
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  return $rc
}
clocks() {  # tag -> the median SM clock and power over the samples at half the run's peak power or more
  [ -s "$TMP/clocks_$1.csv" ] || return 0
  local top busy
  top=$(awk -F', *' '$2 + 0 > t { t = $2 + 0 } END { print t + 0 }' "$TMP/clocks_$1.csv")
  busy=$(awk -F', *' -v top="$top" '$2 + 0 > 0 && $2 + 0 >= top / 2 { print $1 + 0, $2 + 0 }' "$TMP/clocks_$1.csv")
  [ -n "$busy" ] || return 0
  echo "SM clock $(cut -d' ' -f1 <<< "$busy" | median) MHz, power $(cut -d' ' -f2 <<< "$busy" | median) W" \
       "(medians of $(wc -l <<< "$busy") samples)"
}
run_ours() {  # batch [trainer [tag]] -> $TMP/ours_BATCH[_TAG].log
  sampled "ours_$1${3:+_$3}" "${2:-$TRAINER}" --train "$DATA" --val '' $MODEL --batch "$1" --steps "$STEPS" --warmup 2 \
    --eval-every 0 --sample-tokens 0 > "$TMP/ours_$1${3:+_$3}.log" 2>&1
}
step_ms() { grep -E '^step [0-9]+/' "$1" | tail -n +3 | sed -E 's/.*\| ([0-9.]+) ms \|.*/\1/' | median; }
if [ -z "$BATCH" ]; then
  # the trainer names the largest batch that fits when asked for too much
  if run_ours 256; then BATCH=256; else
    BATCH=$(grep -o 'largest batch that fits is --batch [0-9]*' "$TMP/ours_256.log" | grep -o '[0-9]*$' || true)
    [ -n "$BATCH" ] || { cat "$TMP/ours_256.log" >&2; echo "error: could not find a batch that fits" >&2; exit 1; }
    # a power of two at most that large: cuBLAS shapes, and PyTorch gets the same batch
    P=1; while [ $((P * 2)) -le "$BATCH" ]; do P=$((P * 2)); done; BATCH=$P
  fi
fi
if [ ! -f "$TMP/ours_$BATCH.log" ] || ! grep -q "^step $STEPS/" "$TMP/ours_$BATCH.log"; then
  while ! run_ours "$BATCH"; do
    tail -3 "$TMP/ours_$BATCH.log" >&2
    [ "$BATCH" -gt 1 ] || { echo "error: ./train_gpt failed even at --batch 1" >&2; exit 1; }
    BATCH=$((BATCH / 2)); echo "retrying at --batch $BATCH" >&2
  done
fi
grep -E '^(device|memory):' "$TMP/ours_$BATCH.log" >&2 || true
OURS_MS=$(step_ms "$TMP/ours_$BATCH.log")
OURS_LOSS=$(grep -E '^step [0-9]+/' "$TMP/ours_$BATCH.log" | tail -1 | sed -E 's/.*\| loss ([0-9.]+) \|.*/\1/')
echo "train_gpt: batch $BATCH, median $OURS_MS ms/step, $(awk -v b="$BATCH" -v t="$T" -v ms="$OURS_MS" 'BEGIN { printf "%.0f", b * t / (ms / 1000) }') tokens/s, last loss $OURS_LOSS" >&2

# ------------------------------------------------------------------ ours, the attention backward the other way
# at this batch the trainer runs the whole-head backward (one block per head) or the two
# kernels (it says which on its "attention:" line); the other is measured at the same batch,
# TRAIN_GPT_WHOLE_HEAD_MIN moving the choice
OTHER_MS="" OTHER_NAME="" OTHER_MIN=""
case "$(grep -m1 '^attention:' "$TMP/ours_$BATCH.log")" in
  *"one block per head ("*) OTHER_MIN=2147483647 OTHER_NAME="train_gpt, bwd in two kernels" ;;
  *"in two kernels ("*) OTHER_MIN=1 OTHER_NAME="train_gpt, bwd one block per head" ;;
esac
if [ -n "$OTHER_MIN" ]; then
  if TRAIN_GPT_WHOLE_HEAD_MIN=$OTHER_MIN run_ours "$BATCH" "$TRAINER" other; then
    OTHER_MS=$(step_ms "$TMP/ours_${BATCH}_other.log")
    echo "$OTHER_NAME: batch $BATCH, median $OTHER_MS ms/step" >&2
  else
    OTHER_NAME="$OTHER_NAME: failed: $(tail -1 "$TMP/ours_${BATCH}_other.log")"
  fi
fi

# ------------------------------------------------------------------ an earlier build of ours, at the same batch
BASE_MS="" BASE_NOTE=""
if [ -n "$BASELINE_TRAINER" ]; then
  BASE_NOTE=$(cat "$(dirname "$BASELINE_TRAINER")/NOTE" 2>/dev/null || echo "$BASELINE_TRAINER")
  if [ ! -x "$BASELINE_TRAINER" ]; then BASE_NOTE="not run: $BASELINE_TRAINER is not an executable"
  elif run_ours "$BATCH" "$BASELINE_TRAINER" baseline; then
    BASE_MS=$(step_ms "$TMP/ours_${BATCH}_baseline.log")
    echo "train_gpt, baseline: batch $BATCH, median $BASE_MS ms/step ($BASE_NOTE)" >&2
  else
    BASE_NOTE="failed: $(tail -1 "$TMP/ours_${BATCH}_baseline.log")"
  fi
fi

# ------------------------------------------------------------------ ours with cuDNN's attention
# at our batch, or half of it where cuDNN's workspace (which the trainer's memory plan leaves out) does not fit
CUDNN_MS="" CUDNN_BATCH=$BATCH CUDNN_NOTE="not run: no $CUDNN_TRAINER (make train_gpt_cudnn)"
if [ "$TINY" = 0 ] && [ -x "$CUDNN_TRAINER" ]; then
  run_ours "$BATCH" "$CUDNN_TRAINER" cudnn || { CUDNN_BATCH=$((BATCH / 2)); run_ours "$CUDNN_BATCH" "$CUDNN_TRAINER" cudnn; } || true
  LOG=$TMP/ours_${CUDNN_BATCH}_cudnn.log
  if grep -q "^step $STEPS/" "$LOG"; then
    CUDNN_MS=$(step_ms "$LOG")
    CUDNN_NOTE=$(grep -m1 'cuDNN attention declined' "$LOG" || true)
    grep -m2 '^cuDNN .* graph:' "$LOG" >&2 || true
    echo "train_gpt_cudnn: batch $CUDNN_BATCH, median $CUDNN_MS ms/step ${CUDNN_NOTE:+($CUDNN_NOTE)}" >&2
  else
    CUDNN_NOTE="failed at --batch $CUDNN_BATCH: $(tail -1 "$LOG")"
  fi
fi

# ------------------------------------------------------------------ llm.c, built from the sources brought along
# (or already built: LLMC_BUILT names a folder that bench/build_llmc.sh made, as gpu_session.sh
# sets it when bench/gpu_deps.sh --prebuild built llm.c ahead of the session)
LLMC_MS="" LLMC_NOTE="not run: no llm.c sources in $LLMC_DIR (bench/gpu_deps.sh --llmc DIR puts them there)"
if [ "$TINY" = 0 ] && { [ -n "${LLMC_BUILT:-}" ] || [ -f "$LLMC_DIR/train_gpt2.cu" ]; }; then
  LLMC=${LLMC_BUILT:-$TMP/llmc}
  if [ -n "${LLMC_BUILT:-}" ]; then LLMC_NOTE="$(cat "$LLMC/NOTE") (built ahead)"
  else LLMC_NOTE=$(bash bench/build_llmc.sh "$LLMC_DIR" "$LLMC" | tail -1); fi
  if [ -x "$LLMC/train_gpt2cu" ]; then
    # -e d12 / d24: GPT-2 124M / 350M from scratch; the same data, batch and length as ours; no evaluation or sampling
    llmc_run() { ( cd "$LLMC" && ./train_gpt2cu -i "$OLDPWD/$DATA" -j "$OLDPWD/$DATA" -e $LLMC_DEPTH -b "$BATCH" -t $T \
        -x "$STEPS" -v 1000000 -m 1 -s 0 -h 0 -r 0 -z 0 ); }
    sampled llmc llmc_run > "$TMP/llmc.log" 2>&1 || LLMC_NOTE="llm.c failed: $(tail -1 "$TMP/llmc.log")"
    LLMC_MS=$(grep -E '^step +[0-9]+/' "$TMP/llmc.log" | tail -n +3 | sed -E 's/.*\| ([0-9.]+) ms \|.*/\1/' | median || true)
    [ -n "$LLMC_MS" ] && echo "llm.c: batch $BATCH, median $LLMC_MS ms/step ($LLMC_NOTE)" >&2
  fi
fi

# ------------------------------------------------------------------ PyTorch
TORCH_MS="" TORCH_NOTE="not run (--no-torch)"
if [ "$TORCH" = 1 ]; then
  if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    if sampled torch "$PYTHON" bench/bench_gpu_torch.py --batch "$BATCH" --seq-len $T --n-layer $L --n-head $NH --n-embd $C --steps "$STEPS" --data "$DATA" > "$TMP/torch.log" 2>&1; then
      TORCH_MS=$(grep '^median_ms' "$TMP/torch.log" | awk '{print $2}')
      TORCH_NOTE=$(grep '^torch' "$TMP/torch.log" | head -1)
    else
      TORCH_NOTE="failed: $(tail -1 "$TMP/torch.log")"
    fi
  else
    TORCH_NOTE="skipped: $PYTHON has no torch with CUDA on this machine"
  fi
fi

# ------------------------------------------------------------------ table
row() {  # name ms [batch]
  awk -v name="$1" -v ms="$2" -v b="${3:-$BATCH}" -v t="$T" -v f="$FLOPS_PER_TOKEN" -v peak="$PEAK" 'BEGIN {
    tok = b * t / (ms / 1000); mfu = peak > 0 ? sprintf("%6.1f%%", 100 * tok * f / (peak * 1e12)) : "   n/a ";
    printf "| %-34s | %6d | %9.1f | %10.0f | %s |\n", name, b, ms, tok, mfu }'
}
echo
NAME=$([ "$TINY" = 1 ] && echo "tiny model (L=$L, C=$C, V=$V, rehearsal)" || echo "GPT-2 $SIZE")
echo "$NAME, T=$T, bf16, one GPU ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)), $(date -u +%Y-%m-%d)"
echo "N = $N_PARAMS parameters, FLOPs/token = 6N + 6LCT = $FLOPS_PER_TOKEN, measured bf16 peak ${PEAK:-n/a} TFLOP/s"
echo "| trainer                            | batch  | ms/step   | tokens/s   | MFU     |"
echo "|------------------------------------|--------|-----------|------------|---------|"
row "train_gpt (loss $OURS_LOSS)" "$OURS_MS"
echo "($(grep -m1 '^attention:' "$TMP/ours_$BATCH.log"))"
if [ -n "$OTHER_MS" ]; then row "$OTHER_NAME" "$OTHER_MS"; elif [ -n "$OTHER_NAME" ]; then echo "| $OTHER_NAME"; fi
if [ -n "$BASE_MS" ]; then row "train_gpt, baseline" "$BASE_MS"; echo "($BASE_NOTE)"
elif [ -n "$BASE_NOTE" ]; then echo "| train_gpt, baseline: $BASE_NOTE"; fi
if [ -n "$CUDNN_MS" ]; then row "train_gpt_cudnn" "$CUDNN_MS" "$CUDNN_BATCH"; [ -z "$CUDNN_NOTE" ] || echo "($CUDNN_NOTE)"
else [ "$TINY" = 1 ] || echo "| train_gpt_cudnn: $CUDNN_NOTE"; fi
if [ -n "$LLMC_MS" ]; then row "llm.c train_gpt2cu" "$LLMC_MS"; echo "($LLMC_NOTE)"; else echo "| llm.c: $LLMC_NOTE"; fi
if [ -n "$TORCH_MS" ]; then row "PyTorch compile+SDPA+fused AdamW" "$TORCH_MS"; else echo "| PyTorch: $TORCH_NOTE"; fi
[ -z "$TORCH_MS" ] || echo "($TORCH_NOTE)"
if [ "$SAMPLE" = 1 ]; then
  echo "(clocks while each ran: nvidia-smi every 200 ms, the samples at half the run's peak power or more)"
  for tag in "ours_$BATCH" "ours_${BATCH}_other" "ours_${BATCH}_baseline" "ours_${CUDNN_BATCH}_cudnn" llmc torch; do
    c=$(clocks "$tag")
    [ -z "$c" ] || echo "  ${tag/ours_${BATCH}/train_gpt}: $c"
  done
fi
