"""reference_gpt2.py: the PyTorch GPT-2 that the C++ and CUDA trainers are checked against.

What it is: one plain PyTorch model (GPT-2 exactly as DESIGN.md §2 describes it),
a hand-written safetensors reader/writer, and a script that loads a checkpoint
directory and a batch, then writes the logits, the loss, every parameter's
gradient and the losses / gradient norms of a few AdamW steps on that batch.

What it deliberately is not: fast, or a trainer. Attention is written out as
q k^T / sqrt(HS), mask, softmax, @ v so a reader can match it line by line to
the C++ code; no fused kernels, no dropout, no learning-rate schedule.

Conventions: linear weights are stored [in, out] (GPT-2's Conv1D layout), so
y = x @ W + b, exactly as in the checkpoint; parameter names are the Hugging
Face `save_pretrained` names (`transformer.h.0.attn.c_attn.weight`, ...).
Shapes: B batch, T time, C channels, V vocabulary, NH heads, HS = C / NH.

  /usr/bin/python3 tests/reference_gpt2.py --ckpt DIR --batch FILE --out FILE [--dtype float64]
"""
import argparse, json, math, os, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- safetensors
# The format: 8-byte little-endian header length N, N bytes of JSON
# {name: {dtype, shape, data_offsets: [begin, end]}, optional "__metadata__"}, then raw
# little-endian data (offsets count from the first byte after the header).
NP_DTYPES = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "BF16": "<u2"}

def read_safetensors(path):
    """Returns {name: numpy array}; BF16 is widened to float32."""
    if not os.path.isfile(path):
        raise RuntimeError(f"{path}: no such file (write it first, e.g. with tests/make_checkpoint.py)")
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise RuntimeError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise RuntimeError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise RuntimeError(f"{path}: the header is not valid JSON ({e}); is this a safetensors file?")
    if not isinstance(header, dict):
        raise RuntimeError(f"{path}: the header is not a JSON object; is this a safetensors file?")
    data, out = memoryview(raw)[8 + n:], {}  # a view: no second copy of the weights
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise RuntimeError(f"{path}: header entry {name!r} lacks dtype, shape or data_offsets")
        if dtype not in NP_DTYPES:
            raise RuntimeError(f"{path}: tensor {name} has dtype {dtype}; supported: {', '.join(NP_DTYPES)}")
        count = math.prod(shape)
        if begin < 0 or end - begin != count * np.dtype(NP_DTYPES[dtype]).itemsize or end > len(data):
            raise RuntimeError(f"{path}: tensor {name}: offsets {begin}..{end} do not fit shape {shape} {dtype}"
                               f" in {len(data)} data bytes; the file is truncated or corrupt")
        a = np.frombuffer(data, dtype=NP_DTYPES[dtype], count=count, offset=begin).reshape(shape)
        if dtype == "BF16":  # bf16 is the top half of a float32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.copy()
    return out

def write_safetensors(path, tensors):
    """tensors: {name: numpy array of float64/float32/int64/int32}."""
    names = {np.dtype(v): k for k, v in NP_DTYPES.items() if k != "BF16"}
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[a.dtype.newbyteorder("<")], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

# ----------------------------------------------------------------------------- model
class GPT(nn.Module):
    """GPT-2. Submodules are named so that named_parameters() yields the checkpoint names."""

    def __init__(self, cfg):
        super().__init__()
        V, T, C, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
        self.n_head, eps = cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5)
        if C % self.n_head:
            raise RuntimeError(f"config.json: n_embd {C} is not divisible by n_head {self.n_head}")

        def linear(i, o):  # Conv1D: weight (in, out), bias (out)
            m = nn.Module()
            m.weight, m.bias = nn.Parameter(torch.zeros(i, o)), nn.Parameter(torch.zeros(o))
            return m

        def block():
            b, b.attn, b.mlp = nn.Module(), nn.Module(), nn.Module()
            b.ln_1, b.ln_2 = nn.LayerNorm(C, eps=eps), nn.LayerNorm(C, eps=eps)
            b.attn.c_attn, b.attn.c_proj = linear(C, 3 * C), linear(C, C)
            b.mlp.c_fc, b.mlp.c_proj = linear(C, 4 * C), linear(4 * C, C)
            return b

        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(V, C)  # (V, C), also the LM head (tied)
        self.transformer.wpe = nn.Embedding(T, C)  # (T, C)
        self.transformer.h = nn.ModuleList([block() for _ in range(L)])
        self.transformer.ln_f = nn.LayerNorm(C, eps=eps)

    @staticmethod
    def gelu(x):  # GPT-2's "gelu_new": the tanh approximation
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    def attention(self, x, a):
        # x (B,T,C) -> (B,T,C); the only place where positions exchange information
        B, T, C = x.shape
        NH, HS = self.n_head, C // self.n_head
        qkv = x @ a.c_attn.weight + a.c_attn.bias                  # (B,T,3C)
        q, k, v = qkv.split(C, dim=2)                              # each (B,T,C)
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))  # (B,NH,T,HS)
        att = q @ k.transpose(-2, -1) / math.sqrt(HS)             # (B,NH,T,T)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        att = att.masked_fill(future, float("-inf"))              # t attends to 0..t only
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)             # heads side by side again
        return y @ a.c_proj.weight + a.c_proj.bias

    def forward(self, idx, targets):
        # idx, targets (B,T) int64 -> logits (B,T,V), loss scalar
        tr = self.transformer
        T = idx.shape[1]
        x = tr.wte.weight[idx] + tr.wpe.weight[:T]                 # (B,T,C)
        for b in tr.h:
            x = x + self.attention(b.ln_1(x), b.attn)
            h = self.gelu(b.ln_2(x) @ b.mlp.c_fc.weight + b.mlp.c_fc.bias)  # (B,T,4C)
            x = x + h @ b.mlp.c_proj.weight + b.mlp.c_proj.bias
        logits = tr.ln_f(x) @ tr.wte.weight.T                      # (B,T,V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

def load_model(ckpt, dtype):
    cfg_path, st_path = os.path.join(ckpt, "config.json"), os.path.join(ckpt, "model.safetensors")
    if not os.path.isfile(cfg_path):
        raise RuntimeError(f"{cfg_path}: no such file; --ckpt must be a checkpoint directory")
    with open(cfg_path) as f:
        cfg = json.load(f)
    for key in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
        if key not in cfg:
            raise RuntimeError(f"{cfg_path}: missing key {key!r}")
    model = GPT(cfg).to(dtype)
    params, seen = dict(model.named_parameters()), set()
    for name, a in read_safetensors(st_path).items():
        if name.endswith((".attn.bias", ".attn.masked_bias")) or name == "lm_head.weight":
            continue  # causal-mask buffers, and the LM head, which is tied to wte
        full = name if name.startswith("transformer.") else "transformer." + name  # OpenAI's names
        if full not in params:
            raise RuntimeError(f"{st_path}: unexpected tensor {name!r} for a {cfg['n_layer']}-layer GPT-2")
        if tuple(a.shape) != tuple(params[full].shape):
            raise RuntimeError(f"{st_path}: {name} has shape {list(a.shape)}, config.json implies "
                               f"{list(params[full].shape)}")
        with torch.no_grad():
            params[full].copy_(torch.from_numpy(a.astype(np.float64)))
        seen.add(full)
    missing = sorted(set(params) - seen)
    if missing:
        raise RuntimeError(f"{st_path}: missing {len(missing)} tensors, e.g. {missing[0]}")
    return model

def adamw_steps(model, idx, targets, args):
    """args.steps optimizer steps on one batch; returns the losses (before each update)
    and the global gradient norms (before clipping)."""
    prms = list(model.parameters())
    groups = [{"params": [q for q in prms if q.dim() == 2], "weight_decay": args.weight_decay},
              {"params": [q for q in prms if q.dim() != 2], "weight_decay": 0.0}]  # biases, LayerNorms
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps)
    losses, norms = [], []
    for _ in range(args.steps):
        opt.zero_grad(set_to_none=True)
        _, loss = model(idx, targets)
        loss.backward()
        if args.grad_clip > 0:  # scales by grad_clip / (norm + 1e-6) when that is < 1
            norm = torch.nn.utils.clip_grad_norm_(prms, max_norm=args.grad_clip)
        else:
            norm = torch.sqrt(sum((q.grad ** 2).sum() for q in prms))
        losses.append(loss.item()); norms.append(norm.item())
        opt.step()
    return losses, norms

# ----------------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="checkpoint dir: config.json + model.safetensors")
    p.add_argument("--batch", required=True, help="safetensors with inputs, targets I32 (B,T)")
    p.add_argument("--out", required=True, help="safetensors to write")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global grad norm, 0 = off")
    p.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    args = p.parse_args()
    if args.steps < 0 or args.threads < 0:
        p.error("--steps and --threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    batch = read_safetensors(args.batch)
    for key in ("inputs", "targets"):
        if key not in batch or batch[key].ndim != 2:
            raise RuntimeError(f"{args.batch}: needs a 2-D tensor {key!r} (B,T)")
    idx, targets = (torch.from_numpy(batch[k].astype(np.int64)) for k in ("inputs", "targets"))
    model = load_model(args.ckpt, dtype)
    V, TMAX = model.transformer.wte.weight.shape[0], model.transformer.wpe.weight.shape[0]
    if idx.shape != targets.shape or idx.shape[1] > TMAX:
        raise RuntimeError(f"{args.batch}: inputs {list(idx.shape)} / targets {list(targets.shape)}: "
                           f"need equal shapes (B,T) with T <= n_positions {TMAX}")
    if min(idx.min(), targets.min()) < 0 or max(idx.max(), targets.max()) >= V:
        raise RuntimeError(f"{args.batch}: token ids must lie in 0..{V - 1}")

    # 1. one forward and backward from the checkpoint's weights
    logits, loss = model(idx, targets)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().reshape(1).numpy()}
    for name, prm in model.named_parameters():
        out["grad." + name] = prm.grad.numpy().copy()

    # 2. --steps AdamW steps on the same batch, starting again from the checkpoint
    losses, norms = adamw_steps(load_model(args.ckpt, dtype), idx, targets, args)
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    out["losses"] = np.array(losses, dtype=np_dtype)
    out["grad_norms"] = np.array(norms, dtype=np_dtype)
    write_safetensors(args.out, out)

if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
