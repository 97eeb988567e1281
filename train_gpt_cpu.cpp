// train_gpt_cpu.cpp: the CPU reference trainer for GPT-2.
//
// What it is: the whole model, forward and backward written out by hand for every layer,
// AdamW, the training loop with validation, sampling (with a KV cache) and checkpoints.
// Plain C++17 and OpenMP. It is a real trainer (run `./train_gpt_cpu --help`), the oracle
// the GPU trainer train_gpt.cu is tested against, and the text the tutorial reads.
// What it is not: fast at large scale (that is train_gpt.cu's job), or clever: where a
// loop is deliberately simple, it says so.
//
// Conventions a reader needs before line 1:
// - Dimensions: B batch, T time, C channels, V vocabulary (Vp padded; here Vp = V),
//   L layers, NH heads, HS head size (C / NH), N = B*T rows.
// - Weights are stored [in, out] (GPT-2's Conv1D layout): y = x @ W + b.
// - Parameter gradients accumulate with +=; activation gradients are written, except that
//   layernorm_backward adds into the residual stream's gradient (see gpt_backward).
// - `real` is the scalar type, float by default; the tests build this file in double.
// - Bad input calls fail() (UsageError for a flag), naming the file or flag; main prints it and exits.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef USE_MPI
#include <mpi.h>
#endif

#include "base.h"           // defines: fail, UsageError, now_ms, Rng
#include "tokenizer.h"      // defines: Tokenizer (the prompt and the samples)
#include "dataloader.h"     // defines: DataLoader
#include "gpt_model.h"      // defines: GPTConfig, LayerTensor, param_table, num_parameters, init_parameters
#include "train_common.h"   // defines: Settings, parse_args, lr_at, checkpoints, Shard, Logger, start_run, open_data, sample_token

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

// ----------------------------------------------------------------------------
// utilities

// a sum of squares that gives bitwise the same result whatever the thread count:
// fixed chunks, each summed in order, then the chunk sums added in order
static double sum_squares(const real* x, size_t n) {
    const size_t CHUNK = 1 << 16;
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    std::vector<double> partial(nchunks);
    #pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        double s = 0.0;
        for (size_t i = c * CHUNK; i < std::min(n, (c + 1) * CHUNK); i++) s += (double)x[i] * x[i];
        partial[c] = s;
    }
    double s = 0.0;
    for (double p : partial) s += p;
    return s;
}

// ----------------------------------------------------------------------------
// layers: each a forward/backward pair, in the order data flows through the model

// token embedding plus position embedding: the only place token ids enter the model
void encoder_forward(real* out, const int* inp, const real* wte, const real* wpe, int B, int T, int C) {
    // out (B,T,C), inp (B,T), wte (Vp,C), wpe (maxT,C)
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            real* o = out + ((size_t)b * T + t) * C;
            const real* we = wte + (size_t)inp[b * T + t] * C;
            const real* pe = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = we[c] + pe[c];   // out = wte[inp] + wpe[arange(T)]
        }
}

void encoder_backward(real* dwte, real* dwpe, const real* dout, const int* inp, int B, int T, int C) {
    // dwte (Vp,C), dwpe (maxT,C), dout (B,T,C), inp (B,T)
    // Many positions may hold the same token, so rows of dwte receive several additions. To keep
    // that deterministic without atomics, each thread owns a block of channels and walks all rows.
    const int CB = 16;
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += CB) {
        int c1 = std::min(C, c0 + CB);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const real* d = dout + ((size_t)b * T + t) * C;
                real* dw = dwte + (size_t)inp[b * T + t] * C;
                real* dp = dwpe + (size_t)t * C;
                for (int c = c0; c < c1; c++) { dw[c] += d[c]; dp[c] += d[c]; }
            }
    }
}

// LayerNorm over channels, per row: normalise to mean 0 and variance 1, then scale and shift
void layernorm_forward(real* out, real* mean, real* rstd, const real* inp, const real* weight, const real* bias,
                       int N, int C) {
    // out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C)
    const real eps = 1e-5;
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        real m = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        real v = 0;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;                                               // biased variance, as PyTorch
        real s = 1 / std::sqrt(v + eps);
        real* o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                        const real* weight, const real* mean, const real* rstd, int N, int C) {
    // dinp (N,C) += (the residual stream's gradient), dweight (C) +=, dbias (C) +=, dout (N,C)
    // With xhat = (x - mean) * rstd and g = dout * weight, the gradient through the
    // normalisation is  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        const real* d = dout + (size_t)n * C;
        real m = mean[n], s = rstd[n];
        real g_mean = 0, gx_mean = 0;
        for (int c = 0; c < C; c++) {
            real g = d[c] * weight[c];
            g_mean += g;
            gx_mean += g * (x[c] - m) * s;
        }
        g_mean /= C;
        gx_mean /= C;
        real* dx = dinp + (size_t)n * C;
        for (int c = 0; c < C; c++) dx[c] += s * (d[c] * weight[c] - g_mean - (x[c] - m) * s * gx_mean);
    }
    // the parameter gradients sum over rows: one thread per channel block keeps the order fixed
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += 16)
        for (int n = 0; n < N; n++) {
            const real* x = inp + (size_t)n * C;
            const real* d = dout + (size_t)n * C;
            for (int c = c0; c < std::min(C, c0 + 16); c++) {
                dweight[c] += d[c] * (x[c] - mean[n]) * rstd[n];
                dbias[c] += d[c];
            }
        }
}

// --- matrix multiplication: where almost all the time goes (about 95% of a step's FLOPs).
// gemm computes C (M,N) (+)= A (M,K) @ B (K,N), where element (i,k) of A sits at
// A[i*a_rs + k*a_cs] (and likewise for B), so transposed operands need no copies.
// It is the classic cache-blocked scheme (as in BLIS and GotoBLAS): copy ("pack") a block
// of A into panels of MR rows and a block of B into strips of NR columns, each laid out
// in the order the micro-kernel reads them, then let the micro-kernel keep an MR x NR tile
// of C in vector registers while it walks K. Each element of C is summed in the same
// order whatever the thread count, so results are deterministic.
#if defined(__AVX512F__)
constexpr int VEC_BYTES = 64;
#else
constexpr int VEC_BYTES = 32;
#endif
constexpr int VL = VEC_BYTES / sizeof(real);       // scalars per vector register
constexpr int NR = 2 * VL;                          // tile columns: two vector registers
constexpr int MR = VEC_BYTES == 64 ? 8 : 6;         // tile rows: 2*MR accumulators fit the register file
constexpr int KC = 256;                             // K block: an A panel and a B strip stay in L1
constexpr int NC = 256;                             // N block: a packed B block stays in L2
constexpr int MC = 8 * MR;                          // M block per task
typedef real vec __attribute__((vector_size(VEC_BYTES)));

static inline void gemm_micro_kernel(int K, const real* Ap, const real* Bp, real* Cm, size_t ldc,
                                     int mr, int nr, bool accumulate) {
    vec acc[MR][2] = {};
    for (int k = 0; k < K; k++) {
        vec b0, b1;
        memcpy(&b0, Bp + k * NR, VEC_BYTES);
        memcpy(&b1, Bp + k * NR + VL, VEC_BYTES);
        for (int i = 0; i < MR; i++) {
            real a = Ap[k * MR + i];
            acc[i][0] += a * b0;
            acc[i][1] += a * b1;
        }
    }
    for (int i = 0; i < mr; i++) {
        real tile[NR];
        memcpy(tile, acc[i], sizeof tile);
        real* c = Cm + i * ldc;
        if (accumulate) for (int j = 0; j < nr; j++) c[j] += tile[j];
        else for (int j = 0; j < nr; j++) c[j] = tile[j];
    }
}

// copies a (w x kc) slice of an operand, element (r,k) at src[r*r_stride + k*k_stride], into
// dst[k*width + r], padding rows w..width-1 with zeros
static void pack(real* dst, const real* src, size_t r_stride, size_t k_stride, int w, int width, int kc) {
    if (w < width)
        for (int k = 0; k < kc; k++)
            for (int r = w; r < width; r++) dst[k * width + r] = 0;
    if (k_stride == 1)
        for (int r = 0; r < w; r++)
            for (int k = 0; k < kc; k++) dst[k * width + r] = src[r * r_stride + k];
    else
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < w; r++) dst[k * width + r] = src[r * r_stride + k * k_stride];
}

void gemm(real* Cm, const real* A, const real* Bm, int M, int N, int K,
          size_t a_rs, size_t a_cs, size_t b_rs, size_t b_cs, bool accumulate) {
    int mblocks = (M + MC - 1) / MC, nblocks = (N + NC - 1) / NC;
    #pragma omp parallel
    {
        std::vector<real> Ap((size_t)MC * KC), Bp((size_t)NC * KC);
        #pragma omp for collapse(2) schedule(dynamic)
        for (int mb = 0; mb < mblocks; mb++)
            for (int nb = 0; nb < nblocks; nb++) {
                int m0 = mb * MC, m1 = std::min(M, m0 + MC), n0 = nb * NC, n1 = std::min(N, n0 + NC);
                for (int k0 = 0; k0 < K; k0 += KC) {
                    int kc = std::min(KC, K - k0);
                    // pack B[k0:k0+kc, n0:n1] into strips of NR columns and A[m0:m1, k0:k0+kc] into
                    // panels of MR rows, zero-padded; each copy loop runs along the operand's
                    // contiguous index, so transposed operands are read at full speed too
                    for (int j0 = n0; j0 < n1; j0 += NR)
                        pack(Bp.data() + (size_t)(j0 - n0) * kc, Bm + (size_t)k0 * b_rs + (size_t)j0 * b_cs,
                             b_cs, b_rs, std::min(NR, n1 - j0), NR, kc);
                    for (int i0 = m0; i0 < m1; i0 += MR)
                        pack(Ap.data() + (size_t)(i0 - m0) * kc, A + (size_t)i0 * a_rs + (size_t)k0 * a_cs,
                             a_rs, a_cs, std::min(MR, m1 - i0), MR, kc);
                    for (int i0 = m0; i0 < m1; i0 += MR)
                        for (int j0 = n0; j0 < n1; j0 += NR)
                            gemm_micro_kernel(kc, Ap.data() + (size_t)(i0 - m0) * kc, Bp.data() + (size_t)(j0 - n0) * kc,
                                              Cm + (size_t)i0 * N + j0, N, std::min(MR, m1 - i0), std::min(NR, n1 - j0),
                                              accumulate || k0 > 0);
                }
            }
    }
}

// a fully connected layer: out = inp @ weight + bias
void matmul_forward(real* out, const real* inp, const real* weight, const real* bias, int N, int C, int OC) {
    // out (N,OC), inp (N,C), weight (C,OC), bias (OC) or null
    gemm(out, inp, weight, N, OC, C, C, 1, OC, 1, false);
    if (bias) {
        #pragma omp parallel for
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
    }
}

void matmul_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp, const real* weight,
                     int N, int C, int OC) {
    // dinp (N,C) written, dweight (C,OC) +=, dbias (OC) +=, dout (N,OC), inp (N,C), weight (C,OC)
    gemm(dinp, dout, weight, N, C, OC, OC, 1, 1, OC, false);      // dinp = dout @ weight.T
    gemm(dweight, inp, dout, C, OC, N, 1, C, OC, 1, true);        // dweight += inp.T @ dout
    if (dbias) {
        #pragma omp parallel for
        for (int o0 = 0; o0 < OC; o0 += 16)                       // dbias += dout.sum(0)
            for (int n = 0; n < N; n++)
                for (int o = o0; o < std::min(OC, o0 + 16); o++) dbias[o] += dout[(size_t)n * OC + o];
    }
}

// Causal multi-head self-attention: the only layer that mixes information across time.
// Each head compares its query at t with the keys at t2 <= t, softmaxes the scores, and
// averages the values with those weights. Deliberately direct: O(T^2) per head, with the
// attention matrix kept for the backward pass (tiling it away, flash-attention style, is
// tutorial chapter 15, and what train_gpt.cu does: it keeps one logsumexp per row instead).
void attention_forward(real* out, real* att, const real* qkv, int B, int T, int C, int NH) {
    // out (B,T,C), att (B,NH,T,T) post-softmax weights (zero above the diagonal), qkv (B,T,3C)
    // qkv holds q, k, v side by side; head h uses channels h*HS .. (h+1)*HS of each
    int HS = C / NH;
    real scale = 1 / std::sqrt((real)HS);
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const real* q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
                real* a = att + (((size_t)b * NH + h) * T + t) * T;
                real maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {                 // scores = q @ k.T / sqrt(HS)
                    const real* k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * HS;
                    real s = 0;
                    for (int i = 0; i < HS; i++) s += q[i] * k[i];
                    a[t2] = s * scale;
                    maxv = std::max(maxv, a[t2]);
                }
                real sum = 0;
                for (int t2 = 0; t2 <= t; t2++) { a[t2] = std::exp(a[t2] - maxv); sum += a[t2]; }
                for (int t2 = 0; t2 <= t; t2++) a[t2] /= sum;     // softmax over the past only
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0;     // the causal mask
                real* o = out + ((size_t)b * T + t) * C + h * HS;
                for (int i = 0; i < HS; i++) o[i] = 0;
                for (int t2 = 0; t2 <= t; t2++) {                 // out = att @ v
                    const real* v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * HS;
                    for (int i = 0; i < HS; i++) o[i] += a[t2] * v[i];
                }
            }
}

void attention_backward(real* dqkv, const real* dout, const real* qkv, const real* att, int B, int T, int C, int NH) {
    // dqkv (B,T,3C) written, dout (B,T,C), qkv (B,T,3C), att (B,NH,T,T)
    // Softmax backward: with p = softmax(s), ds_j = p_j * (dp_j - sum_i p_i dp_i).
    int HS = C / NH;
    real scale = 1 / std::sqrt((real)HS);
    #pragma omp parallel
    {
        std::vector<real> datt(T);
        #pragma omp for collapse(2)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < 3; j++)
                        memset(dqkv + ((size_t)b * T + t) * 3 * C + j * C + h * HS, 0, HS * sizeof(real));
                for (int t = 0; t < T; t++) {
                    const real* a = att + (((size_t)b * NH + h) * T + t) * T;
                    const real* d = dout + ((size_t)b * T + t) * C + h * HS;
                    const real* q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
                    real* dq = dqkv + ((size_t)b * T + t) * 3 * C + h * HS;
                    real dot = 0;
                    for (int t2 = 0; t2 <= t; t2++) {            // datt = dout @ v.T ; dv += att.T @ dout
                        const real* v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * HS;
                        real* dv = dqkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * HS;
                        real s = 0;
                        for (int i = 0; i < HS; i++) { s += d[i] * v[i]; dv[i] += a[t2] * d[i]; }
                        datt[t2] = s;
                        dot += a[t2] * s;
                    }
                    for (int t2 = 0; t2 <= t; t2++) {            // through the softmax and the scale
                        real ds = a[t2] * (datt[t2] - dot) * scale;
                        const real* k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * HS;
                        real* dk = dqkv + ((size_t)b * T + t2) * 3 * C + C + h * HS;
                        for (int i = 0; i < HS; i++) { dq[i] += ds * k[i]; dk[i] += ds * q[i]; }
                    }
                }
            }
    }
}

// GELU, tanh approximation ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#define GELU_SCALE ((real)0.7978845608028654)   // sqrt(2 / pi)
void gelu_forward(real* out, const real* inp, size_t n) {
    // out (N,4C), inp (N,4C)
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        real x = inp[i];
        out[i] = (real)0.5 * x * (1 + std::tanh(GELU_SCALE * (x + (real)0.044715 * x * x * x)));
    }
}

void gelu_backward(real* dinp, const real* inp, const real* dout, size_t n) {
    // dinp (N,4C) written, inp (N,4C), dout (N,4C); dinp may alias dout
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        real x = inp[i];
        real th = std::tanh(GELU_SCALE * (x + (real)0.044715 * x * x * x));
        real dth = (1 - th * th) * GELU_SCALE * (1 + 3 * (real)0.044715 * x * x);
        dinp[i] = dout[i] * (real)0.5 * ((1 + th) + x * dth);
    }
}

// the residual connection: the block adds to the stream rather than replacing it. Its
// backward is the identity for both inputs, so gpt_backward needs no function for it:
// both branches read the one gradient buffer of the stream.
void residual_forward(real* out, const real* inp1, const real* inp2, size_t n) {
    // out, inp1, inp2 (N,C)
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = inp1[i] + inp2[i];
}

// Softmax and cross-entropy, fused: loss = logsumexp(logits) - logits[target]. The forward
// keeps one number per row (the logsumexp); the backward turns the logits, in place, into
// their gradient (softmax - onehot) * dloss. The probabilities are never stored at all.
// one row: its logsumexp, and its loss
static real crossentropy_row(real* lse, const real* l, int target, int V) {
    real maxv = -INFINITY;
    for (int v = 0; v < V; v++) maxv = std::max(maxv, l[v]);
    real sum = 0;
    for (int v = 0; v < V; v++) sum += std::exp(l[v] - maxv);
    *lse = maxv + std::log(sum);
    return *lse - l[target];
}

// one row of logits turned, in place, into its gradient: softmax * dloss - onehot * dloss
static void crossentropy_row_backward(real* d, real lse, int target, real dloss, int V, int Vp) {
    for (int v = 0; v < V; v++) d[v] = std::exp(d[v] - lse) * dloss;
    for (int v = V; v < Vp; v++) d[v] = 0;
    d[target] -= dloss;
}

void crossentropy_forward(real* losses, real* lse, const real* logits, const int* targets, int N, int V, int Vp) {
    // losses (N), lse (N), logits (N,Vp) of which the first V columns are real, targets (N)
    #pragma omp parallel for
    for (int n = 0; n < N; n++) losses[n] = crossentropy_row(&lse[n], logits + (size_t)n * Vp, targets[n], V);
}

void crossentropy_backward(real* dlogits, const real* lse, const int* targets, real dloss, int N, int V, int Vp) {
    // dlogits (N,Vp): the logits on entry, their gradient on exit (0 in the padding columns)
    // dloss: d(mean loss)/d(each position's loss)
    #pragma omp parallel for
    for (int n = 0; n < N; n++) crossentropy_row_backward(dlogits + (size_t)n * Vp, lse[n], targets[n], dloss, V, Vp);
}

// crossentropy_forward and crossentropy_backward with dloss, row by row, as training uses them:
// each row's loss, then its gradient over it while the row is still in cache (the GPU's
// version reads each row of logits from memory once for both)
void crossentropy_forward_backward(real* losses, real* lse, real* logits, const int* targets, real dloss, int N, int V,
                                   int Vp) {
    // losses (N), lse (N), logits (N,Vp): the logits on entry, their gradient on exit, targets (N)
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        real* l = logits + (size_t)n * Vp;
        losses[n] = crossentropy_row(&lse[n], l, targets[n], V);
        crossentropy_row_backward(l, lse[n], targets[n], dloss, V, Vp);
    }
}

// ----------------------------------------------------------------------------
// model: config, parameters, activations, forward, backward, update

// a view of one block's parameters (or of their gradients) inside the one buffer
struct BlockParams {
    real *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
};
// param_views fills the fields by index: each must sit at its tensor's place in param_table
#define AT(field, index) (offsetof(BlockParams, field) == (index) * sizeof(real*))
static_assert(AT(ln1w, LN1_W) && AT(ln1b, LN1_B) && AT(qkvw, QKV_W) && AT(qkvb, QKV_B) && AT(attprojw, ATTPROJ_W) &&
              AT(attprojb, ATTPROJ_B) && AT(ln2w, LN2_W) && AT(ln2b, LN2_B) && AT(fcw, FC_W) && AT(fcb, FC_B) &&
              AT(fcprojw, FCPROJ_W) && AT(fcprojb, FCPROJ_B) && sizeof(BlockParams) == NUM_LAYER_TENSORS * sizeof(real*),
              "BlockParams' fields must follow LayerTensor's order (train_common.h)");
#undef AT
struct ParamViews {
    real *wte, *wpe, *lnfw, *lnfb;   // wte (Vp,C), wpe (maxT,C), lnf (C)
    std::vector<BlockParams> h;      // per layer: ln (C), qkvw (C,3C), attprojw (C,C), fcw (C,4C), fcprojw (4C,C), biases
};

static ParamViews param_views(real* base, const GPTConfig& c) {
    std::vector<ParamTensor> t = param_table(c);
    ParamViews v;
    v.wte = base + t[0].offset;
    v.wpe = base + t[1].offset;
    for (int l = 0; l < c.num_layers; l++) {
        real* p[NUM_LAYER_TENSORS];
        for (int i = 0; i < NUM_LAYER_TENSORS; i++) p[i] = base + t[2 + l * NUM_LAYER_TENSORS + i].offset;
        v.h.push_back({p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]});
    }
    v.lnfw = base + t[t.size() - 2].offset;
    v.lnfb = base + t[t.size() - 1].offset;
    return v;
}

// what the forward pass keeps for the backward pass, per layer where it says (L,...)
struct Activations {
    real *encoded;                  // (B,T,C) the residual stream entering layer 0
    real *ln1, *ln1_mean, *ln1_rstd;  // (L,B,T,C), (L,B,T), (L,B,T)
    real *qkv;                      // (L,B,T,3C)
    real *atty;                     // (L,B,T,C) attention output before its projection
    real *att;                      // (L,B,NH,T,T) attention weights
    real *residual2;                // (L,B,T,C) stream after attention
    real *ln2, *ln2_mean, *ln2_rstd;  // (L,B,T,C), (L,B,T), (L,B,T)
    real *fch;                      // (L,B,T,4C)
    real *fch_gelu;                 // (L,B,T,4C), or (B,T,4C) under --recompute 1: remade in the backward pass
    real *residual3;                // (L,B,T,C) stream after the MLP
    real *lnf, *lnf_mean, *lnf_rstd;  // (B,T,C), (B,T), (B,T)
    real *logits;                   // (B,T,Vp): logits, turned into their gradient by the backward pass
    real *lse, *losses;             // (B,T) logsumexp and loss per position
};

// the gradient buffers of the backward pass: one layer's worth, reused by every layer
struct GradScratch {
    real *dresidual;  // (B,T,C) gradient of the residual stream
    real *dln;        // (B,T,C)
    real *dqkv;       // (B,T,3C)
    real *datty;      // (B,T,C)
    real *dfch;       // (B,T,4C)
};

struct GPT {
    GPTConfig config;
    size_t num_params = 0, buffer_size = 0;  // n, and n padded to equal shards over ranks
    std::vector<real> params, grads, m, v;  // (buffer_size) each: one allocation per family, views below
    ParamViews p, g;
    int zero = 0;                           // 1: ZeRO-1, this rank updates only its shard
    Shard shard = {0, 0};                   // the parameters this rank updates: all, or its ZeRO-1 shard
    int recompute = 0;                      // --recompute: 1 = keep one layer's GELU output, remake it in the backward
    int B = 0, T = 0, allocated_recompute = 0;  // what the activations were allocated for
    std::vector<real> act_memory, scratch_memory;
    Activations a;
    GradScratch d;
    std::vector<int> inputs, targets;       // (B,T) of the last forward
    real mean_loss = -1;                    // of the last forward with targets (-1: none)
    real dlogits_scale = 0;                 // > 0: a.logits hold the gradient of dlogits_scale * mean_loss
};

// points each named tensor of a family at its place in one allocation
static void carve(std::vector<real>& memory, std::vector<std::pair<real**, size_t>> views) {
    size_t total = 0;
    for (auto& v : views) total += v.second;
    memory.assign(total, 0);
    real* p = memory.data();
    for (auto& v : views) { *v.first = p; p += v.second; }
}

// params: laid out by param_table(config). world, rank, zero: how many ranks share the
// optimizer's work (ZeRO-1: zero = 1, each rank updates its own shard of the parameters)
void gpt_build(GPT& model, const GPTConfig& config, const std::vector<float>& params, int world = 1, int rank = 0,
               int zero = 0) {
    model.config = config;
    model.num_params = num_parameters(config);
    if (params.size() < model.num_params) fail("gpt_build: %zu values for %zu parameters", params.size(), model.num_params);
    model.buffer_size = padded_size(model.num_params, world);   // equal shards for any number of ranks
    model.params.assign(params.begin(), params.begin() + model.num_params);
    model.params.resize(model.buffer_size, 0);
    model.grads.assign(model.buffer_size, 0);
    model.m.assign(model.buffer_size, 0);
    model.v.assign(model.buffer_size, 0);
    model.zero = zero;
    model.shard = zero ? shard_of(model.num_params, world, rank) : Shard{0, model.num_params};
    model.p = param_views(model.params.data(), config);
    model.g = param_views(model.grads.data(), config);
    model.B = model.T = 0;
}

static void gpt_allocate_activations(GPT& model, int B, int T) {
    if (model.B == B && model.T == T && model.allocated_recompute == model.recompute) return;
    const GPTConfig& c = model.config;
    size_t L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, BT = (size_t)B * T;
    Activations& a = model.a;
    carve(model.act_memory, {
        {&a.encoded, BT * C},             // (B,T,C)
        {&a.ln1, L * BT * C},             // (L,B,T,C)
        {&a.ln1_mean, L * BT},            // (L,B,T)
        {&a.ln1_rstd, L * BT},            // (L,B,T)
        {&a.qkv, L * BT * 3 * C},         // (L,B,T,3C)
        {&a.atty, L * BT * C},            // (L,B,T,C)
        {&a.att, L * B * NH * T * T},     // (L,B,NH,T,T)
        {&a.residual2, L * BT * C},       // (L,B,T,C)
        {&a.ln2, L * BT * C},             // (L,B,T,C)
        {&a.ln2_mean, L * BT},            // (L,B,T)
        {&a.ln2_rstd, L * BT},            // (L,B,T)
        {&a.fch, L * BT * 4 * C},         // (L,B,T,4C)
        {&a.fch_gelu, (model.recompute >= 1 ? 1 : L) * BT * 4 * C},   // (L,B,T,4C), (B,T,4C) recomputed
        {&a.residual3, L * BT * C},       // (L,B,T,C)
        {&a.lnf, BT * C},                 // (B,T,C)
        {&a.lnf_mean, BT},                // (B,T)
        {&a.lnf_rstd, BT},                // (B,T)
        {&a.logits, BT * Vp},             // (B,T,Vp)
        {&a.lse, BT},                     // (B,T)
        {&a.losses, BT},                  // (B,T)
    });
    GradScratch& d = model.d;
    carve(model.scratch_memory, {
        {&d.dresidual, BT * C},           // (B,T,C)
        {&d.dln, BT * C},                 // (B,T,C)
        {&d.dqkv, BT * 3 * C},            // (B,T,3C)
        {&d.datty, BT * C},               // (B,T,C)
        {&d.dfch, BT * 4 * C},            // (B,T,4C)
    });
    model.B = B;
    model.T = T;
    model.allocated_recompute = model.recompute;
}

// what a run of this trainer needs in memory, in closed form (no table is built, so an
// absurd size costs nothing to refuse). The activations term is exactly what
// gpt_allocate_activations carves (a test holds the two together); parameters count twice,
// the copy a checkpoint was read into and the model's own.
MemoryEstimate gpt_memory(const GPTConfig& c, int B, int T, int recompute = 0) {
    double L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, BT = (double)B * T;
    double n = Vp * C + (double)c.max_seq_len * C + L * (12 * C * C + 13 * C) + 2 * C;   // num_parameters
    double acts = BT * C + L * BT * (C * 16 + 4) + L * B * NH * T * T + BT * (C + 4 + Vp);  // Activations
    if (recompute >= 1) acts -= (L - 1) * BT * 4 * C;   // one layer's fch_gelu instead of L
    double scratch = BT * 10 * C;                                                          // GradScratch
    MemoryEstimate m;
    m.params = n * (sizeof(float) + sizeof(real));
    m.grads = n * sizeof(real);
    m.moments = 2 * n * sizeof(real);
    m.activations = (acts + scratch) * sizeof(real);
    m.B = B; m.T = T;
    return m;
}

// one layer's slices of the (L,...) activations, and the residual stream entering the layer
struct LayerActivations {
    real *residual;               // (B,T,C) the stream entering the layer
    real *ln1;                    // (B,T,C)
    real *ln1_mean, *ln1_rstd;    // (B,T) each
    real *qkv;                    // (B,T,3C)
    real *atty;                   // (B,T,C)
    real *att;                    // (B,NH,T,T)
    real *residual2;              // (B,T,C)
    real *ln2;                    // (B,T,C)
    real *ln2_mean, *ln2_rstd;    // (B,T) each
    real *fch, *fch_gelu;         // (B,T,4C) each
    real *residual3;              // (B,T,C) the stream leaving the layer
};

static LayerActivations layer_activations(const GPT& model, int l) {
    const Activations& a = model.a;
    size_t N = (size_t)model.B * model.T, C = model.config.channels, NH = model.config.num_heads, T = model.T;
    return {l == 0 ? a.encoded : a.residual3 + (l - 1) * N * C,
            a.ln1 + l * N * C, a.ln1_mean + l * N, a.ln1_rstd + l * N, a.qkv + l * N * 3 * C, a.atty + l * N * C,
            a.att + l * model.B * NH * T * T, a.residual2 + l * N * C, a.ln2 + l * N * C, a.ln2_mean + l * N,
            a.ln2_rstd + l * N, a.fch + l * N * 4 * C, a.fch_gelu + (model.recompute >= 1 ? 0 : l * N * 4 * C),
            a.residual3 + l * N * C};
}

// forward pass over inputs (B,T); with targets (B,T), also the loss (model.mean_loss).
// loss_scale > 0 (training: gpt_step): the classifier also turns the logits into the gradient
// of loss_scale * mean_loss (crossentropy_forward_backward), and gpt_backward starts from there.
void gpt_forward(GPT& model, const int* inputs, const int* targets, int B, int T, real loss_scale = 0) {
    const GPTConfig& c = model.config;
    if (T > c.max_seq_len) fail("sequence length %d exceeds the model's %d positions (--seq-len)", T, c.max_seq_len);
    for (int i = 0; i < B * T; i++)
        if (inputs[i] < 0 || inputs[i] >= c.vocab_size || (targets && (targets[i] < 0 || targets[i] >= c.vocab_size)))
            fail("token id out of range [0, %d) at position %d: do --vocab-size and the data agree?", c.vocab_size, i);
    gpt_allocate_activations(model, B, T);
    int L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, N = B * T;
    model.inputs.assign(inputs, inputs + N);
    if (targets) model.targets.assign(targets, targets + N);
    Activations& a = model.a;
    ParamViews& p = model.p;

    encoder_forward(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        const BlockParams& w = p.h[l];
        LayerActivations act = layer_activations(model, l);
        layernorm_forward(act.ln1, act.ln1_mean, act.ln1_rstd, act.residual, w.ln1w, w.ln1b, N, C);
        matmul_forward(act.qkv, act.ln1, w.qkvw, w.qkvb, N, C, 3 * C);             // (N,C) -> (N,3C)
        attention_forward(act.atty, act.att, act.qkv, B, T, C, NH);                   // (N,3C) -> (N,C)
        // the projection is written straight into residual2 and the stream added to it in place:
        // the backward pass needs the projection's input, never its output
        matmul_forward(act.residual2, act.atty, w.attprojw, w.attprojb, N, C, C);
        residual_forward(act.residual2, act.residual, act.residual2, (size_t)N * C);  // x = x + attn(ln_1(x))
        layernorm_forward(act.ln2, act.ln2_mean, act.ln2_rstd, act.residual2, w.ln2w, w.ln2b, N, C);
        matmul_forward(act.fch, act.ln2, w.fcw, w.fcb, N, C, 4 * C);                // (N,C) -> (N,4C)
        gelu_forward(act.fch_gelu, act.fch, (size_t)N * 4 * C);
        matmul_forward(act.residual3, act.fch_gelu, w.fcprojw, w.fcprojb, N, 4 * C, C); // (N,4C) -> (N,C)
        residual_forward(act.residual3, act.residual2, act.residual3, (size_t)N * C); // x = x + mlp(ln_2(x))
    }
    real* last = a.residual3 + (size_t)(L - 1) * N * C;
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, N, C);
    gemm(a.logits, a.lnf, p.wte, N, Vp, C, C, 1, 1, C, false);                  // logits = lnf @ wte.T (tied head)
    model.mean_loss = -1;
    model.dlogits_scale = 0;
    if (loss_scale > 0 && !targets) fail("gpt_forward: a loss_scale (%g) needs targets", (double)loss_scale);
    if (targets && loss_scale > 0) {   // logits -> dlogits, and the loss
        crossentropy_forward_backward(a.losses, a.lse, a.logits, targets, loss_scale / N, N, c.vocab_size, Vp);
        model.dlogits_scale = loss_scale;
    } else if (targets) {
        crossentropy_forward(a.losses, a.lse, a.logits, targets, N, c.vocab_size, Vp);
    }
    if (targets) {
        double sum = 0;
        for (int i = 0; i < N; i++) sum += a.losses[i];
        model.mean_loss = (real)(sum / N);
    }
}

void gpt_zero_grad(GPT& model) { std::fill(model.grads.begin(), model.grads.end(), (real)0); }

// backward pass of the last gpt_forward (which must have had targets): adds the gradient of
// loss_scale * mean_loss to model.grads. loss_scale is 1/K under K-step accumulation.
// It calls the layers' backward functions in exactly the reverse order of gpt_forward; the
// first, crossentropy_backward, only where the forward did not already turn the logits into
// their gradient (it did when given the same loss_scale).
void gpt_backward(GPT& model, real loss_scale) {
    if (model.mean_loss < 0) fail("gpt_backward needs a forward pass with targets first");
    const GPTConfig& c = model.config;
    int B = model.B, T = model.T, L = c.num_layers, NH = c.num_heads, C = c.channels;
    int V = c.vocab_size, Vp = c.padded_vocab_size, N = B * T;
    Activations& a = model.a;
    GradScratch& d = model.d;
    ParamViews &p = model.p, &g = model.g;

    if (model.dlogits_scale == 0) crossentropy_backward(a.logits, a.lse, model.targets.data(), loss_scale / N, N, V, Vp);
    else if (model.dlogits_scale != loss_scale)   // (above: logits -> dlogits)
        fail("gpt_backward(loss_scale %g) after gpt_forward made the logits' gradient for loss_scale %g", (double)loss_scale,
             (double)model.dlogits_scale);
    gemm(d.dln, a.logits, p.wte, N, C, Vp, Vp, 1, C, 1, false);         // dlnf = dlogits @ wte
    gemm(g.wte, a.logits, a.lnf, Vp, C, N, 1, Vp, C, 1, true);          // dwte += dlogits.T @ lnf
    // The residual stream's gradient d.dresidual flows backward through the layers. A residual
    // add passes it unchanged to both of its inputs, so each branch reads it, and the branch's
    // own contribution is added back into it by layernorm_backward.
    std::fill(d.dresidual, d.dresidual + (size_t)N * C, (real)0);
    real* last = a.residual3 + (size_t)(L - 1) * N * C;
    layernorm_backward(d.dresidual, g.lnfw, g.lnfb, d.dln, last, p.lnfw, a.lnf_mean, a.lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        const BlockParams &w = p.h[l], &dw = g.h[l];
        LayerActivations act = layer_activations(model, l);
        // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln_2(residual2))))
        // --recompute 1 kept the GELU's input only: remake its output (the same function of the
        // same values, so bitwise what the forward had), one layer at a time in one buffer
        if (model.recompute >= 1) gelu_forward(act.fch_gelu, act.fch, (size_t)N * 4 * C);
        matmul_backward(d.dfch, dw.fcprojw, dw.fcprojb, d.dresidual, act.fch_gelu, w.fcprojw, N, 4 * C, C);
        gelu_backward(d.dfch, act.fch, d.dfch, (size_t)N * 4 * C);
        matmul_backward(d.dln, dw.fcw, dw.fcb, d.dfch, act.ln2, w.fcw, N, C, 4 * C);
        layernorm_backward(d.dresidual, dw.ln2w, dw.ln2b, d.dln, act.residual2, w.ln2w, act.ln2_mean, act.ln2_rstd, N, C);
        // now d.dresidual = d(loss)/d(residual2). The attention branch:
        // residual2 = residual + attproj(attention(qkv(ln_1(residual))))
        matmul_backward(d.datty, dw.attprojw, dw.attprojb, d.dresidual, act.atty, w.attprojw, N, C, C);
        attention_backward(d.dqkv, d.datty, act.qkv, act.att, B, T, C, NH);
        matmul_backward(d.dln, dw.qkvw, dw.qkvb, d.dqkv, act.ln1, w.qkvw, N, C, 3 * C);
        layernorm_backward(d.dresidual, dw.ln1w, dw.ln1b, d.dln, act.residual, w.ln1w, act.ln1_mean, act.ln1_rstd, N, C);
        // now d.dresidual = d(loss)/d(residual), the stream entering layer l
    }
    encoder_backward(g.wte, g.wpe, d.dresidual, model.inputs.data(), B, T, C);
    model.mean_loss = -1;   // the logits are gone: a second backward needs a new forward
    model.dlogits_scale = 0;
}

// AdamW's settings for one step: lr is that step's learning rate (train() takes it from the
// schedule, lr_at). Weight decay is decoupled and applies to 2-D tensors only.
struct AdamW {
    float lr, beta1, beta2, eps, weight_decay;
};

// AdamW on the parameters this rank updates (model.shard: all of them, or its ZeRO-1 shard).
// grad_scale multiplies every gradient first (gradient clipping); t counts optimizer steps from 1.
void gpt_update(GPT& model, const AdamW& opt, real grad_scale, int t) {
    real b1 = opt.beta1, b2 = opt.beta2;
    real bc1 = 1 - std::pow(b1, (real)t), bc2 = 1 - std::pow(b2, (real)t);   // bias corrections
    for (const ParamTensor& pt : param_table(model.config)) {
        size_t lo = std::max(model.shard.begin, pt.offset), hi = std::min(model.shard.end, pt.offset + pt.numel);
        real wd = pt.decay ? opt.weight_decay : 0;
        real *p = model.params.data(), *g = model.grads.data(), *m = model.m.data(), *v = model.v.data();
        #pragma omp parallel for simd
        for (size_t i = lo; i < hi; i++) {
            real grad = g[i] * grad_scale;
            m[i] = b1 * m[i] + (1 - b1) * grad;
            v[i] = b2 * v[i] + (1 - b2) * grad * grad;
            real mhat = m[i] / bc1, vhat = v[i] / bc2;
            p[i] -= opt.lr * (mhat / (std::sqrt(vhat) + (real)opt.eps) + wd * p[i]);
        }
    }
}

// ----------------------------------------------------------------------------
// data-parallel: each rank runs forward and backward on its own slice of the batch, then
// the gradients are averaged, then every rank takes the same optimizer step (gpt_step says
// it in three numbered moves). Under mpirun (build train_gpt_cpu_mpi) the ranks are
// processes; without MPI there is one rank and every collective below is a no-op, so the
// one-process code path is the same code. The averaging is a reduce-scatter (rank r ends
// with the mean of shard r) followed by an all-gather; ZeRO-1 all-gathers the updated
// parameters instead of the gradients. Sums run in rank order, so ZeRO-1 on and off give
// bitwise the same weights. train_gpt.cu has the same functions with the same signatures.

struct ProcessGroup {
    int rank = 0, world = 1;
};

ProcessGroup dp_init(int* argc, char*** argv) {
    ProcessGroup pg;
#ifdef USE_MPI
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &pg.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &pg.world);
#endif
    return pg;
}

void dp_finalize(ProcessGroup& pg) {
#ifdef USE_MPI
    MPI_Finalize();
#endif
    pg = ProcessGroup();
}

// every rank's shard of buf (padded_size(n, world) elements) is copied to all ranks
void dp_all_gather(const ProcessGroup& pg, real* buf, size_t n) {
    if (pg.world == 1) return;
#ifdef USE_MPI
    size_t s = shard_size(n, pg.world);
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_BYTE, buf, (int)(s * sizeof(real)), MPI_BYTE, MPI_COMM_WORLD);
#endif
}

// grads (padded_size(n, world)): the mean over ranks, of this rank's shard (ZeRO-1) or of all
// of it (ZeRO off). A reduce-scatter, summing each shard in rank order, then an all-gather.
void dp_average_gradients(const ProcessGroup& pg, real* grads, size_t n, int zero) {
    if (pg.world == 1) return;
#ifdef USE_MPI
    size_t s = shard_size(n, pg.world);
    std::vector<real> recv(s * pg.world);   // shard `rank` of every rank, in rank order
    MPI_Alltoall(grads, (int)(s * sizeof(real)), MPI_BYTE, recv.data(), (int)(s * sizeof(real)), MPI_BYTE, MPI_COMM_WORLD);
    real* mine = grads + s * pg.rank;
    #pragma omp parallel for
    for (size_t i = 0; i < s; i++) {
        real sum = 0;
        for (int r = 0; r < pg.world; r++) sum += recv[r * s + i];
        mine[i] = sum / pg.world;
    }
#endif
    if (!zero) dp_all_gather(pg, grads, n);
}

// the sum of x over ranks, added in rank order so every rank gets bitwise the same value
double dp_sum(const ProcessGroup& pg, double x) {
    if (pg.world == 1) return x;
    std::vector<double> all(pg.world, x);
#ifdef USE_MPI
    MPI_Allgather(&x, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
#endif
    double s = 0;
    for (double v : all) s += v;
    return s;
}

// what one optimizer step reports
struct StepStats {
    double loss;       // the mean training loss of the step's batch over all ranks, before the update
    double norm;       // the global gradient norm, before clipping
    real grad_scale;   // what clipping multiplied the gradients by (1: no clipping)
};

// One optimizer step on the loader's next K micro-batches of B x T tokens (per rank).
// opt.lr is this step's learning rate; grad_clip clips the global gradient norm (0 = off);
// step counts from 0. Every rank calls it (it is a collective). train(), the tests and the
// tutorial all take their steps through this function.
StepStats gpt_step(GPT& model, DataLoader& loader, const ProcessGroup& pg, const AdamW& opt, float grad_clip, int step) {
    int B = loader.batch(), T = loader.seq_len(), K = loader.grad_accum();
    size_t n = model.num_params;
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    StepStats st;
    // 1. forward and backward over K micro-batches, the gradients adding up in model.grads
    gpt_zero_grad(model);
    double loss = 0;
    for (int k = 0; k < K; k++) {
        loader.next_batch(inputs.data(), targets.data());
        gpt_forward(model, inputs.data(), targets.data(), B, T, (real)1 / K);   // the loss and the logits' gradient
        loss += model.mean_loss / K;
        gpt_backward(model, (real)1 / K);
    }
    // 2. average the gradients over ranks (all of them, or this rank's shard under ZeRO-1);
    //    the global norm is the sum over ranks of each rank's shard
    dp_average_gradients(pg, model.grads.data(), n, model.zero);
    Shard mine = shard_of(n, pg.world, pg.rank);
    st.norm = std::sqrt(dp_sum(pg, sum_squares(model.grads.data() + mine.begin, mine.end - mine.begin)));
    st.loss = dp_sum(pg, loss) / pg.world;
    check_step_finite(step + 1, st.loss, st.norm);   // NaN must not reach the weights
    // 3. update: clip the global norm (as torch.nn.utils.clip_grad_norm_), then AdamW;
    //    under ZeRO-1 each rank updated its shard, and the ranks swap the new weights
    st.grad_scale = grad_clip > 0 && st.norm > grad_clip ? (real)(grad_clip / (st.norm + 1e-6)) : (real)1;
    gpt_update(model, opt, st.grad_scale, step + 1);
    if (model.zero) dp_all_gather(pg, model.params.data(), n);
    return st;
}

// ----------------------------------------------------------------------------
// data and sampling

// the mean loss over `batches` validation batches (the same batches every time), averaged over ranks
double gpt_validate(GPT& model, DataLoader& loader, int batches, int B, int T, const ProcessGroup& pg) {
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    loader.reset();
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        loader.next_batch(inputs.data(), targets.data());
        gpt_forward(model, inputs.data(), targets.data(), B, T);
        sum += model.mean_loss;
    }
    return dp_sum(pg, sum / batches) / pg.world;
}

// attention for one new position against the cached keys and values of the positions before it
void attention_forward_cached(real* out, real* kcache, real* vcache, const real* qkv, int pos, int C, int NH) {
    // out (C), kcache and vcache (maxT,C) of this layer, qkv (3C) of position pos
    int HS = C / NH;
    memcpy(kcache + (size_t)pos * C, qkv + C, C * sizeof(real));       // remember this position's k and v
    memcpy(vcache + (size_t)pos * C, qkv + 2 * C, C * sizeof(real));
    std::vector<real> a(pos + 1);
    for (int h = 0; h < NH; h++) {
        const real* q = qkv + h * HS;
        real maxv = -INFINITY, sum = 0;
        for (int t2 = 0; t2 <= pos; t2++) {
            real s = 0;
            for (int i = 0; i < HS; i++) s += q[i] * kcache[(size_t)t2 * C + h * HS + i];
            a[t2] = s / std::sqrt((real)HS);
            maxv = std::max(maxv, a[t2]);
        }
        for (int t2 = 0; t2 <= pos; t2++) { a[t2] = std::exp(a[t2] - maxv); sum += a[t2]; }
        real* o = out + h * HS;
        for (int i = 0; i < HS; i++) o[i] = 0;
        for (int t2 = 0; t2 <= pos; t2++)
            for (int i = 0; i < HS; i++) o[i] += a[t2] / sum * vcache[(size_t)t2 * C + h * HS + i];
    }
}

// the model on one token at position pos, reusing the keys and values of earlier positions
// (the KV cache), so each new token costs one position instead of a whole forward pass.
// Same layers as gpt_forward with N = 1. logits (Vp).
struct KVCache {
    std::vector<real> k, v;   // (L,maxT,C) each
};

void gpt_forward_cached(GPT& model, KVCache& cache, int token, int pos, real* logits) {
    const GPTConfig& c = model.config;
    int C = c.channels;
    size_t per_layer = (size_t)c.max_seq_len * C;
    if (cache.k.empty()) { cache.k.assign(c.num_layers * per_layer, 0); cache.v.assign(c.num_layers * per_layer, 0); }
    std::vector<real> x(C), ln(C), qkv(3 * C), atty(C), fch(4 * C), fch_gelu(4 * C), tmp(C);
    real mean, rstd;
    encoder_forward(x.data(), &token, model.p.wte, model.p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c.num_layers; l++) {
        const BlockParams& w = model.p.h[l];
        layernorm_forward(ln.data(), &mean, &rstd, x.data(), w.ln1w, w.ln1b, 1, C);
        matmul_forward(qkv.data(), ln.data(), w.qkvw, w.qkvb, 1, C, 3 * C);
        attention_forward_cached(atty.data(), cache.k.data() + l * per_layer, cache.v.data() + l * per_layer,
                                 qkv.data(), pos, C, c.num_heads);
        matmul_forward(tmp.data(), atty.data(), w.attprojw, w.attprojb, 1, C, C);
        residual_forward(x.data(), x.data(), tmp.data(), C);
        layernorm_forward(ln.data(), &mean, &rstd, x.data(), w.ln2w, w.ln2b, 1, C);
        matmul_forward(fch.data(), ln.data(), w.fcw, w.fcb, 1, C, 4 * C);
        gelu_forward(fch_gelu.data(), fch.data(), 4 * C);
        matmul_forward(tmp.data(), fch_gelu.data(), w.fcprojw, w.fcprojb, 1, 4 * C, C);
        residual_forward(x.data(), x.data(), tmp.data(), C);
    }
    layernorm_forward(ln.data(), &mean, &rstd, x.data(), model.p.lnfw, model.p.lnfb, 1, C);
    gemm(logits, ln.data(), model.p.wte, 1, c.padded_vocab_size, C, C, 1, 1, C, false);
}

// continues `prompt` by n tokens and returns them; tok (may be null) decodes them as they come.
// The sampling loop itself (generate_tokens, sample_token) is shared with the GPU trainer.
std::vector<int> gpt_generate(GPT& model, const std::vector<int>& prompt, int n, float temperature, int top_k,
                              Rng& rng, const Tokenizer* tok, FILE* echo) {
    const GPTConfig& c = model.config;
    KVCache cache;
    std::vector<real> logits(c.padded_vocab_size);
    return generate_tokens(c.max_seq_len, c.vocab_size, prompt, n, temperature, top_k, rng, tok, echo,
                           [&](int token, int pos) {
                               gpt_forward_cached(model, cache, token, pos, logits.data());
                               return logits.data();
                           });
}

// ----------------------------------------------------------------------------
// main: the training loop

int train(int argc, char** argv, const ProcessGroup& pg) {
    Settings s;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { if (pg.rank == 0) print_help(argv[0]); return 0; }
    parse_args(argc, argv, s);
    bool main_rank = pg.rank == 0;
    FILE* out = main_rank ? stdout : nullptr;   // only rank 0 prints and writes files
#ifdef _OPENMP
    // more threads than cores only adds contention (1000 threads on 2 cores: 300x slower)
    if (s.threads > omp_get_num_procs()) {
        if (out) fprintf(out, "--threads %d is more than the %d cores here: using %d\n", s.threads, omp_get_num_procs(),
                         omp_get_num_procs());
        s.threads = omp_get_num_procs();
    }
    if (s.threads > 0) omp_set_num_threads(s.threads);
#endif

    // the model: from the newest checkpoint (--resume), from --init, or from scratch; then its data
    RunStart start = start_run(s, 1, out, [&](const GPTConfig& c) { return gpt_memory(c, s.batch, s.seq_len, s.recompute); });
    if (start.finished) return 0;
    const GPTConfig& config = start.config;
    size_t n = num_parameters(config);
    GPT model;
    gpt_build(model, config, start.params, pg.world, pg.rank, s.zero);
    model.recompute = s.recompute;
    if (!start.resume_dir.empty()) {
        std::copy(start.m.begin(), start.m.end(), model.m.begin());
        std::copy(start.v.begin(), start.v.end(), model.v.begin());
    }
    int B = s.batch, T = s.seq_len, K = s.grad_accum;
    MemoryEstimate mem = gpt_memory(config, B, T, s.recompute);
    RunData data = open_data(s, start, pg.rank, pg.world);
    DataLoader& train_loader = *data.train;

    if (out) {
        print_settings(s);
        fprintf(out, "model: %d layers, %d heads, %d channels, %d positions, vocabulary %d: %zu parameters\n",
                config.num_layers, config.num_heads, config.channels, config.max_seq_len, config.vocab_size, n);
        fprintf(out, "memory: parameters %s, gradients %s, AdamW moments %s, activations (B=%d, T=%d) %s\n",
                format_bytes(mem.params).c_str(), format_bytes(mem.grads).c_str(), format_bytes(mem.moments).c_str(), B, T,
                format_bytes(mem.activations).c_str());
        fprintf(out, "data: %zu training tokens in %zu shard(s); %d rank(s) x %d micro-batch(es) x %d x %d = %zu tokens per step\n",
                train_loader.total_tokens(), train_loader.files().size(), pg.world, K, B, T, (size_t)pg.world * K * B * T);
        if (!start.resume_dir.empty()) fprintf(out, "resuming from %s at step %d\n", start.resume_dir.c_str(), start.step);
        if (!data.tok) fprintf(out, "no tokenizer found beside the training data (--vocab): samples print token ids\n");
        fflush(out);
    }
    Logger logger;
    if (main_rank) logger.open(s.out, start.log_lines);

    auto validate = [&](int step) {
        if (data.val) report_val(out, logger, step, gpt_validate(model, *data.val, s.eval_batches, B, T, pg));
    };
    auto sample = [&](int step) {
        if (s.sample_tokens == 0) return;
        if (out) fprintf(out, "sample at step %d:\n---\n%s", step, s.prompt.c_str());
        gpt_generate(model, data.prompt, s.sample_tokens, s.temperature, s.top_k, data.rng, data.tok.get(), out);
        if (out) { fprintf(out, "\n---\n"); fflush(out); }
    };
    auto save = [&](int step) {
        if (s.out.empty()) return;
        if (model.zero) { dp_all_gather(pg, model.m.data(), n); dp_all_gather(pg, model.v.data(), n); }
        if (!main_rank) return;
        json state = trainer_state(step, data, pg.world, logger);
        std::vector<float> p(model.params.begin(), model.params.begin() + n), m(model.m.begin(), model.m.begin() + n),
            v(model.v.begin(), model.v.begin() + n);
        std::string dir = save_checkpoint(s.out, step, config, p.data(), m.data(), v.data(), state);
        fprintf(out, "checkpoint: %s\n", dir.c_str());
        fflush(out);
    };

    for (int step = start.step; step < s.steps; step++) {
        if (s.eval_every > 0 && step % s.eval_every == 0) validate(step);
        if (s.sample_every > 0 && step > 0 && step % s.sample_every == 0) sample(step);
        double t0 = now_ms();
        AdamW opt = {lr_at(s, step), s.beta1, s.beta2, s.eps, s.weight_decay};
        StepStats st = gpt_step(model, train_loader, pg, opt, s.grad_clip, step);
        double ms = now_ms() - t0;
        report_step(out, logger, step + 1, s.steps, st.loss, opt.lr, st.norm, ms, (double)pg.world * K * B * T / (ms / 1000));
        if (s.save_every > 0 && (step + 1) % s.save_every == 0 && step + 1 < s.steps) save(step + 1);
    }
    if (s.eval_every > 0) validate(s.steps);
    if (s.sample_every > 0) sample(s.steps);
    save(s.steps);
    return 0;
}

#ifndef TRAIN_GPT_NO_MAIN
int main(int argc, char** argv) {
    ProcessGroup pg = dp_init(&argc, &argv);
    int status = 0;
    try {
        status = train(argc, argv, pg);
    } catch (const UsageError& e) {
        fprintf(stderr, "error: %s\n", e.what());
        status = 2;
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        status = 1;
    }
    if (status != 0 && pg.world > 1) {
#ifdef USE_MPI
        MPI_Abort(MPI_COMM_WORLD, status);
#endif
    }
    dp_finalize(pg);
    return status;
}
#endif
