#!/usr/bin/env python3
"""tiktoken's side of bench/bench_tokenizer.sh: single-threaded encode_ordinary speed.

usage: python3 bench/bench_tokenizer_tiktoken.py VOCAB_DIR TEXT_FILE IDS_OUT [REPEATS]

Builds the "gpt2" encoding offline from VOCAB_DIR (as tests/tiktoken_ids.py does), times
encode_ordinary on the whole file (best of REPEATS, default 5), prints one line of figures
and writes the ids as little-endian uint32 to IDS_OUT so that the script can check that
both tokenizers gave the same ids.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from tiktoken_ids import gpt2_encoding  # noqa: E402
import numpy as np  # noqa: E402


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    vocab, path, ids_out = sys.argv[1:4]
    repeats = int(sys.argv[4]) if len(sys.argv) == 5 else 5
    enc = gpt2_encoding(vocab)
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids = enc.encode_ordinary(text)
        best = min(best, time.perf_counter() - t0)
    np.array(ids, dtype="<u4").tofile(ids_out)
    print("tiktoken %s encode_ordinary, 1 thread: %8.2f MB/s  %10d tokens  %.4f s (best of %d)"
          % (__import__("tiktoken").__version__, len(data) / best / 1e6, len(ids), best, repeats))


if __name__ == "__main__":
    main()
