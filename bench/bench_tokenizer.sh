#!/usr/bin/env bash
# bench_tokenizer.sh: tokenizer.h against OpenAI's tiktoken, side by side, same machine,
# same text, same run. Checks that both give identical ids, then prints the speeds.
#
#   bash bench/bench_tokenizer.sh            (from the repository root, after `make data`)
#
# Texts: tinyshakespeare (ASCII English) and tinyshakespeare + ~2 MB of generated text in
# ten scripts (bench/bench_tokenizer_text.py). tiktoken runs single-threaded
# (encode_ordinary), built offline from data/gpt2. Also times bpe_train (4,096 ids on
# tinyshakespeare). Environment: PYTHON (default /usr/bin/python3), REPEATS (default 5),
# DATA_MIRROR (where tinyshakespeare/input.txt is, default data/).
set -euo pipefail
PYTHON=${PYTHON:-/usr/bin/python3}
REPEATS=${REPEATS:-5}
VOCAB=data/gpt2
SHAKESPEARE=${DATA_MIRROR:-data}/tinyshakespeare/input.txt
WORK=build/bench_tokenizer_work
for f in "$VOCAB/encoder.json" "$VOCAB/vocab.bpe" "$SHAKESPEARE"; do
    [[ -f $f ]] || { echo "error: $f missing: run \`make data\` first" >&2; exit 1; }
done
"$PYTHON" -c "import tiktoken" 2>/dev/null || { echo "error: $PYTHON has no tiktoken: $PYTHON -m pip install tiktoken" >&2; exit 1; }

mkdir -p "$WORK"
CXX=${CXX:-g++}
$CXX -std=c++17 -O3 -march=native -fopenmp -I. bench/bench_tokenizer.cpp -o build/bench_tokenizer
"$PYTHON" bench/bench_tokenizer_text.py "$SHAKESPEARE" "$WORK/multilingual.txt"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for text in "$SHAKESPEARE" "$WORK/multilingual.txt"; do
    echo "## $(basename "$text"): $(wc -c < "$text") bytes"
    ./build/bench_tokenizer encode "$VOCAB" "$text" "$WORK/ours.u32" "$REPEATS"
    "$PYTHON" bench/bench_tokenizer_tiktoken.py "$VOCAB" "$text" "$WORK/tiktoken.u32" "$REPEATS"
    if cmp -s "$WORK/ours.u32" "$WORK/tiktoken.u32"; then echo "ids: identical"; else echo "ids: DIFFERENT"; exit 1; fi
done
echo "## training"
./build/bench_tokenizer train "$SHAKESPEARE" 4096 3
