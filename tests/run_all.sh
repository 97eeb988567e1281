#!/usr/bin/env bash
# Runs every doctest binary given as an argument and every other check (the Python self-tests,
# the fuzzers, the sanitized builds, the tutorial checks), then prints one last line
# "N passed, N failed, N skipped" counting test cases. Exit status 1 if any failed. Before that
# line, the seconds each of the slowest checks took (wall clock, so they overlap under -j).
# A tutorial check is a script tutorial/*/check.sh that prints PASS, FAIL or SKIP last.
#
# Usage: bash tests/run_all.sh [-j N] BIN...
# -j N runs up to N checks at once (`make test` passes the number of cores; most checks use
# one core). Each check's output goes to a file of its own and is printed whole, in the order
# of this script, as soon as it and every check before it have finished; so the log reads the
# same whatever N is, only sooner. With -j 1 (the default) each check prints as it runs.
set -u
jobs=1
case "${1:-}" in
    -j) jobs=${2:-}; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
esac
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "tests/run_all.sh: -j wants a number of checks to run at once (1 or more), got '$jobs'" >&2; exit 2; }
mkdir -p build
# OpenMP threads that spin while they wait (libgomp's default) crawl when another program holds
# the other cores: measured, test_cpu took 186 s instead of 76 s beside other work. So when
# checks share the cores they wait passively (the same results; a little slower when alone).
[ "$jobs" -gt 1 ] && export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# ---------------------------------------------------------------- how a check reports
# A check is a shell function: it prints what the log should show and reports its counts with
# `count PASSED FAILED SKIPPED` and each failure with `failure WHAT`, to its own result file
# ($result), which the printer below adds up.
count() { echo "count $1 $2 $3" >> "$result"; }
failure() { echo "failure $1" >> "$result"; }

# a doctest binary: its summary line's counts; a crash before the summary is one failure
check_doctest() {
    local bin=$1 log status line p f s
    echo "=== $bin"
    log=$(mktemp)
    "$bin" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    line=$(grep -a '\[doctest\] test cases:' "$log" | tail -1)
    rm -f "$log"
    if [ -z "$line" ]; then      # crashed before doctest could report: one failure
        count 0 1 0; failure "$bin (exit $status, no doctest summary)"
        return
    fi
    p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -E 's/.*\| *([0-9]+) skipped.*/\1/' <<<"$line")
    count "$p" "$f" "$s"
    if [ "$f" -gt 0 ] || [ "$status" -ne 0 ]; then
        [ "$f" -eq 0 ] && count 0 1 0   # a non-zero exit after a clean summary (a leak, a report at exit)
        failure "$bin"
    fi
}

# the PyTorch reference checks itself (gradcheck, attention, AdamW, loading): one test case
check_reference() {
    echo "=== tests/make_checkpoint.py --self-test"
    if /usr/bin/python3 tests/make_checkpoint.py --self-test > build/reference_selftest.log 2>&1; then
        tail -2 build/reference_selftest.log; count 1 0 0
    else
        tail -30 build/reference_selftest.log; count 0 1 0; failure "tests/make_checkpoint.py --self-test"
    fi
}

# the documentation's links and DESIGN.md citations resolve; the checker catches planted ones
check_docs() {
    echo "=== tests/check_docs.py"
    if /usr/bin/python3 tests/check_docs.py --self-test > build/check_docs.log 2>&1 &&
       /usr/bin/python3 tests/check_docs.py >> build/check_docs.log 2>&1; then
        tail -2 build/check_docs.log; count 1 0 0
    else
        tail -30 build/check_docs.log; count 0 1 0; failure "tests/check_docs.py (log: build/check_docs.log)"
    fi
}

# the committed Unicode table of tokenizer.h equals its generator's output (tiktoken's
# classes; about 10 seconds); the checker first rejects planted wrong tables. One test case,
# skipped where Python has no tiktoken (exit 77)
check_unicode() {
    echo "=== tools/gen_unicode_tables.py --check tokenizer_unicode.h"
    /usr/bin/python3 tools/gen_unicode_tables.py --check tokenizer_unicode.h > build/unicode_check.log 2>&1
    case $? in
        0) tail -1 build/unicode_check.log; count 1 0 0 ;;
        77) echo "SKIP: tiktoken not installed"; count 0 0 1 ;;
        *) tail -10 build/unicode_check.log; count 0 1 0; failure "tools/gen_unicode_tables.py --check (log: build/unicode_check.log)" ;;
    esac
}

# the roofline model of bench/ checks its own FLOP and byte accounting (no GPU): one test case
check_roofline() {
    echo "=== bench/roofline.py --self-test"
    if /usr/bin/python3 bench/roofline.py --self-test > build/roofline_selftest.log 2>&1; then
        tail -1 build/roofline_selftest.log; count 1 0 0
    else
        grep -v '^PASS' build/roofline_selftest.log | tail -30; count 0 1 0; failure "bench/roofline.py --self-test"
    fi
}

# the shell scripts that only a GPU machine runs in full: each parses (bash -n), and the GPU
# session's scripts refuse bad arguments before doing anything: one test case
check_scripts() {
    echo "=== shell scripts: syntax, and the GPU session's argument checks"
    local bad="" f
    for f in bench/*.sh tools/*.sh tests/*.sh tutorial/*.sh tutorial/*/*.sh; do
        [ -f "$f" ] || continue
        bash -n "$f" 2> build/scripts_check.log || bad="$bad $f ($(head -1 build/scripts_check.log))"
    done
    bash bench/gpu_session.sh --budget soon > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad gpu_session.sh --budget soon (not refused)"
    bash bench/gpu_session.sh --only nosuch > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad gpu_session.sh --only nosuch (not refused)"
    bash bench/build_llmc.sh build build/llmc_check > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad build_llmc.sh without llm.c's sources (not refused)"
    bash bench/profile_gpu.sh --dram --cudnn > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad profile_gpu.sh --dram --cudnn (not refused)"
    bash bench/profile_gpu.sh --batch x > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad profile_gpu.sh --batch x (not refused)"
    bash bench/profile_gpu.sh --stalls --cudnn > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad profile_gpu.sh --stalls --cudnn (not refused)"
    # --stalls' reading of ncu's raw CSV, on a hand-made sample (thousands separators, the units row, the trainer's lines first)
    bash bench/profile_gpu.sh --stalls --csv tests/data/ncu_stalls_sample.csv 2>&1 |
        grep -q "stalls per issued instruction: long_scoreboard 1010.00, wait 1.31, barrier 0.72" ||
        bad="$bad profile_gpu.sh --stalls --csv (the sample's stalls not read back)"
    bash bench/gpu_deps.sh --baseline HEAD > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad gpu_deps.sh --baseline without --prebuild (not refused)"
    bash bench/gpu_deps.sh --prebuild --baseline no-such-commit > /dev/null 2>&1; [ $? -eq 2 ] || bad="$bad gpu_deps.sh --baseline no-such-commit (not refused)"
    if [ -z "$bad" ]; then echo "all parse; bad arguments refused"; count 1 0 0
    else echo "FAIL:$bad"; count 0 1 0; failure "shell scripts:$bad"; fi
}

# libFuzzer on one reader for a fixed time: one test case (skipped without clang)
check_fuzz() {
    local time=$1 target=$2
    echo "=== tests/run_fuzz.sh $time $target"
    if ! command -v clang++ >/dev/null; then
        echo "SKIP: clang++ not found"; count 0 0 1
    elif bash tests/run_fuzz.sh "$time" "$target" > "build/fuzz_$target.log" 2>&1; then
        tail -3 "build/fuzz_$target.log"; count 1 0 0
    else
        tail -30 "build/fuzz_$target.log"; count 0 1 0; failure "tests/run_fuzz.sh $target (log: build/fuzz_$target.log)"
    fi
}

# the code excerpts in the tutorial's chapters equal the source they were cut from
check_excerpts() {
    local out
    echo "=== tutorial/excerpts.py"
    if out=$(/usr/bin/python3 tutorial/excerpts.py --self-test 2>&1 && /usr/bin/python3 tutorial/excerpts.py 2>&1); then
        echo "$out" | tail -1; count 1 0 0
    else echo "$out" | tail -20; count 0 1 0; failure "tutorial/excerpts.py"; fi
}

# the tutorial's hint ladder: every exercise has one, and it reveals one hint per call
check_hints() {
    local out
    echo "=== tutorial/hint.sh --self-test"
    if out=$(bash tutorial/hint.sh --self-test 2>&1); then echo "$out" | tail -1; count 1 0 0
    else echo "$out" | tail -20; count 0 1 0; failure "tutorial/hint.sh --self-test"; fi
}

# >>> sanitizers: the CPU programs and tests under AddressSanitizer + UBSan (built by `make asan`);
# each of their test cases counts here
check_sanitized() {
    local status line
    echo "=== tests/run_sanitized.sh"
    if [ ! -x build/asan/train_gpt_cpu ]; then
        echo "SKIP: build/asan/ not built (make asan)"; count 0 0 1
        return
    fi
    bash tests/run_sanitized.sh > build/sanitized.log 2>&1
    status=$?
    grep -E '^(===|FAILED)' build/sanitized.log
    [ $status -ne 0 ] && tail -40 build/sanitized.log
    line=$(tail -1 build/sanitized.log)
    if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        count "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
        echo "sanitized: $line"
        [ $status -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && count 0 1 0
    else
        count 0 1 0
    fi
    [ $status -ne 0 ] && failure "tests/run_sanitized.sh (log: build/sanitized.log)"
}
# <<< sanitizers

# the tutorial checks given, one after another: they build into the same build/tutorial/
# folder (chapters 01-09 share one harness, 10-17 another), so one group never runs two at once
check_tutorial() {
    local check out status verdict
    for check in "$@"; do
        echo "=== $check"
        out=$(TUTORIAL_SELF_TEST=1 bash "$check" 2>&1)
        status=$?
        echo "$out" | tail -20
        verdict=$(echo "$out" | grep -E '^(PASS|FAIL|SKIP)' | tail -1)
        case "$verdict" in
            PASS*) if [ $status -eq 0 ]; then count 1 0 0; else count 0 1 0; failure "$check"; fi ;;
            SKIP*) count 0 0 1 ;;
            *) count 0 1 0; failure "$check" ;;
        esac
    done
}

# ---------------------------------------------------------------- the checks, in order
checks=()
for bin in "$@"; do checks+=("check_doctest $(printf %q "$bin")"); done
[ -f tests/make_checkpoint.py ] && checks+=(check_reference)
[ -f tests/check_docs.py ] && checks+=(check_docs)
[ -f tools/gen_unicode_tables.py ] && checks+=(check_unicode)
[ -f bench/roofline.py ] && checks+=(check_roofline)
checks+=(check_scripts)
for target_time in dataloader:15 checkpoint:10; do
    target=${target_time%:*}; time=${target_time#*:}
    [ -f tests/run_fuzz.sh ] && [ -f "tests/fuzz_$target.cpp" ] && checks+=("check_fuzz $time $target")
done
[ -f tutorial/excerpts.py ] && checks+=(check_excerpts)
[ -f tutorial/hint.sh ] && checks+=(check_hints)
[ -f tests/run_sanitized.sh ] && checks+=(check_sanitized)
basics=() training=()
for check in tutorial/*/check.sh; do
    [ -f "$check" ] || continue
    case $check in tutorial/0*) basics+=("$check") ;; *) training+=("$check") ;; esac
done
[ ${#basics[@]} -gt 0 ] && checks+=("check_tutorial ${basics[*]}")
[ ${#training[@]} -gt 0 ] && checks+=("check_tutorial ${training[*]}")

# ---------------------------------------------------------------- run them, print in order
passed=0 failed=0 skipped=0
failures=()
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# add_up I: check I's counts and failures into the totals
add_up() {
    local i=$1 kind rest p f s
    while read -r kind rest; do
        case $kind in
            count) read -r p f s <<<"$rest"; passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s)) ;;
            failure) failures+=("$rest") ;;
        esac
    done < "$dir/$i.result"
    grep -q '^count' "$dir/$i.result" || { failed=$((failed + 1)); failures+=("${checks[$i]#check_* } (stopped before it reported)"); }
}
if [ "$jobs" -eq 1 ]; then
    for i in "${!checks[@]}"; do
        result=$dir/$i.result; : > "$result"
        t0=$SECONDS
        eval "${checks[$i]}"
        echo $((SECONDS - t0)) > "$dir/$i.secs"
        add_up "$i"
    done
else
    # print_finished: the output of each check that has finished, once every check before it has
    next=0
    print_finished() {
        while [ $next -lt ${#checks[@]} ] && [ -e "$dir/$next.done" ]; do
            cat "$dir/$next.out"; add_up $next; next=$((next + 1))
        done
    }
    started=0
    running() { echo $((started - $(ls "$dir" | grep -c '\.done$'))); }
    for i in "${!checks[@]}"; do
        while [ "$(running)" -ge "$jobs" ]; do wait -n; [ $? -eq 127 ] && break; print_finished; done
        ( result=$dir/$i.result; : > "$result"; t0=$SECONDS
          (eval "${checks[$i]}") > "$dir/$i.out" 2>&1
          echo $((SECONDS - t0)) > "$dir/$i.secs"; touch "$dir/$i.done" ) &
        started=$((started + 1))
    done
    while [ "$(running)" -gt 0 ]; do wait -n; [ $? -eq 127 ] && break; print_finished; done
    for i in "${!checks[@]}"; do touch "$dir/$i.done" "$dir/$i.out"; done   # a check killed before its end counts as failed
    print_finished
fi
echo
echo "seconds per check, the 8 slowest:"
for i in "${!checks[@]}"; do echo "$(cat "$dir/$i.secs" 2>/dev/null || echo '?') ${checks[$i]}"; done |
    sort -rn | head -8 | cut -c1-110 | sed 's/^/  /'
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
