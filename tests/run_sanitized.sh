#!/usr/bin/env bash
# tests/run_sanitized.sh: the CPU code under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Runs what `make asan` built in build/asan/: each doctest binary there (from build/asan/root,
# a folder whose data/ and tests/ lead back to the repository and whose train_gpt_cpu and
# tokenize are the sanitized builds, so the programs the tests start are
# checked too), then a short train + resume + sample of the sanitized trainer. Any sanitizer
# report aborts the program, which fails its test case.
# Prints one last line "N passed, N failed, N skipped" (test cases); exit status 1 if any failed.
# Usage: bash tests/run_sanitized.sh      (from the repository root, after `make asan data`)
set -u
ASAN=build/asan
ROOT=$ASAN/root
passed=0 failed=0 skipped=0
fail() { echo "FAILED (sanitized): $1"; failed=$((failed + 1)); }

if [ ! -x "$ASAN/train_gpt_cpu" ]; then
    echo "error: $ASAN/train_gpt_cpu not found: run \`make asan\` first" >&2
    echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
# LeakSanitizer too; abort on the first error of any kind, with a stack trace
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

mkdir -p "$ROOT"
for link in data tests; do ln -sfn "../../../$link" "$ROOT/$link"; done
for prog in train_gpt_cpu tokenize; do ln -sfn "../$prog" "$ROOT/$prog"; done

# 1. the doctest binaries
for bin in "$ASAN"/test_*; do
    [ -x "$bin" ] || continue
    echo "=== $bin (sanitized)"
    log=$(mktemp)
    (cd "$ROOT" && "../$(basename "$bin")") > "$log" 2>&1
    status=$?
    line=$(grep -a '\[doctest\] test cases:' "$log" | tail -1)
    if [ -z "$line" ] || [ $status -ne 0 ]; then
        tail -40 "$log"
        [ -z "$line" ] && { fail "$bin (exit $status, no doctest summary)"; rm -f "$log"; continue; }
    fi
    [ $status -eq 0 ] && tail -3 "$log"
    rm -f "$log"
    p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -E 's/.*\| *([0-9]+) skipped.*/\1/' <<<"$line")
    passed=$((passed + p)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ]; then failed=$((failed + f)); echo "FAILED (sanitized): $bin";
    elif [ $status -ne 0 ]; then fail "$bin (exit $status after its summary: a leak or a sanitizer report at exit)"; fi
done

# 2. train, resume, sample: three test cases on a tiny model
echo "=== $ASAN/train_gpt_cpu: train, resume, sample (sanitized)"
DATA=data/tinyshakespeare_bpe1k
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
RUN=("$ASAN/train_gpt_cpu" --train "$DATA/train_000000.bin" --val "$DATA/val_000000.bin" --vocab-size 1024
     --n-layer 2 --n-head 2 --n-embd 32 --seq-len 16 --batch 2 --grad-accum 2 --shuffle --warmup 1
     --eval-every 2 --eval-batches 2 --sample-every 2 --sample-tokens 6)
steps() { grep -E '^step [0-9]+/' "$1" | sed -E 's/ \| lr.*//'; }
if "${RUN[@]}" --steps 4 --save-every 2 --out "$OUT/a" > "$OUT/a.log" 2>&1 && [ "$(steps "$OUT/a.log" | wc -l)" -eq 4 ]; then
    passed=$((passed + 1)); echo "train: 4 steps, checkpoints at 2 and 4"
else
    tail -40 "$OUT/a.log"; fail "train_gpt_cpu: a 4-step run"
fi
mkdir -p "$OUT/b" && cp -r "$OUT/a/step_000002" "$OUT/b/" 2>/dev/null
if "${RUN[@]}" --steps 4 --resume --out "$OUT/b" > "$OUT/b.log" 2>&1 &&
   [ -n "$(steps "$OUT/b.log")" ] && [ "$(steps "$OUT/b.log")" = "$(steps "$OUT/a.log" | tail -2)" ]; then
    passed=$((passed + 1)); echo "resume: steps 3 and 4 repeat the uninterrupted run's losses"
else
    tail -40 "$OUT/b.log"; fail "train_gpt_cpu --resume: the losses of steps 3-4"
fi
if "${RUN[@]}" --steps 0 --init "$OUT/a/step_000004" --prompt "ROMEO:" --sample-every 1 --temperature 0.8 > "$OUT/c.log" 2>&1 &&
   grep -q '^sample at step 0' "$OUT/c.log"; then
    passed=$((passed + 1)); echo "sample: from the step-4 checkpoint"
else
    tail -40 "$OUT/c.log"; fail "train_gpt_cpu --init ... sampling"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
