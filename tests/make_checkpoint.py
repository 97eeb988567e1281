"""make_checkpoint.py: random GPT-2 checkpoints and batches for the tests, and a self-test of
the PyTorch reference (tests/reference_gpt2.py).

What it is: a writer of small random checkpoint directories in the layout of DESIGN.md §3
(config.json + model.safetensors, F32, Hugging Face names or OpenAI's unprefixed ones) and of
batch files (safetensors with `inputs` and `targets`, I32 (B,T)); and `--self-test`, which checks
the reference against things it does not share code with: a per-position loop for attention,
torch's GELU, finite differences (gradcheck), a hand-written AdamW, and its own file checks.

What it is not: a model initialiser worth training from (weights are plain Gaussian noise).

  /usr/bin/python3 tests/make_checkpoint.py --out DIR --batch-out FILE [--n-layer 2 ...]
  /usr/bin/python3 tests/make_checkpoint.py --self-test
"""
import argparse, json, math, os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_gpt2 as ref  # noqa: E402

def param_shapes(L, C, V, T):
    """The checkpoint's tensors, in save_pretrained's names, with their shapes."""
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (T, C)}
    for i in range(L):
        h = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            shapes[h + ln + ".weight"] = shapes[h + ln + ".bias"] = (C,)
        for name, (i_, o) in {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C),
                              "mlp.c_fc": (C, 4 * C), "mlp.c_proj": (4 * C, C)}.items():
            shapes[h + name + ".weight"], shapes[h + name + ".bias"] = (i_, o), (o,)
    shapes["transformer.ln_f.weight"] = shapes["transformer.ln_f.bias"] = (C,)
    return shapes

def write_checkpoint(out, n_layer=2, n_head=2, n_embd=16, n_positions=16, vocab_size=64,
                     seed=0, std=0.1, openai_names=False):
    """Gaussian weights (LayerNorm weights around 1) so that every path carries signal."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in param_shapes(n_layer, n_embd, vocab_size, n_positions).items():
        a = rng.normal(0.0, std, size=shape)
        if ".ln_" in name and name.endswith(".weight"):
            a += 1.0
        tensors[name.replace("transformer.", "", 1) if openai_names else name] = a.astype(np.float32)
    if openai_names:  # OpenAI's files also carry the causal-mask buffers; loaders ignore them
        T = n_positions
        for i in range(n_layer):
            tensors[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, T, T), np.float32))
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": n_layer,
           "n_head": n_head, "n_embd": n_embd, "n_positions": n_positions, "n_ctx": n_positions,
           "vocab_size": vocab_size, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "tie_word_embeddings": True, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    ref.write_safetensors(os.path.join(out, "model.safetensors"), tensors)

def write_batch(path, B=2, T=8, vocab_size=64, seed=1):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab_size, size=(B, T + 1)).astype(np.int32)
    ref.write_safetensors(path, {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]})

# ----------------------------------------------------------------------------- self-test
def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        check.failed += 1
check.failed = 0

def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)

def naive_attention(x, W, b, Wp, bp, NH):
    """Attention one (batch, head, position) at a time in numpy: the textbook loop."""
    B, T, C = x.shape
    HS = C // NH
    qkv = x @ W + b
    y = np.zeros_like(x)
    for bi in range(B):
        for h in range(NH):
            for t in range(T):
                q = qkv[bi, t, h * HS:(h + 1) * HS]
                ks = qkv[bi, :t + 1, C + h * HS:C + (h + 1) * HS]       # keys of positions 0..t
                vs = qkv[bi, :t + 1, 2 * C + h * HS:2 * C + (h + 1) * HS]
                s = ks @ q / math.sqrt(HS)
                w = np.exp(s - s.max()); w /= w.sum()
                y[bi, t, h * HS:(h + 1) * HS] = w @ vs
    return y @ Wp + bp

def manual_adamw(model, idx, targets, steps, lr, b1, b2, eps, wd, clip):
    """AdamW written out (decoupled decay on 2-D tensors only, bias-corrected moments)."""
    prms = list(model.parameters())
    m = [torch.zeros_like(p) for p in prms]
    v = [torch.zeros_like(p) for p in prms]
    losses, norms = [], []
    for step in range(1, steps + 1):
        for p in prms:
            p.grad = None
        _, loss = model(idx, targets)
        loss.backward()
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in prms))
        scale = clip / (norm + 1e-6) if clip > 0 and clip / (norm + 1e-6) < 1 else 1.0
        losses.append(loss.item()); norms.append(norm)
        with torch.no_grad():
            for p, mi, vi in zip(prms, m, v):
                g = p.grad * scale
                mi.mul_(b1).add_((1 - b1) * g)
                vi.mul_(b2).add_((1 - b2) * g * g)
                mhat, vhat = mi / (1 - b1 ** step), vi / (1 - b2 ** step)
                decay = wd if p.dim() == 2 else 0.0
                p.sub_(lr * (mhat / (vhat.sqrt() + eps) + decay * p))
    return losses, norms

def run_reference(*args):
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_gpt2.py")]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True)

def self_test():
    with tempfile.TemporaryDirectory(prefix="reference_gpt2_") as tmp:
        return self_test_in(tmp)

def self_test_in(tmp):
    torch.manual_seed(0)
    L, NH, C, TP, V, B, T = 2, 2, 16, 16, 64, 2, 8
    ck, ck_oa, batch = (os.path.join(tmp, n) for n in ("ck", "ck_openai", "batch.safetensors"))
    write_checkpoint(ck, L, NH, C, TP, V)
    write_checkpoint(ck_oa, L, NH, C, TP, V, openai_names=True)
    write_batch(batch, B, T, V)

    # safetensors: round trip of every dtype, and BF16 read as the top half of a float32
    path = os.path.join(tmp, "rt.safetensors")
    data = {"f64": np.arange(6.0).reshape(2, 3), "f32": np.float32([1.5, -2]),
            "i32": np.int32([[7, -8]]), "i64": np.int64([1 << 40]), "empty": np.zeros(0)}
    ref.write_safetensors(path, data)
    back = ref.read_safetensors(path)
    check(all(back[k].dtype == a.dtype and np.array_equal(back[k], a) for k, a in data.items()),
          "safetensors round trip F64/F32/I32/I64/empty")
    bf = np.float32([1.0, -3.5, 0.15625])
    with open(path, "wb") as f:
        h = json.dumps({"__metadata__": {"format": "pt"},
                        "x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
        f.write(len(h).to_bytes(8, "little") + h + (bf.view(np.uint32) >> 16).astype("<u2").tobytes())
    check(np.array_equal(ref.read_safetensors(path)["x"], bf), "safetensors BF16 read, __metadata__ skipped")

    model = ref.load_model(ck, torch.float64)
    x = torch.randn(B, T, C, dtype=torch.float64)
    a = model.transformer.h[0].attn
    ours = model.attention(x, a).detach().numpy()
    loop = naive_attention(x.numpy(), *(t.detach().numpy() for t in
                           (a.c_attn.weight, a.c_attn.bias, a.c_proj.weight, a.c_proj.bias)), NH)
    check(rel(ours, loop) < 1e-12, f"attention vs per-position loop: rel err {rel(ours, loop):.1e}")
    g = ref.GPT.gelu(x * 3)
    check(rel(g, F.gelu(x * 3, approximate="tanh")) < 1e-14, "gelu vs torch gelu(approximate='tanh')")

    # gradients of the float64 model against finite differences (torch.autograd.gradcheck)
    bt = ref.read_safetensors(batch)
    idx, tgt = (torch.from_numpy(bt[k].astype(np.int64)) for k in ("inputs", "targets"))
    names, prms = zip(*model.named_parameters())
    # (on a smaller model: gradcheck costs two forwards per parameter value)
    small, small_batch = os.path.join(tmp, "ck_small"), os.path.join(tmp, "batch_small.safetensors")
    write_checkpoint(small, n_layer=2, n_head=2, n_embd=8, n_positions=8, vocab_size=16)
    write_batch(small_batch, B=2, T=4, vocab_size=16)
    m = ref.load_model(small, torch.float64)
    sb = ref.read_safetensors(small_batch)
    s_idx, s_tgt = (torch.from_numpy(sb[k].astype(np.int64)) for k in ("inputs", "targets"))
    s_names, s_prms = zip(*m.named_parameters())
    inputs = [p.detach().clone().requires_grad_(True) for p in s_prms]

    def loss_of(*values):  # the model's loss with its parameters replaced by `values`
        return torch.nn.utils.stateless.functional_call(m, dict(zip(s_names, values)), (s_idx, s_tgt))[1]
    ok = torch.autograd.gradcheck(loss_of, inputs, eps=1e-6, atol=1e-8, rtol=1e-6,
                                  raise_exception=False)
    check(ok, f"gradcheck of all {len(inputs)} parameter tensors ({sum(p.numel() for p in inputs)} values) "
              "against finite differences")

    # OpenAI's unprefixed names with mask buffers load to the same weights
    m2 = ref.load_model(ck_oa, torch.float64)
    check(all(torch.equal(p, q) for p, q in zip(model.parameters(), m2.parameters())) and
          [n for n, _ in m2.named_parameters()] == list(names), "OpenAI names + attn.bias buffers load")

    # the script: outputs, dtypes, fp32 vs fp64 agreement, loss == losses[0]
    outs = {}
    for dt in ("float64", "float32"):
        out = os.path.join(tmp, f"out_{dt}.safetensors")
        r = run_reference("--ckpt", ck, "--batch", batch, "--out", out, "--dtype", dt, "--steps", 10)
        check(r.returncode == 0, f"reference_gpt2.py --dtype {dt} runs" + (": " + r.stderr if r.returncode else ""))
        outs[dt] = ref.read_safetensors(out)
    o64, o32 = outs["float64"], outs["float32"]
    want = {"logits", "loss", "losses", "grad_norms"} | {"grad." + n for n in names}
    check(set(o64) == want and set(o32) == want, f"output holds {len(want)} tensors: logits, loss, grad.*, losses, grad_norms")
    shapes = param_shapes(L, C, V, TP)
    check(o64["logits"].shape == (B, T, V) and o64["loss"].shape == (1,) and o64["losses"].shape == (10,)
          and all(o64["grad." + n].shape == shapes[n] for n in names), "output shapes")
    check(o64["logits"].dtype == np.float64 and o32["logits"].dtype == np.float32, "output dtypes F64 / F32")
    check(o64["loss"][0] == o64["losses"][0], "loss equals the first step's loss")
    check(abs(o64["loss"][0] - math.log(V)) < 0.5, f"random-weights loss {o64['loss'][0]:.4f} near ln V = {math.log(V):.4f}")
    check(o64["losses"][-1] < o64["losses"][0] - 0.3, f"10 steps on one batch: loss {o64['losses'][0]:.4f} -> {o64['losses'][-1]:.4f}")
    worst = max(rel(o32[k], o64[k]) for k in want if k.startswith("grad."))
    check(rel(o32["logits"], o64["logits"]) < 1e-5 and rel(o32["losses"], o64["losses"]) < 1e-5 and worst < 1e-4,
          f"fp32 vs fp64: logits {rel(o32['logits'], o64['logits']):.1e}, losses {rel(o32['losses'], o64['losses']):.1e}, worst grad {worst:.1e}")
    model.zero_grad(set_to_none=True)
    model(idx, tgt)[1].backward()
    check(max(rel(o64["grad." + n], p.grad) for n, p in model.named_parameters()) < 1e-12, "script's grads = in-process grads")

    # the optimizer loop against AdamW written out, with clipping active (--grad-clip 0.05 < norm)
    args = argparse.Namespace(steps=5, lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=0.05)
    la, na = ref.adamw_steps(ref.load_model(ck, torch.float64), idx, tgt, args)
    lb, nb = manual_adamw(ref.load_model(ck, torch.float64), idx, tgt, 5, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.05)
    check(min(na) > 0.05 and rel(la, lb) < 1e-12 and rel(na, nb) < 1e-12,
          f"adamw_steps vs hand-written AdamW + clip (norms {na[0]:.3f}..{na[-1]:.3f}): rel err {rel(la, lb):.1e}")
    args.grad_clip = 0.0
    la, na = ref.adamw_steps(ref.load_model(ck, torch.float64), idx, tgt, args)
    lb, nb = manual_adamw(ref.load_model(ck, torch.float64), idx, tgt, 5, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.0)
    check(rel(la, lb) < 1e-12 and rel(na, nb) < 1e-12, "adamw_steps vs hand-written AdamW, --grad-clip 0")

    # bad input: a clear message and exit status 1 (2 for usage errors)
    bad = os.path.join(tmp, "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    for what, argv, status, words in [
            ("missing checkpoint", ["--ckpt", os.path.join(tmp, "nope"), "--batch", batch], 1, "config.json"),
            ("corrupt batch file", ["--ckpt", ck, "--batch", bad], 1, "not valid JSON"),
            ("wrong batch keys", ["--ckpt", ck, "--batch", os.path.join(ck, "model.safetensors")], 1, "inputs"),
            ("bad --dtype", ["--ckpt", ck, "--batch", batch, "--dtype", "float16"], 2, "invalid choice")]:
        r = run_reference(*argv, "--out", os.path.join(tmp, "o.safetensors"))
        check(r.returncode == status and words in r.stderr and "Traceback" not in r.stderr,
              f"{what}: exit {r.returncode}, {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    print(f"{check.failed} failed" if check.failed else "all passed")
    return 1 if check.failed else 0

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--self-test", action="store_true", help="check tests/reference_gpt2.py and exit")
    p.add_argument("--out", help="checkpoint directory to write")
    p.add_argument("--batch-out", help="batch safetensors file to write")
    p.add_argument("--openai-names", action="store_true", help="unprefixed names + attn.bias buffers")
    for flag, default in [("n-layer", 2), ("n-head", 2), ("n-embd", 16), ("n-positions", 16),
                          ("vocab-size", 64), ("batch", 2), ("seq-len", 8), ("seed", 0)]:
        p.add_argument("--" + flag, type=int, default=default)
    p.add_argument("--std", type=float, default=0.1, help="std of the Gaussian weights")
    a = p.parse_args()
    if a.self_test:
        return self_test()
    if not a.out and not a.batch_out:
        p.error("give --out DIR and/or --batch-out FILE (or --self-test)")
    if a.n_embd % a.n_head or a.seq_len > a.n_positions:
        p.error("--n-embd must be divisible by --n-head, and --seq-len <= --n-positions")
    if a.out:
        write_checkpoint(a.out, a.n_layer, a.n_head, a.n_embd, a.n_positions, a.vocab_size,
                         a.seed, a.std, a.openai_names)
    if a.batch_out:
        write_batch(a.batch_out, a.batch, a.seq_len, a.vocab_size, a.seed + 1)
    return 0

if __name__ == "__main__":
    sys.exit(main())
