#!/usr/bin/env bash
# bench_cpu.sh: ms per optimizer step of ./train_gpt_cpu against plain PyTorch, same machine,
# same run, same thread count, fp32, at two shapes: GPT-2 124M and a small model.
#
# What it is not: a throughput study. One batch shape per model, a median over a handful of
# steps, on whatever else the machine is doing: run it on an idle machine and quote the date.
#
#   bash bench/bench_cpu.sh [--threads N] [--torch-only]
#
# Needs `make train_gpt_cpu data` (the trainer and the tinyshakespeare shards it reads) and
# /usr/bin/python3 with torch on OpenBLAS (libopenblas0). Our figure is the median of the
# "| <ms> ms |" field of the trainer's step lines after the first two; PyTorch's is the median
# of 10 timed steps after 3 warm-up steps (bench/bench_cpu_torch.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-/usr/bin/python3}
TRAINER=${TRAINER:-./train_gpt_cpu}  # the binary under test; override to time another build
THREADS=$(nproc)
TORCH_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=${2:?--threads needs a value}; shift 2 ;;
    --torch-only) TORCH_ONLY=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$THREADS" in ''|*[!0-9]*|0) echo "error: --threads must be a positive integer, got '$THREADS'" >&2; exit 2 ;; esac

# ------------------------------------------------------------------ preconditions
if [ "$TORCH_ONLY" = 0 ]; then
  if [ ! -x "$TRAINER" ]; then
    echo "error: $TRAINER not found; build it with 'make train_gpt_cpu' (or pass --torch-only)" >&2
    exit 1
  fi
  for f in data/tinyshakespeare/train_000000.bin data/tinyshakespeare/val_000000.bin; do
    [ -f "$f" ] || { echo "error: $f not found; run 'make data' first" >&2; exit 1; }
  done
fi
"$PYTHON" -c "import torch" 2>/dev/null || {
  echo "error: $PYTHON cannot import torch; install Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=$THREADS
# stops here when torch runs on the reference BLAS
blas=$("$PYTHON" bench/bench_cpu_torch.py --blas-check --threads "$THREADS" --n-layer 1 --n-head 1 \
  --n-embd 8 --vocab-size 16 --seq-len 4 --batch 1 --warmup 0 --steps 1 2>&1) || { echo "$blas" >&2; exit 1; }
BLAS_LINE=${blas%%$'\n'*}
echo "$BLAS_LINE" >&2

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# "median min max" of a column of numbers; the spread shows how much the machine's load moved them
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
  print ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'; }

# ours: median ms of steps 3.. of "step 3/12 | loss ... | lr ... | norm ... | 1234.5 ms | ..."
ours_ms() {  # name, then model flags
  local name=$1; shift
  local log="$TMP/ours_$name.log"
  if ! "$TRAINER" --train data/tinyshakespeare/train_000000.bin \
      --val data/tinyshakespeare/val_000000.bin "$@" --vocab-size 50257 --seq-len 64 \
      --steps 12 --eval-every 0 --sample-every 0 --sample-tokens 0 --save-every 0 --out "$TMP/out_$name" \
      --threads "$THREADS" > "$log" 2>&1; then
    echo "error: $TRAINER failed at shape $name; its output:" >&2; tail -20 "$log" >&2; exit 1
  fi
  awk -F ' \\| ' '/^step [0-9]+\// { split($1, s, "[ /]"); if (s[2] > 2) { sub(/ ms$/, "", $5); print $5 } }' "$log" \
    | median || { echo "error: no 'step N/12 | ... | <ms> ms' lines in the output of $TRAINER ($name):" >&2;
                  tail -20 "$log" >&2; exit 1; }
}

# PyTorch runs its own OpenMP threads and OpenBLAS runs a second pool of its own; on N
# cores the two can fight. So PyTorch gets three tries, (OpenMP, OpenBLAS) threads =
# (N, N), (N, 1) and (1, N), and its best median counts. Prints "median min max omp/blas".
torch_ms() {  # name, then model flags
  local name=$1; shift
  local best="" cfg
  for cfg in "$THREADS $THREADS" "$THREADS 1" "1 $THREADS"; do
    local omp=${cfg% *} blas=${cfg#* } log="$TMP/torch_${name}_${cfg/ /_}.log"
    if ! OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=$blas "$PYTHON" bench/bench_cpu_torch.py "$@" \
        --vocab-size 50257 --seq-len 64 --threads "$omp" --warmup 2 --steps 8 > "$log" 2>&1; then
      echo "error: bench/bench_cpu_torch.py failed at shape $name; its output:" >&2; tail -20 "$log" >&2; exit 1
    fi
    local m
    m=$(awk '/^torch step / && !/warm-up/ { split($0, f, " [|] "); sub(/ ms$/, "", f[3]); print f[3] }' "$log" | median)
    echo "    PyTorch with $omp OpenMP / $blas OpenBLAS thread(s): median (min max) ms $m" >&2
    if [ -z "$best" ] || awk -v a="${m%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then best="$m $omp/$blas"; fi
  done
  echo "$best"
}

# ------------------------------------------------------------------ the runs
ROWS=()
for shape in "124M:--n-layer 12 --n-head 12 --n-embd 768 --batch 4" \
             "small:--n-layer 4 --n-head 4 --n-embd 128 --batch 8"; do
  name=${shape%%:*}; flags=${shape#*:}
  batch=${flags##*--batch }
  echo "shape $name: $flags --seq-len 64 --vocab-size 50257" >&2
  ours="- - -"; [ "$TORCH_ONLY" = 1 ] || ours=$(ours_ms "$name" $flags)
  theirs=$(torch_ms "$name" $flags)
  read -r o omin omax <<< "$ours"; read -r t tmin tmax tcfg <<< "$theirs"
  echo "  ms/step median (min..max): ours $o ($omin..$omax), PyTorch $t ($tmin..$tmax) at OpenMP/OpenBLAS threads $tcfg" >&2
  ROWS+=("$name|$batch|$o|$t")
done

# ------------------------------------------------------------------ the table
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)')
echo
echo "date $(date -u '+%Y-%m-%d %H:%M UTC'), $THREADS thread(s), CPU: $cpu ($(nproc) cores visible), torch $torch_version"
echo "$BLAS_LINE"
echo "load average before the runs: $LOAD_BEFORE (other work on the machine inflates both columns)"
echo
echo "| shape (B x T=64) | ours ms/step | ours tok/s | PyTorch ms/step | PyTorch tok/s | PyTorch ms / ours ms |"
echo "|---|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name batch ours theirs <<< "$row"
  awk -v n="$name" -v b="$batch" -v o="$ours" -v t="$theirs" 'BEGIN {
    tok = b * 64
    if (o == "-") printf "| %s (B=%d) | - | - | %.1f | %.0f | - |\n", n, b, t, tok * 1000 / t
    else printf "| %s (B=%d) | %.1f | %.0f | %.1f | %.0f | %.2f |\n", n, b, o, tok * 1000 / o, t, tok * 1000 / t, t / o }'
done
