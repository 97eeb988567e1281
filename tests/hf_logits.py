"""hf_logits.py: loads a checkpoint directory with Hugging Face transformers' own GPT-2
(GPT2LMHeadModel.from_pretrained, nothing converted) and writes its logits for a batch.

The C++ test (tests/test_cpu.cpp) compares them with train_gpt_cpu's: proof that the
checkpoints this project writes are Hugging Face GPT-2 checkpoints as they are.

usage: hf_logits.py --ckpt DIR --batch FILE --out FILE [--save-pretrained NEWDIR]
  --batch: safetensors with `inputs` I32 (B,T); --out: safetensors with `logits` F64 (B,T,V).
  --save-pretrained: the other direction: a new model of the same shape with transformers'
  own random initialisation, saved by save_pretrained to NEWDIR; --out gets its logits.
Exits 1, naming the tensors, if transformers reports missing, unexpected or mismatched weights.
"""
import argparse, os, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_gpt2 import read_safetensors, write_safetensors  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--save-pretrained", metavar="NEWDIR")
    a = p.parse_args()
    try:
        from transformers import GPT2LMHeadModel
    except ImportError:
        sys.exit("error: transformers is not installed (bash tools/install_deps.sh test installs it)")
    model, info = GPT2LMHeadModel.from_pretrained(a.ckpt, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        sys.exit(f"error: {a.ckpt}: transformers did not load it as it is: {problems}")
    if a.save_pretrained:
        torch.manual_seed(0)
        model = GPT2LMHeadModel(model.config)          # transformers' own initialisation
        model.save_pretrained(a.save_pretrained, safe_serialization=True)
    model = model.double().eval()
    inputs = torch.from_numpy(read_safetensors(a.batch)["inputs"].astype(np.int64))
    with torch.no_grad():
        logits = model(inputs).logits
    write_safetensors(a.out, {"logits": logits.numpy()})


if __name__ == "__main__":
    main()
