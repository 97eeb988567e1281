#!/usr/bin/env bash
# tutorial/hint.sh: the hint ladder for the tutorial's exercises (`make hint CH=11`).
#
#   bash tutorial/hint.sh NN            shows the hints of chapter NN seen so far and one more
#   bash tutorial/hint.sh NN --reset    starts chapter NN's ladder again
#   bash tutorial/hint.sh --self-test   checks every exercise chapter's ladder (make test)
#
# Opt-in on purpose: the chapter text asks you to derive each formula, and a hint only helps
# when you are stuck. Each call reveals one hint more (tutorial/NN-*/hints.md, "## Hint k"
# sections, the last one close to the answer). How far you are is kept per chapter in
# build/tutorial/hints/NN (ignored by git; HINT_STATE=DIR puts it elsewhere).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
STATE=${HINT_STATE:-build/tutorial/hints}

usage() { echo "usage: make hint CH=NN (NN = a chapter with an exercise: $(ls tutorial/*/hints.md | sed -E 's|tutorial/([0-9]+)-.*|\1|' | tr '\n' ' '))" >&2; exit 2; }

# count FILE: the number of "## Hint k" sections
count() { grep -c '^## Hint [0-9]' "$1"; }
# section FILE K: the text of hint K
section() { awk -v k="$2" '/^## Hint [0-9]+/ { on = ($3 == k); next } on' "$1" | sed '/./,$!d'; }

show() {
    local ch=$1 file n seen
    file=$(ls tutorial/"$ch"-*/hints.md 2>/dev/null | head -1)
    [ -n "$file" ] || { echo "chapter '$ch' has no hints (tutorial/$ch-*/hints.md not found)" >&2; usage; }
    n=$(count "$file")
    seen=$(cat "$STATE/$ch" 2>/dev/null || echo 0)
    [[ "$seen" =~ ^[0-9]+$ ]] || seen=0
    if [ "$seen" -ge "$n" ]; then
        echo "All $n hints of chapter $ch are shown below; the solution is in tutorial/solutions/ (read it once yours passes)."
    else
        seen=$((seen + 1)); mkdir -p "$STATE"; echo "$seen" > "$STATE/$ch"
    fi
    for k in $(seq 1 "$seen"); do
        echo "-- chapter $ch, hint $k of $n$( [ "$k" = "$seen" ] && echo " (new)")"
        section "$file" "$k"
        echo
    done
    [ "$seen" -lt "$n" ] && echo "(make hint CH=$ch again for the next one; bash tutorial/hint.sh $ch --reset to start over)"
    return 0
}

self_test() {
    local tmp ok=1 f ch n out
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
    for f in tutorial/exercises/[0-9][0-9]_*.cpp; do   # every exercise has a ladder of at least two hints
        ch=$(basename "$f" | cut -c1-2)
        ls tutorial/"$ch"-*/hints.md > /dev/null 2>&1 || { echo "chapter $ch has an exercise but no hints.md"; ok=0; continue; }
        n=$(count tutorial/"$ch"-*/hints.md)
        [ "$n" -ge 2 ] || { echo "chapter $ch: $n hint(s), want at least 2"; ok=0; }
        for k in $(seq 1 "$n"); do
            [ -n "$(section tutorial/"$ch"-*/hints.md "$k")" ] || { echo "chapter $ch: hint $k is empty"; ok=0; }
        done
    done
    # the ladder: one more per call, then it stays at the last; the state survives between calls
    out=$(HINT_STATE=$tmp bash "$0" 11); echo "$out" | grep -q "hint 1 of" && ! echo "$out" | grep -q "hint 2 of" || { echo "first call did not show hint 1 alone"; ok=0; }
    out=$(HINT_STATE=$tmp bash "$0" 11); echo "$out" | grep -q "hint 2 of .* (new)" || { echo "second call did not add hint 2"; ok=0; }
    n=$(count tutorial/11-*/hints.md)
    for k in $(seq 3 $((n + 2))); do out=$(HINT_STATE=$tmp bash "$0" 11); done
    echo "$out" | grep -q "All $n hints" || { echo "past the last hint the ladder should say so"; ok=0; }
    out=$(HINT_STATE=$tmp bash "$0" 11 --reset; HINT_STATE=$tmp bash "$0" 11); echo "$out" | grep -q "hint 1 of .* (new)" || { echo "--reset did not start over"; ok=0; }
    HINT_STATE=$tmp bash "$0" 99 > /dev/null 2>&1 && { echo "an unknown chapter was accepted"; ok=0; }
    [ $ok = 1 ] && echo "PASS: every exercise has a hint ladder, and it reveals one hint per call" && return 0
    echo "FAIL: the hint ladder (see above)"; return 1
}

case "${1:-}" in
    --self-test) self_test ;;
    "") usage ;;
    *) ch=$(printf %02d "$((10#${1//[^0-9]/0}))" 2>/dev/null) || usage
       if [ "${2:-}" = --reset ]; then rm -f "$STATE/$ch"; echo "chapter $ch: hints reset"; else show "$ch"; fi ;;
esac
