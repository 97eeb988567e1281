# tutorial/common.sh: sourced by every chapter's check.sh; builds the check programs.
#
# A check prints PASS, FAIL or SKIP as its last line (tests/run_all.sh counts them).
# With TUTORIAL_SELF_TEST=1 (set by `make test`), a check that has an exercise checks the
# checker instead: the solution in tutorial/solutions/ must PASS and every deliberately wrong
# version planted there must FAIL (with the hint the check gives for that mistake), so the
# learner's own, possibly unfinished, exercise never breaks the tests.
#
# The programs (all in build/tutorial/; each rebuilt only when one of its sources changed):
#   HARNESS.o       tutorial/HARNESS.cpp with the trainer included (about 30 s, once)
#   chapterNN       your exercise file + tutorial/check_main.cpp + the harness as a shared
#                   library that exports harness_main and nothing of the trainer except what
#                   the exercise may call: an exercise can use only its own code and the
#                   standard library, and one chapter's broken file cannot stop another's check
#   HARNESS         the solutions + check_main + the harness linked whole: the self-tests, the
#                   chapters without an exercise and the figure scripts run this one
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1    # the repository root
CXX=${CXX:-g++}
TUTORIAL_CXXFLAGS="-std=c++17 -O2 -march=native -fopenmp -w"
TB=build/tutorial

pass() { echo "PASS${1:+: $1}"; exit 0; }
fail() { echo "FAIL${1:+: $1}"; exit 1; }
skip() { echo "SKIP${1:+: $1}"; exit 0; }
has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }

# stale OUT SOURCE...: true when OUT is missing or older than one of the sources
stale() {
    local out=$1 s; shift
    [ -e "$out" ] || return 0
    for s in "$@"; do [ "$s" -nt "$out" ] && return 0; done
    return 1
}

# compile OUT SOURCE [FLAGS...]: one translation unit to an object file (written atomically,
# so a check interrupted half-way never leaves a broken object behind)
compile() {
    local out=$1 src=$2; shift 2
    mkdir -p "$(dirname "$out")"
    $CXX $TUTORIAL_CXXFLAGS "$@" -c "$src" -o "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
}

harness_of() { case $1 in chapter0*) echo harness_basics ;; *) echo harness_training ;; esac; }

# harness_object HARNESS: build/tutorial/HARNESS.o, position-independent (it goes into a
# shared library too)
harness_object() {
    local h=$1
    if stale "$TB/$h.o" "tutorial/$h.cpp" *.h train_gpt_cpu.cpp; then
        echo "building $TB/$h.o (the trainer and the checks; about 30 s, once)"
        compile "$TB/$h.o" "tutorial/$h.cpp" -I. -fPIC || fail "tutorial/$h.cpp did not compile"
    fi
    if stale "$TB/check_main.o" tutorial/check_main.cpp; then
        compile "$TB/check_main.o" tutorial/check_main.cpp || fail "tutorial/check_main.cpp did not compile"
    fi
}

# reference_program HARNESS: build/tutorial/HARNESS, the harness with every solution of its
# chapters linked in
reference_program() {
    local h=$1 objs=() s o
    harness_object "$h"
    local pattern='tutorial/solutions/0[1-9]_*.cpp'
    [ "$h" = harness_training ] && pattern='tutorial/solutions/1[0-7]_*.cpp'
    for s in $pattern; do
        o=$TB/solutions/$(basename "$s" .cpp).o
        if stale "$o" "$s"; then compile "$o" "$s" || fail "$s did not compile"; fi
        objs+=("$o")
    done
    if stale "$TB/$h" "$TB/$h.o" "$TB/check_main.o" "${objs[@]}"; then
        $CXX $TUTORIAL_CXXFLAGS "$TB/check_main.o" "$TB/$h.o" "${objs[@]}" -o "$TB/$h" || fail "linking $TB/$h failed"
    fi
}

# harness_library HARNESS EXPORTS...: build/tutorial/libHARNESS[_exports].so exporting
# harness_main and the trainer functions named (C++ names without arguments), nothing else
harness_library() {
    local h=$1; shift
    local tag=${1:+_$(IFS=_; echo "$*" | md5sum | cut -c1-8)} lib script e
    lib=$TB/lib${h}${tag}.so
    harness_object "$h"
    if stale "$lib" "$TB/$h.o"; then
        script=$TB/lib${h}${tag}.map
        { echo '{ global: harness_main;'
          if [ $# -gt 0 ]; then   # the exact C++ names (with argument types) as the object defines them
              echo '  extern "C++" {'
              for e in "$@"; do
                  nm -C --defined-only "$TB/$h.o" | sed -n "s/^[0-9a-f]* T \($e(.*)\)\$/    \"\1\";/p"
              done
              echo '  };'
          fi
          echo '  local: *; };'; } > "$script"
        $CXX $TUTORIAL_CXXFLAGS -shared "$TB/$h.o" -Wl,--version-script="$script" -o "$lib.tmp.$$" &&
            mv "$lib.tmp.$$" "$lib" || fail "linking $lib failed"
    fi
    LIB=$lib
}

# learner_program CHAPTER SOURCE OUT [EXPORTS...]: SOURCE compiled alone and linked with
# check_main and the chapter's harness library. Prints why and returns 1 when it cannot be
# built: a compile error, or a call of something an exercise cannot reach.
learner_program() {
    local ch=$1 src=$2 out=$3; shift 3
    local h obj log
    h=$(harness_of "$ch")
    harness_library "$h" "$@"
    obj=$TB/exercises/$(basename "$out").o
    if stale "$obj" "$src"; then
        echo "compiling $src"
        compile "$obj" "$src" || { echo "$src did not compile (the compiler's messages are above)"; return 1; }
    fi
    if stale "$out" "$obj" "$LIB" "$TB/check_main.o"; then
        log=$(mktemp)
        if ! $CXX $TUTORIAL_CXXFLAGS "$TB/check_main.o" "$obj" "$LIB" -Wl,-rpath,'$ORIGIN' -rdynamic -o "$out" 2> "$log"; then
            local missing
            missing=$(grep -o "undefined reference to \`[^']*'" "$log" | sed "s/undefined reference to \`//; s/'$//" | sort -u)
            if [ -n "$missing" ]; then
                echo "$src calls what an exercise cannot reach:"
                echo "$missing" | sed 's/^/    /'
                echo "An exercise is your own code: it may use the C++ standard library$( [ $# -gt 0 ] && echo " and the layers $*"), nothing"
                echo "of the trainer (its version of this function is what your code is compared with)."
            else
                cat "$log"; echo "linking $out failed"
            fi
            rm -f "$log"; return 1
        fi
        rm -f "$log"
    fi
}

# check_exercise CHAPTER EXERCISE [EXPORTS...]: runs CHAPTER's check on the learner's
# EXERCISE (tutorial/exercises/NN_name.cpp); EXPORTS are trainer functions the exercise may
# call. With TUTORIAL_SELF_TEST=1: the reference program (solutions linked) must pass with
# --self-test, which also runs every planted wrong version; and a planted exercise that calls
# the trainer's own function (tutorial/solutions/planted/NN_*.cpp, where there is one) must
# not build.
check_exercise() {
    local ch=$1 exercise=$2; shift 2
    local h planted
    h=$(harness_of "$ch")
    if [ "${TUTORIAL_SELF_TEST:-0}" = 1 ]; then
        reference_program "$h"
        "$TB/$h" "$ch" --self-test || fail "$ch: the checker itself is broken (see above)"
        for planted in tutorial/solutions/planted/${ch#chapter}_*.cpp; do
            [ -f "$planted" ] || continue
            echo "-- self-test: $planted must not build as an exercise"
            if learner_program "$ch" "$planted" "$TB/planted_$(basename "$planted" .cpp)" "$@"; then
                fail "$ch: $planted reaches the trainer from an exercise: the exercise build is not isolated"
            fi
        done
        pass "$ch: the checker accepts the solution and rejects every planted mistake"
    fi
    learner_program "$ch" "$exercise" "$TB/$ch" "$@" ||
        fail "$ch: $exercise cannot be checked yet; fix what is said above and run this again"
    "$TB/$ch" "$ch" && pass "$ch: $exercise agrees with the reference" ||
        fail "$ch: $exercise does not agree yet (see above); edit it and run this again (stuck? make hint CH=${ch#chapter})"
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

# ---------------------------------------------------------------- CUDA kernels on the CPU
# kernel_program HARNESS SOURCE OUT [DEFINES...]: HARNESS (tutorial/kernels_harness.cu or
# tutorial/flash_harness.cu) and the kernels in SOURCE (a .cu file) through the project's CPU execution mode for CUDA (tools/cudacpu/):
# each .cu is rewritten (its <<<>>> launches become calls) and compiled by g++ with
# tools/cudacpu/cudacpu.h force-included. Needs the CUDA headers, not a GPU. Prints why
# and returns 1 when it cannot be built.
CUDA_INC=${CUDA_INC:-/usr/local/cuda/include}
has_cudacpu() { [ -f tools/cudacpu/cudacpu.h ] && [ -f tools/cudacpu/launch.cpp ] && [ -f "$CUDA_INC/cuda_runtime.h" ]; }
kernel_program() {
    local harness=$1 src=$2 out=$3; shift 3
    local cc="$CXX -std=c++17 -O2 -w -I. -isystem $CUDA_INC" f tag
    tag=$(echo "$*" | tr -c 'A-Za-z0-9\n' _)
    mkdir -p "$TB/cudacpu"
    for f in runtime launch; do   # the runtime is built once and never force-includes cudacpu.h itself
        if stale "$TB/cudacpu/$f.o" "tools/cudacpu/$f.cpp" tools/cudacpu/*.h; then
            $cc -c "tools/cudacpu/$f.cpp" -o "$TB/cudacpu/$f.o" || fail "tools/cudacpu/$f.cpp did not compile"
        fi
    done
    local hobj=$TB/cudacpu/$(basename "$harness" .cu).o
    if stale "$hobj" "$harness" tools/cudacpu/*.h tools/cudacpu/rewrite_launches.py; then
        /usr/bin/python3 tools/cudacpu/rewrite_launches.py "$harness" > "$hobj.cpp" &&
            $cc -include tools/cudacpu/cudacpu.h -c "$hobj.cpp" -o "$hobj" || fail "$harness did not compile"
    fi
    local obj=$TB/cudacpu/$(basename "$src" .cu)$tag.o
    if stale "$obj" "$src" tools/cudacpu/*.h; then
        echo "compiling $src$( [ $# -gt 0 ] && echo " ($*)") for the CPU execution mode"
        /usr/bin/python3 tools/cudacpu/rewrite_launches.py "$src" > "$obj.cpp" &&
            $cc -include tools/cudacpu/cudacpu.h "$@" -c "$obj.cpp" -o "$obj" ||
            { echo "$src did not compile (the compiler's messages are above; line numbers are the .cu file's)"; return 1; }
    fi
    $cc -rdynamic "$hobj" "$obj" "$TB/cudacpu/runtime.o" "$TB/cudacpu/launch.o" -o "$out" ||
        { echo "linking $out failed"; return 1; }
}

# kernel_self_test HARNESS SOLUTION HINT1 HINT2 ...: the solution (PLANT=0) must pass, and
# planted mistake k (PLANT=k) must fail with a message containing HINTk
kernel_self_test() {
    local harness=$1 solution=$2 k=0 out status name; shift 2
    name=$(basename "$solution" .cu)
    for hint in "" "$@"; do
        kernel_program "$harness" "$solution" "$TB/${name}_plant$k" -DPLANT=$k || fail "$solution did not build"
        out=$("$TB/${name}_plant$k" 2>&1); status=$?
        if [ $k = 0 ]; then
            [ $status = 0 ] || { echo "$out"; fail "the kernel check rejects $solution"; }
            echo "-- self-test: $solution passes"
        else
            [ $status != 0 ] || { echo "$out"; fail "the kernel check accepts planted mistake $k of $solution"; }
            grep -qF "$hint" <<<"$out" || { echo "$out"; fail "planted mistake $k of $solution failed without the hint '$hint'"; }
            echo "-- self-test: planted mistake $k fails with: $(grep -m1 'hint:' <<<"$out" | cut -c1-100)..."
        fi
        k=$((k + 1))
    done
}
