#!/usr/bin/env bash
# gpu_session.sh: everything one GPU (an H100) should check, most valuable first, in stages that
# each finish well inside ten minutes, with every log kept in a folder you name:
#
#   env        what this machine has and lacks: GPU, nvcc, NCCL, headers, data (never fails alone)
#   build      train_gpt (bf16), train_gpt_fp32, build/test_gpu, build/test_gpu_fp32, train_gpt_cpu,
#              and train_gpt_cudnn where cuDNN's frontend headers came along (.deps/cudnn-frontend);
#              the binaries bench/gpu_deps.sh --prebuild made, where their sources still match
#   test       build/test_gpu: every layer and the whole model against the CPU reference (bf16)
#   smoke      20 steps of ./train_gpt at the GPT-2 124M shape on tinyshakespeare: finite, falling loss;
#              then 30 steps of what `make train` runs (tools/train_small.sh), which must finish
#   bench      GPT-2 124M throughput: ours (printed at once), ours with cuDNN's attention, then
#              llm.c if its sources came along (.deps/llm.c), then PyTorch at its best (bench/bench_gpu.sh)
#   dram       what the attention backward reads from and writes to HBM, whole-head and two kernels,
#              beside what the roofline model counts: whether L2 keeps its re-reads (profile_gpu.sh --dram)
#   test_fp32  build/test_gpu_fp32: the same at fp32 tolerances
#   sanitize   compute-sanitizer memcheck, racecheck, synccheck on a tiny model, only our kernels
#   profile    each kernel of a 124M step timed with Nsight Compute beside the roofline model's
#              prediction; prints the measured efficiencies (bench/profile_gpu.sh); the same for
#              train_gpt_cudnn where it was built
#   cudnn      build/test_gpu_cudnn: the bf16 tests with cuDNN's attention in the model, then
#              train_gpt_cudnn twice for 10 steps: the same losses bit for bit (deterministic)
#   stalls     what the attention kernels' warps wait on, per issued instruction, with their
#              issue rate, registers and occupancy (bench/profile_gpu.sh --stalls)
#   bench350   throughput as in bench, for GPT-2 350M (bench/bench_gpu.sh --model 350M)
#
#   bash bench/gpu_session.sh [--logs DIR] [--from STAGE | --only STAGE] [--budget SECONDS] [--rehearse]
#
# --budget: the seconds the whole session may take. Each stage's time limit shrinks to what is
# left, and a stage that would get less than it needs at the least is not started (the summary
# says so). A GPU lent for 15 minutes, a minute or two of it to start the machine, gets most
# from one call of --budget 420 with everything built ahead (below): the stages above are in
# the order of what a short session should learn first.
#
# The GPU machine may be offline and bare: run `bash bench/gpu_deps.sh --prebuild` first on a
# machine with the project's dependencies and nvcc (no GPU needed); it copies the headers
# (nlohmann-json, doctest) and, when you give it a clone of llm.c (--llmc DIR), llm.c's sources
# into .deps/ (ignored by git), which this script finds through CPATH, and builds every GPU
# binary into .deps/bin, which saves the session several minutes of nvcc. NCCL comes from the
# CUDA install, Python's nvidia-nccl package, or .deps/. The data folder (data/, made by
# `make data`) is used as it is when it came along.
# --rehearse runs the same stages on a machine without a GPU, through the CPU execution mode
# for CUDA (tools/cudacpu): a tiny shape instead of 124M, no PyTorch, no compute-sanitizer.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAGES=(env build test smoke bench dram test_fp32 sanitize profile cudnn stalls bench350)
LOGS="" FROM="" ONLY="" REHEARSE=0 BUDGET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --logs) LOGS=${2:?--logs needs a folder}; shift 2 ;;
    --from) FROM=${2:?--from needs a stage}; shift 2 ;;
    --only) ONLY=${2:?--only needs a stage}; shift 2 ;;
    --rehearse) REHEARSE=1; shift ;;
    --budget) BUDGET=${2:?--budget needs seconds}; shift 2
      [[ "$BUDGET" =~ ^[0-9]+$ ]] && [ "$BUDGET" -gt 0 ] || { echo "error: --budget $BUDGET: expected a number of seconds" >&2; exit 2; } ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for s in "$FROM" "$ONLY"; do
  [ -z "$s" ] || [[ " ${STAGES[*]} " == *" $s "* ]] || { echo "error: no stage '$s'; stages: ${STAGES[*]}" >&2; exit 2; }
done
LOGS=${LOGS:-$(mktemp -d)}
mkdir -p "$LOGS" || { echo "error: cannot create the log folder $LOGS" >&2; exit 2; }
LOGS=$(cd "$LOGS" && pwd)
NPROC=$(nproc)
export PATH="/usr/local/cuda/bin:$PATH"

# ---------------------------------------------------------------- what to build and run
if [ "$REHEARSE" = 1 ]; then
  # the CPU execution mode stands in for the GPU: the same sources, kernels run on the CPU
  BUILD_TARGETS="build/train_gpt_cpumode build/train_gpt_fp32_cpumode build/test_gpu_cpumode build/test_gpu_fp32_cpumode train_gpt_cpu"
  TRAINER=build/train_gpt_cpumode TEST_BF16=build/test_gpu_cpumode TEST_FP32=build/test_gpu_fp32_cpumode
  SMOKE_MODEL="--n-layer 2 --n-head 2 --n-embd 64 --seq-len 64 --batch 4"
  BENCH_ARGS="--tiny --no-torch"
else
  BUILD_TARGETS="train_gpt train_gpt_fp32 build/test_gpu build/test_gpu_fp32 train_gpt_cpu"
  TRAINER=./train_gpt TEST_BF16=build/test_gpu TEST_FP32=build/test_gpu_fp32
  SMOKE_MODEL="--n-layer 12 --n-head 12 --n-embd 768 --seq-len 1024 --batch 8"
  BENCH_ARGS=""
fi

# ---------------------------------------------------------------- dependencies brought along
# headers and libraries copied into .deps/ by bench/gpu_deps.sh; NCCL from Python's nvidia-nccl
add_path() { local var=$1 dir=$2; [ -d "$dir" ] || return 0; export "$var=$dir${!var:+:${!var}}"; }
add_path CPATH "$ROOT/.deps/include"
add_path LIBRARY_PATH "$ROOT/.deps/lib"
add_path LD_LIBRARY_PATH "$ROOT/.deps/lib"
NCCL_PY=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null || true)
if [ -n "$NCCL_PY" ] && [ ! -f /usr/local/cuda/include/nccl.h ]; then
  add_path CPATH "$NCCL_PY/include"
  add_path LIBRARY_PATH "$NCCL_PY/lib"
  add_path LD_LIBRARY_PATH "$NCCL_PY/lib"
  [ -e "$NCCL_PY/lib/libnccl.so" ] || { mkdir -p "$ROOT/.deps/lib" && ln -sf "$NCCL_PY/lib/libnccl.so.2" "$ROOT/.deps/lib/libnccl.so"; add_path LIBRARY_PATH "$ROOT/.deps/lib"; }
fi

# cuDNN (llm.c's attention in the benchmark) likewise from Python's nvidia-cudnn package
CUDNN_PY=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null || true)
if [ -n "$CUDNN_PY" ] && [ ! -f /usr/local/cuda/include/cudnn.h ]; then
  add_path CPATH "$CUDNN_PY/include"
  add_path LIBRARY_PATH "$CUDNN_PY/lib"
  add_path LD_LIBRARY_PATH "$CUDNN_PY/lib"
  [ -e "$CUDNN_PY/lib/libcudnn.so" ] || { mkdir -p "$ROOT/.deps/lib" && ln -sf "$CUDNN_PY"/lib/libcudnn.so.9 "$ROOT/.deps/lib/libcudnn.so"; add_path LIBRARY_PATH "$ROOT/.deps/lib"; }
fi

# ---------------------------------------------------------------- binaries built ahead
# bench/gpu_deps.sh --prebuild: used where every source they were built from is unchanged
PREBUILT=0 LLMC_BUILT=""
if [ "$REHEARSE" = 0 ] && [ -f .deps/bin/SOURCES ]; then
  if sha256sum --quiet -c .deps/bin/SOURCES > "$LOGS/prebuilt_check.txt" 2>&1; then
    PREBUILT=1
    [ -f .deps/bin/llmc/train_gpt2cu ] && chmod +x .deps/bin/llmc/train_gpt2cu && LLMC_BUILT=$ROOT/.deps/bin/llmc
  else
    echo "not using .deps/bin (built ahead): sources changed since; they are built here instead:"
    head -5 "$LOGS/prebuilt_check.txt"
  fi
fi
# an earlier commit's train_gpt (gpu_deps.sh --baseline REV): the benchmark runs it beside ours,
# whether or not today's sources match (it was built from that commit's own files)
BASELINE_TRAINER=""
[ "$REHEARSE" = 0 ] && [ -f .deps/bin/baseline/train_gpt ] && chmod +x .deps/bin/baseline/train_gpt &&
  BASELINE_TRAINER=$ROOT/.deps/bin/baseline/train_gpt

# ---------------------------------------------------------------- stages
declare -a NAMES RESULTS TIMES
run_stage() {  # name, time limit (s), command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s) log="$LOGS/$name.log"
  echo "=== $name (limit ${limit}s, log $log)"
  timeout "$limit" bash -c "$*" > "$log" 2>&1
  local rc=$?
  tail -25 "$log"
  local verdict=PASS
  [ $rc -eq 0 ] || verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"
  if [ "$name" = build ] && grep -qi 'warning' "$log"; then verdict="$verdict + WARNINGS"; fi
  NAMES+=("$name"); RESULTS+=("$verdict"); TIMES+=("$(( $(date +%s) - t0 ))")
}
wanted() {  # stage -> true if it should run
  if [ -n "$ONLY" ]; then [ "$1" = "$ONLY" ]; return; fi
  [ -z "$FROM" ] && return 0
  local s seen=0
  for s in "${STAGES[@]}"; do [ "$s" = "$FROM" ] && seen=1; [ "$s" = "$1" ] && { [ $seen = 1 ]; return; }; done
}

stage_env() {
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi: no GPU answered"
  nvcc --version 2>&1 | tail -1 || echo "nvcc: not found"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1
  command -v compute-sanitizer || echo "compute-sanitizer: not found"
  for h in nlohmann/json.hpp doctest/doctest.h nccl.h; do
    found=""
    for d in ${CPATH//:/ } /usr/include /usr/local/cuda/include; do [ -f "$d/$h" ] && { found=$d; break; }; done
    echo "$h: ${found:-MISSING (run bench/gpu_deps.sh where it is installed and bring .deps/ along)}"
  done
  [ -d .deps/llm.c ] && echo "llm.c sources: .deps/llm.c" || echo "llm.c sources: not brought along (bench compares with PyTorch only)"
  for f in data/tinyshakespeare/train_000000.bin data/tinyshakespeare_bpe1k/train_000000.bin; do
    [ -f "$f" ] && echo "$f: present" || echo "$f: MISSING (bring data/ along, or set DATA_MIRROR and the build stage makes it)"
  done
  echo "CPATH=${CPATH:-}"
}

stage_build() {
  set -e
  if [ ! -f data/tinyshakespeare_bpe1k/train_000000.bin ] || [ ! -f data/tinyshakespeare/train_000000.bin ]; then
    make prepare_data && make data
  fi
  if [ "$PREBUILT" = 1 ]; then
    echo "the binaries built ahead (bench/gpu_deps.sh --prebuild), every source unchanged:"
    # copied into place and newer than their sources, so make leaves them as they are
    (cd .deps/bin && find . -type f ! -name SOURCES ! -path './llmc/*' ! -path './baseline/*') | while read -r f; do
      mkdir -p "$(dirname "$f")" && cp ".deps/bin/$f" "$f" && chmod +x "$f" && touch "$f" && echo "  $f"
    done
    [ -z "$LLMC_BUILT" ] || echo "  llm.c: $(cat "$LLMC_BUILT/NOTE")"
    make -j"$NPROC" train_gpt_cpu   # built here: -march=native
    return 0
  fi
  make -j"$NPROC" $BUILD_TARGETS
  # cuDNN's variant on its own, so that a cuDNN problem never stops the stages above; the cudnn stage says why
  if [ "$REHEARSE" = 0 ] && [ -f .deps/cudnn-frontend/include/cudnn_frontend.h ]; then
    make -j"$NPROC" train_gpt_cudnn || echo "train_gpt_cudnn did not build (the cudnn stage retries and fails with the reason)"
  fi
}

stage_smoke() {
  set -e
  local out=$LOGS/smoke_run
  rm -rf "$out"
  "$TRAINER" --train data/tinyshakespeare/train_000000.bin --val data/tinyshakespeare/val_000000.bin \
    $SMOKE_MODEL --vocab-size 50257 --steps 20 --warmup 5 --lr 6e-4 --eval-every 10 --eval-batches 2 \
    --sample-every 0 --sample-tokens 16 --out "$out" | tee "$LOGS/smoke_steps.txt"
  # the loss must be finite and the last steps lower than the first
  awk -F'loss ' '/^step /{ split($2, a, " "); l[++n] = a[1] } END {
    if (n < 20) { print "only " n " step lines"; exit 1 }
    for (i = 1; i <= n; i++) if (l[i] !~ /^[0-9]+\.[0-9]+$/) { print "loss not finite at step " i ": " l[i]; exit 1 }
    if (l[n] >= l[1]) { print "loss did not fall: " l[1] " -> " l[n]; exit 1 }
    print "loss " l[1] " -> " l[n] " over " n " steps" }' "$LOGS/smoke_steps.txt"
  # make train's run, 30 steps: its own model and trainer choice (train_gpt_cudnn where built),
  # which the 124M shape above does not cover (its first GPU run failed at 384 channels)
  STEPS=30 OUT="$out/make_train" bash tools/train_small.sh > "$LOGS/make_train.txt" 2>&1 || true
  grep -E "^training with|^reached:" "$LOGS/make_train.txt" || true
  grep -q "^reached: val loss" "$LOGS/make_train.txt" || { tail -5 "$LOGS/make_train.txt"; echo "make train's run failed"; exit 1; }
}

stage_bench() { TRAINER=$TRAINER bash bench/bench_gpu.sh $BENCH_ARGS; }
stage_profile() {
  if [ "$REHEARSE" = 1 ]; then echo "rehearsal: Nsight Compute needs a GPU"; return 0; fi
  bash bench/profile_gpu.sh --logs "$LOGS/profile"
  # TRAINER is exported as ./train_gpt for the other stages: name cuDNN's trainer here
  [ ! -x ./train_gpt_cudnn ] || TRAINER=./train_gpt_cudnn bash bench/profile_gpu.sh --cudnn --logs "$LOGS/profile_cudnn"
}
stage_stalls() {
  if [ "$REHEARSE" = 1 ]; then echo "rehearsal: Nsight Compute needs a GPU"; return 0; fi
  bash bench/profile_gpu.sh --stalls --logs "$LOGS/stalls"
}
stage_dram() {
  if [ "$REHEARSE" = 1 ]; then echo "rehearsal: Nsight Compute needs a GPU"; return 0; fi
  bash bench/profile_gpu.sh --dram --logs "$LOGS/dram"
}
stage_bench350() { TRAINER=$TRAINER bash bench/bench_gpu.sh --model 350M $BENCH_ARGS; }
stage_test() { "$TEST_BF16"; }
stage_cudnn() {
  set -e
  if [ "$REHEARSE" = 1 ]; then echo "rehearsal: cuDNN needs a GPU (make test compiles and links train_gpt_cudnn)"; return 0; fi
  [ -f .deps/cudnn-frontend/include/cudnn_frontend.h ] || { echo "no .deps/cudnn-frontend: run bench/gpu_deps.sh and bring .deps along"; return 1; }
  [ "$PREBUILT" = 1 ] && [ -x build/test_gpu_cudnn ] || make -j"$NPROC" train_gpt_cudnn build/test_gpu_cudnn
  build/test_gpu_cudnn
  local run="--train data/tinyshakespeare/train_000000.bin --val '' $SMOKE_MODEL --vocab-size 50257 --steps 10
    --warmup 2 --eval-every 0 --sample-tokens 0"
  for i in 1 2; do
    eval ./train_gpt_cudnn $run --out "$LOGS/cudnn_run$i" > "$LOGS/cudnn_run$i.txt"
    grep -E '^step ' "$LOGS/cudnn_run$i.txt" | sed -E 's/\| [0-9.]+ ms \|.*//' > "$LOGS/cudnn_losses$i.txt"
  done
  ! grep -q 'cuDNN attention declined' "$LOGS/cudnn_run1.txt" || { grep 'declined' "$LOGS/cudnn_run1.txt"; return 1; }
  diff "$LOGS/cudnn_losses1.txt" "$LOGS/cudnn_losses2.txt" && echo "train_gpt_cudnn: two runs, the same losses bit for bit"
}
stage_test_fp32() { "$TEST_FP32"; }

stage_sanitize() {
  set -e
  if [ "$REHEARSE" = 1 ]; then echo "rehearsal: compute-sanitizer needs a GPU; the CPU mode's TSan/ASan builds run in make test"; return 0; fi
  # only our kernels (all named *_kernel): cuBLAS's own are not ours to check, and slow to instrument
  local filter=""
  compute-sanitizer --help 2>&1 | grep -q -- '--kernel-regex' && filter="--kernel-regex kns=_kernel"
  local run="--train data/tinyshakespeare_bpe1k/train_000000.bin --val data/tinyshakespeare_bpe1k/val_000000.bin
    --vocab-size 1024 --n-layer 2 --n-head 2 --n-embd 64 --seq-len 32 --batch 2 --steps 2 --eval-every 1
    --eval-batches 1 --sample-every 1 --sample-tokens 4"
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 $filter ./train_gpt $run
  compute-sanitizer --tool racecheck --error-exitcode 1 $filter ./train_gpt $run
  compute-sanitizer --tool synccheck --error-exitcode 1 $filter ./train_gpt $run
  compute-sanitizer --tool memcheck --error-exitcode 1 $filter ./train_gpt_fp32 $run
}

START=$(date +%s)
export -f stage_env stage_build stage_smoke stage_bench stage_dram stage_stalls stage_bench350 stage_test stage_test_fp32 stage_cudnn stage_sanitize stage_profile
export LOGS REHEARSE TRAINER TEST_BF16 TEST_FP32 SMOKE_MODEL BENCH_ARGS BUILD_TARGETS NPROC PREBUILT LLMC_BUILT BASELINE_TRAINER
declare -A LIMIT=([env]=60 [build]=420 [smoke]=300 [bench]=540 [dram]=300 [test]=420 [test_fp32]=420 [cudnn]=540 [sanitize]=540 [profile]=540 [stalls]=300 [bench350]=540)
# the least time a stage is started with under --budget: about twice what each took on an H100
# with everything built ahead (2026-11-26: test 12-14 s, smoke 8-10, bench 101-103, dram 14,
# test_fp32 10-11, sanitize 13-14, profile 32, cudnn 33-37, bench350 174), so that a short
# loan runs the profile rather than stopping at a guess
declare -A LEAST=([env]=10 [build]=60 [smoke]=40 [bench]=150 [dram]=30 [test]=30 [test_fp32]=25 [cudnn]=75 [sanitize]=30 [profile]=70 [stalls]=60 [bench350]=200)
[ "$PREBUILT" = 1 ] && LEAST[build]=20
for s in "${STAGES[@]}"; do
  wanted "$s" || continue
  limit=${LIMIT[$s]}
  if [ "$BUDGET" -gt 0 ]; then
    left=$(( BUDGET - ($(date +%s) - START) ))
    if [ "$left" -lt "${LEAST[$s]}" ]; then
      NAMES+=("$s"); RESULTS+=("not run: ${left}s of the budget left"); TIMES+=(0); continue
    fi
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  run_stage "$s" "$limit" "stage_$s"
done

{
  echo "gpu_session.sh$( [ "$REHEARSE" = 1 ] && echo " --rehearse (CPU execution mode, no GPU)"), $(date -u +%Y-%m-%d), $(( $(date +%s) - START )) s"
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1
  printf "| %-10s | %-34s | %6s |\n" "stage" "result" "s"
  printf "|%s|%s|%s|\n" "------------" "------------------------------------" "--------"
  for i in "${!NAMES[@]}"; do printf "| %-10s | %-34s | %6s |\n" "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"; done
  for t in test test_fp32 cudnn; do
    [ -f "$LOGS/$t.log" ] && { echo "--- $t: doctest summary"; grep -E 'test cases:|assertions:' "$LOGS/$t.log" | tail -2; }
  done
  [ -f "$LOGS/dram.log" ] && { echo "--- dram"; grep -E '^(---|attention|HBM|kernel)' "$LOGS/dram.log"; }
  [ -f "$LOGS/profile.log" ] && { echo "--- profile"; grep -A40 '^measured:' "$LOGS/profile.log"; }
  [ -f "$LOGS/stalls.log" ] && { echo "--- stalls"; grep -vE '^(=== |\+|\|)' "$LOGS/stalls.log" | tail -30; }
  for b in bench bench350; do
    [ -f "$LOGS/$b.log" ] && { echo "--- $b"; sed -n '/^GPT-2 /,$p' "$LOGS/$b.log"; }
  done
} | tee "$LOGS/summary.md"
echo "logs: $LOGS"
for r in "${RESULTS[@]}"; do [ "${r%% *}" = PASS ] || [ "${r%%:*}" = "not run" ] || exit 1; done
