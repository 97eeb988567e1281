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
