#!/usr/bin/env bash
# tests/run_fuzz.sh: fuzzes a reader of untrusted files for a bounded time.
#
# TARGET dataloader (the default): the shard reader of dataloader.h; TARGET checkpoint:
# the safetensors, config.json and trainer_state.json readers of train_common.h.
# Builds tests/fuzz_TARGET.cpp with clang++ -fsanitize=fuzzer,address,undefined,
# writes a small seed corpus (valid files and broken ones), and runs libFuzzer for
# SECONDS (default 20). Exits non-zero if the fuzzer finds a crash, a sanitizer error or
# a timeout; the failing input is left in build/fuzz/ for replay:
#   build/fuzz/fuzz_TARGET build/fuzz/crash-...
# Usage: bash tests/run_fuzz.sh [SECONDS] [TARGET]     (from the repository root)
set -euo pipefail

SECONDS_TO_RUN="${1:-20}"
TARGET="${2:-dataloader}"
CLANGXX="${CLANGXX:-clang++}"
OUT=build/fuzz
CORPUS="$OUT/corpus_$TARGET"
[ -f "tests/fuzz_$TARGET.cpp" ] || { echo "error: no fuzz target tests/fuzz_$TARGET.cpp (dataloader or checkpoint)" >&2; exit 2; }
command -v "$CLANGXX" >/dev/null || { echo "error: $CLANGXX not found; install clang (apt-get install clang) to fuzz" >&2; exit 1; }
mkdir -p "$CORPUS"

echo "[fuzz] building $OUT/fuzz_$TARGET"
"$CLANGXX" -std=c++17 -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "tests/fuzz_$TARGET.cpp" -o "$OUT/fuzz_$TARGET"

# seed corpus: a few small shards written byte by byte (little-endian int32 header, then tokens)
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
header() {  # magic version count
    le32 "$1"; le32 "$2"; le32 "$3"
    head -c $((1024 - 12)) /dev/zero
}
if [ "$TARGET" = dataloader ]; then
    { header 20240520 1 6; printf '\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00'; } > "$CORPUS/u16_6"
    { header 20240801 7 4; le32 1; le32 70000; le32 3; le32 4; } > "$CORPUS/u32_4"
    header 20240520 1 0 > "$CORPUS/u16_empty"
    { header 20240520 1 9; printf '\x01\x00\x02\x00'; } > "$CORPUS/u16_truncated"
    header 20240801 7 0 | head -c 1000 > "$CORPUS/short_header"
else
    # the first byte picks the reader (see tests/fuzz_checkpoint.cpp): a safetensors file, a
    # config.json, a trainer_state.json, and a whole 1-layer checkpoint (config, NUL, weights)
    /usr/bin/python3 - "$CORPUS" <<'PY'
import json, struct, sys
out = sys.argv[1]
def safetensors(tensors):   # {name: (shape, [floats])}
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (shape, values) in tensors.items():
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data
C, T, V = 2, 2, 3
shapes = {"wte.weight": [V, C], "wpe.weight": [T, C], "ln_f.weight": [C], "ln_f.bias": [C]}
for n, s in [("ln_1.weight", [C]), ("ln_1.bias", [C]), ("attn.c_attn.weight", [C, 3 * C]), ("attn.c_attn.bias", [3 * C]),
             ("attn.c_proj.weight", [C, C]), ("attn.c_proj.bias", [C]), ("ln_2.weight", [C]), ("ln_2.bias", [C]),
             ("mlp.c_fc.weight", [C, 4 * C]), ("mlp.c_fc.bias", [4 * C]), ("mlp.c_proj.weight", [4 * C, C]), ("mlp.c_proj.bias", [C])]:
    shapes["h.0." + n] = s
model = safetensors({"transformer." + n: (s, [0.5] * eval("*".join(map(str, s)))) for n, s in shapes.items()})
config = json.dumps({"model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": C, "n_positions": T, "vocab_size": V,
                     "activation_function": "gelu_new"}).encode()
state = json.dumps({"step": 4, "world": 1, "rng": 12345, "log_lines": 9,
                    "loader": {"epoch": 0, "shard_pos": 0, "window_pos": 4}}).encode()
seeds = {"safetensors": b"\0" + safetensors({"a": ([2, 2], [1, 2, 3, 4]), "b": ([3], [5, 6, 7])}),
         "config": b"\1" + config, "state": b"\2" + state, "checkpoint": b"\3" + config + b"\0" + model,
         "empty_header": b"\0" + struct.pack("<Q", 2) + b"{}"}
for name, blob in seeds.items():
    open(f"{out}/{name}", "wb").write(blob)
PY
fi

echo "[fuzz] running $OUT/fuzz_$TARGET for ${SECONDS_TO_RUN}s"
# -timeout: one input taking over 10 s is reported as a failure; -rss_limit_mb: so is a memory blow-up
LOG="$OUT/fuzz_$TARGET.log"
if "$OUT/fuzz_$TARGET" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -artifact_prefix="$OUT/" -print_final_stats=1 2> "$LOG"; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$LOG" || true
    echo "[fuzz] PASS: no crash in ${SECONDS_TO_RUN}s"
else
    tail -n 40 "$LOG" >&2
    echo "[fuzz] FAIL: the fuzzer found a failing input (see $OUT/ and $LOG)" >&2
    exit 1
fi
