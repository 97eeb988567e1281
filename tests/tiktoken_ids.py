#!/usr/bin/env python3
"""Prints the token ids of OpenAI's tiktoken "gpt2" encoding: the oracle of test_tokenizer.

The encoding is built offline from the two local files (no download):
    python3 tests/tiktoken_ids.py VOCAB_DIR < cases
VOCAB_DIR holds encoder.json and vocab.bpe. Each input line is one case, "O HEX" (plain
text: encode_ordinary) or "S HEX" (special tokens allowed: "<|endoftext|>" becomes its id),
HEX being the UTF-8 bytes of the text in hex, so any text fits on one line. Each output
line holds that case's ids separated by spaces.
"""
import sys

try:
    import tiktoken
    import tiktoken.load
except ImportError:
    sys.exit("error: tiktoken is not installed for %s: run `%s -m pip install tiktoken`" % (sys.executable, sys.executable))

# GPT-2's pre-split pattern, as in tiktoken_ext/openai_public.py
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def gpt2_encoding(vocab_dir):
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=vocab_dir + "/vocab.bpe", encoder_json_file=vocab_dir + "/encoder.json")
    return tiktoken.Encoding(name="gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": len(ranks)})


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    enc = gpt2_encoding(sys.argv[1])
    out = []
    for line in sys.stdin:
        kind, _, hexdata = line.rstrip("\n").partition(" ")
        text = bytes.fromhex(hexdata).decode("utf-8")
        if kind == "S":
            ids = enc.encode(text, allowed_special="all")
        elif kind == "O":
            ids = enc.encode_ordinary(text)
        else:
            sys.exit("error: input line must start with O or S, got %r" % kind)
        out.append(" ".join(map(str, ids)))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
