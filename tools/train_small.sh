#!/usr/bin/env bash
# tools/train_small.sh: the newcomer's first run (`make train`). Trains a small GPT on
# tinyshakespeare, on the GPU when a GPU trainer and a CUDA device are present (train_gpt_cudnn,
# cuDNN's attention, where it was built: the faster one on an H100, bench/RESULTS.md; else
# train_gpt), else on the CPU in about five minutes on two cores; then prints the validation loss reached, a
# sample of generated text, and where the checkpoint and the log are. Run it again and
# it continues from its last checkpoint (--resume) instead of starting over, or says that
# there is nothing left to train.
# STEPS=N overrides the number of steps; OUT=DIR the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=data/tinyshakespeare_bpe1k          # tinyshakespeare with a 1,024-token BPE vocabulary (make data)
OUT=${OUT:-out/tinyshakespeare}
[ -f "$DATA/train_000000.bin" ] || { echo "error: $DATA is missing: run make data" >&2; exit 1; }
mkdir -p "$OUT"

gpu_trainer=""
for t in ./train_gpt_cudnn ./train_gpt; do [ -x "$t" ] && { gpu_trainer=$t; break; }; done
if [ -n "$gpu_trainer" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    trainer=$gpu_trainer
    model="--n-layer 6 --n-head 6 --n-embd 384 --seq-len 256 --batch 32"
    STEPS=${STEPS:-2000}
else
    trainer=./train_gpt_cpu
    model="--n-layer 4 --n-head 4 --n-embd 128 --seq-len 128 --batch 16"
    STEPS=${STEPS:-1000}
fi
echo "training with $trainer for $STEPS steps; checkpoints and log in $OUT"
$trainer --train "$DATA/train_*.bin" --val "$DATA/val_*.bin" --vocab-size 1024 $model \
    --steps "$STEPS" --shuffle --lr 2e-3 --warmup 50 --eval-every 100 --eval-batches 20 --save-every 250 \
    --sample-every "$STEPS" --sample-tokens 120 --prompt $'ROMEO:\n' --out "$OUT" --resume | tee "$OUT.txt"

echo
echo "=================================================================="
# from the log, which also holds the validation of an earlier, interrupted or finished run
grep '"val_loss"' "$OUT/log.jsonl" | tail -1 | sed -E 's/.*"step":([0-9]+).*"val_loss":([-0-9.e+]+).*/reached: val loss \2 | step \1/' || true
echo "checkpoint: $(ls -d "$OUT"/step_* | tail -1)  (a Hugging Face GPT-2 directory)"
echo "log:        $OUT/log.jsonl"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null && [ -f tools/plot_loss.py ]; then
    /usr/bin/python3 tools/plot_loss.py "$OUT/log.jsonl" --out "$OUT/loss.png" && echo "loss curve: $OUT/loss.png"
fi
