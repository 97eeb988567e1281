#!/usr/bin/env python3
"""Builds the multilingual benchmark text for bench/bench_tokenizer.sh.

usage: python3 bench/bench_tokenizer_text.py SHAKESPEARE_TXT OUT_TXT

OUT = tinyshakespeare + about 2 MB of generated text in ten scripts (Cyrillic, Greek,
Arabic, Devanagari with vowel signs, Hangul, Hiragana/Katakana, CJK ideographs without
spaces, accented Latin, emoji with ZWJ sequences and skin tones, digits), made of a
random lexicon per script drawn with Zipf-like frequencies so that words repeat as in real
text. Deterministic (fixed seed): the same bytes on every machine.
"""
import random
import sys

SCRIPTS = {
    "cyrillic": [chr(c) for c in range(0x430, 0x450)],
    "greek": [chr(c) for c in range(0x3B1, 0x3CA)],
    "arabic": [chr(c) for c in range(0x627, 0x64B)],
    "devanagari": [chr(c) for c in range(0x915, 0x939)] + [chr(c) for c in range(0x93E, 0x94C)],
    "hangul": [chr(c) for c in range(0xAC00, 0xD7A4, 37)],
    "kana": [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)],
    "cjk": [chr(c) for c in range(0x4E00, 0x6000, 3)],
    "latin": list("abcdefghijklmnopqrstuvwxyzàáâäæçèéêëìíîïñòóôöøùúûüýÿßœšž"),
    "emoji": ["😀", "😂", "🥲", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🔥", "🎉", "🤖", "1️⃣", "✨"],
}
NO_SPACES = {"cjk", "kana"}
PUNCT = {"cjk": "，。！？", "kana": "、。", "arabic": "،.؟", "devanagari": "।,?"}


def lexicon(rng, letters, n):
    return ["".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(n)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rng = random.Random(20240601)
    words = {s: lexicon(rng, letters, 3000) for s, letters in SCRIPTS.items()}
    weights = [1.0 / (i + 1) for i in range(3000)]   # Zipf: a few words are very common
    out, size = [], 0
    while size < 2_000_000:
        script = rng.choice(list(SCRIPTS))
        n = rng.randint(5, 25)
        ws = rng.choices(words[script], weights=weights, k=n)
        if rng.random() < 0.3:
            ws.insert(rng.randrange(n), str(rng.randint(0, 99999)))
        sep = "" if script in NO_SPACES else " "
        line = sep.join(ws) + rng.choice(PUNCT.get(script, ".,!?")) + ("\n\n" if rng.random() < 0.2 else "\n")
        out.append(line)
        size += len(line.encode("utf-8"))
    with open(sys.argv[1], "rb") as f:
        base = f.read()
    with open(sys.argv[2], "wb") as f:
        f.write(base + "".join(out).encode("utf-8"))


if __name__ == "__main__":
    main()
