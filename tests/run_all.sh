#!/usr/bin/env bash
# Runs every doctest binary given as an argument and every tutorial check, then prints one
# last line "N passed, N failed, N skipped" counting test cases. Exit status 1 if any failed.
# A tutorial check is a script tutorial/*/check.sh that prints PASS, FAIL or SKIP last.
set -u
passed=0 failed=0 skipped=0
failures=()
for bin in "$@"; do
    echo "=== $bin"
    log=$(mktemp)
    "$bin" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    line=$(grep -a '\[doctest\] test cases:' "$log" | tail -1)
    rm -f "$log"
    if [ -z "$line" ]; then      # crashed before doctest could report: one failure
        failed=$((failed + 1)); failures+=("$bin (exit $status, no doctest summary)")
        continue
    fi
    p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -E 's/.*\| *([0-9]+) skipped.*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ] || { [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; }; then
        [ "$f" -eq 0 ] && failed=$((failed + 1))
        failures+=("$bin")
    fi
done
# the PyTorch reference checks itself (gradcheck, attention, AdamW, loading): one test case
if [ -f tests/make_checkpoint.py ]; then
    echo "=== tests/make_checkpoint.py --self-test"
    if /usr/bin/python3 tests/make_checkpoint.py --self-test > build/reference_selftest.log 2>&1; then
        tail -2 build/reference_selftest.log; passed=$((passed + 1))
    else
        tail -30 build/reference_selftest.log; failed=$((failed + 1)); failures+=("tests/make_checkpoint.py --self-test")
    fi
fi
# the documentation's links and DESIGN.md citations resolve; the checker catches planted ones
if [ -f tests/check_docs.py ]; then
    echo "=== tests/check_docs.py"
    if /usr/bin/python3 tests/check_docs.py --self-test > build/check_docs.log 2>&1 &&
       /usr/bin/python3 tests/check_docs.py >> build/check_docs.log 2>&1; then
        tail -2 build/check_docs.log; passed=$((passed + 1))
    else
        tail -30 build/check_docs.log; failed=$((failed + 1)); failures+=("tests/check_docs.py (log: build/check_docs.log)")
    fi
fi
# the committed Unicode table of tokenizer.h equals its generator's output (tiktoken's
# classes; about 10 seconds); the checker first rejects planted wrong tables. One test case,
# skipped where Python has no tiktoken (exit 77)
if [ -f tools/gen_unicode_tables.py ]; then
    echo "=== tools/gen_unicode_tables.py --check tokenizer_unicode.h"
    /usr/bin/python3 tools/gen_unicode_tables.py --check tokenizer_unicode.h > build/unicode_check.log 2>&1
    case $? in
        0) tail -1 build/unicode_check.log; passed=$((passed + 1)) ;;
        77) echo "SKIP: tiktoken not installed"; skipped=$((skipped + 1)) ;;
        *) tail -10 build/unicode_check.log; failed=$((failed + 1)); failures+=("tools/gen_unicode_tables.py --check (log: build/unicode_check.log)") ;;
    esac
fi
# the roofline model of bench/ checks its own FLOP and byte accounting (no GPU): one test case
if [ -f bench/roofline.py ]; then
    echo "=== bench/roofline.py --self-test"
    if /usr/bin/python3 bench/roofline.py --self-test > build/roofline_selftest.log 2>&1; then
        tail -1 build/roofline_selftest.log; passed=$((passed + 1))
    else
        grep -v '^PASS' build/roofline_selftest.log | tail -30; failed=$((failed + 1)); failures+=("bench/roofline.py --self-test")
    fi
fi
# libFuzzer on the shard parser (15 seconds) and on the checkpoint readers (10 seconds):
# one test case each (skipped without clang)
for target_time in dataloader:15 checkpoint:10; do
    target=${target_time%:*}; time=${target_time#*:}
    [ -f tests/run_fuzz.sh ] && [ -f "tests/fuzz_$target.cpp" ] || continue
    echo "=== tests/run_fuzz.sh $time $target"
    if ! command -v clang++ >/dev/null; then
        echo "SKIP: clang++ not found"; skipped=$((skipped + 1))
    elif bash tests/run_fuzz.sh "$time" "$target" > "build/fuzz_$target.log" 2>&1; then
        tail -3 "build/fuzz_$target.log"; passed=$((passed + 1))
    else
        tail -30 "build/fuzz_$target.log"; failed=$((failed + 1)); failures+=("tests/run_fuzz.sh $target (log: build/fuzz_$target.log)")
    fi
done
# the code excerpts in the tutorial's chapters equal the source they were cut from
if [ -f tutorial/excerpts.py ]; then
    echo "=== tutorial/excerpts.py"
    if out=$(/usr/bin/python3 tutorial/excerpts.py --self-test 2>&1 && /usr/bin/python3 tutorial/excerpts.py 2>&1); then
        echo "$out" | tail -1; passed=$((passed + 1))
    else echo "$out" | tail -20; failed=$((failed + 1)); failures+=("tutorial/excerpts.py"); fi
fi
# the tutorial's hint ladder: every exercise has one, and it reveals one hint per call
if [ -f tutorial/hint.sh ]; then
    echo "=== tutorial/hint.sh --self-test"
    if out=$(bash tutorial/hint.sh --self-test 2>&1); then echo "$out" | tail -1; passed=$((passed + 1))
    else echo "$out" | tail -20; failed=$((failed + 1)); failures+=("tutorial/hint.sh --self-test"); fi
fi
# >>> sanitizers: the CPU programs and tests under AddressSanitizer + UBSan (built by `make asan`);
# each of their test cases counts here
if [ -f tests/run_sanitized.sh ]; then
    echo "=== tests/run_sanitized.sh"
    if [ ! -x build/asan/train_gpt_cpu ]; then
        echo "SKIP: build/asan/ not built (make asan)"; skipped=$((skipped + 1))
    else
        bash tests/run_sanitized.sh > build/sanitized.log 2>&1
        status=$?
        grep -E '^(===|FAILED)' build/sanitized.log
        [ $status -ne 0 ] && tail -40 build/sanitized.log
        line=$(tail -1 build/sanitized.log)
        if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
            passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2])); skipped=$((skipped + BASH_REMATCH[3]))
            echo "sanitized: $line"
            [ $status -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && failed=$((failed + 1))
        else
            failed=$((failed + 1))
        fi
        [ $status -ne 0 ] && failures+=("tests/run_sanitized.sh (log: build/sanitized.log)")
    fi
fi
# <<< sanitizers
for check in tutorial/*/check.sh; do
    [ -f "$check" ] || continue
    echo "=== $check"
    out=$(TUTORIAL_SELF_TEST=1 bash "$check" 2>&1)
    status=$?
    echo "$out" | tail -20
    verdict=$(echo "$out" | grep -E '^(PASS|FAIL|SKIP)' | tail -1)
    case "$verdict" in
        PASS*) [ $status -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); failures+=("$check"); } ;;
        SKIP*) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)); failures+=("$check") ;;
    esac
done
echo
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
