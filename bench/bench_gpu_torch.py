"""bench_gpu_torch.py: GPT-2 training steps in PyTorch at its best on one GPU, the peer that
bench/bench_gpu.sh times train_gpt against: bf16 autocast, torch.compile, scaled_dot_product_attention
(flash attention), fused AdamW, tied head, the same shapes and data as train_gpt.

What it is not: a trainer (no checkpoints, no validation). Prints "median_ms X" (median of the
timed steps after 3 warm-up steps, which include compilation) and a "torch ..." line.
"""
import argparse
import math
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, NH, C, T, V):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T   # tied head
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--data", default="data/tinyshakespeare/train_000000.bin")
    ap.add_argument("--n-layer", type=int, default=12)
    ap.add_argument("--n-head", type=int, default=12)
    ap.add_argument("--n-embd", type=int, default=768)
    ap.add_argument("--vocab-size", type=int, default=50304)   # padded, as everyone benchmarks it
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = "cuda"
    header = np.fromfile(a.data, dtype=np.int32, count=256)
    tokens = np.fromfile(a.data, dtype=np.uint16 if header[1] == 1 else np.uint32, offset=1024)
    tokens = torch.from_numpy(tokens.astype(np.int64))
    B, T = a.batch, a.seq_len
    model = GPT(a.n_layer, a.n_head, a.n_embd, T, a.vocab_size).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    step_fn = torch.compile(model)
    pos, times = 0, []
    for step in range(a.steps):
        if pos + B * T + 1 > len(tokens):
            pos = 0
        chunk = tokens[pos:pos + B * T + 1].to(dev)
        pos += B * T
        x, y = chunk[:-1].view(B, T), chunk[1:].view(B, T)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = step_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1000
        if step >= 3:
            times.append(ms)
        print(f"step {step + 1}/{a.steps} | loss {loss.item():.6f} | {ms:.1f} ms", flush=True)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, bf16 autocast + torch.compile + SDPA + fused AdamW")
    print(f"median_ms {statistics.median(times):.2f}")
    assert math.isfinite(loss.item())


if __name__ == "__main__":
    main()
