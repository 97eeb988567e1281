#!/usr/bin/env bash
# tutorial/12-training-loop/check.sh: chapter 12's check.
#  0. the baselines a trained model must beat: unigram and bigram cross-entropy of the
#     validation set, in nats per token and bits per byte (self-test: without smoothing,
#     rejected);
#  1. the KV cache: gpt_forward_cached gives gpt_forward's logits, and greedy gpt_generate
#     gives the tokens that full forward passes would choose (build/tutorial/harness_training);
#  2. exact resume: ./train_gpt_cpu runs 8 steps with a checkpoint after step 4; the newest
#     checkpoint is deleted and the run resumed from step 4: steps 5-8 and the validation at
#     step 8 must print exactly the same loss, lr and gradient norm as the first time;
#  3. tools/plot_loss.py draws that run's log.jsonl (where matplotlib is installed).
# Prints PASS or FAIL last. No exercise: the same checks run with TUTORIAL_SELF_TEST=1.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
PYTHON=${PYTHON:-/usr/bin/python3}
reference_program harness_training
build/tutorial/harness_training chapter12 $( [ "${TUTORIAL_SELF_TEST:-0}" = 1 ] && echo --self-test ) ||
    fail "the baselines or the KV cache are wrong (see above)"

trainer_run_setup tutorial12
# --shuffle: the resumed run must also restore the shuffled data order and the RNG
ARGS=(--train $DATA/train_000000.bin --val $DATA/val_000000.bin --vocab-size 1024 --n-layer 2 --n-head 4
      --n-embd 64 --seq-len 64 --batch 4 --steps 8 --warmup 2 --lr 3e-3 --shuffle --eval-every 4 --eval-batches 2
      --sample-tokens 0 --save-every 4 --threads 1 --out "$OUT/run")
./train_gpt_cpu "${ARGS[@]}" > "$OUT/first.txt" 2>&1 || { cat "$OUT/first.txt"; fail "./train_gpt_cpu failed"; }
[ -d "$OUT/run/step_000004" ] && [ -d "$OUT/run/step_000008" ] || fail "expected checkpoints step_000004 and step_000008 in $OUT/run"
rm -rf "$OUT/run/step_000008"
./train_gpt_cpu "${ARGS[@]}" --resume > "$OUT/resumed.txt" 2>&1 || { cat "$OUT/resumed.txt"; fail "the resumed run failed"; }
grep -q "resuming from .*step_000004 at step 4" "$OUT/resumed.txt" || fail "the second run did not resume from step 4"
# the step lines without the timing fields (ms, tok/s), and the validation lines
figures() { grep -E '^(step [5-8]/8|val loss .* step 8$)' "$1" | sed -E 's/ \| [0-9.]+ ms \| [0-9]+ tok\/s$//'; }
figures "$OUT/first.txt" > "$OUT/a"; figures "$OUT/resumed.txt" > "$OUT/b"
echo "first run, steps 5-8:"; sed 's/^/  /' "$OUT/a"
[ "$(wc -l < "$OUT/a")" -eq 5 ] || fail "expected 4 step lines and 1 validation line from the first run"
if ! diff "$OUT/a" "$OUT/b" > "$OUT/diff"; then
    cat "$OUT/diff"; fail "the resumed run differs from the uninterrupted one (lines above: < first, > resumed)"
fi
echo "resumed from step_000004: the same 5 lines, digit for digit"
[ "$(grep -c '"loss"' "$OUT/run/log.jsonl")" -eq 8 ] || fail "log.jsonl should hold 8 step records after the resume"

if "$PYTHON" -c "import matplotlib" 2>/dev/null; then
    "$PYTHON" tools/plot_loss.py "$OUT/run" --out "$OUT/loss.png" > /dev/null || fail "tools/plot_loss.py failed"
    [ -s "$OUT/loss.png" ] || fail "tools/plot_loss.py wrote no PNG"
    echo "tools/plot_loss.py drew the run's log.jsonl"
else
    echo "matplotlib not installed: tools/plot_loss.py not exercised"
fi
pass "KV cache and exact resume"
