"""bench_cpu_torch.py: the PyTorch side of bench/bench_cpu.sh: ms per fp32 training step of
the same GPT-2 on the CPU.

What it is: the model class of tests/reference_gpt2.py in float32 with random weights, AdamW
(PyTorch's default implementation), global-norm clipping at 1.0, random tokens; a few warm-up
steps, then the median over --steps of forward + backward + clip + step. `--blas-check` times a
1024^3 matmul first and refuses to go on when PyTorch runs on the slow reference BLAS.

What it is not: a tuned PyTorch baseline (no torch.compile, no channels-last tricks): it is what
a reader gets from plain PyTorch on the same machine and thread count.

Prints one line per step (`torch step 4/13 | loss ... | 812.3 ms`), then `torch_ms <median>`.
"""
import argparse, os, statistics, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from reference_gpt2 import GPT  # noqa: E402

def blas_library():
    """The BLAS shared library this process has loaded (Debian picks it via update-alternatives)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return ", ".join(sorted(libs)) or "none found"

def blas_check(threads):
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # the first call loads and warms the library
    t0, reps = time.perf_counter(), 5
    for _ in range(reps):
        a @ b
    gflops = 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9
    print(f"torch {torch.__version__}, BLAS: {blas_library()}, 1024^3 fp32 matmul on {threads} "
          f"thread(s): {gflops:.1f} GFLOP/s")
    # Netlib's reference BLAS manages ~1-3 GFLOP/s here; OpenBLAS on one AVX2 core 30 or more.
    if gflops < 8.0:
        print("error: PyTorch runs on a slow BLAS (the reference implementation?); install "
              "libopenblas0 (apt-get install libopenblas0) so that update-alternatives picks it, "
              "then run again", file=sys.stderr)
        sys.exit(1)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default in [("n-layer", 12), ("n-head", 12), ("n-embd", 768), ("vocab-size", 50257),
                          ("seq-len", 64), ("batch", 4), ("threads", os.cpu_count()),
                          ("warmup", 3), ("steps", 10), ("seed", 0)]:
        p.add_argument("--" + flag, type=int, default=default)
    p.add_argument("--blas-check", action="store_true", help="time a matmul first; stop on a slow BLAS")
    a = p.parse_args()
    if min(a.n_layer, a.n_head, a.n_embd, a.vocab_size, a.seq_len, a.batch, a.threads, a.steps) < 1:
        p.error("sizes, --threads and --steps must be >= 1")
    if a.n_embd % a.n_head:
        p.error(f"--n-embd {a.n_embd} is not divisible by --n-head {a.n_head}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.blas_check:
        blas_check(a.threads)

    cfg = {"n_layer": a.n_layer, "n_head": a.n_head, "n_embd": a.n_embd,
           "n_positions": a.seq_len, "vocab_size": a.vocab_size, "layer_norm_epsilon": 1e-5}
    model = GPT(cfg).float()
    with torch.no_grad():  # GPT-2's init: N(0, 0.02) weights, zero biases, unit LayerNorms
        for name, q in model.named_parameters():
            if q.dim() == 2:
                q.normal_(0.0, 0.02)
            else:
                q.fill_(1.0 if ".ln_" in name and name.endswith("weight") else 0.0)
    prms = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [q for q in prms if q.dim() == 2], "weight_decay": 0.1},
                             {"params": [q for q in prms if q.dim() != 2], "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    ms = []
    for step in range(a.warmup + a.steps):
        tokens = torch.randint(0, a.vocab_size, (a.batch, a.seq_len + 1))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prms, max_norm=1.0)
        opt.step()
        dt = (time.perf_counter() - t0) * 1000
        print(f"torch step {step + 1}/{a.warmup + a.steps} | loss {loss.item():.6f} | {dt:.1f} ms"
              + (" (warm-up)" if step < a.warmup else ""), flush=True)
        if step >= a.warmup:
            ms.append(dt)
    print(f"torch_ms {statistics.median(ms):.1f}")

if __name__ == "__main__":
    main()
