#!/usr/bin/env python3
"""roofline.py: a roofline model of one GPT-2 training step on one H100 SXM, kernel by kernel,
for three designs of the GPU trainer. It needs no GPU: every figure it prints is a PREDICTION.

What it is: for a shape (GPT-2 124M by default) it lists every kernel and GEMM that one
optimizer step launches (forward, backward, gradient norm, AdamW, memsets, host stalls), with
its FLOPs and the bytes it reads from and writes to HBM, and predicts its time as

    time = max(FLOPs / GEMM_TFLOPS, bytes / HBM_GBS) / efficiency[kind] + gap per launch

where GEMM_TFLOPS and HBM_GBS are measured H100 rates and `efficiency` is the fraction of that
roof a kind of kernel reaches (one table below, `--efficiency kind=value` overrides it). The
designs, each modelled from its structure:
  (a) train_gpt.cu as it is: cuBLASLt GEMMs with a bias epilogue, O(T^2) attention through
      strided-batched GEMMs with the (B,NH,T,T) scores stored in bf16, head split/merge passes,
      one-bf16-per-thread elementwise kernels, separate cross-entropy kernels, LayerNorm backward
      plus partial-sum kernels, fp32 gradients, AdamW over fp32 master weights, host-side syncs;
  (b) llm.c's train_gpt2.cu built with cuDNN attention, as its GPT-2 124M run script runs it
      (-r 0: nothing recomputed; GELU not fused: gelu_fusion defaults to 0 since 2024-07-01);
  (c) train_gpt.cu as built now: flash attention (three kernels with their tiles in registers,
      products on the tensor cores through mma.sync, operands loaded by ldmatrix, the next tile
      copied in by cp.async, a deterministic backward), 16-byte vectorised kernels, residual +
      LayerNorm in one kernel, one-kernel LayerNorm backward, GELU, its backward and the bias
      gradients in cuBLASLt epilogues, the classifier's loss and gradient in one pass, cached
      cuBLASLt plans, fp32 gradients; `--attention fa2|cudnn` swaps in a faster attention
      (cudnn is built, as train_gpt_cudnn, and ran on an H200; wmma is the file's previous
      kernels, tiles staged in shared memory), `--recompute gelu` is
      --recompute 1, `--graph` and `--grads bf16` are not built.

What it is not: a simulator. Kernels run one after another on one stream, with no overlap;
the bytes of a kernel are the HBM traffic it cannot avoid (each operand read or written once)
plus the re-reads its structure sends to HBM where a comment says so; tiles that a kernel
re-reads from L2 (GEMMs, flash attention) are not counted. The efficiencies are estimates
until a GPU measures them (bench/bench_gpu.sh, Nsight Compute) and they are written here.

MFU uses the project's definition (bench/bench_gpu.sh): FLOPs per token = 6N + 6LCT, with N the
parameters without vocabulary padding. 6N counts every weight once per multiply-add in the
forward (2N) and twice in the backward (4N). 6LCT is the attention term of Kaplan et al. 2020,
§2.1 (the form llm.c uses): per layer and token, the forward's two attention matmuls, Q K^T
and P V, cost 2 * C * (t+1) FLOPs each at position t, i.e. 2CT on average with the causal mask:
only the causal half is counted, and the backward costs twice the forward, so 6LCT in all. A
kernel that computes the whole T x T square (design a) executes twice what MFU credits it for.
MFU is printed against the measured 790 TFLOP/s (the project's) and the 989 TFLOP/s datasheet
figure (llm.c's, so that its published MFU can be compared).

  python3 bench/roofline.py                        # 124M, B=64, T=1024, all three designs
  python3 bench/roofline.py --model 350M --design c --recompute gelu --attention cudnn
  python3 bench/roofline.py --efficiency gemm=0.75 --efficiency flash_bwd=0.35 --list
  python3 bench/roofline.py --self-test            # the checks `make test` runs
"""
import argparse, copy, math, sys
from dataclasses import dataclass, replace

# ----------------------------------------------------------------------------- the machine
# H100 SXM 80GB. The two roofs are measured rates, not datasheet ones: the dense bf16 GEMM rate
# that cuBLAS reaches on a large square problem (bench/bench_gpu.sh measures it the same way,
# an 8192^3 GEMM) and the copy bandwidth of a streaming kernel. Replace them with what the
# card in hand measures.
GEMM_TFLOPS = 790.0          # measured dense bf16, fp32 accumulate (datasheet: 989.4)
DATASHEET_TFLOPS = 989.4     # what llm.c's MFU divides by (its mfu.h: H100 SXM bf16)
HBM_GBS = 3000.0             # measured stream bandwidth (datasheet: 3350 GB/s)
USABLE_GIB = 78.0            # device memory a process can allocate (80 GB card)
GAP_US = 2.5                 # GPU time lost per kernel launched on a stream (launch + tail)
GRAPH_GAP_US = 1.0           # ... when the step is replayed as a CUDA graph

# ----------------------------------------------------------------------------- the efficiencies
# The fraction of its roofline time each kind of kernel reaches. These are ESTIMATES from
# published kernel benchmarks and the kernels' structure; measure each kind on a GPU and write
# the measured value here (or pass --efficiency kind=value) to correct the predictions.
EFFICIENCY = {
    # cuBLASLt bf16 GEMMs (fp32 accumulation): forward and input-gradient GEMMs, K >= C
    "gemm": 0.80,
    # weight-gradient GEMMs: K = B*T is long and the output has few tiles (C x C = 18 tiles of
    # 128x256 for 132 SMs), so cuBLAS splits K; they run below the forward GEMMs
    "gemm_wgrad": 0.70,
    # strided-batched per-head attention GEMMs of design (a): K = HS = 64, or T x T operands
    "gemm_batched": 0.60,
    # cuDNN's fused flash attention at head size 64, causal, on the FLOPs it executes; the
    # deterministic backward's workspace traffic is a row of its own (cudnn_deterministic_workspace)
    # MEASURED (bench/RESULTS.md, run 3, one H100, Nsight Compute at B=64): cuDNN's kernels
    # together took 0.724 of the time 0.50/0.38 predicted, so 0.69/0.52 against 790 TFLOP/s;
    # that card's cuBLAS reached 887, so 0.62/0.47 of what it can do, written here
    "flash_fwd_cudnn": 0.62,
    "flash_bwd_cudnn": 0.47,
    # train_gpt.cu's flash attention before its tiles moved into registers (--attention wmma):
    # every tile product round-tripped S, P and the fp32 accumulators through shared memory
    # between barriers, 4 warps per block: an estimate well below FlashAttention-2's kernels
    "flash_fwd_wmma": 0.15,
    "flash_bwd_wmma": 0.10,
    # FlashAttention-2's own kernels (--attention fa2, not built): register-resident mma.sync
    # tiles, cp.async double buffering, ldmatrix; about 0.8x cuDNN at head size 64 and T = 1k
    # on an H100 in FlashAttention-3's paper (causal forward: 229 against 288 TFLOP/s); below
    # cuDNN, which uses Hopper's wgmma/TMA
    "flash_fwd": 0.40,
    "flash_bwd": 0.28,
    # train_gpt.cu's flash attention as built (--attention mma): FlashAttention-2's register-
    # resident tiles on mma.sync, its double-buffered cp.async tiles and its ldmatrix operand
    # loads. The forward has FlashAttention-2's block of 128 query rows (8 warps; since
    # 2026-11-26, evening: 64 rows before, at 15/16 of FA2's, 0.37): FA2's efficiency. The
    # backward (its products per pair, 5 in the whole-head kernel as in FlashAttention-2, whose
    # dq goes to L2 by atomics where ours goes there and back, or 7 in the two kernels, are
    # counted in its FLOPs; its re-reads are counted as memory traffic): 15/16 of FA2's.
    # Earlier on 2026-11-26: 0.30/0.20 (no cp.async, no ldmatrix), 0.35/0.24 (no ldmatrix).
    # MEASURED since (bench/RESULTS.md, 2026-11-26, one H200, Nsight Compute at B=64): 0.19/0.11
    # at first, 0.25/0.18 after the softmax's instruction diet (commit 89e48ec), against this
    # model's 790 TFLOP/s; the card's cuBLAS reached 878 in the same run, so 0.23/0.16 of what
    # that card can do, written here. On an H100 (run 3, commit 6e0b9c9: loads a tile ahead, one
    # barrier a tile): 0.26/0.22 against 790, that card's cuBLAS at 887: 0.23/0.20, written here.
    # FlashAttention-2's rows are still estimates.
    "flash_fwd_mma": 0.23,
    "flash_bwd_mma": 0.20,
    # memory-bound kernels: one 2-byte element per thread vs 16-byte vector loads and stores
    "elementwise": 0.50,
    "elementwise_vec": 0.85,
    # one warp or block per row (LayerNorm, softmax, cross-entropy), scalar vs vector loads
    "row": 0.50,
    "row_vec": 0.80,
    # partial-sum and column reductions over rows (bias and LayerNorm weight gradients)
    "reduce": 0.60,
    # AdamW: coalesced fp32 streams, one element per thread vs vectorised
    "adamw": 0.75,
    "adamw_vec": 0.85,
    "memset": 0.90,
}
# Host (CPU) costs, in microseconds unless named otherwise. The host runs ahead of the GPU and
# only costs time when it is slower than the GPU (enqueue) or when the GPU waits for it (syncs,
# host work between a sync and the next launch).
HOST = {
    "launch_us": 2.5,            # cudaLaunchKernel / cudaMemsetAsync
    "cublaslt_setup_us": 20.0,   # descriptors + layouts + heuristic query, created per call
    "cublaslt_cached_us": 4.0,   # a cuBLASLt call with cached descriptors and algorithm
    "graph_launch_us": 15.0,     # cudaGraphLaunch of the whole step
    "sync_us": 15.0,             # a stream/device synchronisation or blocking small memcpy
    "item_ns": 1.5,              # a host loop's cost per token or vocabulary entry
}

VOCAB_MULTIPLE = 128   # both trainers pad the vocabulary to a multiple of 128 (train_gpt.cu: VOCAB_MULTIPLE)
X, F = 2, 4            # bytes of a bf16 and of an fp32 value
MODELS = {             # L, C, NH (GPT-2's sizes; V = 50257, T = 1024)
    "124M": (12, 768, 12), "350M": (24, 1024, 16), "774M": (36, 1280, 20), "1558M": (48, 1600, 25)}

# llm.c's own published figures for GPT-2 124M, the anchor for design (b)
LLMC_ANCHORS = [
    "llm.c on 8x H100 SXM (HBM3), Oct 13 2024, B=64 T=1024 per GPU, the run of github.com/karpathy/llm.c/discussions/481: "
    "mean 140 ms/step (log in KellerJordan/modded-nanogpt, records/track_1_short/2024-10-13_llmc) = "
    "468K tokens/s per GPU, data-parallel all-reduce included",
    "llm.c on 8x A100 80GB SXM, scripts/run_gpt2_124M.sh: ~300 ms per 524,288-token step = 218K tokens/s "
    "per GPU, 56% of A100's 312 TFLOP/s (its discussions/481: 'up to ~60% model flops utilization')",
]
LLMC_H100_TOKENS_PER_S = 65536 / 0.140
# measured on one GPU beside train_gpt, in one run (bench/RESULTS.md): what the predictions above
# must be read against. The model's (b) is slower than llm.c measured, and its (c)/(b) higher
# than the measured ratio, so a predicted lead is not yet a measured one.
MEASURED = [
    "2026-11-26, one H200, B=64 T=1024, bash bench/bench_gpu.sh --batch 64: llm.c 110.9 ms/step, "
    "train_gpt (commit 89e48ec) 120.8 ms/step = 0.92x llm.c, train_gpt_cudnn 115.1 ms/step",
    "2026-11-26, one H100, B=128 T=1024, bash bench/gpu_session.sh (run 4): llm.c 239.7 ms/step, "
    "train_gpt (commit 0ed2eae) 246.7 ms/step = 0.97x llm.c, train_gpt_cudnn 231.6 ms/step = 1.035x llm.c",
]


# ----------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class Shape:
    L: int
    C: int
    NH: int
    V: int
    T: int
    B: int

    @property
    def Vp(self): return -(-self.V // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    @property
    def N(self): return self.B * self.T          # tokens per micro-batch
    @property
    def HS(self): return self.C // self.NH


def param_shapes(s, vocab=None):
    """The model's tensors and shapes, in the checkpoint's order (tests/make_checkpoint.py)."""
    V, C = vocab or s.V, s.C
    shapes = {"wte": (V, C), "wpe": (s.T, C)}
    for i in range(s.L):
        for ln in ("ln_1", "ln_2"):
            shapes[f"h.{i}.{ln}.weight"] = shapes[f"h.{i}.{ln}.bias"] = (C,)
        for name, (i_, o) in {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C),
                              "mlp.c_fc": (C, 4 * C), "mlp.c_proj": (4 * C, C)}.items():
            shapes[f"h.{i}.{name}.weight"], shapes[f"h.{i}.{name}.bias"] = (i_, o), (o,)
    shapes["ln_f.weight"] = shapes["ln_f.bias"] = (C,)
    return shapes


def num_parameters(s, vocab=None):
    return sum(math.prod(shape) for shape in param_shapes(s, vocab).values())


def flops_per_token(s):
    """MFU's numerator: 6N + 6LCT (N without padding), the project's benchmark definition."""
    return 6 * num_parameters(s) + 6 * s.L * s.C * s.T


def tensor_shapes(s):
    """Every operand a GEMM names, row-major; 'dX' has the shape of X. Per-head tensors of the
    batched attention GEMMs are one (b, h) slice: q, k, v, y (T,HS), att (T,T)."""
    N, C, T, HS = s.N, s.C, s.T, s.HS
    t = {"wte": (s.Vp, C), "W_qkv": (C, 3 * C), "W_attproj": (C, C), "W_fc": (C, 4 * C), "W_fcproj": (4 * C, C),
         "ln1": (N, C), "qkv": (N, 3 * C), "atty": (N, C), "attproj": (N, C), "ln2": (N, C), "fch": (N, 4 * C),
         "fch_gelu": (N, 4 * C), "fcproj": (N, C), "lnf": (N, C), "logits": (N, s.Vp),
         "q": (T, HS), "k": (T, HS), "v": (T, HS), "att": (T, T), "y": (T, HS)}
    t.update({"d" + name: shape for name, shape in list(t.items())})
    return t


def operand_shape(shapes, name):
    """'x' -> shape of x; 'x.T' -> its transpose."""
    base, transposed = (name[:-2], True) if name.endswith(".T") else (name, False)
    r, c = shapes[base]
    return (c, r) if transposed else (r, c)


# ----------------------------------------------------------------------------- kernels
@dataclass
class Kernel:
    name: str                 # what the table shows; launches with the same name are summed
    phase: str                # forward | backward | update
    kind: str                 # a key of EFFICIENCY, or "host" (GPU idle while the host works)
    flops: int = 0            # executed
    model_flops: int = 0      # the part MFU counts (GEMMs; the causal half of attention)
    read: int = 0             # bytes read from HBM
    written: int = 0          # bytes written to HBM
    fwd_ops: frozenset = frozenset()   # (layer, op) computed for the forward pass
    bwd_ops: frozenset = frozenset()   # (layer, op) whose backward this kernel computes
    host_us: float = 0.0      # CPU time to enqueue it
    serial_us: float = 0.0    # host time during which the GPU waits (kind "host")
    gemm: tuple = None        # (out, a, b, batch): operand names checked against tensor_shapes
    layer: int = -1
    mem_kind: str = None      # the efficiency of its memory roof, where not kind's (a kernel both
                              # compute-heavy and streaming many bytes)


LAYER_OPS = ("ln1", "qkv", "attention", "attproj", "ln2", "fc", "gelu", "fcproj")
GLOBAL_OPS = ("encoder", "lnf", "classifier", "loss")


def all_ops(s):
    return {(-1, op) for op in GLOBAL_OPS} | {(l, op) for l in range(s.L) for op in LAYER_OPS}


class Step:
    """Collects the kernels of one step in launch order; the builders below fill it."""

    def __init__(self, s, design, cublaslt_host_us):
        self.s, self.design, self.kernels, self.lt_us = s, design, [], cublaslt_host_us

    def add(self, name, phase, kind, *, read=0, written=0, flops=0, model_flops=0, fwd=(), bwd=(), layer=-1,
            host_us=None, serial_us=0.0, mem_kind=None):
        self.kernels.append(Kernel(name, phase, kind, flops, model_flops, read, written, frozenset(fwd),
                                   frozenset(bwd), HOST["launch_us"] if host_us is None else host_us,
                                   serial_us, None, layer, mem_kind))

    def host(self, name, phase, serial_us):
        self.kernels.append(Kernel(name, phase, "host", serial_us=serial_us, host_us=0.0))

    def gemm(self, name, phase, out, a, b, *, kind="gemm", batch=1, out_bytes=X, accumulate=False, extra_read=0,
             extra_written=0, useful=1.0, fwd=(), bwd=(), layer=-1, host_us=None):
        """out (m,n) = a (m,k) @ b (k,n), `batch` times; 2mnk FLOPs each. `useful` scales the FLOPs
        MFU counts (the causal half of a T x T product)."""
        shapes = tensor_shapes(self.s)
        (m, k), (k2, n) = operand_shape(shapes, a), operand_shape(shapes, b)
        flops = 2 * m * n * k * batch
        read = (m * k + k2 * n) * X * batch + (m * n * out_bytes * batch if accumulate else 0) + extra_read
        written = m * n * out_bytes * batch + extra_written
        model = flops if useful == 1.0 else round(flops * useful)
        self.kernels.append(Kernel(name, phase, kind, flops, model, read, written, frozenset(fwd), frozenset(bwd),
                                   self.lt_us if host_us is None else host_us, 0.0, (out, a, b, batch), layer))


SMS = 132   # an H100 SXM's streaming multiprocessors
# train_gpt.cu's whole-head attention backward (one block of 8 warps per head, key tiles of
# 128, query tiles of 64): 226 registers for each of 256 threads at HS = 64 (ptxas, sm_90)
# leave room for one block per SM; the trainer runs it where B * NH is at least 2 heads per
# SM and HS >= 32, and the two kernels (7 products) elsewhere
WHOLE_HEAD_BLOCKS_PER_SM = 1
WHOLE_HEAD_MIN_HEADS = 2 * SMS
WHOLE_HEAD_KEYS, WHOLE_HEAD_QUERIES = 128, 64


H100_SMEM_PER_BLOCK = 232448   # the most shared memory a block may opt into on an H100 (227 KB)


def whole_head_resident_tiles(T, HS):
    """Query tiles whose dq sums the whole-head kernel keeps in shared memory (the last ones): as
    many as fit beside its tiles, as train_gpt.cu's attention_dq_resident (9 of 16 at HS = 64)."""
    ld, tile, keys = HS + 8, WHOLE_HEAD_QUERIES, WHOLE_HEAD_KEYS
    base = (4 * tile * ld + keys * ld + keys * (tile + 8)) * 2 + 4 * tile * 4   # q, dout x2; k; dS^T; lse, D x2
    return max(0, min(-(-T // tile), (H100_SMEM_PER_BLOCK - base) // (tile * HS * 4)))


def query_tile_visits(T):
    """How many key tiles of 128 each query tile of 64 meets in a whole-head block: query tile i
    those from 0 to the one that holds its diagonal, i / 2 (1, 1, 2, 2, ..., 8, 8 at T = 1,024)."""
    per_key_tile = WHOLE_HEAD_KEYS // WHOLE_HEAD_QUERIES
    return [i // per_key_tile + 1 for i in range(-(-T // WHOLE_HEAD_QUERIES))]


def whole_head_visits(T):
    """Pairs (key tile of 128, query tile of 64) a whole-head block computes (72 at T = 1,024)."""
    return sum(query_tile_visits(T))


def whole_head_global_visits(T, HS):
    """The visits whose dq sums go to global memory: those of the query tiles before the resident
    ones (16 of a head's 72 at HS = 64, T = 1,024)."""
    visits = query_tile_visits(T)
    return sum(visits[:len(visits) - whole_head_resident_tiles(T, HS)])


def causal_tile_fraction(T, tile=128):
    """The share of the T x T square a flash kernel computes with the causal mask: whole tiles
    on and below the diagonal."""
    nb = -(-T // tile)
    return (nb + 1) / (2 * nb)


def distinct_tokens(s):
    """Distinct token ids in a batch, if ids were uniform: an upper bound for real text."""
    return min(s.N, round(s.V * (1 - math.exp(-s.N / s.V))))


# ----------------------------------------------------------------------------- design (a)
def build_current(s, opts):
    """train_gpt.cu as it is today (gpt_forward, gpt_backward, the step in train())."""
    st = Step(s, "a", HOST["cublaslt_setup_us"])
    L, C, NH, HS, T, N, Vp, V, B = s.L, s.C, s.NH, s.HS, s.T, s.N, s.Vp, s.V, s.B
    P = num_parameters(s, s.Vp)           # the parameter buffer holds the padded wte
    E, R = "elementwise", "row"
    heads = B * NH
    batched = dict(kind="gemm_batched", batch=heads, useful=(T + 1) / (2 * T), host_us=8.0)   # cublasGemmStridedBatchedEx
    tt = heads * T * T * X                # one (B,NH,T,T) bf16 tensor
    lower = heads * T * (T + 1) // 2 * X  # its causal lower half
    it = HOST["item_ns"] / 1000
    # the step: zero the fp32 gradients, then forward
    st.add("memset grads (fp32)", "update", "memset", written=P * F)
    st.host("host: token check, buckets, uploads, sync", "forward",
            it * (2 * N + 2 * N + 2 * V) + 3 * HOST["sync_us"] + HOST["sync_us"])
    st.add("encoder_forward", "forward", E, read=N * C * X + T * C * X + N * 4, written=N * C * X, fwd=[(-1, "encoder")])
    st.add("layernorm_forward", "forward", R, read=N * C * X, written=N * C * X + 2 * N * F, fwd=[(0, "ln1")])
    for l in range(L):
        f = dict(layer=l)
        st.gemm("matmul qkv (bias epilogue)", "forward", "qkv", "ln1", "W_qkv", fwd=[(l, "qkv")], **f)
        st.add("attention_split_heads", "forward", E, read=N * 3 * C * X, written=3 * N * C * X, fwd=[(l, "attention")], **f)
        st.gemm("attention scores q@k^T (batched)", "forward", "att", "q", "k.T", **batched, fwd=[(l, "attention")], **f)
        st.add("attention_softmax", "forward", R, read=lower, written=tt, fwd=[(l, "attention")], **f)
        st.gemm("attention att@v (batched)", "forward", "y", "att", "v", **batched, fwd=[(l, "attention")], **f)
        st.add("attention_merge_heads", "forward", E, read=N * C * X, written=N * C * X, fwd=[(l, "attention")], **f)
        st.gemm("matmul attproj (bias epilogue)", "forward", "attproj", "atty", "W_attproj", fwd=[(l, "attproj")], **f)
        st.add("residual_layernorm_forward", "forward", R, read=2 * N * C * X, written=2 * N * C * X + 2 * N * F,
               fwd=[(l, "ln2")], **f)
        st.gemm("matmul fc (bias epilogue)", "forward", "fch", "ln2", "W_fc", fwd=[(l, "fc")], **f)
        st.add("gelu_forward", "forward", E, read=N * 4 * C * X, written=N * 4 * C * X, fwd=[(l, "gelu")], **f)
        st.gemm("matmul fcproj (bias epilogue)", "forward", "fcproj", "fch_gelu", "W_fcproj", fwd=[(l, "fcproj")], **f)
        st.add("residual_layernorm_forward", "forward", R, read=2 * N * C * X, written=2 * N * C * X + 2 * N * F,
               fwd=[(l + 1, "ln1") if l + 1 < L else (-1, "lnf")], **f)
    st.gemm("matmul classifier lnf@wte^T", "forward", "logits", "lnf", "wte.T", fwd=[(-1, "classifier")])
    # two passes over each row of logits (max, then sum of exp), 2-byte loads
    st.add("crossentropy_forward", "forward", R, read=2 * N * V * X + N * 4, written=2 * N * F, fwd=[(-1, "loss")])
    st.host("host: losses download, sync, sum", "forward", 2 * HOST["sync_us"] + it * N)
    # backward
    st.add("crossentropy_backward (in place)", "backward", R, read=N * Vp * X + N * (4 + F), written=N * Vp * X,
           bwd=[(-1, "loss")])
    st.gemm("matmul dlnf = dlogits@wte", "backward", "dlnf", "dlogits", "wte", bwd=[(-1, "classifier")])
    st.gemm("matmul dwte += dlogits^T@lnf (fp32)", "backward", "dwte", "dlogits.T", "lnf", kind="gemm_wgrad",
            out_bytes=F, accumulate=True, bwd=[(-1, "classifier")])
    st.add("memset dresidual", "backward", "memset", written=N * C * X)
    chunks = min(N, 64)   # REDUCE_CHUNKS

    def layernorm_backward(op, layer):
        # the warp-per-row input gradient (dinp +=), then partial sums per chunk, then two column sums
        st.add("layernorm_backward", "backward", R, read=3 * N * C * X + 2 * N * F + C * X, written=N * C * X,
               bwd=[(layer, op)], layer=layer)
        st.add("layernorm_param_partial", "backward", "reduce", read=2 * N * C * X + 2 * N * F,
               written=2 * chunks * C * F, bwd=[(layer, op)], layer=layer)
        for _ in range(2):
            st.add("column_sum", "backward", "reduce", read=chunks * C * F + C * F, written=C * F, bwd=[(layer, op)],
                   layer=layer)

    def matmul_backward(what, out, inp, weight, OC, K, layer, op):
        # dinp = dout @ W^T (bf16), dW += inp^T @ dout (fp32), dbias via partial sums + column sum
        st.gemm(f"matmul {what} dinp", "backward", "d" + inp, "d" + out, weight + ".T", bwd=[(layer, op)], layer=layer)
        st.gemm(f"matmul {what} dweight (fp32 +=)", "backward", "d" + weight, inp + ".T", "d" + out, kind="gemm_wgrad",
                out_bytes=F, accumulate=True, bwd=[(layer, op)], layer=layer)
        st.add("bias_partial", "backward", "reduce", read=N * OC * X, written=chunks * OC * F, bwd=[(layer, op)], layer=layer)
        st.add("column_sum", "backward", "reduce", read=chunks * OC * F + OC * F, written=OC * F, bwd=[(layer, op)], layer=layer)

    layernorm_backward("lnf", -1)
    for l in reversed(range(L)):
        f = dict(layer=l)
        matmul_backward("fcproj", "fcproj", "fch_gelu", "W_fcproj", C, 4 * C, l, "fcproj")
        st.add("gelu_backward", "backward", E, read=2 * N * 4 * C * X, written=N * 4 * C * X, bwd=[(l, "gelu")], **f)
        matmul_backward("fc", "fch", "ln2", "W_fc", 4 * C, C, l, "fc")
        layernorm_backward("ln2", l)
        matmul_backward("attproj", "attproj", "atty", "W_attproj", C, C, l, "attproj")
        a = dict(bwd=[(l, "attention")], **f)
        st.add("attention_split_heads (again)", "backward", E, read=N * 3 * C * X, written=3 * N * C * X, **a)
        st.add("attention_merge_heads (dy back to heads)", "backward", E, read=N * C * X, written=N * C * X, **a)
        st.gemm("attention datt = dy@v^T (batched)", "backward", "datt", "dy", "v.T", **batched, **a)
        st.gemm("attention dv = att^T@dy (batched)", "backward", "dv", "att.T", "dy", **batched, **a)
        st.add("attention_softmax_backward", "backward", R, read=2 * lower, written=tt, **a)
        st.gemm("attention dq = datt@k (batched)", "backward", "dq", "datt", "k", **batched, **a)
        st.gemm("attention dk = datt^T@q (batched)", "backward", "dk", "datt.T", "q", **batched, **a)
        st.add("attention_merge_qkv_grad", "backward", E, read=3 * N * C * X, written=N * 3 * C * X, **a)
        matmul_backward("qkv", "qkv", "ln1", "W_qkv", 3 * C, C, l, "qkv")
        layernorm_backward("ln1", l)
    U = distinct_tokens(s)
    st.add("encoder_backward_wpe", "backward", E, read=N * C * X + T * C * F, written=T * C * F, bwd=[(-1, "encoder")])
    st.add("encoder_backward_wte", "backward", E, read=N * C * X + U * C * F, written=U * C * F, bwd=[(-1, "encoder")])
    # update: the global norm (then a sync to read it on the host), AdamW over P fp32 gradients
    st.add("sum_squares_partial (fp32 grads)", "update", "reduce", read=P * F, written=512 * F)
    st.add("sum_partials (one thread)", "update", "reduce", read=512 * F, written=8)
    st.host("host: norm download, sync", "update", HOST["sync_us"])
    st.add("adamw_kernel", "update", "adamw", read=P * (F + 3 * F), written=P * (3 * F + X))
    st.host("host: end-of-step sync", "update", HOST["sync_us"])
    return st


# ----------------------------------------------------------------------------- design (b)
def build_llmc(s, opts):
    """llm.c's train_gpt2.cu with cuDNN attention, as scripts/run_gpt2_124M.sh runs it: bf16
    gradients, fp32 master weights, -r 0 (nothing recomputed), gelu_fusion 0 (its default),
    cuDNN's deterministic backward (llmc/cudnn_att.cpp asks for it since 2024-06-27)."""
    st = Step(s, "b", HOST["cublaslt_setup_us"])   # it also creates descriptors per call
    L, C, NH, T, N, Vp, V, B = s.L, s.C, s.NH, s.T, s.N, s.Vp, s.V, s.B
    P = num_parameters(s, s.Vp)
    EV, RV = "elementwise_vec", "row_vec"
    it = HOST["item_ns"] / 1000
    frac = causal_tile_fraction(T)
    att_useful = 2 * C * B * T * (T + 1)          # Q K^T and P V, causal half, one layer
    att_exec = round(4 * B * NH * s.HS * T * T * frac)
    st.host("host: upload inputs (blocking), token check", "forward", HOST["sync_us"] + it * N)
    st.add("encoder_forward (x128)", "forward", EV, read=N * C * X + T * C * X + N * 4, written=N * C * X,
           fwd=[(-1, "encoder")])
    st.add("layernorm_forward", "forward", RV, read=N * C * X, written=N * C * X + 2 * N * F, fwd=[(0, "ln1")])
    for l in range(L):
        f = dict(layer=l)
        st.gemm("matmul qkv (bias epilogue)", "forward", "qkv", "ln1", "W_qkv", fwd=[(l, "qkv")], **f)
        st.add("cuDNN flash attention forward", "forward", "flash_fwd_cudnn", flops=att_exec, model_flops=att_useful,
               read=N * 3 * C * X, written=N * C * X + B * NH * T * F, fwd=[(l, "attention")], host_us=10.0, **f)
        st.gemm("matmul attproj (bias epilogue)", "forward", "attproj", "atty", "W_attproj", fwd=[(l, "attproj")], **f)
        st.add("fused_residual_forward5", "forward", RV, read=2 * N * C * X, written=2 * N * C * X + 2 * N * F,
               fwd=[(l, "ln2")], **f)
        st.gemm("matmul fc (bias epilogue)", "forward", "fch", "ln2", "W_fc", fwd=[(l, "fc")], **f)
        st.add("gelu_forward (x128)", "forward", EV, read=N * 4 * C * X, written=N * 4 * C * X, fwd=[(l, "gelu")], **f)
        st.gemm("matmul fcproj (bias epilogue)", "forward", "fcproj", "fch_gelu", "W_fcproj", fwd=[(l, "fcproj")], **f)
        st.add("fused_residual_forward5", "forward", RV, read=2 * N * C * X, written=2 * N * C * X + 2 * N * F,
               fwd=[(l + 1, "ln1") if l + 1 < L else (-1, "lnf")], **f)
    st.gemm("matmul classifier lnf@wte^T", "forward", "logits", "lnf", "wte.T", fwd=[(-1, "classifier")])
    st.host("host: forward ends in a device sync", "forward", HOST["sync_us"])
    # backward (gpt2_backward_and_reduce)
    st.add("memset losses", "backward", "memset", written=N * F)
    st.add("memset grads (bf16)", "update", "memset", written=P * X)
    st.host("host: upload targets (blocking), token check", "backward", HOST["sync_us"] + it * N)
    # online max/sum in one pass, then a second read to write dlogits in place; the first pass
    # walks the row backwards to leave its start in L2, counted here as DRAM (an upper bound)
    st.add("fused_classifier (loss + dlogits)", "backward", RV, read=2 * N * Vp * X + N * 4, written=N * Vp * X + N * F,
           fwd=[(-1, "loss")], bwd=[(-1, "loss")])
    st.add("memset dresidual", "backward", "memset", written=N * C * X)
    st.gemm("matmul dlnf = dlogits@wte", "backward", "dlnf", "dlogits", "wte", bwd=[(-1, "classifier")])
    st.gemm("matmul dwte += dlogits^T@lnf (bf16)", "backward", "dwte", "dlogits.T", "lnf", kind="gemm_wgrad",
            accumulate=True, bwd=[(-1, "classifier")])
    grid = 132 * 2048 // 1024   # matmul_backward_bias_kernel9's blocks of 1024 threads fill the GPU

    def layernorm_backward(op, layer):
        st.add("memset layernorm flag", "backward", "memset", written=4, bwd=[(layer, op)], layer=layer)
        # kernel10: dinp += in one pass, dweight/dbias partials per block, the last block reduces
        st.add("layernorm_backward_kernel10", "backward", RV, read=3 * N * C * X + 2 * N * F + 2 * grid * C * F,
               written=N * C * X + 2 * grid * C * F + 2 * C * X, bwd=[(layer, op)], layer=layer)

    def matmul_backward(what, out, inp, weight, OC, layer, op, gelu=False):
        gy = max(1, grid // max(1, OC // 64))
        st.add("matmul_backward_bias_kernel9", "backward", "reduce", read=N * OC * X, written=gy * OC * F,
               bwd=[(layer, op)], layer=layer)
        st.add("reduce_add_sum (bias)", "backward", "reduce", read=gy * OC * F + OC * X, written=OC * X,
               bwd=[(layer, op)], layer=layer)
        st.gemm(f"matmul {what} dinp", "backward", "d" + inp, "d" + out, weight + ".T", bwd=[(layer, op)], layer=layer)
        if gelu:
            st.add("gelu_backward_inplace (x128)", "backward", EV, read=2 * N * 4 * C * X, written=N * 4 * C * X,
                   bwd=[(layer, "gelu")], layer=layer)
        st.gemm(f"matmul {what} dweight (bf16 +=)", "backward", "d" + weight, inp + ".T", "d" + out, kind="gemm_wgrad",
                accumulate=True, bwd=[(layer, op)], layer=layer)

    layernorm_backward("lnf", -1)
    for l in reversed(range(L)):
        matmul_backward("fcproj", "fcproj", "fch_gelu", "W_fcproj", C, l, "fcproj", gelu=True)
        matmul_backward("fc", "fch", "ln2", "W_fc", 4 * C, l, "fc")
        layernorm_backward("ln2", l)
        matmul_backward("attproj", "attproj", "atty", "W_attproj", C, l, "attproj")
        # backward: recomputes P from Q, K and the stats; five T x T products, dQ in fp32
        st.add("cuDNN flash attention backward", "backward", "flash_bwd_cudnn", flops=round(att_exec * 2.5),
               model_flops=2 * att_useful, read=N * 3 * C * X + 2 * N * C * X + B * NH * T * F + N * C * F,
               written=N * 3 * C * X + N * C * F, bwd=[(l, "attention")], layer=l, host_us=10.0)
        cudnn_deterministic_workspace(st, s, l)
        matmul_backward("qkv", "qkv", "ln1", "W_qkv", 3 * C, l, "qkv")
        layernorm_backward("ln1", l)
    U = distinct_tokens(s)
    # the host sorts the batch's positions by token while the GPU runs the layers' backward
    st.add("wte_backward_kernel", "backward", EV, read=N * C * X + U * C * X, written=U * C * X, bwd=[(-1, "encoder")],
           host_us=HOST["launch_us"] + it * (4 * N) + HOST["sync_us"])
    st.add("wpe_backward_kernel", "backward", EV, read=N * C * X + T * C * X, written=T * C * X, bwd=[(-1, "encoder")])
    st.add("global_sum_deterministic (loss)", "backward", "reduce", read=N * F, written=F)
    st.host("host: backward ends in a device sync", "backward", HOST["sync_us"])
    st.add("global_norm_squared (bf16 grads)", "update", "reduce", read=P * X, written=1024 * F)
    st.add("global_sum_deterministic (norm)", "update", "reduce", read=1024 * F, written=F)
    st.host("host: norm download (blocking)", "update", HOST["sync_us"])
    for i in range(16):   # one launch per parameter tensor kind, the layers in the grid's y
        share = P // 16 + (P % 16 if i == 15 else 0)
        st.add("adamw_kernel3 (16 launches)", "update", "adamw", read=share * (X + 3 * F), written=share * (3 * F + X))
    st.host("host: end-of-step sync", "update", HOST["sync_us"])
    return st


# ----------------------------------------------------------------------------- design (c)
def build_built(s, opts):
    """train_gpt.cu as built now (gpt_step: gpt_forward with the loss scale, gpt_backward,
    sum_squares, gpt_update). opts.attention: mma (the kernels in the file) | wmma (their
    predecessor, tiles in shared memory) | fa2 (the same three kernels at FlashAttention-2's
    own efficiency) | cudnn
    (cuDNN's fused attention, as llm.c: train_gpt_cudnn). opts.recompute: none | gelu (--recompute 1).
    opts.graph: the step as one CUDA graph (not built). opts.grads: fp32 (built) | bf16 (not built)."""
    st = Step(s, "c", HOST["cublaslt_cached_us"])   # cuBLASLt plans are cached per shape
    L, C, NH, T, N, Vp, V, B, HS = s.L, s.C, s.NH, s.T, s.N, s.Vp, s.V, s.B, s.HS
    P = num_parameters(s, s.Vp)
    G = X if opts.grads == "bf16" else F
    EV, RV = "elementwise_vec", "row_vec"
    it = HOST["item_ns"] / 1000
    att_useful = 2 * C * B * T * (T + 1)
    # Q_TILE = KV_TILE = 64; one product of two tiles is 2 * 64 * 64 * HS FLOPs; the forward does
    # 2 per pair of tiles on or below the diagonal, the backward 4 (dk, dv kernel) + 3 (dq kernel),
    # or 5 in the whole-head kernel (mma, where B * NH fills the GPU)
    pair_flops = round(2 * B * NH * HS * T * T * causal_tile_fraction(T, 64))   # one product, all pairs of tiles
    cudnn = opts.attention == "cudnn"
    fwd_kind, bwd_kind = {"mma": ("flash_fwd_mma", "flash_bwd_mma"), "wmma": ("flash_fwd_wmma", "flash_bwd_wmma"),
                          "fa2": ("flash_fwd", "flash_bwd"),
                          "cudnn": ("flash_fwd_cudnn", "flash_bwd_cudnn")}[opts.attention]
    re_gelu = opts.recompute == "gelu"
    sfx = "_mma" if opts.attention == "mma" else ""   # the kernels' names: attention_forward_mma_kernel, ...
    # the host checks the tokens and sorts positions by token for the wte gradient while the GPU
    # is idle (the previous step ended in a sync), then uploads from pinned memory without a sync
    st.host("host: token check, encoder buckets", "forward", it * (2 * N + 2 * N + 2 * V))
    st.add("memset grads (fp32)", "update", "memset", written=P * G)
    st.add("encoder_forward", "forward", EV, read=N * C * X + T * C * X + N * 4, written=N * C * X, fwd=[(-1, "encoder")])
    for l in range(L):
        f = dict(layer=l)
        st.add("layernorm_forward", "forward", RV, read=N * C * X, written=N * C * X + 2 * N * F, fwd=[(l, "ln1")], **f)
        st.gemm("matmul qkv (bias epilogue)", "forward", "qkv", "ln1", "W_qkv", fwd=[(l, "qkv")], **f)
        if cudnn:
            st.add("cuDNN flash attention forward", "forward", fwd_kind, flops=round(att_exec_cudnn(s)),
                   model_flops=att_useful, read=N * 3 * C * X, written=N * C * X + B * NH * T * F,
                   fwd=[(l, "attention")], host_us=10.0, **f)
        else:   # reads q, k, v straight from (B,T,3C) and writes (B,T,C): no head split or merge
            st.add("attention_forward" + sfx, "forward", fwd_kind, flops=2 * pair_flops, model_flops=att_useful,
                   read=N * 3 * C * X, written=N * C * X + B * NH * T * F, fwd=[(l, "attention")], **f)
        # the residual add in the epilogue: cuBLASLt reads the stream as C (beta = 1)
        st.gemm("matmul attproj (bias epilogue, + residual)", "forward", "attproj", "atty", "W_attproj",
                extra_read=N * C * X, fwd=[(l, "attproj")], **f)
        st.add("layernorm_forward", "forward", RV, read=N * C * X, written=N * C * X + 2 * N * F, fwd=[(l, "ln2")], **f)
        # GELU_AUX_BIAS: the epilogue writes the pre-GELU values (for the backward) and gelu(x)
        st.gemm("matmul fc (bias+GELU epilogue)", "forward", "fch_gelu", "ln2", "W_fc",
                extra_written=N * 4 * C * X, fwd=[(l, "fc"), (l, "gelu")], **f)
        st.gemm("matmul fcproj (bias epilogue, + residual)", "forward", "fcproj", "fch_gelu", "W_fcproj",
                extra_read=N * C * X, fwd=[(l, "fcproj")], **f)
    st.add("layernorm_forward", "forward", RV, read=N * C * X, written=N * C * X + 2 * N * F, fwd=[(-1, "lnf")])
    st.gemm("matmul classifier lnf@wte^T", "forward", "logits", "lnf", "wte.T", fwd=[(-1, "classifier")])
    # training: one pass per row finds the max and the sum (online) and writes dlogits over the
    # logits; the row (100 KB of bf16 at GPT-2's vocabulary) is read a second time from L2
    st.add("crossentropy (loss and dlogits, one pass)", "forward", RV, read=N * Vp * X + N * 4,
           written=N * Vp * X + 2 * N * F, fwd=[(-1, "loss")], bwd=[(-1, "loss")])
    st.gemm("matmul dlnf = dlogits@wte", "backward", "dlnf", "dlogits", "wte", bwd=[(-1, "classifier")])
    st.gemm(f"matmul dwte += dlogits^T@lnf ({opts.grads})", "backward", "dwte", "dlogits.T", "lnf", kind="gemm_wgrad",
            out_bytes=G, accumulate=True, bwd=[(-1, "classifier")])
    st.add("memset dresidual", "backward", "memset", written=N * C * X)
    parts = 256   # LayerNorm weight-gradient partial rows, one per block: two blocks an SM, at most 256

    def layernorm_backward(op, layer):
        # one kernel: dinp +=, dweight/dbias partials per block, the last block to finish sums them
        st.add("layernorm_backward", "backward", RV, read=3 * N * C * X + 2 * N * F + 2 * parts * C * F,
               written=N * C * X + 2 * parts * C * F + 2 * C * G, bwd=[(layer, op)], layer=layer)

    def matmul_backward(what, out, inp, weight, OC, layer, op, dgelu=False):
        # dinp GEMM, with the GELU backward in its epilogue (DGELU reads the pre-GELU aux)
        st.gemm(f"matmul {what} dinp" + (" (DGELU epilogue)" if dgelu else ""), "backward", "d" + inp, "d" + out,
                weight + ".T", extra_read=N * 4 * C * X if dgelu else 0,
                bwd=[(layer, op)] + ([(layer, "gelu")] if dgelu else []), layer=layer)
        # weight gradient (+=); the bias gradient by bias_backward, one more read of dout, its
        # partial rows (at most 256, as the workspace of 2 x 64 x 4C floats holds) added in order
        st.gemm(f"matmul {what} dweight (+=)", "backward", "d" + weight, inp + ".T", "d" + out,
                kind="gemm_wgrad", out_bytes=G, accumulate=True, bwd=[(layer, op)], layer=layer)
        bias_parts = min(256, 2 * 64 * 4 * C // OC)
        st.add("bias_backward", "backward", "reduce", read=N * OC * X, written=bias_parts * OC * F, bwd=[(layer, op)],
               layer=layer)
        st.add("add_bias_parts", "backward", "reduce", read=bias_parts * OC * F + OC * G, written=OC * G, bwd=[(layer, op)],
               layer=layer)

    layernorm_backward("lnf", -1)
    for l in reversed(range(L)):
        if re_gelu:   # fch_gelu was not kept: the pre-GELU values were
            st.add("gelu_forward (recompute)", "backward", EV, read=N * 4 * C * X, written=N * 4 * C * X,
                   bwd=[(l, "gelu")], layer=l)
        matmul_backward("fcproj", "fcproj", "fch_gelu", "W_fcproj", C, l, "fcproj", dgelu=True)
        matmul_backward("fc", "fch", "ln2", "W_fc", 4 * C, l, "fc")
        layernorm_backward("ln2", l)
        matmul_backward("attproj", "attproj", "atty", "W_attproj", C, l, "attproj")
        a = dict(bwd=[(l, "attention")], layer=l)
        if cudnn:
            st.add("cuDNN flash attention backward", "backward", bwd_kind, flops=round(att_exec_cudnn(s) * 2.5),
                   model_flops=2 * att_useful, read=N * 3 * C * X + 2 * N * C * X + B * NH * T * F + N * C * F,
                   written=N * 3 * C * X + N * C * F, host_us=10.0, **a)
            cudnn_deterministic_workspace(st, s, l)
        else:
            if opts.attention in ("mma", "fa2") and B * NH >= opts.whole_head_min and HS >= 32:
                # a block per head, its key tiles last to first: dk, dv and dq (5 products per pair
                # of tiles); at each pair it reads the query tile's q, dout, lse and D and, for the
                # query tiles whose sums do not fit in shared memory, reads and writes dq's fp32
                # running sums (B,NH,T,HS), all counted as memory traffic at a streaming kernel's
                # efficiency, as if the L2 cache kept none of it; the last of ceil(B * NH / slots)
                # waves is part empty. It computes D = rowsum(dout * out) itself, at each query
                # tile's first visit (out read once)
                visits, global_visits = whole_head_visits(T), whole_head_global_visits(T, HS)
                qt = WHOLE_HEAD_QUERIES
                slots = WHOLE_HEAD_BLOCKS_PER_SM * SMS
                waves = B * NH / slots
                # at each key tile's first query tile, the warps of its upper 64 keys (all masked)
                # skip their products, and dq's product skips those keys
                key_tiles = -(-T // WHOLE_HEAD_KEYS)
                flops = 2 * HS * WHOLE_HEAD_KEYS * qt * (5 * visits - 5 * key_tiles / 2) * B * NH
                st.add("attention_backward_dkdv" + sfx + " (whole head, +dq)", "backward", bwd_kind,
                       flops=round(flops * math.ceil(waves) / waves), model_flops=2 * att_useful,
                       read=B * NH * (visits * (2 * qt * HS * X + 2 * qt * F) + global_visits * qt * HS * F + 3 * T * HS * X),
                       written=B * NH * (global_visits * qt * HS * F + 3 * T * HS * X + T * F), mem_kind=RV, **a)
            else:
                st.add("attention_backward_dot (D = rowsum dout*out)", "backward", RV, read=2 * N * C * X,
                       written=B * NH * T * F, **a)
                # a block per key tile: dk, dv (4 products per pair of tiles); q, dout re-read from L2
                st.add("attention_backward_dkdv" + sfx, "backward", bwd_kind, flops=4 * pair_flops, model_flops=att_useful,
                       read=N * 3 * C * X + N * C * X + 2 * B * NH * T * F, written=N * 2 * C * X, **a)
                # a block per query tile: dq (3 products per pair of tiles); every element one writer
                st.add("attention_backward_dq" + sfx, "backward", bwd_kind, flops=3 * pair_flops, model_flops=att_useful,
                       read=N * 3 * C * X + N * C * X + 2 * B * NH * T * F, written=N * C * X, **a)
        matmul_backward("qkv", "qkv", "ln1", "W_qkv", 3 * C, l, "qkv")
        layernorm_backward("ln1", l)
    U = distinct_tokens(s)
    st.add("encoder_backward_wte (buckets)", "backward", EV, read=N * C * X + U * C * G, written=U * C * G,
           bwd=[(-1, "encoder")])
    st.add("encoder_backward_wpe", "backward", EV, read=N * C * X + T * C * G, written=T * C * G, bwd=[(-1, "encoder")])
    # the norm: one kernel, partial sums per block and the last block adds them in order; the
    # host reads it with the loss (summed on the device) in one wait (clipping and the NaN
    # guard need them), then AdamW, then the end-of-step sync that times the step
    st.add("sum_squares (one kernel)", "update", "reduce", read=P * G, written=1024 * F)
    st.host("host: loss and norm download, sync", "update", HOST["sync_us"])
    st.add("adamw (16-byte accesses)", "update", "adamw_vec", read=P * (G + 3 * F), written=P * (3 * F + X))
    st.host("host: end-of-step sync", "update", HOST["sync_us"])
    return st


def cudnn_dp_workspace_bytes(s):
    """The dP workspace of cuDNN's deterministic backward on Hopper: B x NH x T (padded to 64)
    x T (padded to 128) bf16 values, as cudnn-frontend sizes it."""
    return s.B * s.NH * (-(-s.T // 64) * 64) * (-(-s.T // 128) * 128) * 2


def cudnn_deterministic_workspace(st, s, l):
    """cuDNN's deterministic backward on Hopper (cudnn-frontend 1.x: the "dP workspace"), which
    both train_gpt_cudnn and llm.c ask for: dP goes to a (B,NH,T,T) bf16 workspace and dq is
    summed from it in order, instead of with atomics; its causal tiles written once, read once."""
    dp = round(cudnn_dp_workspace_bytes(s) * causal_tile_fraction(s.T))
    st.add("cuDNN deterministic backward: dP workspace", "backward", "elementwise_vec", read=dp, written=dp,
           host_us=0.0, bwd=[(l, "attention")], layer=l)


def att_exec_cudnn(s):
    """FLOPs cuDNN's causal flash attention forward executes: two products over tiles of 128."""
    return 4 * s.B * s.NH * s.HS * s.T * s.T * causal_tile_fraction(s.T)


BUILDERS = {"a": build_current, "b": build_llmc, "c": build_built}
TITLES = {"a": "(a) train_gpt.cu before", "b": "(b) llm.c train_gpt2.cu + cuDNN", "c": "(c) train_gpt.cu now"}


# ----------------------------------------------------------------------------- memory
def memory(design, s, opts):
    """Bytes of device memory at this shape, by family, following each design's allocations."""
    L, C, NH, T, N, Vp = s.L, s.C, s.NH, s.T, s.N, s.Vp
    P = num_parameters(s, s.Vp)
    if design == "a":   # gpt_build + activation_views + scratch_views of train_gpt.cu
        act = (N * C + L * N * C + 2 * L * N * F // X + L * N * 3 * C + L * N * C + L * s.B * NH * T * T + L * N * C
               + L * N * C + 2 * L * N * F // X + 2 * L * N * 4 * C + L * N * C + N * C + 2 * N * F // X + N * Vp) * X \
            + 2 * N * F + 2 * N * 4
        scratch = (N * C * 2 + N * 3 * C + N * C + N * 4 * C + 4 * N * C + s.B * NH * T * T + 3 * N * C) * X + 3 * N * 4
        return {"parameters (bf16)": P * X, "gradients (fp32)": P * F, "master + AdamW m, v (fp32)": 3 * P * F,
                "activations": act, "scratch": scratch + 2 * 64 * 4 * C * F, "cuBLASLt workspace": 32 << 20}
    if design == "b":   # fill_in_activation_sizes with cuDNN, recompute 0
        act = (N * C + L * N * C + L * N * C + L * N * C + L * N * C + L * N * 4 * C + L * N * 4 * C + L * N * C + N * C
               + L * N * 3 * C + N * max(3 * C, NH * T, Vp) + N * 4 * C + N * C) * X \
            + (2 * L * N + L * s.B * NH * T + 2 * L * N + 2 * N + N) * F
        return {"parameters (bf16)": P * X, "gradients (bf16)": P * X, "master + AdamW m, v (fp32)": 3 * P * F,
                "activations + scratch": act, "cuBLASLt + cuDNN workspace": (32 << 20) + cudnn_dp_workspace_bytes(s)}
    G = X if opts.grads == "bf16" else F   # gpt_build, activation views, GradScratch, Workspace of train_gpt.cu
    keep_gelu = opts.recompute == "none"
    act = (N * C + L * N * C + L * N * 3 * C + L * N * C + L * N * C + L * N * C + L * N * 4 * C
           + (L * N * 4 * C if keep_gelu else N * 4 * C) + L * N * C + N * C + N * Vp) * X \
        + (4 * L * N + L * s.B * NH * T + 2 * N + 2 * N) * F + 2 * N * 4
    cudnn_ws = cudnn_dp_workspace_bytes(s) if opts.attention == "cudnn" else 0   # same stats (B,NH,T) as ours
    scratch = (N * C + N * C + N * 3 * C + N * C + N * 4 * C) * X + s.B * NH * T * F + 2 * 64 * 4 * C * F \
        + N * C * F   # the whole-head attention backward's dq sums (B,NH,T,HS), allocated in every bf16 build
    return {"parameters (bf16)": P * X, f"gradients ({opts.grads})": P * G, "master + AdamW m, v (fp32)": 3 * P * F,
            "activations": act, "scratch": scratch, "cuBLASLt workspace": 32 << 20,
            **({"cuDNN workspace (deterministic dP)": cudnn_ws} if cudnn_ws else {})}


def largest_batch(design, s, opts):
    """The largest B whose memory fits USABLE_GIB (memory is affine in B)."""
    m1 = sum(memory(design, replace(s, B=1), opts).values())
    m2 = sum(memory(design, replace(s, B=2), opts).values())
    per_b, fixed = m2 - m1, 2 * m1 - m2
    return max(0, int((USABLE_GIB * 2**30 - fixed) // per_b))


# ----------------------------------------------------------------------------- prediction
def kernel_us(k, eff, graph):
    if k.kind == "host":
        return 0.0
    compute = k.flops / (GEMM_TFLOPS * 1e12) / eff[k.kind]
    memory = (k.read + k.written) / (HBM_GBS * 1e9) / eff[k.mem_kind or k.kind]
    return max(compute, memory) * 1e6 + (GRAPH_GAP_US if graph else GAP_US)


def predict(st, eff, graph=False):
    """Step time: the GPU's kernel times, or the host's enqueue time if that is longer, plus the
    time the GPU waits for the host (syncs and host work between them)."""
    gpu = sum(kernel_us(k, eff, graph) for k in st.kernels)
    enqueue = HOST["graph_launch_us"] if graph else sum(k.host_us for k in st.kernels)
    serial = sum(k.serial_us for k in st.kernels)
    ms = (max(gpu, enqueue) + serial) / 1000
    tokens = st.s.N / (ms / 1000)
    fpt = flops_per_token(st.s)
    return dict(ms=ms, gpu_ms=gpu / 1000, host_ms=enqueue / 1000, serial_ms=serial / 1000, tokens=tokens,
                mfu=tokens * fpt / (GEMM_TFLOPS * 1e12), mfu_datasheet=tokens * fpt / (DATASHEET_TFLOPS * 1e12),
                launches=sum(k.kind != "host" for k in st.kernels))


# ----------------------------------------------------------------------------- measured times
# bench/profile_gpu.sh times every kernel of a few training steps with Nsight Compute and hands
# the CSV to --measured: the launches of the last step are grouped by kernel and set beside the
# model's rows, and each kind's efficiency is read off as (roofline time) / (measured time).
NCU_UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}
GEMM_GROUP = "cuBLAS GEMMs"


def ncu_csv_rows(path, needed):
    """The data rows of Nsight Compute's CSV (the trainer's own lines before its header skipped)
    and the index of each column, the `needed` ones first checked to be there."""
    import csv
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header = next((i for i, r in enumerate(rows) if all(c in r for c in needed)), None)
    if header is None:
        raise SystemExit(f"error: {path}: no {' and '.join(repr(c) for c in needed)} columns; is it ncu --csv output?")
    return rows[header + 1:], {c: i for i, c in enumerate(rows[header])}


def read_ncu_csv(path):
    """Nsight Compute's CSV (--csv --metrics gpu__time_duration.sum): [(kernel name, us)] in launch order."""
    launches = []
    rows, col = ncu_csv_rows(path, ("Kernel Name", "Metric Unit", "Metric Value"))
    name_i, unit_i, value_i = col["Kernel Name"], col["Metric Unit"], col["Metric Value"]
    metric_i = col.get("Metric Name")
    for r in rows:
        if len(r) <= max(name_i, unit_i, value_i) or (metric_i is not None and r[metric_i] != "gpu__time_duration.sum"):
            continue
        unit = r[unit_i].strip()
        if unit not in NCU_UNITS:
            raise SystemExit(f"error: {path}: unknown time unit '{unit}' (expected one of {', '.join(NCU_UNITS)})")
        launches.append((r[name_i], float(r[value_i].replace(",", "")) * NCU_UNITS[unit]))
    if not launches:
        raise SystemExit(f"error: {path}: no gpu__time_duration.sum rows")
    return launches


# bench/profile_gpu.sh --dram profiles a few launches of the attention backward with the HBM
# traffic Nsight Compute counts (dram__bytes_read.sum, dram__bytes_write.sum, the caches flushed
# before each launch) and hands the CSV to --dram: what the model counts as HBM traffic for a
# kernel (for the whole-head backward, every re-read, as if L2 kept none) beside what HBM saw.
NCU_BYTES = {"byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "Tbyte": 1e12}
DRAM_METRICS = ("gpu__time_duration.sum", "dram__bytes_read.sum", "dram__bytes_write.sum")


def read_ncu_dram_csv(path):
    """Nsight Compute's CSV (--csv --metrics DRAM_METRICS): [(kernel name, us, bytes read, bytes
    written)] in launch order, one entry per launch (its "ID") that has all three."""
    rows, col = ncu_csv_rows(path, ("ID", "Kernel Name", "Metric Name", "Metric Unit", "Metric Value"))
    id_i, name_i, metric_i = col["ID"], col["Kernel Name"], col["Metric Name"]
    unit_i, value_i = col["Metric Unit"], col["Metric Value"]
    launches = {}
    for r in rows:
        if len(r) <= max(id_i, name_i, metric_i, unit_i, value_i) or r[metric_i] not in DRAM_METRICS:
            continue
        unit, value = r[unit_i].strip(), float(r[value_i].replace(",", ""))
        scale = NCU_UNITS.get(unit) if r[metric_i] == DRAM_METRICS[0] else NCU_BYTES.get(unit)
        if scale is None:
            raise SystemExit(f"error: {path}: unknown unit '{unit}' for {r[metric_i]}")
        launches.setdefault(r[id_i], {"name": r[name_i]})[r[metric_i]] = value * scale
    out = [(m["name"], m[DRAM_METRICS[0]], m[DRAM_METRICS[1]], m[DRAM_METRICS[2]])
           for m in launches.values() if all(k in m for k in DRAM_METRICS)]
    if not out:
        raise SystemExit(f"error: {path}: no launch with all of {', '.join(DRAM_METRICS)}")
    return out


def compare_dram(st, launches):
    """Per kernel: (launches measured, us, bytes read, bytes written per launch; the model's bytes
    read and written per launch of its row, or None where the model has no such kernel)."""
    model = {}
    for k in st.kernels:
        if k.kind != "host":
            m = model.setdefault(kernel_key(k.name), [0, 0, 0])
            m[0] += 1; m[1] += k.read; m[2] += k.written
    rows = {}
    for name, us, rd, wr in launches:
        r = rows.setdefault(kernel_key(name), [0, 0.0, 0.0, 0.0])
        r[0] += 1; r[1] += us; r[2] += rd; r[3] += wr
    return {key: (n, us / n, rd / n, wr / n, (model[key][1] / model[key][0], model[key][2] / model[key][0]) if key in model else None)
            for key, (n, us, rd, wr) in rows.items()}


def print_dram(st, launches):
    print(f"\nHBM traffic per launch, measured (Nsight Compute, caches flushed before each launch) beside what "
          f"the model counts:")
    print(f"{'kernel':<34} {'launches':>8} {'us':>9} {'GB read':>8} {'GB wrote':>8} {'model read':>10} "
          f"{'model wrote':>11} {'measured/model':>14}")
    for key, (n, us, rd, wr, m) in sorted(compare_dram(st, launches).items()):
        model = f"{m[0] / 1e9:10.3f} {m[1] / 1e9:11.3f} {(rd + wr) / (m[0] + m[1]):14.2f}" if m else f"{'-':>10} {'-':>11} {'-':>14}"
        print(f"{key:<34} {n:8d} {us:9.1f} {rd / 1e9:8.3f} {wr / 1e9:8.3f} {model}")
    print("(the whole-head backward's model row counts every re-read of q, dout and dq's sums as HBM traffic: a "
          "measured/model ratio well below 1 says L2 kept them, and its time is its products'. The two kernels' rows "
          "count each tensor once, their re-reads left out, since their products bound them either way: there a "
          "ratio above 1 is what L2 did not keep)")


def last_step(launches):
    """The launches of the last step: a training step launches the same kernels in the same order
    every time, so the shortest tail that repeats just before itself is one step."""
    names = [n for n, _ in launches]
    for k in range(1, len(names) // 2 + 1):
        if names[-k:] == names[-2 * k:-k] and (3 * k > len(names) or names[-k:] == names[-3 * k:-2 * k]):
            return launches[-k:]
    raise SystemExit("error: the measured launches never repeat: profile at least three identical steps "
                     "(--eval-every 0 --sample-tokens 0)")


def kernel_key(name):
    """'void layernorm_forward_kernel<__nv_bfloat16>(float*, ...)' -> 'layernorm_forward'; a model row
    'layernorm_forward (vectorised)' -> the same. Library kernels (cuBLAS's) keep other names."""
    name = name.strip()
    name = name[5:] if name.startswith("void ") else name
    base = name.split("(")[0].split("<")[0].split(" ")[0].split("::")[-1]
    return base[:-len("_kernel")] if base.endswith("_kernel") else base


CUDNN_GROUP = "cuDNN attention (all its kernels)"
CUDNN_KIND = "cudnn fwd+bwd"   # several kinds in one group: its efficiency is printed, not suggested


def is_cudnn_kernel(name):
    """cuDNN's fused attention kernels ('cudnn_generated_..._sdpa_...', FMHA kernels), told apart
    from cuBLAS's GEMMs, which carry none of these words."""
    n = name.lower()
    return "cudnn" in n or "sdpa" in n or "fmha" in n


def compare_measured(st, launches, eff, cudnn_kernel=is_cudnn_kernel):
    """Rows: (group, kind, model launches, measured launches, roof us, predicted us, measured us)."""
    groups = {}
    for k in st.kernels:
        if k.kind == "host":
            continue
        g = GEMM_GROUP if k.kind.startswith("gemm") else CUDNN_GROUP if k.name.startswith("cuDNN") else kernel_key(k.name)
        kind = "gemm" if g == GEMM_GROUP else CUDNN_KIND if g == CUDNN_GROUP else k.kind
        r = groups.setdefault(g, dict(kind=kind, n=0, m=0, roof=0.0, pred=0.0, meas=0.0))
        r["n"] += 1
        # the roof its kind's efficiency is a fraction of: for a kernel whose memory roof has an
        # efficiency of its own (mem_kind), its products alone
        r["roof"] += (k.flops / (GEMM_TFLOPS * 1e12) * 1e6 if k.mem_kind else kernel_us(k, {k.kind: 1.0}, False) - GAP_US)
        r["pred"] += kernel_us(k, eff, False) - GAP_US
    ours = set(groups)
    for name, us in launches:
        g = kernel_key(name)
        if g not in ours and cudnn_kernel(name):
            g = CUDNN_GROUP
        elif g not in ours:
            g = GEMM_GROUP if not name.split("(")[0].rstrip().endswith("_kernel") and "_kernel<" not in name else g
        r = groups.setdefault(g, dict(kind="?", n=0, m=0, roof=0.0, pred=0.0, meas=0.0))
        r["m"] += 1
        r["meas"] += us
    return groups


def print_measured(st, launches, eff):
    step = last_step(launches)
    groups = compare_measured(st, step, eff)
    print(f"\nmeasured: {len(launches)} launches profiled, the last step is {len(step)} of them; "
          f"model {sum(r['n'] for r in groups.values())} launches")
    print(f"{'kernel':<40} {'kind':<16} {'model':>6} {'meas.':>6} {'predicted ms':>13} {'measured ms':>12} {'efficiency':>10}")
    by_kind = {}
    for g, r in sorted(groups.items(), key=lambda kv: -kv[1]["meas"]):
        e = r["roof"] / r["meas"] if r["meas"] > 0 and r["roof"] > 0 else None
        print(f"{g[:40]:<40} {r['kind']:<16} {r['n']:>6} {r['m']:>6} {r['pred'] / 1000:>13.3f} {r['meas'] / 1000:>12.3f} "
              f"{'' if e is None else f'{e:.3f}':>10}")
        if e is not None:
            k = by_kind.setdefault(r["kind"], [0.0, 0.0])
            k[0] += r["roof"]
            k[1] += r["meas"]
    total_meas = sum(r["meas"] for r in groups.values())
    total_pred = sum(r["pred"] for r in groups.values())
    print(f"{'total kernel time (no launch gaps)':<64} {total_pred / 1000:>13.3f} {total_meas / 1000:>12.3f}")
    implied = {kind: roof / meas for kind, (roof, meas) in by_kind.items() if meas > 0}
    print("measured efficiencies, to write into EFFICIENCY (GEMMs: all cuBLAS kernels together): "
          + " ".join(f"--efficiency {kind}={min(1.0, v):.3f}" for kind, v in sorted(implied.items()) if kind in EFFICIENCY))
    if CUDNN_KIND in implied:
        print(f"cuDNN's attention, forward, backward and its workspace together: {implied[CUDNN_KIND]:.3f} of the roof "
              f"(the model's flash_fwd_cudnn / flash_bwd_cudnn / elementwise_vec rows; split them with ncu's kernel names)")
    return groups, implied


# ----------------------------------------------------------------------------- checks
def check_step(st):
    """What must hold for any design: GEMM operand shapes agree with the model's tensors and
    their FLOPs are 2mnk; bytes and FLOPs are non-negative; every op of the model is computed
    in the forward and has its backward; the GEMM + attention FLOPs MFU counts add up to the
    total computed independently from the shape. Returns a list of problems (empty: fine)."""
    s, errors = st.s, []
    shapes = tensor_shapes(s)
    for k in st.kernels:
        if min(k.flops, k.model_flops, k.read, k.written, k.host_us, k.serial_us) < 0:
            errors.append(f"{k.name}: negative FLOPs, bytes or time")
        if k.model_flops > k.flops:
            errors.append(f"{k.name}: counts {k.model_flops} useful FLOPs but executes only {k.flops}")
        if k.kind != "host" and k.kind not in EFFICIENCY:
            errors.append(f"{k.name}: unknown kind {k.kind}")
        if k.gemm:
            out, a, b, batch = k.gemm
            try:
                (m, ka), (kb, n), o = operand_shape(shapes, a), operand_shape(shapes, b), operand_shape(shapes, out)
            except KeyError as e:
                errors.append(f"{k.name}: unknown operand {e}")
                continue
            if ka != kb:
                errors.append(f"{k.name}: inner dimensions differ: {a} {(m, ka)} @ {b} {(kb, n)}")
            if o != (m, n):
                errors.append(f"{k.name}: {out} is {o} but {a} @ {b} gives {(m, n)}")
            if k.flops != 2 * m * n * ka * batch:
                errors.append(f"{k.name}: {k.flops} FLOPs, 2mnk = {2 * m * n * ka * batch}")
    fwd = set().union(*(k.fwd_ops for k in st.kernels))
    bwd = set().union(*(k.bwd_ops for k in st.kernels))
    want = all_ops(s)
    for what, got in (("forward", fwd), ("backward", bwd)):
        if got - want:
            errors.append(f"{what} computes ops the model does not have: {sorted(got - want)[:4]}")
    if want - fwd:
        errors.append(f"forward misses {len(want - fwd)} op(s), e.g. {sorted(want - fwd)[:4]}")
    if fwd - bwd:
        errors.append(f"{len(fwd - bwd)} forward op(s) have no backward, e.g. {sorted(fwd - bwd)[:4]}")
    # independently: every weight matrix (L blocks' 12C^2 and the tied Vp x C head) costs
    # 2 FLOPs per weight per token forward and 4 backward; attention's causal half costs
    # 2C(t+1) per token and layer for each of its two products, 3x that with the backward
    L, C, T, N = s.L, s.C, s.T, s.N
    gemm_total = 6 * N * (L * 12 * C * C + s.Vp * C)
    attention_total = 6 * L * C * s.B * T * (T + 1)
    counted = sum(k.model_flops for k in st.kernels)
    if counted != gemm_total + attention_total:
        errors.append(f"GEMM + attention FLOPs {counted:,} != 6*tokens*(12LC^2 + VpC) + 6LC*B*T(T+1) "
                      f"= {gemm_total + attention_total:,}")
    # and that total is 6N + 6LCT per token up to the terms it leaves out on purpose
    mfu_total = flops_per_token(s) * N
    if abs(counted - mfu_total) > 0.02 * mfu_total:
        errors.append(f"GEMM + attention FLOPs {counted:,} differ from (6N + 6LCT) * tokens = {mfu_total:,} by > 2%")
    return errors


def self_test():
    """The checks `make test` runs, then planted wrong versions that each must fail them."""
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("PASS " if ok else "FAIL ") + what)
        failed += not ok

    s124 = Shape(12, 768, 12, 50257, 1024, 64)
    check(num_parameters(s124) == 124_439_808, f"GPT-2 124M has {num_parameters(s124):,} parameters (124,439,808)")
    L, C, V, T = 12, 768, 50257, 1024
    check(num_parameters(s124) == 12 * L * C * C + 13 * L * C + V * C + T * C + 2 * C,
          "parameter count = 12LC^2 + 13LC + VC + TC + 2C")
    check(s124.Vp == 50304 and num_parameters(s124, s124.Vp) == 124_475_904, "padded to 50304: 124,475,904 (llm.c's N)")
    check(flops_per_token(s124) == 6 * 124_439_808 + 6 * 12 * 768 * 1024 == 803_261_952, "6N + 6LCT = 803,261,952")
    shapes = [s124, Shape(24, 1024, 16, 50257, 1024, 64), Shape(2, 48, 3, 100, 16, 2), Shape(3, 64, 4, 300, 64, 5)]
    variants = [Options("none", False, "fp32"), Options("gelu", True, "bf16", "fa2"), Options("none", False, "fp32", "cudnn")]
    for s in shapes:
        for d, build in BUILDERS.items():
            for o in variants if d == "c" else variants[:1]:
                st = build(s, o)
                errors = check_step(st)
                p = predict(st, EFFICIENCY, o.graph)
                check(not errors and p["ms"] > 0 and sum(memory(d, s, o).values()) > 0,
                      f"{TITLES[d]}, L={s.L} C={s.C} NH={s.NH} V={s.V} T={s.T} B={s.B}, recompute {o.recompute}: "
                      + ("; ".join(errors[:3]) if errors else f"consistent, {p['ms']:.3f} ms"))
    # a higher efficiency can only make a kernel faster
    st = build_built(s124, variants[0])
    faster = dict(EFFICIENCY, gemm=0.9)
    check(predict(st, faster)["ms"] < predict(st, EFFICIENCY)["ms"], "raising the GEMM efficiency lowers the step time")

    # planted wrong versions: each must be caught
    base = build_built(s124, variants[0])

    def mutant(name, fn, st=base):
        bad = copy.deepcopy(st)
        fn(bad)
        errors = check_step(bad)
        check(bool(errors), f"planted: {name} is caught" + (f" ({errors[0]})" if errors else " -- NOT CAUGHT"))

    def first(st, pred):
        return next(i for i, k in enumerate(st.kernels) if pred(k))

    def transpose_dweight(st):   # dW = dout^T @ inp instead of inp^T @ dout: a (4C,C) result for a (C,4C) weight
        i = first(st, lambda k: k.gemm and k.gemm[0] == "dW_fc")
        k = st.kernels[i]
        st.kernels[i] = replace(k, gemm=("dW_fc", "dfch.T", "ln2", 1))
    mutant("a weight gradient with transposed operands", transpose_dweight)

    def transposed_weight(st):   # the forward fc GEMM reads W_fc as if it were stored [out, in]
        i = first(st, lambda k: k.gemm and k.gemm[2] == "W_fc")
        st.kernels[i] = replace(st.kernels[i], gemm=("fch_gelu", "ln2", "W_fc.T", 1))
    mutant("a forward GEMM with a transposed weight", transposed_weight)

    def forget_layer(st):        # a forgotten layer: layer 5 has no kernels at all
        st.kernels = [k for k in st.kernels if k.layer != 5]
    mutant("a forgotten layer", forget_layer)

    def forget_backward(st):     # one layer's attention has no backward kernel
        st.kernels = [k for k in st.kernels if not (k.layer == 7 and k.phase == "backward" and (7, "attention") in k.bwd_ops)]
    mutant("an attention backward left out of one layer", forget_backward)

    def forget_dweight(st):      # the fcproj weight gradient of one layer is never computed
        i = first(st, lambda k: k.gemm and k.gemm[0] == "dW_fcproj")
        del st.kernels[i]
    mutant("a missing weight-gradient GEMM", forget_dweight)

    def half_flops(st):          # mnk instead of 2mnk
        i = first(st, lambda k: k.gemm is not None)
        st.kernels[i] = replace(st.kernels[i], flops=st.kernels[i].flops // 2, model_flops=st.kernels[i].model_flops // 2)
    mutant("a GEMM counted at mnk FLOPs", half_flops)

    def negative_bytes(st):
        i = first(st, lambda k: k.kind == "row_vec")
        st.kernels[i] = replace(st.kernels[i], read=-st.kernels[i].read)
    mutant("negative bytes", negative_bytes)

    def full_square(st):         # attention credited with the whole T x T square
        for i, k in enumerate(st.kernels):
            if k.kind.startswith("flash_fwd"):
                st.kernels[i] = replace(k, model_flops=2 * k.model_flops)
    mutant("attention FLOPs without the causal half", full_square)

    # --measured: a synthetic profile of three steps whose kernels run at known efficiencies (and a
    # first step with an extra launch) must give those efficiencies back
    import tempfile, os
    small = Shape(2, 64, 4, 300, 64, 2)
    st = build_built(small, variants[0])
    true_eff = {kind: 0.3 + 0.05 * i for i, kind in enumerate(sorted(EFFICIENCY))}
    true_eff.update(gemm=0.6, gemm_wgrad=0.6)
    one_step = [(("nvjet_tst_128x256_gemm" if k.kind.startswith("gemm") else f"void {kernel_key(k.name)}_kernel<float>(int)"),
                 kernel_us(k, true_eff, False) - GAP_US) for k in st.kernels if k.kind != "host"]

    def profile(launches):
        f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        f.write('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n')
        for i, (n, us) in enumerate(launches):
            f.write(f'"{i}","{n}","gpu__time_duration.sum","nsecond","{us * 1000:,.0f}"\n')
        f.close()
        try:
            return read_ncu_csv(f.name)
        finally:
            os.unlink(f.name)
    launches = profile([("void cast_kernel<float>(float*)", 5.0)] + one_step * 3)
    check(len(last_step(launches)) == len(one_step), f"the last step of a profile is found ({len(one_step)} launches)")
    groups, implied = compare_measured(st, last_step(launches), EFFICIENCY), None
    implied = {}
    for r in groups.values():
        if r["meas"] > 0 and r["roof"] > 0:
            implied.setdefault(r["kind"], [0, 0])
            implied[r["kind"]][0] += r["roof"]
            implied[r["kind"]][1] += r["meas"]
    got = {kind: roof / meas for kind, (roof, meas) in implied.items()}
    check(all(abs(got[k] - true_eff[k]) < 0.01 for k in got) and len(got) >= 3,
          "measured efficiencies are recovered from a synthetic profile: "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(got.items())))
    two = {kind: roof / meas for kind, (roof, meas) in
           ((r["kind"], (r["roof"], r["meas"])) for r in compare_measured(st, launches[-2 * len(one_step):], EFFICIENCY).values()
            if r["meas"] > 0 and r["roof"] > 0)}
    check(any(abs(two[k] - true_eff[k]) > 0.05 for k in two), "planted: two steps taken for one give wrong efficiencies")
    # the whole-head attention backward where B x heads fills the GPU twice (124M, B = 64: 768),
    # the two kernels below that (B = 2); its row's roof for --measured is its products alone
    st_wh, st_two = build_built(s124, variants[0]), build_built(replace(s124, B=2), variants[0])
    names = lambda st: [k.name for k in st.kernels if k.name.startswith("attention_backward_d")]
    wh = [k for k in st_wh.kernels if "whole head" in k.name]
    check(len(wh) == s124.L and not any("attention_backward_dq" in n for n in names(st_wh))
          and any("attention_backward_dq" in n for n in names(st_two)) and not any("whole head" in n for n in names(st_two)),
          "the whole-head backward runs at B x heads = 768, the two kernels at 24")
    check(whole_head_resident_tiles(1024, 64) == 9 and whole_head_global_visits(1024, 64) == 16
          and whole_head_visits(1024) == 72 and whole_head_resident_tiles(1024, 128) == 3
          and whole_head_global_visits(300, 32) == 0,
          "the whole-head kernel keeps the last 9 of 16 query tiles' dq sums in shared memory at HS = 64 (56 of 72 "
          "visits), 3 at HS = 128, all 5 at T = 300, HS = 32")
    check(wh[0].flops >= 5 * 2 * 64 * 64 * 64 * (16 * 17 // 2) * 64 * 12,
          f"the whole-head backward executes 5 products per pair of tiles ({wh[0].flops / 1e9:.1f} GFLOP per layer)")
    # (each launch measured at the time its products take at the kind's efficiency)
    g = compare_measured(st_wh, [(f"void {kernel_key(k.name)}_kernel<float>(int)", k.flops / (GEMM_TFLOPS * 1e12) / EFFICIENCY[k.kind] * 1e6)
                                 for k in st_wh.kernels if k.kind != "host" and not k.kind.startswith("gemm")], EFFICIENCY)
    r = g[kernel_key(wh[0].name)]
    check(abs(r["roof"] / r["meas"] - EFFICIENCY[wh[0].kind]) < 1e-6,
          f"--measured reads the whole-head backward's efficiency off its products: {r['roof'] / r['meas']:.3f}")
    # --dram: a synthetic Nsight Compute CSV of two whole-head launches (bytes in the units ncu
    # picks, a metric it does not use, a launch lacking one metric) must come back per launch,
    # beside the model's bytes for the row
    f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
    f.write('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n')
    wh_name = "void attention_backward_dkdv_mma_kernel<64, true>(__nv_bfloat16*, const __nv_bfloat16*)"
    for i, (us, rd, wr) in enumerate([(1500.0, "1,200.5", "800"), (1700.0, "1,400.5", "600")]):
        f.write(f'"{i}","{wh_name}","gpu__time_duration.sum","usecond","{us}"\n')
        f.write(f'"{i}","{wh_name}","dram__bytes_read.sum","Mbyte","{rd}"\n')
        f.write(f'"{i}","{wh_name}","dram__bytes_write.sum","Mbyte","{wr}"\n')
        f.write(f'"{i}","{wh_name}","lts__t_sector_hit_rate.pct","%","80"\n')
    f.write(f'"2","void layernorm_forward_kernel<8>(int)","gpu__time_duration.sum","usecond","3"\n')
    f.close()
    try:
        dram = compare_dram(st_wh, read_ncu_dram_csv(f.name))
    finally:
        os.unlink(f.name)
    n, us, rd, wr, model = dram.get("attention_backward_dkdv_mma", (0, 0, 0, 0, None))
    check(len(dram) == 1 and n == 2 and abs(us - 1600) < 1e-9 and abs(rd - 1.3005e9) < 1 and abs(wr - 0.7e9) < 1
          and model == (wh[0].read, wh[0].written),
          f"--dram reads two launches' HBM traffic per launch ({rd / 1e9:.4f} GB read, {wr / 1e9:.4f} GB written) "
          f"beside the model's row ({wh[0].read / 1e9:.3f}, {wh[0].written / 1e9:.3f} GB)")
    # with cuDNN's attention: its kernels (no '_kernel' in their names) form their own group, not the GEMMs'
    st_cudnn = build_built(small, Options(attention="cudnn"))
    synthetic = [(("nvjet_tst_128x256_gemm" if k.kind.startswith("gemm") else
                   "cudnn_generated_fort_native_sdpa_sm90_knob_7_64x64x64_4x1x1_kernel0_0" if k.name.startswith("cuDNN") else
                   f"void {kernel_key(k.name)}_kernel<float>(int)"), kernel_us(k, true_eff, False) - GAP_US)
                 for k in st_cudnn.kernels if k.kind != "host"]
    gemm_us = sum(us for n, us in synthetic if n.startswith("nvjet"))
    cudnn_us = sum(us for n, us in synthetic if n.startswith("cudnn"))
    g = compare_measured(st_cudnn, synthetic, EFFICIENCY)
    check(abs(g[GEMM_GROUP]["meas"] - gemm_us) < 1e-6 and abs(g[CUDNN_GROUP]["meas"] - cudnn_us) < 1e-6
          and g[CUDNN_GROUP]["n"] == 3 * small.L,
          f"cuDNN's attention kernels are grouped apart from the GEMMs ({cudnn_us / 1000:.3f} ms of them)")
    g = compare_measured(st_cudnn, synthetic, EFFICIENCY, cudnn_kernel=lambda name: False)
    check(abs(g[GEMM_GROUP]["meas"] - gemm_us) > 1e-6,
          "planted: with cuDNN's kernels not recognised they are counted as GEMMs")
    # a parameter table that forgets the biases must miss the known count
    no_bias = sum(math.prod(v) for name, v in param_shapes(s124).items() if not name.endswith(".bias"))
    check(no_bias != 124_439_808, f"planted: a parameter table without biases ({no_bias:,}) is caught")

    print(f"{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
    return 1 if failed else 0


# ----------------------------------------------------------------------------- output
@dataclass
class Options:
    recompute: str = "none"
    graph: bool = False
    grads: str = "fp32"
    attention: str = "mma"
    whole_head_min: int = WHOLE_HEAD_MIN_HEADS   # the trainer's TRAIN_GPT_WHOLE_HEAD_MIN


def gb(x): return f"{x / 1e9:8.3f}"


def print_design(d, st, eff, opts, per_launch):
    s = st.s
    graph = opts.graph and d == "c"
    rows, order = {}, []
    for k in st.kernels:
        key = (k.phase, k.name)
        if key not in rows:
            rows[key] = dict(n=0, flops=0, read=0, written=0, us=0.0, kind=k.kind, serial=0.0)
            order.append(key)
        r = rows[key]
        r["n"] += 1 if k.kind != "host" else 0
        r["flops"] += k.flops
        r["read"] += k.read
        r["written"] += k.written
        r["us"] += kernel_us(k, eff, graph) + k.serial_us
        r["serial"] += k.serial_us
    p = predict(st, eff, graph)
    total_us = sum(r["us"] for r in rows.values())
    print(f"\n== {TITLES[d]}: L={s.L} C={s.C} NH={s.NH} V={s.V} (Vp {s.Vp}) T={s.T} B={s.B}"
          + (f", recompute {opts.recompute}, {'CUDA graph' if opts.graph else 'no graph'}, {opts.grads} gradients"
             if d == "c" else ""))
    print(f"{'kernel':<46} {'phase':<8} {'launches':>8} {'GFLOP':>9} {'GB read':>8} {'GB wrote':>8} "
          f"{'ms':>8} {'share':>6}  kind")
    if per_launch:
        for k in st.kernels:
            t = kernel_us(k, eff, graph) + k.serial_us
            print(f"{(k.name + (f' [{k.layer}]' if k.layer >= 0 else ''))[:46]:<46} {k.phase:<8} {1 if k.kind != 'host' else 0:>8} "
                  f"{k.flops / 1e9:9.1f} {gb(k.read)} {gb(k.written)} {t / 1000:8.3f} {100 * t / total_us:5.1f}%  {k.kind}")
    else:
        for key in order:
            r = rows[key]
            print(f"{key[1][:46]:<46} {key[0]:<8} {r['n']:>8} {r['flops'] / 1e9:9.1f} {gb(r['read'])} {gb(r['written'])} "
                  f"{r['us'] / 1000:8.3f} {100 * r['us'] / total_us:5.1f}%  {r['kind']}")
    by_kind = {}
    for k in st.kernels:
        by_kind[k.kind] = by_kind.get(k.kind, 0.0) + kernel_us(k, eff, graph) + k.serial_us
    print("time by kind: " + ", ".join(f"{kind} {us / 1000:.1f} ms" for kind, us in
                                       sorted(by_kind.items(), key=lambda kv: -kv[1])))
    mem = memory(d, s, opts)
    total = sum(mem.values()) / 2**30
    print("memory: " + ", ".join(f"{name} {v / 2**30:.2f} GiB" for name, v in mem.items())
          + f"; total {total:.1f} GiB{' (DOES NOT FIT)' if total > USABLE_GIB else ''}; "
          f"largest batch in {USABLE_GIB:.0f} GiB: B={largest_batch(d, s, opts)}")
    print(f"GPU {p['gpu_ms']:.2f} ms in {p['launches']} launches, host enqueue {p['host_ms']:.2f} ms, "
          f"GPU waiting for the host {p['serial_ms']:.2f} ms")
    return p


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Roofline model of one GPT-2 training step on an H100 SXM "
                                 "(predictions, no GPU needed).")
    ap.add_argument("--model", choices=sorted(MODELS), default="124M", help="GPT-2 size: sets L, C, NH")
    ap.add_argument("--n-layer", type=int, help="L (overrides --model)")
    ap.add_argument("--n-embd", type=int, help="C (overrides --model)")
    ap.add_argument("--n-head", type=int, help="NH (overrides --model)")
    ap.add_argument("--vocab-size", type=int, default=50257, help="V, padded to a multiple of 128 inside")
    ap.add_argument("--seq-len", type=int, default=1024, help="T")
    ap.add_argument("--batch", type=int, default=64, help="B, sequences per step (one micro-batch)")
    ap.add_argument("--design", choices=["a", "b", "c", "all"], default="all")
    ap.add_argument("--recompute", choices=["none", "gelu"], default="none",
                    help="design (c): recompute the GELU output in the backward (the trainer's --recompute 1)")
    ap.add_argument("--attention", choices=["mma", "wmma", "fa2", "cudnn"], default="mma",
                    help="design (c): the attention built (mma: tiles in registers), its predecessor (wmma: "
                    "tiles in shared memory), the same kernels at FlashAttention-2's efficiency (fa2, not "
                    "built), or cuDNN's (cudnn: train_gpt_cudnn, built, not run)")
    ap.add_argument("--whole-head-min", type=int, default=WHOLE_HEAD_MIN_HEADS, metavar="HEADS",
                    help="design (c): the fewest heads (B x NH) for which the trainer runs the whole-head attention "
                    f"backward, as its TRAIN_GPT_WHOLE_HEAD_MIN (default {WHOLE_HEAD_MIN_HEADS}: two per SM)")
    ap.add_argument("--graph", action="store_true", help="design (c): replay the step as one CUDA graph (not built)")
    ap.add_argument("--grads", choices=["bf16", "fp32"], default="fp32",
                    help="design (c): gradient precision (fp32 is built; bf16 would be as llm.c)")
    ap.add_argument("--efficiency", action="append", default=[], metavar="KIND=VALUE",
                    help="override an efficiency (a fraction in (0, 1]); kinds: " + ", ".join(EFFICIENCY))
    ap.add_argument("--list", action="store_true", help="print every launch instead of one row per kernel")
    ap.add_argument("--measured", metavar="NCU_CSV", help="compare design (c) with the kernel times of "
                    "bench/profile_gpu.sh (Nsight Compute CSV) and print the measured efficiencies")
    ap.add_argument("--dram", metavar="NCU_CSV", help="set the HBM traffic bench/profile_gpu.sh --dram measured "
                    "(Nsight Compute CSV) beside what design (c) counts for those kernels")
    ap.add_argument("--self-test", action="store_true", help="run the model's checks and exit")
    a = ap.parse_args(argv)
    L, C, NH = MODELS[a.model]
    L, C, NH = a.n_layer or L, a.n_embd or C, a.n_head or NH
    for flag, v in (("--n-layer", L), ("--n-embd", C), ("--n-head", NH), ("--vocab-size", a.vocab_size),
                    ("--seq-len", a.seq_len), ("--batch", a.batch), ("--whole-head-min", a.whole_head_min)):
        if v <= 0:
            ap.error(f"{flag} {v}: must be a positive integer")
    if C % NH:
        ap.error(f"--n-embd {C} is not divisible by --n-head {NH}: pick a head count that divides it")
    eff = dict(EFFICIENCY)
    for item in a.efficiency:
        kind, _, value = item.partition("=")
        if kind not in EFFICIENCY:
            ap.error(f"--efficiency {item}: unknown kind '{kind}'; known kinds: {', '.join(EFFICIENCY)}")
        try:
            v = float(value)
        except ValueError:
            v = -1
        if not 0 < v <= 1:
            ap.error(f"--efficiency {item}: the value must be a fraction in (0, 1], e.g. {kind}=0.75")
        eff[kind] = v
    return a, Shape(L, C, NH, a.vocab_size, a.seq_len, a.batch), eff


def main(argv):
    a, s, eff = parse_args(argv)
    if a.self_test:
        return self_test()
    opts = Options(a.recompute, a.graph, a.grads, a.attention, a.whole_head_min)
    if a.measured:
        print(f"design (c) at L={s.L} C={s.C} NH={s.NH} V={s.V} T={s.T} B={s.B} beside measured kernel times ({a.measured})")
        print_measured(BUILDERS["c"](s, opts), read_ncu_csv(a.measured), eff)
        return 0
    if a.dram:
        print(f"design (c) at L={s.L} C={s.C} NH={s.NH} V={s.V} T={s.T} B={s.B} beside measured HBM traffic ({a.dram})")
        print_dram(BUILDERS["c"](s, opts), read_ncu_dram_csv(a.dram))
        return 0
    print("PREDICTIONS from a roofline model (bench/roofline.py), not measurements.")
    print(f"H100 SXM: dense bf16 {GEMM_TFLOPS:.0f} TFLOP/s and HBM {HBM_GBS:.0f} GB/s (measured rates), "
          f"{GAP_US} us per launch ({GRAPH_GAP_US} us in a CUDA graph). Efficiencies: "
          + ", ".join(f"{k}={v:g}" for k, v in eff.items()))
    print(f"FLOPs per token 6N + 6LCT = {flops_per_token(s):,} (N = {num_parameters(s):,}); "
          f"{s.N:,} tokens per step. 6LCT is attention's Q K^T and P V with the causal half only "
          f"(2CT per layer and token forward, 3x with the backward; Kaplan et al. 2020, 2.1, as llm.c); "
          f"the GFLOP column is what kernels execute, e.g. the full T x T square in (a)")
    designs = ["a", "b", "c"] if a.design == "all" else [a.design]
    results = {d: print_design(d, BUILDERS[d](s, opts), eff, opts, a.list) for d in designs}
    print("\nsummary (predicted):")
    for d, p in results.items():
        ratio = f", {results['b']['ms'] / p['ms']:.2f}x (b)" if "b" in results else ""
        anchor = (f", {p['tokens'] / LLMC_H100_TOKENS_PER_S:.2f}x llm.c's published H100 rate"
                  if (s.L, s.C, s.NH, s.V, s.T) == (12, 768, 12, 50257, 1024) else "")
        print(f"  {TITLES[d]:<34} {p['ms']:8.2f} ms/step {p['tokens']:>11,.0f} tokens/s  MFU {100 * p['mfu']:5.1f}% of "
              f"{GEMM_TFLOPS:.0f} ({100 * p['mfu_datasheet']:4.1f}% of {DATASHEET_TFLOPS:.0f}){ratio}{anchor}")
    if (s.L, s.C, s.NH, s.V, s.T) == (12, 768, 12, 50257, 1024):
        print("anchor for (b), llm.c's own published figures:")
        for line in LLMC_ANCHORS:
            print("  - " + line)
        print("measured, both on one GPU in one run (the figures to believe over this model's):")
        for line in MEASURED:
            print("  - " + line)
    if "c" in results:
        # where the built design's time would go down most: each kind 0.05 more efficient
        st = BUILDERS["c"](s, opts)
        base_ms = predict(st, eff, opts.graph)["ms"]
        gains = []
        for kind in sorted({k.kind for k in st.kernels if k.kind != "host"}):
            better = dict(eff, **{kind: min(1.0, eff[kind] + 0.05)})
            gains.append((base_ms - predict(st, better, opts.graph)["ms"], kind))
        print("(c): ms saved per step if one kind were 0.05 more efficient: "
              + ", ".join(f"{kind} {ms:.2f}" for ms, kind in sorted(gains, reverse=True) if ms >= 0.05))
    if "b" in results:
        need = results["b"]["ms"] / 1.25
        print(f"the goal, 1.25x (b), needs <= {need:.2f} ms/step predicted; 50% MFU of {GEMM_TFLOPS:.0f} needs "
              f"<= {s.N * flops_per_token(s) / (0.5 * GEMM_TFLOPS * 1e12) * 1000:.2f} ms/step")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
