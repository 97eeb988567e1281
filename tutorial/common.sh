# tutorial/common.sh: sourced by every chapter's check.sh.
#
# A check prints PASS, FAIL or SKIP as its last line (tests/run_all.sh counts them).
# With TUTORIAL_SELF_TEST=1 (set by `make test`), a check that has an exercise checks the
# checker instead: the reference implementation must PASS and a deliberately wrong one
# must FAIL, so the learner's own (possibly unfinished) exercise never breaks the tests.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1    # the repository root
CXX=${CXX:-g++}
TUTORIAL_CXXFLAGS="-std=c++17 -O2 -march=native -fopenmp -I. -w"

# tutorial_build OUT SOURCE [MORE SOURCES...]: compiles SOURCE (and links the others) into
# OUT unless OUT is newer than every source and every project header
tutorial_build() {
    local out=$1; shift
    mkdir -p "$(dirname "$out")"
    local newest
    newest=$(ls -t "$@" *.h train_gpt_cpu.cpp 2>/dev/null | head -1)
    if [ ! -x "$out" ] || [ "$newest" -nt "$out" ]; then
        echo "building $out"
        $CXX $TUTORIAL_CXXFLAGS "$@" -o "$out" || { echo "FAIL: $out did not compile"; exit 1; }
    fi
}

pass() { echo "PASS${1:+: $1}"; exit 0; }
fail() { echo "FAIL${1:+: $1}"; exit 1; }
skip() { echo "SKIP${1:+: $1}"; exit 0; }
has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }

# check_exercise HARNESS CHAPTER EXERCISE: builds HARNESS (harness_basics for chapters 1-9,
# harness_training for 10-17) with its chapters' exercises, then runs CHAPTER's check on the
# learner's EXERCISE file, or, with TUTORIAL_SELF_TEST=1, checks the checker itself
check_exercise() {
    local harness=$1 chapter=$2 exercise=$3 exercises
    if [ "$harness" = harness_basics ]; then exercises=(tutorial/exercises/0[1-9]_*.cpp)
    else exercises=(tutorial/exercises/1[0-7]_*.cpp); fi
    tutorial_build "build/tutorial/$harness" "tutorial/$harness.cpp" "${exercises[@]}"
    if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
        "build/tutorial/$harness" "$chapter" --self-test \
            && pass "$chapter: the checker accepts the reference and rejects a wrong version" \
            || fail "$chapter: the checker itself is broken (see above)"
    else
        "build/tutorial/$harness" "$chapter" \
            && pass "$chapter: $exercise agrees with the reference" \
            || fail "$chapter: $exercise does not agree yet (see above); edit it and run this again"
    fi
}

# trainer_run_setup TAG: what a check that runs ./train_gpt_cpu on the small dataset needs:
# the binary, DATA (tinyshakespeare with the 1,024-token vocabulary) and a temporary OUT
# folder removed on exit
trainer_run_setup() {
    [ -x ./train_gpt_cpu ] || fail "./train_gpt_cpu not found: run make"
    DATA=data/tinyshakespeare_bpe1k
    [ -f $DATA/train_000000.bin ] && [ -f $DATA/val_000000.bin ] || fail "$DATA not found: run make data"
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/$1_XXXXXX")
    trap 'rm -rf "$OUT"' EXIT
}
