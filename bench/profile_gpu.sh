#!/usr/bin/env bash
# profile_gpu.sh: every kernel of one GPT-2 124M training step (T=1024) timed on the GPU with
# Nsight Compute, set beside the roofline model's prediction for it (bench/roofline.py
# --measured), which prints each kind's measured efficiency: the numbers that replace the
# estimates at the top of roofline.py.
#
#   bash bench/profile_gpu.sh [--batch B] [--steps N] [--logs DIR] [--csv FILE] [--cudnn] [--dram | --stalls]
#
# It runs N (default 3) steps of ./train_gpt under `ncu --metrics gpu__time_duration.sum` at the
# GPU's own clocks (--clock-control none; ncu would otherwise lock them to base) and without
# flushing caches between kernels (--cache-control none), as in training. The launches of the
# last step are the ones compared. --csv FILE skips the run and reads an earlier profile.
# --cudnn profiles ./train_gpt_cudnn against the model's cuDNN variant (--attention cudnn).
# --dram measures instead what the attention backward reads from and writes to HBM: the first
# 3 launches of its kernels in one step, caches flushed before each (--cache-control all: what
# L2 keeps is then the kernel's own reuse), once as the trainer chooses (the whole-head kernel
# at B * NH >= 2 heads per SM) and once with TRAIN_GPT_WHOLE_HEAD_MIN set past B * NH (the two
# kernels), each beside the bytes the roofline model counts (bench/roofline.py --dram). The
# model counts the whole-head kernel's re-reads as if L2 kept none of them; this says whether it does.
# --stalls profiles one launch of each attention kernel of ./train_gpt with Nsight Compute's
# warp-state, scheduler, occupancy and launch sections and prints, per kernel, what its warps
# wait on per issued instruction (barrier, long_scoreboard, ...), how often a scheduler issues,
# its registers and occupancy: what the next change to those kernels should aim at. With
# --csv FILE it reads an earlier --stalls profile instead (its stalls.csv).
# ncu serialises and replays kernels: a step takes about a minute under it, and the times of
# short kernels include no launch gaps (the model adds those separately).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-} ATTENTION=mma DRAM=0 STALLS=0
BATCH=64 STEPS=3 LOGS="" CSV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH=${2:?--batch needs a value}; shift 2 ;;
    --steps) STEPS=${2:?--steps needs a value}; shift 2 ;;
    --logs) LOGS=${2:?--logs needs a folder}; shift 2 ;;
    --csv) CSV=${2:?--csv needs a file}; shift 2 ;;
    --cudnn) ATTENTION=cudnn; shift ;;
    --dram) DRAM=1; shift ;;
    --stalls) STALLS=1; shift ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$TRAINER" ] || TRAINER=$([ "$ATTENTION" = cudnn ] && echo ./train_gpt_cudnn || echo ./train_gpt)
[ "$STEPS" -ge 3 ] || { echo "error: --steps $STEPS: at least 3, so that the last step can be told from the first" >&2; exit 2; }
[[ "$BATCH" =~ ^[0-9]+$ ]] && [ "$BATCH" -gt 0 ] || { echo "error: --batch $BATCH: expected a positive number" >&2; exit 2; }
# what a run under ncu needs: ncu, the trainer, the data, and the log folder
ready_to_profile() {
  command -v ncu >/dev/null || { echo "error: ncu (Nsight Compute) not found; it comes with the CUDA toolkit" >&2; exit 1; }
  [ -x "$TRAINER" ] || { echo "error: $TRAINER not found; build it with 'make ${TRAINER#./}'" >&2; exit 1; }
  DATA=data/tinyshakespeare/train_000000.bin
  [ -f "$DATA" ] || { echo "error: $DATA not found; run 'make data' first" >&2; exit 1; }
  LOGS=${LOGS:-$(mktemp -d)}
  mkdir -p "$LOGS"
}
if [ "$STALLS" = 1 ]; then
  [ "$ATTENTION" = mma ] && [ "$DRAM" = 0 ] || { echo "error: --stalls profiles ./train_gpt's own attention kernels: not with --cudnn or --dram" >&2; exit 2; }
  if [ -z "$CSV" ]; then
  ready_to_profile
  CSV=$LOGS/stalls.csv
  # the raw page: every metric the sections collect, one row per launch (the stall reasons
  # are the charts' metrics, not the sections' tables)
  ncu --kernel-name regex:'attention_(forward|backward)' --launch-count 2 --clock-control none \
    --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats --page raw --csv \
    "$TRAINER" --train "$DATA" --val '' --n-layer 12 --n-head 12 --n-embd 768 --seq-len 1024 --vocab-size 50257 \
    --batch "$BATCH" --steps 1 --warmup 1 --eval-every 0 --sample-tokens 0 > "$LOGS/stalls.csv" 2> "$LOGS/stalls.log" || {
      tail -20 "$LOGS/stalls.log" >&2; echo "error: ncu failed (log: $LOGS/stalls.log)" >&2; exit 1; }
  fi
  [ -f "$CSV" ] || { echo "error: $CSV not found" >&2; exit 1; }
  grep -m1 '^attention:' "$CSV" || true
  python3 - "$CSV" <<'PY'
import csv, sys
lines = open(sys.argv[1]).read().splitlines()
start = next((i for i, l in enumerate(lines) if '"Kernel Name"' in l), None)   # the trainer's lines come first
if start is None:
    sys.exit("no ncu table in " + sys.argv[1])
rows = list(csv.reader(lines[start:]))
header = rows[0]
col = {name: i for i, name in enumerate(header)}
launches = [r for r in rows[1:] if len(r) == len(header) and r[col["Kernel Name"]]]   # (not the units row)
def value(r, name):
    try: return float(r[col[name]].replace(",", ""))
    except (KeyError, ValueError, IndexError): return None
stall = [n for n in header if n.startswith("smsp__average_warps_issue_stalled_") and n.endswith("_per_issue_active.ratio")]
for r in launches:
    print(r[col["Kernel Name"]][:90])
    for n in ("launch__registers_per_thread", "launch__block_size", "launch__grid_size", "sm__warps_active.avg.pct_of_peak_sustained_active",
              "smsp__issue_active.avg.pct_of_peak_sustained_active", "smsp__average_warp_latency_per_inst_issued.ratio"):
        v = value(r, n)
        if v is not None: print(f"  {n:60s} {v:10.2f}")
    waits = sorted(((value(r, n) or 0.0, n) for n in stall), reverse=True)
    print("  stalls per issued instruction: " + ", ".join(
        f"{n[len('smsp__average_warps_issue_stalled_'):-len('_per_issue_active.ratio')]} {v:.2f}" for v, n in waits if v >= 0.05))
PY
  exit 0
fi
if [ "$DRAM" = 1 ]; then
  [ "$ATTENTION" = mma ] && [ -z "$CSV" ] || { echo "error: --dram measures ./train_gpt's own kernels: not with --cudnn or --csv" >&2; exit 2; }
  ready_to_profile
  for way in chosen two_kernels; do
    env=() model=()
    [ "$way" = two_kernels ] && env=(TRAIN_GPT_WHOLE_HEAD_MIN=1000000000) model=(--whole-head-min 1000000000)
    echo "--- the attention backward, $way ($( [ $way = chosen ] && echo "as the trainer picks at --batch $BATCH" || echo "TRAIN_GPT_WHOLE_HEAD_MIN past B x heads"))"
    env "${env[@]}" ncu --kernel-name regex:attention_backward --launch-count 3 --cache-control all --clock-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv \
      "$TRAINER" --train "$DATA" --val '' --n-layer 12 --n-head 12 --n-embd 768 --seq-len 1024 --vocab-size 50257 \
      --batch "$BATCH" --steps 1 --warmup 1 --eval-every 0 --sample-tokens 0 > "$LOGS/dram_$way.csv" 2> "$LOGS/dram_$way.log" || {
        tail -20 "$LOGS/dram_$way.log" >&2; echo "error: ncu failed (log: $LOGS/dram_$way.log)" >&2; exit 1; }
    grep -m1 '^attention:' "$LOGS/dram_$way.csv" || true
    python3 bench/roofline.py --batch "$BATCH" "${model[@]}" --dram "$LOGS/dram_$way.csv"
  done
  exit 0
fi
if [ -z "$CSV" ]; then
  ready_to_profile
  CSV=$LOGS/kernels.csv
  ncu --metrics gpu__time_duration.sum --csv --clock-control none --cache-control none \
    "$TRAINER" --train "$DATA" --val '' --n-layer 12 --n-head 12 --n-embd 768 --seq-len 1024 --vocab-size 50257 \
    --batch "$BATCH" --steps "$STEPS" --warmup 2 --eval-every 0 --sample-tokens 0 > "$CSV" 2> "$LOGS/ncu_stderr.log" || {
      tail -20 "$LOGS/ncu_stderr.log" >&2; echo "error: ncu failed (log: $LOGS/ncu_stderr.log)" >&2; exit 1; }
  # the trainer's own lines are mixed into ncu's standard output; the CSV parser skips to the header
  echo "profile: $CSV" >&2
fi
python3 bench/roofline.py --batch "$BATCH" --attention "$ATTENTION" --measured "$CSV"
