#!/usr/bin/env bash
# tests/run_fuzz.sh: fuzzes the shard reader of dataloader.h for a bounded time.
#
# Builds tests/fuzz_dataloader.cpp with clang++ -fsanitize=fuzzer,address,undefined,
# writes a small seed corpus (valid uint16 and uint32 shards, an empty one, a
# truncated one, a header alone), and runs libFuzzer for SECONDS (default 20).
# Exits non-zero if the fuzzer finds a crash, a sanitizer error or a timeout;
# the failing input is left in build/fuzz/ for replay:
#   build/fuzz/fuzz_dataloader build/fuzz/crash-...
# Usage: bash tests/run_fuzz.sh [SECONDS]     (from the repository root)
set -euo pipefail

SECONDS_TO_RUN="${1:-20}"
CLANGXX="${CLANGXX:-clang++}"
OUT=build/fuzz
command -v "$CLANGXX" >/dev/null || { echo "error: $CLANGXX not found; install clang (apt-get install clang) to fuzz" >&2; exit 1; }
mkdir -p "$OUT/corpus"

echo "[fuzz] building $OUT/fuzz_dataloader"
"$CLANGXX" -std=c++17 -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    tests/fuzz_dataloader.cpp -o "$OUT/fuzz_dataloader"

# seed corpus: a few small shards written byte by byte (little-endian int32 header, then tokens)
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
header() {  # magic version count
    le32 "$1"; le32 "$2"; le32 "$3"
    head -c $((1024 - 12)) /dev/zero
}
{ header 20240520 1 6; printf '\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00'; } > "$OUT/corpus/u16_6"
{ header 20240801 7 4; le32 1; le32 70000; le32 3; le32 4; } > "$OUT/corpus/u32_4"
header 20240520 1 0 > "$OUT/corpus/u16_empty"
{ header 20240520 1 9; printf '\x01\x00\x02\x00'; } > "$OUT/corpus/u16_truncated"
header 20240801 7 0 | head -c 1000 > "$OUT/corpus/short_header"

echo "[fuzz] running for ${SECONDS_TO_RUN}s"
# -timeout: one input taking over 10 s is reported as a failure; -rss_limit_mb: so is a memory blow-up
if "$OUT/fuzz_dataloader" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -artifact_prefix="$OUT/" -print_final_stats=1 2> "$OUT/fuzz.log"; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/fuzz.log" || true
    echo "[fuzz] PASS: no crash in ${SECONDS_TO_RUN}s"
else
    tail -n 40 "$OUT/fuzz.log" >&2
    echo "[fuzz] FAIL: the fuzzer found a failing input (see $OUT/ and $OUT/fuzz.log)" >&2
    exit 1
fi
