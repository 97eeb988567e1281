#!/usr/bin/env bash
# tutorial/figures/12_loss_curve.sh: chapter 12's figure, a real loss curve.
#
#   bash tutorial/figures/12_loss_curve.sh      (after make and make data; about 20-45 s on one core)
#
# Trains a small model on data/tinyshakespeare_bpe1k with ./train_gpt_cpu into
# out/tutorial12 (validation every 25 steps), then draws its log.jsonl with
# tools/plot_loss.py into tutorial/12-training-loop/loss_curve.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=data/tinyshakespeare_bpe1k
[ -x ./train_gpt_cpu ] || { echo "error: ./train_gpt_cpu not found: run make" >&2; exit 1; }
[ -f $DATA/train_000000.bin ] || { echo "error: $DATA not found: run make data" >&2; exit 1; }
rm -rf out/tutorial12
./train_gpt_cpu --train $DATA/train_000000.bin --val $DATA/val_000000.bin --vocab-size 1024 \
    --n-layer 4 --n-head 4 --n-embd 64 --seq-len 64 --batch 8 --steps 300 --warmup 20 --lr 3e-3 --threads 1 \
    --eval-every 25 --eval-batches 10 --sample-every 300 --sample-tokens 48 --prompt "ROMEO:" --out out/tutorial12 | grep -Ev '^(\||\+)'
"$PYTHON" tools/plot_loss.py out/tutorial12 --out tutorial/12-training-loop/loss_curve.png \
    --title "./train_gpt_cpu, 4 layers x 64 channels, tinyshakespeare (1k BPE)"
