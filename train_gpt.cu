// train_gpt.cu: the GPU trainer for GPT-2, one CUDA file.
//
// What it is: the same model, command line, output and checkpoints as train_gpt_cpu.cpp,
// told again for the GPU, section by section and function by function (the CPU file is the
// index of this one). Kernels come first in each layer, then the host launcher that carries
// the CPU function's name and signature, so gpt_forward reads the same in both files.
// Matmuls go through cuBLASLt, with the bias, the GELU and its backward and the residual add
// in their epilogues; every other layer is a kernel written to be read, moving memory 16 bytes
// per access (Packed, below) and fusing passes where that saves a trip to memory: LayerNorm
// backward with its weight gradients, the loss with the logits' gradient. Data parallel over
// several GPUs with NCCL (one process per GPU: mpirun, or torchrun's environment variables),
// optionally with ZeRO-1 sharded optimizer state.
// What it is not: the fastest GPT-2 trainer. Its attention is FlashAttention-2's, on the tensor
// cores through mma.sync, with a deterministic backward, but without Hopper's wgmma and TMA;
// train_gpt_cudnn (-DUSE_CUDNN, attention_cudnn.cpp) hands attention to cuDNN's kernels, as
// llm.c can. The other kernels are not tuned per GPU; the only recomputation is the GELU's
// (--recompute 1), and there is no CUDA graph.
//
// Conventions a reader needs before line 1:
// - Dimensions: B batch, T time, C channels, V vocabulary, Vp padded vocabulary (a multiple
//   of 128, so the classifier matmul runs on full tensor-core tiles; the padding rows of
//   wte are zero and never reach a logit, a loss or a checkpoint), L layers, NH heads,
//   HS head size (C / NH), N = B*T rows.
// - Precision: `floatX` is bf16 (default) or float (-DENABLE_FP32, TF32 off). Parameters and
//   activations are floatX; master weights, AdamW moments and parameter gradients are fp32,
//   and every reduction accumulates in fp32. Gradients in fp32 cost 2 bytes per parameter
//   more than bf16 (llm.c keeps them in bf16) and buy exact accumulation over micro-batches.
// - Weights are stored [in, out] (GPT-2's Conv1D layout): y = x @ W + b. Row-major
//   everywhere; the cuBLAS calls (column-major) are explained once, at matmul_cublaslt.
// - Parameter gradients accumulate with +=; activation gradients are written, except that
//   layernorm_backward adds into the residual stream's gradient (as on the CPU).
// - Ownership: the model (GPT) owns every buffer, including the scratch its layers share
//   (Workspace); the only globals are the stream and the library handles (with the cuBLASLt
//   plans cached for them). The few launchers that need scratch (layernorm_backward,
//   matmul_backward, attention_backward, sum_squares) take the model's Workspace as an argument.
// - Deliberate differences from the CPU file's signatures: that Workspace argument; attention
//   keeps no (B,NH,T,T) weights: attention_forward writes lse (B,NH,T), the logsumexp of each
//   row of scores, where the CPU writes att, and attention_backward reads the forward's out and
//   lse instead of att (flash attention, see its section); the GELU folded into the matmuls
//   (matmul_forward and matmul_backward take a last pre_gelu argument, where the CPU calls
//   gelu_forward and gelu_backward); the residual add folded into the matmul before it
//   (matmul_residual_forward, where the CPU calls matmul_forward then residual_forward); and
//   gpt_forward's read_loss.
// - Deterministic: no floating-point atomics whose order can vary; every reduction has a fixed order,
//   so the same run twice gives bitwise the same losses. (Two kernels let whichever of their
//   blocks finishes last add all the blocks' partial sums, in block order; an integer counter
//   tells a block it is the last.)
// - Bad input calls fail() (UsageError for a flag), naming the file or flag; main prints it and exits.
#include <cassert>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cuda_pipeline_primitives.h>   // cp.async: __pipeline_memcpy_async, __pipeline_commit, __pipeline_wait_prior
#include <nccl.h>
#ifdef USE_MPI
#define OMPI_SKIP_MPICXX 1    // the C API only: MPI's C++ bindings do not compile cleanly here
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

#include "base.h"           // defines: fail, UsageError, now_ms, Rng
#include "tokenizer.h"      // defines: Tokenizer (the prompt and the samples)
#include "dataloader.h"     // defines: DataLoader
#include "gpt_model.h"      // defines: GPTConfig, LayerTensor, param_table, num_parameters, init_parameters
#include "train_common.h"   // defines: Settings, parse_args, lr_at, checkpoints, Shard, Logger, start_run, open_data, sample_token
#ifndef USE_MPI
#include "rendezvous.h"     // defines: env_int, broadcast_from_rank0 (a torchrun-style launch: NCCL's id over a socket)
#endif
#ifdef USE_CUDNN
#ifdef ENABLE_FP32
#error "cuDNN's fused attention takes bf16: build the fp32 trainer without USE_CUDNN"
#endif
#include "attention_cudnn.h"   // defines: cudnn_attention_forward, cudnn_attention_backward (the attention section)
#endif

// ----------------------------------------------------------------------------
// utilities and error checks

#ifdef ENABLE_FP32
typedef float floatX;
#define CUBLAS_FLOATX CUDA_R_32F
#define PRECISION_NAME "fp32 (TF32 off)"
#else
typedef __nv_bfloat16 floatX;
#define CUBLAS_FLOATX CUDA_R_16BF
#define PRECISION_NAME "bf16 mixed precision (fp32 master weights, moments, gradients)"
#endif

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// every fallible CUDA, cuBLAS and NCCL call goes through one of these: file, line and a hint
static void cuda_check(cudaError_t err, const char* file, int line) {
    if (err == cudaSuccess) return;
    fail("CUDA error at %s:%d: %s%s", file, line, cudaGetErrorString(err),
         err == cudaErrorMemoryAllocation ? " (out of GPU memory: lower --batch and raise --grad-accum)"
                                          : " (run under compute-sanitizer to find the failing kernel)");
}
static void cublas_check(cublasStatus_t status, const char* file, int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    fail("cuBLAS error %d at %s:%d (a matrix shape or pointer alignment cuBLAS cannot handle?)", (int)status, file, line);
}
static void nccl_check(ncclResult_t r, const char* file, int line) {
    if (r == ncclSuccess) return;
    fail("NCCL error at %s:%d: %s (set NCCL_DEBUG=INFO for details)", file, line, ncclGetErrorString(r));
}
#define cudaCheck(x) cuda_check((x), __FILE__, __LINE__)
#define cublasCheck(x) cublas_check((x), __FILE__, __LINE__)
#define ncclCheck(x) nccl_check((x), __FILE__, __LINE__)

// the library handles and the one stream everything runs on (so the order of all work is
// fixed): the only globals of this file. cuBLASLt's workspace goes with its handle.
static cudaStream_t stream;
static cublasHandle_t cublas_handle;
static cublasLtHandle_t cublaslt_handle;
static void* cublaslt_workspace;
static const size_t CUBLASLT_WORKSPACE_SIZE = 32 << 20;

static void cuda_setup(int device) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0)
        fail("no usable CUDA GPU (%s); ./train_gpt_cpu trains without one", err ? cudaGetErrorString(err) : "none found");
    if (device >= count) fail("this process wants GPU %d but only %d are visible (check CUDA_VISIBLE_DEVICES / LOCAL_RANK)", device, count);
    cudaCheck(cudaSetDevice(device));
    cudaCheck(cudaStreamCreate(&stream));
    cublasCheck(cublasCreate(&cublas_handle));
    cublasCheck(cublasSetStream(cublas_handle, stream));
    cublasCheck(cublasSetMathMode(cublas_handle, CUBLAS_DEFAULT_MATH));   // no TF32 in the fp32 build
    cublasCheck(cublasLtCreate(&cublaslt_handle));
    cudaCheck(cudaMalloc(&cublaslt_workspace, CUBLASLT_WORKSPACE_SIZE));
#ifdef USE_CUDNN
    cudnn_attention_setup(stream);
#endif
}

static void matmul_plans_destroy();

static void cuda_teardown() {
    if (!cublaslt_workspace) return;   // cuda_setup never finished
    matmul_plans_destroy();            // the cached cuBLASLt descriptors (matmul_cublaslt)
#ifdef USE_CUDNN
    cudnn_attention_teardown();
#endif
    cudaCheck(cudaFree(cublaslt_workspace));
    cublasCheck(cublasLtDestroy(cublaslt_handle));
    cublasCheck(cublasDestroy(cublas_handle));
    cudaCheck(cudaStreamDestroy(stream));
}

// reductions within a warp and a block, always combined in the same order (deterministic)
__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}
// block_sum and block_max: every thread of the block gets the result; blockDim.x must be a
// multiple of 32. One template, the warp reduction and its neutral element as parameters.
template <float (*warp_reduce)(float)>
__device__ inline float block_reduce(float v, float identity) {
    __shared__ float shared[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_reduce(v);
    __syncthreads();                      // an earlier call may still be reading `shared`
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < nwarps ? shared[lane] : identity;
    return warp_reduce(v);
}
__device__ inline float block_sum(float v) { return block_reduce<warp_sum>(v, 0.0f); }
__device__ inline float block_max(float v) { return block_reduce<warp_max>(v, -INFINITY); }
// e^x as exp2f(x * LOG2E): the hardware's exp2 and a multiply, where expf costs about ten instructions
static const float LOG2E = 1.4426950408889634f;

template <class T> __global__ void cast_kernel(T* out, const float* inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (T)inp[i];
}
// out (n) = inp (n) converted to floatX
static void cast_to_floatX(floatX* out, const float* inp, size_t n) {
    if (n == 0) return;
    int block_size = 256;
    cast_kernel<<<CEIL_DIV(n, (size_t)block_size), block_size, 0, stream>>>(out, inp, n);
    cudaCheck(cudaGetLastError());
}

// Moving memory 16 bytes at a time. Every layer outside the matmuls and attention does a few
// operations per value it reads, so its time is the time to move its bytes, fastest when each
// thread loads or stores 16 bytes in one instruction: 8 bf16 or 4 floats, an eighth (a quarter)
// of the instructions of one value at a time. Packed<T, W> is W values of T that travel
// together, aligned so that a 16-byte pack is one vector instruction (ld.global.v4). The
// elementwise and row kernels are templates over W: their launcher runs W = PACK16 where every
// pointer is 16-byte aligned and the row length a multiple of W, else W = 1 (the same
// arithmetic; e.g. C = 36, or a view at an odd offset). Flat kernels over n values finish the
// last n % W one at a time. A launcher launches each instantiation by its name (an if/else, not
// a function pointer), so that every message about a launch names its kernel.
template <class T, int W> struct alignas(sizeof(T) * W < 16 ? sizeof(T) * W : 16) Packed {
    T v[W];
    __device__ float operator[](int k) const { return (float)v[k]; }
    __device__ void set(int k, float x) { v[k] = (T)x; }
};
template <class T> constexpr int PACK16 = 16 / sizeof(T);   // values of T in 16 bytes
template <int W, class T> __device__ inline Packed<T, W> load_packed(const T* p) {
    return *reinterpret_cast<const Packed<T, W>*>(p);
}
template <int W, class T> __device__ inline void store_packed(T* p, const Packed<T, W>& x) {
    *reinterpret_cast<Packed<T, W>*>(p) = x;
}
// true where every pointer is 16-byte aligned (null counts as aligned): the launchers' test
static bool aligned16(std::initializer_list<const void*> pointers) {
    for (const void* p : pointers)
        if ((uintptr_t)p % 16) return false;
    return true;
}
// an attribute of this process's GPU (one GPU per process)
static int device_attribute(cudaDeviceAttr attr) {
    int device = 0, value = 0;
    cudaCheck(cudaGetDevice(&device));
    cudaCheck(cudaDeviceGetAttribute(&value, attr, device));
    return value;
}
// the most dynamic shared memory a block may have on this GPU (227 KB on an H100), asked once;
// over 48 KB a kernel must opt in first (allow_shared_memory)
static size_t max_shared_bytes() {
    static size_t limit = device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin);
    return limit;
}
// checks a launch's dynamic shared memory against that limit (fix: what the user can change)
// and lets the kernel have it: once per kernel and size (the attribute is the kernel's), even
// at 48 KB or less, since that default limit counts the kernel's static __shared__ variables
// too (48 KB of dynamic and 16 bytes of static failed on an H100 without the attribute).
static std::map<const void*, size_t> shared_memory_allowed;   // kernel -> the bytes it may have
template <class K> static void allow_shared_memory(K* kernel, size_t bytes, const char* fix = "use fewer channels (--n-embd)") {
    if (bytes > max_shared_bytes())
        fail("a kernel needs %zu bytes of shared memory per block, more than the GPU's %zu: %s", bytes, max_shared_bytes(), fix);
    size_t& allowed = shared_memory_allowed[(const void*)kernel];
    if (bytes <= allowed) return;
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    allowed = bytes;
}

// ----------------------------------------------------------------------------
// layers: each a forward/backward pair, in the order data flows through the model

// The scratch memory the layers share: one layer's worth, reused by every layer. It belongs
// to the model (gpt_allocate_activations carves it beside the activations, see scratch_views)
// and is handed, as the last argument, to the few launchers that need it.
static const int REDUCE_CHUNKS = 64;   // sizes `partial` below (2 x 64 x 4C floats)
static const int NORM_BLOCKS = 512;    // blocks of the gradient norm's first stage (sum_squares)
struct Workspace {
    float *att_dot = nullptr;       // (B,NH,T): attention_backward's D = rowsum(dout * out) per head and position
    float *att_dq = nullptr;        // (B,NH,T,HS): the whole-head attention backward's running sums of dq (bf16 builds)
    float *partial = nullptr;       // (2,REDUCE_CHUNKS,4C): layernorm_backward's partial sums; bias_backward's (parts,OC)
    float *norm_partial = nullptr;  // (NORM_BLOCKS): the gradient norm's block sums
    unsigned int *ticket = nullptr; // (1): blocks finished, for kernels whose last block sums the others' partials
    double *norm_result = nullptr;  // (1): the gradient norm's square
    size_t att_dot_elems = 0, att_dq_elems = 0, partial_elems = 0;   // B*NH*T, B*T*C, 2*REDUCE_CHUNKS*4C: what fits
};

// --- token plus position embedding; each thread adds W channels (one 16-byte pack)
template <int W>
__global__ void encoder_forward_kernel(floatX* out, const int* inp, const floatX* wte, const floatX* wpe, int N, int T, int C) {
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;   // W divides C: a pack never crosses a row
    if (idx >= (size_t)N * C) return;
    int n = idx / C, c = idx % C, t = n % T;
    Packed<floatX, W> e = load_packed<W>(wte + (size_t)inp[n] * C + c), p = load_packed<W>(wpe + (size_t)t * C + c), o;
    #pragma unroll
    for (int k = 0; k < W; k++) o.set(k, e[k] + p[k]);
    store_packed(out + idx, o);
}

void encoder_forward(floatX* out, const int* inp, const floatX* wte, const floatX* wpe, int B, int T, int C) {
    // out (B,T,C), inp (B,T) on the device, wte (Vp,C), wpe (maxT,C)
    assert(B > 0 && T > 0 && C > 0);
    const int W = PACK16<floatX>;
    bool packed = C % W == 0 && aligned16({out, wte, wpe});   // else one value at a time
    int block_size = 256;
    size_t threads = (size_t)B * T * C / (packed ? W : 1);
    size_t blocks = CEIL_DIV(threads, (size_t)block_size);
    if (packed) encoder_forward_kernel<W><<<blocks, block_size, 0, stream>>>(out, inp, wte, wpe, B * T, T, C);
    else encoder_forward_kernel<1><<<blocks, block_size, 0, stream>>>(out, inp, wte, wpe, B * T, T, C);
    cudaCheck(cudaGetLastError());                 // out = wte[inp] + wpe[arange(T)]
}

// p[0..W) += s (fp32), one pack: the last move of both encoder backward kernels
template <int W> __device__ inline void add_to_packed(float* p, const float (&s)[W]) {
    Packed<float, W> x = load_packed<W>(p);
    #pragma unroll
    for (int k = 0; k < W; k++) x.set(k, x[k] + s[k]);
    store_packed(p, x);
}

// dwpe: one thread per (t, pack of W channels) sums over the batch in order
template <int W>
__global__ void encoder_backward_wpe_kernel(float* dwpe, const floatX* dout, int B, int T, int C) {
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;
    if (idx >= (size_t)T * C) return;
    int t = idx / C, c = idx % C;
    float s[W] = {};
    for (int b = 0; b < B; b++) {
        Packed<floatX, W> d = load_packed<W>(dout + ((size_t)b * T + t) * C + c);
        #pragma unroll
        for (int k = 0; k < W; k++) s[k] += d[k];
    }
    add_to_packed<W>(dwpe + idx, s);
}

// dwte: one block per distinct token in the batch. The host buckets positions by token (see
// EncoderBuckets), so no two blocks touch one row of dwte and no atomics are needed. Within
// a block, blockDim.y groups of threads each walk every blockDim.y-th of the token's
// positions, in order, and group 0 adds the other groups' sums to its own in group order:
// the same sum every run. A frequent token (a newline at thousands of positions of a batch)
// would otherwise keep one thread walking long after the rest of the GPU is done.
template <int W>
__global__ void encoder_backward_wte_kernel(float* dwte, const floatX* dout, const int* bucket_start,
                                            const int* bucket_token, const int* positions, int C) {
    extern __shared__ float partial[];   // (blockDim.y - 1) x blockDim.x packs of W: the sums of groups 1..
    int u = blockIdx.x, begin = bucket_start[u], end = bucket_start[u + 1];
    int group = threadIdx.y, groups = blockDim.y, lanes = blockDim.x;
    auto sums_of = [&](int g) { return partial + ((size_t)(g - 1) * lanes + threadIdx.x) * W; };   // g >= 1: this lane's
    float* row = dwte + (size_t)bucket_token[u] * C;
    for (int c0 = 0; c0 < C; c0 += lanes * W) {   // every thread makes the same trips: barriers inside
        int c = c0 + threadIdx.x * W;
        bool inside = c < C;
        float s[W] = {};
        if (inside) {
            #pragma unroll 4
            for (int j = begin + group; j < end; j += groups) {
                Packed<floatX, W> d = load_packed<W>(dout + (size_t)positions[j] * C + c);
                #pragma unroll
                for (int k = 0; k < W; k++) s[k] += d[k];
            }
        }
        if (inside && group > 0)
            for (int k = 0; k < W; k++) sums_of(group)[k] = s[k];
        __syncthreads();
        if (inside && group == 0) {
            for (int other = 1; other < groups; other++)
                for (int k = 0; k < W; k++) s[k] += sums_of(other)[k];
            add_to_packed<W>(row + c, s);
        }
        __syncthreads();   // group 0 has read the sums before the next trip overwrites them
    }
}

// the batch's positions grouped by token: bucket u holds token bucket_token[u] at positions
// positions[bucket_start[u] .. bucket_start[u+1]), in increasing order
struct EncoderBuckets {
    int num_buckets = 0, largest = 0;   // largest: the most positions of one token
    int *bucket_start = nullptr, *bucket_token = nullptr, *positions = nullptr;   // device, (N+1), (N), (N)
};

void encoder_backward(float* dwte, float* dwpe, const floatX* dout, const EncoderBuckets& buckets, int B, int T, int C) {
    // dwte (Vp,C) +=, dwpe (maxT,C) +=, dout (B,T,C); buckets made from inp (B,T) by gpt_forward
    assert(B > 0 && T > 0 && C > 0 && buckets.num_buckets > 0 && buckets.num_buckets <= B * T);
    const int W = PACK16<floatX>;
    bool packed = C % W == 0 && aligned16({dwte, dwpe, dout});   // else one value at a time
    int block_size = 256, wpe_threads = packed ? T * C / W : T * C;
    // a wte block covers a row of C channels: no more threads than packs in a row (whole warps)
    int wte_lanes = std::min(256, CEIL_DIV(packed ? C / W : C, 32) * 32);
    // and groups of lanes that share the walk: one per 16 positions of the largest bucket, up to 1,024 threads
    int wte_groups = std::clamp(CEIL_DIV(buckets.largest, 16), 1, 1024 / wte_lanes);
    dim3 wte_block(wte_lanes, wte_groups);
    size_t wte_smem = (size_t)(wte_groups - 1) * wte_lanes * (packed ? W : 1) * sizeof(float);
    int wpe_blocks = CEIL_DIV(wpe_threads, block_size), U = buckets.num_buckets;
    if (packed) encoder_backward_wpe_kernel<W><<<wpe_blocks, block_size, 0, stream>>>(dwpe, dout, B, T, C);
    else encoder_backward_wpe_kernel<1><<<wpe_blocks, block_size, 0, stream>>>(dwpe, dout, B, T, C);
    cudaCheck(cudaGetLastError());
    if (packed)
        encoder_backward_wte_kernel<W><<<U, wte_block, wte_smem, stream>>>(dwte, dout, buckets.bucket_start, buckets.bucket_token,
                                                                    buckets.positions, C);
    else
        encoder_backward_wte_kernel<1><<<U, wte_block, wte_smem, stream>>>(dwte, dout, buckets.bucket_start, buckets.bucket_token,
                                                                    buckets.positions, C);
    cudaCheck(cudaGetLastError());
}

// --- LayerNorm, one warp per row, W values per lane and access. The row is read three times
// (sum, variance, output); the second and third reads of a row of a few KB come from L1, so
// memory sees it once: read NC, write NC, +2N fp32. The residual add before it is in the
// matmul that writes the stream (matmul_residual_forward).
template <int W>
__global__ void layernorm_forward_kernel(floatX* out, float* mean, float* rstd, const floatX* inp, const floatX* weight,
                                         const floatX* bias, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX* x = inp + (size_t)row * C;
    float m = 0.0f;
    for (int c = lane * W; c < C; c += 32 * W) {
        Packed<floatX, W> a = load_packed<W>(x + c);
        #pragma unroll
        for (int k = 0; k < W; k++) m += a[k];
    }
    m = warp_sum(m) / C;
    float v = 0.0f;
    for (int c = lane * W; c < C; c += 32 * W) {
        Packed<floatX, W> a = load_packed<W>(x + c);
        #pragma unroll
        for (int k = 0; k < W; k++) { float d = a[k] - m; v += d * d; }
    }
    v = warp_sum(v) / C;                                       // biased variance, as PyTorch
    float s = rsqrtf(v + 1e-5f);
    floatX* o = out + (size_t)row * C;
    for (int c = lane * W; c < C; c += 32 * W) {
        Packed<floatX, W> a = load_packed<W>(x + c), w = load_packed<W>(weight + c), b = load_packed<W>(bias + c), y;
        #pragma unroll
        for (int k = 0; k < W; k++) y.set(k, (a[k] - m) * s * w[k] + b[k]);
        store_packed(o + c, y);
    }
    if (lane == 0) { mean[row] = m; rstd[row] = s; }
}

void layernorm_forward(floatX* out, float* mean, float* rstd, const floatX* inp, const floatX* weight, const floatX* bias,
                       int N, int C) {
    // out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C)
    assert(N > 0 && C > 0);
    const int W = PACK16<floatX>;
    bool packed = C % W == 0 && aligned16({out, inp, weight, bias});   // else one value at a time
    int block_size = 256, rows_per_block = block_size / 32;
    int blocks = CEIL_DIV(N, rows_per_block);
    if (packed)
        layernorm_forward_kernel<W><<<blocks, block_size, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C);
    else
        layernorm_forward_kernel<1><<<blocks, block_size, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C);
    cudaCheck(cudaGetLastError());
}

// LayerNorm backward in one kernel, with xhat = (x - mean) * rstd and g = dout * weight:
//   dinp += rstd * (g - mean(g) - xhat * mean(g * xhat))      (per row)
//   dweight += sum over rows of dout * xhat, dbias += sum over rows of dout   (per column)
// Each warp takes whole rows (its global warp index, then strides of all warps): it computes
// the row's dinp, and adds the row's dout * xhat and dout into its own slice of shared memory,
// where each lane always owns the same columns, so no two threads ever touch one value. When
// the rows are done, the block adds its warps' slices in warp order and writes one partial row
// per block; the last block to finish (an integer ticket, the only atomic) adds the blocks'
// partial rows into dweight and dbias in a fixed order (four running sums a column, for four
// loads in flight) and resets the ticket: which block is last changes nothing in the result. Memory: dout, inp and dinp read
// once, dinp written once (3NC read, NC written), plus 2 * blocks * C fp32 partials. A warp's
// slices hold column c at (c % W) * (C / W) + c / W, so that the 32 lanes' k-th columns of a
// pack are 32 consecutive floats, one per bank; in column order they would be W floats apart,
// 8 lanes to a bank at W = 8.
template <int W>
__global__ void layernorm_backward_kernel(floatX* dinp, float* dweight, float* dbias, float* partial, unsigned int* ticket,
                                          const floatX* dout, const floatX* inp, const floatX* weight, const float* mean,
                                          const float* rstd, int N, int C) {
    extern __shared__ float smem[];   // (2, warps, C): each warp's sums of dout * xhat, then of dout
    __shared__ unsigned int is_last;
    int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* dw_sum = smem + (size_t)warp * C;
    float* db_sum = smem + (size_t)(warps + warp) * C;
    const int CW = C / W;   // column c's slot: (c % W) * CW + c / W
    for (int c = lane * W; c < C; c += 32 * W)
        for (int k = 0; k < W; k++) { dw_sum[k * CW + c / W] = 0.0f; db_sum[k * CW + c / W] = 0.0f; }
    for (int row = blockIdx.x * warps + warp; row < N; row += gridDim.x * warps) {
        const floatX* x = inp + (size_t)row * C;
        const floatX* d = dout + (size_t)row * C;
        float m = mean[row], s = rstd[row], g_mean = 0.0f, gx_mean = 0.0f;
        for (int c = lane * W; c < C; c += 32 * W) {
            Packed<floatX, W> dd = load_packed<W>(d + c), xx = load_packed<W>(x + c), ww = load_packed<W>(weight + c);
            #pragma unroll
            for (int k = 0; k < W; k++) {
                float g = dd[k] * ww[k];
                g_mean += g;
                gx_mean += g * (xx[k] - m) * s;
            }
        }
        g_mean = warp_sum(g_mean) / C;
        gx_mean = warp_sum(gx_mean) / C;
        floatX* dx = dinp + (size_t)row * C;
        for (int c = lane * W; c < C; c += 32 * W) {   // the same packs again: from L1
            Packed<floatX, W> dd = load_packed<W>(d + c), xx = load_packed<W>(x + c), ww = load_packed<W>(weight + c);
            Packed<floatX, W> old = load_packed<W>(dx + c), out;
            #pragma unroll
            for (int k = 0; k < W; k++) {
                float xhat = (xx[k] - m) * s, g = dd[k] * ww[k];
                out.set(k, old[k] + s * (g - g_mean - xhat * gx_mean));
                dw_sum[k * CW + c / W] += dd[k] * xhat;
                db_sum[k * CW + c / W] += dd[k];
            }
            store_packed(dx + c, out);
        }
    }
    __syncthreads();
    float* partial_w = partial;                              // (blocks, C)
    float* partial_b = partial + (size_t)gridDim.x * C;      // (blocks, C)
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float w = 0.0f, b = 0.0f;
        int slot = c % W * CW + c / W;
        for (int i = 0; i < warps; i++) { w += smem[(size_t)i * C + slot]; b += smem[(size_t)(warps + i) * C + slot]; }
        partial_w[(size_t)blockIdx.x * C + c] = w;
        partial_b[(size_t)blockIdx.x * C + c] = b;
    }
    __threadfence();   // this block's partial row is visible to every block before it takes its ticket
    __syncthreads();
    if (threadIdx.x == 0) is_last = atomicAdd(ticket, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!is_last) return;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float w[4] = {}, b[4] = {};
        for (int i0 = 0; i0 < (int)gridDim.x; i0 += 4)
            #pragma unroll
            for (int j = 0; j < 4; j++)   // partial row i0 + j into sum j
                if (i0 + j < (int)gridDim.x) { w[j] += partial_w[(size_t)(i0 + j) * C + c]; b[j] += partial_b[(size_t)(i0 + j) * C + c]; }
        dweight[c] += (w[0] + w[1]) + (w[2] + w[3]);
        dbias[c] += (b[0] + b[1]) + (b[2] + b[3]);
    }
    if (threadIdx.x == 0) *ticket = 0;   // ready for the next launch
}

void layernorm_backward(floatX* dinp, float* dweight, float* dbias, const floatX* dout, const floatX* inp,
                        const floatX* weight, const float* mean, const float* rstd, int N, int C, const Workspace& ws) {
    // dinp (N,C) += (the residual stream's gradient), dweight (C) +=, dbias (C) +=, dout (N,C), inp (N,C)
    // ws: partial (2,blocks,C), ticket (1, zero between launches)
    const int W = PACK16<floatX>;
    bool packed = C % W == 0 && aligned16({dinp, dout, inp, weight});   // else one value at a time
    int warps = 16;   // per block; fewer where C is so large that their sums would not fit in shared memory
    while (warps > 1 && 2 * warps * (size_t)C * sizeof(float) > 100 * 1024) warps /= 2;
    size_t smem = 2 * warps * (size_t)C * sizeof(float);
    // as many blocks as the SMs hold (two of 16 warps on an H100, where one ran at 2 TB/s; the GPU
    // asked once): more warps in flight hide more latency; at most the workspace's partial rows
    static const int sms = device_attribute(cudaDevAttrMultiProcessorCount), sm_bytes = device_attribute(cudaDevAttrMaxSharedMemoryPerMultiprocessor);
    int per_sm = (int)std::min<size_t>(2048 / (warps * 32), (size_t)sm_bytes / (smem + 1024));
    int blocks = std::min({CEIL_DIV(N, warps), std::max(per_sm, 1) * sms, (int)(ws.partial_elems / (2 * C))});
    assert(N > 0 && C > 0 && 2 * (size_t)blocks * C <= ws.partial_elems && ws.ticket);
    if (packed) {
        allow_shared_memory(layernorm_backward_kernel<W>, smem);
        layernorm_backward_kernel<W><<<blocks, warps * 32, smem, stream>>>(dinp, dweight, dbias, ws.partial, ws.ticket, dout,
                                                                          inp, weight, mean, rstd, N, C);
    } else {
        allow_shared_memory(layernorm_backward_kernel<1>, smem);
        layernorm_backward_kernel<1><<<blocks, warps * 32, smem, stream>>>(dinp, dweight, dbias, ws.partial, ws.ticket, dout,
                                                                          inp, weight, mean, rstd, N, C);
    }
    cudaCheck(cudaGetLastError());
}

// --- matrix multiplication: where almost all the time goes. cuBLASLt does it; this is the
// one place the row-major/column-major translation happens. cuBLAS is column-major, and a
// row-major (R, S) matrix is, byte for byte, a column-major (S, R) matrix: its transpose.
// So for row-major out = inp @ W we ask cuBLAS for out^T = W^T @ inp^T, and every operand is
// already stored the way cuBLAS wants it. In cuBLAS terms: D (m,n) = op(A) (m,k) @ op(B) (k,n)
// (+ D if accumulate), then the epilogue, all column-major; op = transpose where asked.
//
// The epilogue is work cuBLASLt does on each output tile while it is still on chip, instead
// of a separate pass over memory (what each one costs a separate kernel is in its comment):
//   BIAS           D += bias over the rows of D                     (a read and write of D)
//   GELU_AUX_BIAS  aux = D + bias; D = gelu(aux)                    (gelu_forward: read + write of D)
//   DGELU          D = D * gelu'(aux), aux the kept pre-GELU values (gelu_backward: read + write of D)
// (Not BGRADA, the bias gradient: see bias_backward.) cuBLASLt documents GELU only as "GELU";
// it is GPT-2's tanh form, which llm.c and others rely on, and the GPU tests against the CPU
// confirm (the CPU execution mode computes that form).
//
// A descriptor, three layouts, a preference and a heuristic query cost tens of microseconds
// of host time, several hundred calls a step. They depend only on the shape, the transposes,
// the epilogue, the types and the pointers' alignments, so each key is built once (MatmulPlan)
// and kept, with the heuristic's first algorithm: the same for every later call, so results
// are bitwise repeatable. Only the bias and aux pointers change between calls with one key.
void gelu_forward(floatX* out, const floatX* inp, size_t n);                     // the GELU section, below
void gelu_backward(floatX* dinp, const floatX* inp, const floatX* dout, size_t n);

static int alignment_of(const void* p) {
    int a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

struct MatmulKey {
    int m, n, k, trans_a, trans_b, epilogue, d_type, aux_ld;
    int align_a, align_b, align_c, align_d, align_bias, align_aux;
    bool operator==(const MatmulKey& o) const { return memcmp(this, &o, sizeof o) == 0; }
};
struct MatmulPlan {
    MatmulKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
};
// the plans built so far, owned beside the handle they were made for; a step of a few layers
// uses about fifteen keys (a linear search over them costs nothing next to a matmul)
static std::vector<MatmulPlan> matmul_plans;
static int matmul_plans_built = 0;   // how many were ever built: a test checks that repeats hit the cache

static const MatmulPlan& matmul_plan(const MatmulKey& key, const void* bias, void* aux) {
    for (const MatmulPlan& p : matmul_plans)
        if (p.key == key) return p;
    MatmulPlan p;
    p.key = key;
    cublasCheck(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));   // fp32 accumulation, no TF32
    cublasOperation_t op_a = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    cublasLtEpilogue_t epilogue = (cublasLtEpilogue_t)key.epilogue;
    cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    // the heuristic reads the bias and aux pointers' values (their alignment), not their data
    if (bias) cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (aux) {
        int64_t aux_ld = key.aux_ld;
        cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
        cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof aux_ld));
    }
    int m = key.m, n = key.n, k = key.k;
    bool ta = key.trans_a, tb = key.trans_b;
    cublasCheck(cublasLtMatrixLayoutCreate(&p.la, CUBLAS_FLOATX, ta ? k : m, ta ? m : k, ta ? k : m));
    cublasCheck(cublasLtMatrixLayoutCreate(&p.lb, CUBLAS_FLOATX, tb ? n : k, tb ? k : n, tb ? n : k));
    cublasCheck(cublasLtMatrixLayoutCreate(&p.ld, (cudaDataType)key.d_type, m, n, m));
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &CUBLASLT_WORKSPACE_SIZE, sizeof CUBLASLT_WORKSPACE_SIZE));
    // tell the heuristic how aligned the pointers really are (views into one buffer need not be 256-aligned)
    uint32_t align_a = key.align_a, align_b = key.align_b, align_c = key.align_c, align_d = key.align_d;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof align_d));
    cublasLtMatmulHeuristicResult_t heuristic;
    int found = 0;
    cublasCheck(cublasLtMatmulAlgoGetHeuristic(cublaslt_handle, p.desc, p.la, p.lb, p.ld, p.ld, pref, 1, &heuristic, &found));
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    if (found == 0) fail("cuBLASLt has no algorithm for a (%d x %d x %d) matmul (trans %d %d, epilogue %d)", m, n, k,
                         (int)ta, (int)tb, key.epilogue);
    p.algo = heuristic.algo;
    matmul_plans.push_back(p);
    matmul_plans_built++;
    return matmul_plans.back();
}

static void matmul_plans_destroy() {
    for (MatmulPlan& p : matmul_plans) {
        cublasCheck(cublasLtMatrixLayoutDestroy(p.la));
        cublasCheck(cublasLtMatrixLayoutDestroy(p.lb));
        cublasCheck(cublasLtMatrixLayoutDestroy(p.ld));
        cublasCheck(cublasLtMatmulDescDestroy(p.desc));
    }
    matmul_plans.clear();
}

// D (m,n) = op(A) @ op(B) (+ C, an (m,n) matrix like D), then the epilogue (BIAS when only a
// bias is given). c: null for none, d itself to accumulate into D, or another matrix, which
// cuBLASLt reads tile by tile as it writes D (the residual add). aux: GELU_AUX_BIAS's output
// and DGELU's input, an (m,n) matrix in floatX. The bias is in D's type (cuBLASLt's rule for
// these types): floatX for BIAS.
static void matmul_cublaslt(void* d, cudaDataType d_type, const floatX* a, const floatX* b, const void* bias,
                            int m, int n, int k, bool trans_a, bool trans_b, const void* c,
                            cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT, void* aux = nullptr) {
    if (bias && epilogue == CUBLASLT_EPILOGUE_DEFAULT) epilogue = CUBLASLT_EPILOGUE_BIAS;
    int align_d = alignment_of(d);
    MatmulKey key = {m, n, k, trans_a, trans_b, (int)epilogue, (int)d_type, aux ? m : 0, alignment_of(a), alignment_of(b),
                     c ? alignment_of(c) : align_d, align_d, bias ? alignment_of(bias) : 0, aux ? alignment_of(aux) : 0};
    const MatmulPlan& p = matmul_plan(key, bias, aux);
    if (bias) cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (aux) cublasCheck(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
    float alpha = 1.0f, beta = c ? 1.0f : 0.0f;   // beta = 0: C is not read
    cublasCheck(cublasLtMatmul(cublaslt_handle, p.desc, &alpha, a, p.la, b, p.lb, &beta, c ? c : d, p.ld, d, p.ld, &p.algo,
                               cublaslt_workspace, CUBLASLT_WORKSPACE_SIZE, stream));
}

// the GELU epilogues keep an (m,n) aux matrix whose leading dimension cuBLASLt wants a multiple of 8
static bool gelu_epilogue_fits(int rows) { return rows % 8 == 0; }

// a fully connected layer: out = inp @ weight + bias. With pre_gelu, the layer is followed by
// GELU, in the matmul's epilogue: pre_gelu = inp @ weight + bias (kept for the backward pass),
// out = gelu(pre_gelu): the CPU's matmul_forward then gelu_forward, in one pass.
void matmul_forward(floatX* out, const floatX* inp, const floatX* weight, const floatX* bias, int N, int C, int OC,
                    floatX* pre_gelu = nullptr) {
    // out (N,OC), inp (N,C), weight (C,OC), bias (OC) or null, pre_gelu (N,OC) or null
    assert(N > 0 && C > 0 && OC > 0 && (!pre_gelu || bias));
    // column-major: out^T (OC,N) = weight^T (OC,C) @ inp^T (C,N)
    if (!pre_gelu) {
        matmul_cublaslt(out, CUBLAS_FLOATX, weight, inp, bias, OC, N, C, false, false, nullptr);
    } else if (gelu_epilogue_fits(OC)) {   // pre_gelu = inp @ weight + bias; out = gelu(pre_gelu)
        matmul_cublaslt(out, CUBLAS_FLOATX, weight, inp, bias, OC, N, C, false, false, nullptr,
                        CUBLASLT_EPILOGUE_GELU_AUX_BIAS, pre_gelu);
    } else {                               // a width the epilogue cannot keep: the two passes
        matmul_cublaslt(pre_gelu, CUBLAS_FLOATX, weight, inp, bias, OC, N, C, false, false, nullptr);
        gelu_forward(out, pre_gelu, (size_t)N * OC);
    }
}

// residual_forward() is folded into matmul_residual_forward: the last layer of a residual
// branch and the residual add after it, out = residual + inp @ weight + bias (the CPU's
// matmul_forward then residual_forward) in one matmul. cuBLASLt adds `residual` as its C
// matrix to each tile of the product before the tile leaves the chip, so the branch's output
// never makes a trip through memory of its own. out may be residual.
void matmul_residual_forward(floatX* out, const floatX* residual, const floatX* inp, const floatX* weight,
                             const floatX* bias, int N, int C, int OC) {
    // out (N,OC), residual (N,OC), inp (N,C), weight (C,OC), bias (OC) or null
    assert(N > 0 && C > 0 && OC > 0);
    matmul_cublaslt(out, CUBLAS_FLOATX, weight, inp, bias, OC, N, C, false, false, residual);
}

// The bias gradient, dbias += dout.sum(0): one more read of dout (N, OC). cuBLASLt's BGRADA
// epilogue ran on an H100 as a kernel of its own (5.6 ms of a GPT-2 124M step at B=64, 1.5
// times one read of dout), so the sum is ours: blocks of (32 W columns, a part of the rows),
// each lane summing its W columns down every BIAS_WARPS-th row, the block's warps added in
// order into one partial row (in shared memory at slot k * 32 + lane: one bank a lane), the
// parts added in order by a second kernel: one fixed order, the same result every run.
static const int BIAS_WARPS = 8, BIAS_ROWS = 64;   // warps per block; rows per part, at least
template <int W>
__global__ void bias_backward_kernel(float* partial, const floatX* dout, int N, int OC, int rows_per_part) {
    __shared__ float sums[BIAS_WARPS][32 * W];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, c = (blockIdx.x * 32 + lane) * W;   // the lane's first column
    int r_end = min((int)(blockIdx.y + 1) * rows_per_part, N);
    float acc[W] = {};   // (W divides OC, or W = 1: a pack never crosses a row)
    #pragma unroll 4
    for (int r = blockIdx.y * rows_per_part + warp; c < OC && r < r_end; r += BIAS_WARPS) {
        Packed<floatX, W> x = load_packed<W>(dout + (size_t)r * OC + c);
        for (int k = 0; k < W; k++) acc[k] += x[k];
    }
    for (int k = 0; k < W; k++) sums[warp][k * 32 + lane] = acc[k];
    __syncthreads();
    for (int i = threadIdx.x; i < 32 * W; i += blockDim.x) {   // i = lane * W + k: column blockIdx.x * 32 W + i
        int col = blockIdx.x * 32 * W + i;
        if (col >= OC) continue;
        float sum = 0.0f;
        for (int w = 0; w < BIAS_WARPS; w++) sum += sums[w][i % W * 32 + i / W];
        partial[(size_t)blockIdx.y * OC + col] = sum;
    }
}

// dbias += the parts' partial rows (parts, OC), added in part order: one thread per column
__global__ void add_bias_parts_kernel(float* dbias, const float* partial, int parts, int OC) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= OC) return;
    float sum = 0.0f;
    for (int j = 0; j < parts; j++) sum += partial[(size_t)j * OC + o];
    dbias[o] += sum;
}

void bias_backward(float* dbias, const floatX* dout, int N, int OC, const Workspace& ws) {
    // dbias (OC) +=, dout (N,OC); ws: partial, at least OC floats (one part)
    const int W = PACK16<floatX>;
    bool packed = OC % W == 0 && aligned16({dout});
    int parts = (int)std::min<size_t>({(size_t)CEIL_DIV(N, BIAS_ROWS), ws.partial_elems / OC, 256});
    assert(N > 0 && OC > 0 && parts >= 1);
    int rows_per_part = CEIL_DIV(N, parts);
    parts = CEIL_DIV(N, rows_per_part);   // none empty
    if (packed)
        bias_backward_kernel<W><<<dim3(CEIL_DIV(OC, 32 * W), parts), BIAS_WARPS * 32, 0, stream>>>(ws.partial, dout, N, OC, rows_per_part);
    else
        bias_backward_kernel<1><<<dim3(CEIL_DIV(OC, 32), parts), BIAS_WARPS * 32, 0, stream>>>(ws.partial, dout, N, OC, rows_per_part);
    cudaCheck(cudaGetLastError());
    int block_size = 256;
    add_bias_parts_kernel<<<CEIL_DIV(OC, block_size), block_size, 0, stream>>>(dbias, ws.partial, parts, OC);
    cudaCheck(cudaGetLastError());
}

// The backward of matmul_forward. With pre_gelu (the forward's), it is also GELU's backward:
// dinp is then the gradient of the GELU's input, (dout @ weight.T) * gelu'(pre_gelu), in the
// epilogue (the CPU's matmul_backward followed by gelu_backward).
// dbias is bias_backward's, above.
void matmul_backward(floatX* dinp, float* dweight, float* dbias, const floatX* dout, const floatX* inp,
                     const floatX* weight, int N, int C, int OC, const Workspace& ws, const floatX* pre_gelu = nullptr) {
    // dinp (N,C) written, dweight (C,OC) +=, dbias (OC) +=, dout (N,OC), inp (N,C), weight (C,OC), pre_gelu (N,C) or null
    assert(N > 0 && C > 0 && OC > 0);
    // dinp = dout @ weight.T; column-major: dinp^T (C,N) = weight (C,OC) @ dout^T (OC,N)
    if (pre_gelu && gelu_epilogue_fits(C)) {   // dinp = (dout @ weight.T) * gelu'(pre_gelu), in the epilogue
        matmul_cublaslt(dinp, CUBLAS_FLOATX, weight, dout, nullptr, C, N, OC, true, false, nullptr, CUBLASLT_EPILOGUE_DGELU,
                        (void*)pre_gelu);
    } else {
        matmul_cublaslt(dinp, CUBLAS_FLOATX, weight, dout, nullptr, C, N, OC, true, false, nullptr);
        if (pre_gelu) gelu_backward(dinp, pre_gelu, dinp, (size_t)N * C);
    }
    // dweight += inp.T @ dout; column-major: dweight^T (OC,C) += dout^T (OC,N) @ inp (N,C), fp32 out
    matmul_cublaslt(dweight, CUDA_R_32F, dout, inp, nullptr, OC, C, N, false, true, dweight);
    if (dbias) bias_backward(dbias, dout, N, OC, ws);   // dbias += dout.sum(0)
}

// --- causal multi-head self-attention: the only layer that mixes information across time.
// Flash attention (Dao et al. 2022, with FlashAttention-2's loop order): the (T,T) matrix of
// scores is never stored. A block takes Q_TILE query rows of one head (b, h) and walks the keys
// in tiles of KV_TILE up to the causal diagonal (tiles above it are never loaded). For each key
// tile it computes the scores S = q k^T / sqrt(HS) in shared memory and folds them into each
// row's running softmax, the "online softmax": with m the largest score so far and
// l = sum exp(s - m), a tile whose largest score raises m to m' rescales what came before,
//     l <- l exp(m - m') + sum_tile exp(s - m'),    o <- o exp(m - m') + exp(s - m') @ v_tile,
// and at the end out = o / l. q, k, v are read from qkv (B,T,3C) where they lie and out is
// written in (B,T,C), so no pass splits or merges the heads.
//
// Why one number per row is enough for the backward pass: it needs the weights
// P = softmax(S), and P[t][t2] = exp(S[t][t2] - lse[t]) with lse = m + log(l), so it keeps lse
// (B,NH,T) and recomputes S tile by tile: matmul work, cheap, instead of memory. At GPT-2 124M,
// B = 64, T = 1,024 the weights of 12 layers were (L,B,NH,T,T) bf16 = 19.3 GB, and the direct
// version's scratch (scores, heads split out) 2.3 GB more; lse is 38 MB.
// The backward of out = P v, with dP = dout v^T and D[t] = sum_i dout[t][i] out[t][i]
// (= sum_t2 P[t][t2] dP[t][t2]), is dS = P * (dP - D) through the softmax, then
//     dv = P^T dout,    dq = dS k / sqrt(HS),    dk = dS^T q / sqrt(HS).
// Why no atomics: dk and dv are sums over query rows, dq over key columns. FlashAttention-2
// adds dq with floating-point atomics, whose order (and so the rounding) changes from run to
// run. Here a key-tile kernel (dk, dv: a block owns KV_TILE keys) and a query-tile kernel (dq:
// a block owns Q_TILE queries) each recompute S and P, so every output element has one writer
// and a fixed order of additions, at 7 tile products per pair of tiles instead of 5. With heads
// enough to fill the GPU, the tensor-core section gets back to 5: one block takes a whole head,
// and adds dq's terms in a fixed order itself (each element's by one thread).
//
// The kernels below say this plainly: every tile in shared memory, every product through one
// helper, tile_product, as fp32 loops. The fp32 build runs them (the tensor cores take no fp32
// inputs), and the bf16 build where the head size is not one the next section is built for.
static const int Q_TILE = 64;     // query rows per block: a tile of q, out, dout, dq
static const int KV_TILE = 64;    // keys per tile: a tile of k, v, dk, dv
static const int ATT_WARPS = 4;   // 128 threads; in the row-wise steps warp w owns rows w, w + 4, ...
static const int ATT_ROWS_PER_WARP = Q_TILE / ATT_WARPS;

// c (M,N) = a (M,K) @ b (K,N), or c += with accumulate; all in shared memory, fp32 c, floatX a
// and b. A_T: a holds the transpose, stored (K,M) with row length lda (else (M,K)); likewise
// B_T: b holds b^T, stored (N,K). Called by all threads of the block, each computing whole
// elements of c (a row of a times a column of b); ends with a barrier, so c is ready for all.
template <bool A_T, bool B_T>
__device__ void tile_product(float* c, int ldc, const floatX* a, int lda, const floatX* b, int ldb, int M, int N, int K,
                             bool accumulate) {
    for (int idx = threadIdx.x; idx < M * N; idx += blockDim.x) {
        int m = idx / N, n = idx % N;
        float sum = accumulate ? c[m * ldc + n] : 0.0f;
        for (int k = 0; k < K; k++)
            sum += (float)(A_T ? a[k * lda + m] : a[m * lda + k]) * (float)(B_T ? b[n * ldb + k] : b[k * ldb + n]);
        c[m * ldc + n] = sum;
    }
    __syncthreads();
}

// rows [t0, t0 + n) of one head's q, k or v (or of out, dout: stride C) into a (n,HS) tile in
// shared memory; rows past T are zeros, so partial tiles need no special case in the products
__device__ void load_rows(floatX* tile, const floatX* src, size_t stride, int t0, int n, int T, int HS) {
    for (int idx = threadIdx.x; idx < n * HS; idx += blockDim.x) {
        int r = idx / HS, i = idx % HS;
        tile[idx] = t0 + r < T ? src[(size_t)(t0 + r) * stride + i] : (floatX)0.0f;
    }
}

// the shared memory of the three kernels, laid out in one place so that the launchers and the
// kernels agree on it; each region a multiple of 32 bytes long
struct AttentionSmem {
    floatX *q, *k, *v, *dout;   // (Q_TILE,HS), (KV_TILE,HS) x2, (Q_TILE,HS)
    float *s;                   // (Q_TILE,KV_TILE) fp32: scores, then dP in the backward
    floatX *p, *ds;             // (Q_TILE,KV_TILE) the weights P and dS, as the products' inputs
    float *acc, *acc2;          // (Q_TILE or KV_TILE,HS) fp32 accumulators: out or dq; dk and dv
    float *lse, *dot;           // (Q_TILE) each: a query tile's lse and D
    size_t bytes = 0;
    // base: the block's dynamic shared memory; null on the host, where only `bytes` is wanted
    __host__ __device__ AttentionSmem(char* base, int HS, bool backward) {
        auto take = [&](size_t n) { char* r = base ? base + bytes : nullptr; bytes += (n + 31) / 32 * 32; return r; };
        size_t qh = (size_t)Q_TILE * HS, kh = (size_t)KV_TILE * HS, qk = (size_t)Q_TILE * KV_TILE;
        q = (floatX*)take(qh * sizeof(floatX));
        k = (floatX*)take(kh * sizeof(floatX));
        v = (floatX*)take(kh * sizeof(floatX));
        s = (float*)take(qk * sizeof(float));
        p = (floatX*)take(qk * sizeof(floatX));
        acc = (float*)take((qh > kh ? qh : kh) * sizeof(float));
        dout = ds = nullptr; acc2 = lse = dot = nullptr;
        if (backward) {
            dout = (floatX*)take(qh * sizeof(floatX));
            ds = (floatX*)take(qk * sizeof(floatX));
            acc2 = (float*)take(kh * sizeof(float));
            lse = (float*)take(Q_TILE * sizeof(float));
            dot = (float*)take(Q_TILE * sizeof(float));
        }
    }
};

// one block per (query tile, b * NH + h): out and lse for those Q_TILE rows
__global__ void attention_forward_kernel(floatX* out, float* lse, const floatX* qkv, int T, int NH, int HS) {
    extern __shared__ float smem[];
    AttentionSmem sm((char*)smem, HS, false);
    int q0 = blockIdx.x * Q_TILE, b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;   // q of (b, 0, h); k at + C, v at + 2C
    float scale = 1.0f / sqrtf((float)HS);
    float row_max[ATT_ROWS_PER_WARP], row_sum[ATT_ROWS_PER_WARP];   // m and l of this warp's rows
    for (int i = 0; i < ATT_ROWS_PER_WARP; i++) { row_max[i] = -INFINITY; row_sum[i] = 0.0f; }
    load_rows(sm.q, head, 3 * C, q0, Q_TILE, T, HS);
    for (int idx = threadIdx.x; idx < Q_TILE * HS; idx += blockDim.x) sm.acc[idx] = 0.0f;   // o = 0
    int k_end = min(q0 + Q_TILE, T);   // keys past the tile's last query are all masked
    for (int k0 = 0; k0 < k_end; k0 += KV_TILE) {
        load_rows(sm.k, head + C, 3 * C, k0, KV_TILE, T, HS);
        load_rows(sm.v, head + 2 * C, 3 * C, k0, KV_TILE, T, HS);
        __syncthreads();
        tile_product<false, true>(sm.s, KV_TILE, sm.q, HS, sm.k, HS, Q_TILE, KV_TILE, HS, false);  // S = q k^T
        for (int i = 0; i < ATT_ROWS_PER_WARP; i++) {   // the online softmax, a warp per row, its lanes over the keys
            int r = warp + i * ATT_WARPS, t = q0 + r;
            float tile_max = -INFINITY;
            for (int j = lane; j < KV_TILE; j += 32)
                if (k0 + j <= t) tile_max = fmaxf(tile_max, sm.s[r * KV_TILE + j] * scale);   // causal: keys <= t only
            float new_max = fmaxf(row_max[i], warp_max(tile_max));   // finite: key 0 <= t is in the first tile
            float tile_sum = 0.0f;
            for (int j = lane; j < KV_TILE; j += 32) {
                float p = k0 + j <= t ? expf(sm.s[r * KV_TILE + j] * scale - new_max) : 0.0f;
                sm.p[r * KV_TILE + j] = (floatX)p;
                tile_sum += p;
            }
            float rescale = expf(row_max[i] - new_max);   // the rows so far in units of the new max (0 at first)
            row_sum[i] = row_sum[i] * rescale + warp_sum(tile_sum);
            row_max[i] = new_max;
            for (int c = lane; c < HS; c += 32) sm.acc[r * HS + c] *= rescale;
        }
        __syncthreads();
        tile_product<false, false>(sm.acc, HS, sm.p, KV_TILE, sm.v, HS, Q_TILE, HS, KV_TILE, true);  // o += P v
    }
    for (int i = 0; i < ATT_ROWS_PER_WARP; i++) {
        int r = warp + i * ATT_WARPS, t = q0 + r;
        if (t >= T) continue;
        for (int c = lane; c < HS; c += 32) out[((size_t)b * T + t) * C + h * HS + c] = (floatX)(sm.acc[r * HS + c] / row_sum[i]);
        if (lane == 0) lse[((size_t)b * NH + h) * T + t] = row_max[i] + logf(row_sum[i]);
    }
}

// D = rowsum(dout * out) per (b, t, h), one warp each: the softmax backward's dot product
__global__ void attention_backward_dot_kernel(float* dot, const floatX* dout, const floatX* out, int B, int T, int NH, int HS) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;   // row = (b*NH + h)*T + t
    if (row >= B * NH * T) return;
    int t = row % T, h = row / T % NH, b = row / T / NH;
    size_t at = ((size_t)b * T + t) * NH * HS + h * HS;
    float sum = 0.0f;
    for (int i = lane; i < HS; i += 32) sum += (float)dout[at + i] * (float)out[at + i];
    sum = warp_sum(sum);
    if (lane == 0) dot[row] = sum;
}

// The backward's common step for one pair of tiles (queries q0.., keys k0..), with q, k, v,
// dout, lse and D of the tiles in shared memory: P from S and lse, dS = P * (dP - D) / sqrt(HS)
// into sm.p and sm.ds, in floatX for the products that follow. Rows past T and keys after the
// query (the causal mask) get P = dS = 0.
__device__ void attention_backward_tiles(const AttentionSmem& sm, int q0, int k0, int T, int HS) {
    float scale = 1.0f / sqrtf((float)HS);
    tile_product<false, true>(sm.s, KV_TILE, sm.q, HS, sm.k, HS, Q_TILE, KV_TILE, HS, false);   // S = q k^T
    for (int idx = threadIdx.x; idx < Q_TILE * KV_TILE; idx += blockDim.x) {
        int r = idx / KV_TILE, t = q0 + r, t2 = k0 + idx % KV_TILE;
        sm.p[idx] = (floatX)(t < T && t2 <= t ? expf(sm.s[idx] * scale - sm.lse[r]) : 0.0f);   // P = exp(S - lse)
    }
    __syncthreads();   // all of S is read before dP overwrites it
    tile_product<false, true>(sm.s, KV_TILE, sm.dout, HS, sm.v, HS, Q_TILE, KV_TILE, HS, false);   // dP = dout v^T
    for (int idx = threadIdx.x; idx < Q_TILE * KV_TILE; idx += blockDim.x)
        sm.ds[idx] = (floatX)((float)sm.p[idx] * (sm.s[idx] - sm.dot[idx / KV_TILE]) * scale);   // dS, scaled
    __syncthreads();
}

// rows [q0, q0 + Q_TILE) of this block's head (blockIdx.y = b * NH + h) into shared memory:
// q and dout, and lse and D (0 past T)
__device__ void load_query_tile(const AttentionSmem& sm, const floatX* qkv, const floatX* dout, const float* lse,
                                const float* dot, int q0, int T, int NH, int HS) {
    int b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    load_rows(sm.q, qkv + (size_t)b * T * 3 * C + h * HS, 3 * C, q0, Q_TILE, T, HS);
    load_rows(sm.dout, dout + (size_t)b * T * C + h * HS, C, q0, Q_TILE, T, HS);
    lse += (size_t)blockIdx.y * T;
    dot += (size_t)blockIdx.y * T;
    for (int r = threadIdx.x; r < Q_TILE; r += blockDim.x) {
        sm.lse[r] = q0 + r < T ? lse[q0 + r] : 0.0f;
        sm.dot[r] = q0 + r < T ? dot[q0 + r] : 0.0f;
    }
}

// one block per (key tile, b * NH + h): dk and dv of those KV_TILE keys, summed over the
// queries that see them (from the key tile's diagonal to T), written into dqkv
__global__ void attention_backward_dkdv_kernel(floatX* dqkv, const floatX* dout, const floatX* qkv, const float* lse,
                                               const float* dot, int T, int NH, int HS) {
    extern __shared__ float smem[];
    AttentionSmem sm((char*)smem, HS, true);
    int k0 = blockIdx.x * KV_TILE, b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;
    load_rows(sm.k, head + C, 3 * C, k0, KV_TILE, T, HS);
    load_rows(sm.v, head + 2 * C, 3 * C, k0, KV_TILE, T, HS);
    float *dk = sm.acc, *dv = sm.acc2;   // (KV_TILE,HS) each
    for (int idx = threadIdx.x; idx < KV_TILE * HS; idx += blockDim.x) dk[idx] = dv[idx] = 0.0f;
    for (int q0 = k0 / Q_TILE * Q_TILE; q0 < T; q0 += Q_TILE) {   // queries before the tile's keys see none of them
        load_query_tile(sm, qkv, dout, lse, dot, q0, T, NH, HS);
        __syncthreads();
        attention_backward_tiles(sm, q0, k0, T, HS);
        tile_product<true, false>(dv, HS, sm.p, KV_TILE, sm.dout, HS, KV_TILE, HS, Q_TILE, true);   // dv += P^T dout
        tile_product<true, false>(dk, HS, sm.ds, KV_TILE, sm.q, HS, KV_TILE, HS, Q_TILE, true);     // dk += dS^T q
    }
    for (int idx = threadIdx.x; idx < KV_TILE * HS; idx += blockDim.x) {
        int r = idx / HS, i = idx % HS;
        if (k0 + r >= T) continue;
        floatX* row = dqkv + ((size_t)b * T + k0 + r) * 3 * C + h * HS + i;
        row[C] = (floatX)dk[idx];
        row[2 * C] = (floatX)dv[idx];
    }
}

// one block per (query tile, b * NH + h): dq of those Q_TILE queries, summed over the keys up
// to the diagonal, written into dqkv
__global__ void attention_backward_dq_kernel(floatX* dqkv, const floatX* dout, const floatX* qkv, const float* lse,
                                             const float* dot, int T, int NH, int HS) {
    extern __shared__ float smem[];
    AttentionSmem sm((char*)smem, HS, true);
    int q0 = blockIdx.x * Q_TILE, b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;
    load_query_tile(sm, qkv, dout, lse, dot, q0, T, NH, HS);
    float* dq = sm.acc;   // (Q_TILE,HS)
    for (int idx = threadIdx.x; idx < Q_TILE * HS; idx += blockDim.x) dq[idx] = 0.0f;
    int k_end = min(q0 + Q_TILE, T);
    for (int k0 = 0; k0 < k_end; k0 += KV_TILE) {
        load_rows(sm.k, head + C, 3 * C, k0, KV_TILE, T, HS);
        load_rows(sm.v, head + 2 * C, 3 * C, k0, KV_TILE, T, HS);
        __syncthreads();
        attention_backward_tiles(sm, q0, k0, T, HS);
        tile_product<false, false>(dq, HS, sm.ds, KV_TILE, sm.k, HS, Q_TILE, HS, KV_TILE, true);   // dq += dS k
    }
    for (int idx = threadIdx.x; idx < Q_TILE * HS; idx += blockDim.x) {
        int r = idx / HS, i = idx % HS;
        if (q0 + r < T) dqkv[((size_t)b * T + q0 + r) * 3 * C + h * HS + i] = (floatX)dq[idx];
    }
}

// --- The same attention on the tensor cores with its tiles in registers: FlashAttention-2's
// kernels (bf16 builds, HS 16, 32, 64 or 128; other head sizes take the kernels above).
// Those kernels stage every product in shared memory because a WMMA thread does not know
// which elements of a product it holds. The mma.sync instruction says which: a warp computes
// a 16x8 tile D += A B (A 16x16 and B 16x8 bf16, D fp32), and lane l, with g = l / 4 and
// t = l % 4, holds (two bf16 per 32-bit register, the lower index in the low half; the PTX
// ISA's "Matrix Fragments for mma.m16n8k16"):
//     A: a[0] = A[g][2t, 2t+1]  a[1] = A[g+8][2t, 2t+1]  a[2] = A[g][2t+8, 2t+9]  a[3] = A[g+8][2t+8, 2t+9]
//     B: b[0] = B[2t, 2t+1][g]  b[1] = B[2t+8, 2t+9][g]
//     D: d[0], d[1] = D[g][2t, 2t+1]                      d[2], d[3] = D[g+8][2t, 2t+1]
// So each warp of a block owns 16 rows of its tile (4 warps and 64 rows, or the forward's 8
// and 128) and keeps their scores, weights, output and gradients in registers. A row's 64
// scores (against a tile of 64 keys) lie in the 4 lanes of one group, 16 each, so its max or
// sum is a lane's own plus two shuffles; and a row of P, two accumulator tiles side by side,
// is already the A operand of the next product (o += P v): scores and weights never touch
// shared memory. Shared memory holds the tiles every warp reads (k and v, or q and dout), rows
// padded by 8 elements so that an ldmatrix's rows (it loads mma's operands, 8x8 blocks at a
// time) fall in different banks, two of each: while the warps compute on one, the next comes
// into the other by cp.async (a copy that skips the registers; a thread waits for its own,
// then the block meets at a barrier). The algorithm, masks and roundings are the kernels'
// above, product for product; the tests hold both to the CPU.
#ifndef ENABLE_FP32
static const int MMA_TILE = ATT_WARPS * 16;   // 64 rows, 16 per warp (= Q_TILE = KV_TILE): a tile

#ifndef CUDACPU   // the CPU execution mode emulates the instruction (tools/cudacpu/mma_ptx.h)
__device__ inline void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]) {   // d += a b
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// ldmatrix: four 8x8 bf16 matrices from shared memory, lane l giving the address of row l % 8
// of matrix l / 8; lane l (g = l / 4, t = l % 4) receives in r[i] row g, columns 2t and 2t + 1
// of matrix i, or with .trans rows 2t and 2t + 1 of column g: exactly mma's fragments
__device__ inline void ldmatrix_x4(uint32_t r[4], const floatX* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"((uint32_t)__cvta_generic_to_shared(row)));
}
__device__ inline void ldmatrix_x4_trans(uint32_t r[4], const floatX* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"((uint32_t)__cvta_generic_to_shared(row)));
}
#endif

__device__ inline uint32_t pack_bf16(float lo, float hi) {   // two values rounded to bf16, lo in the low half
    __nv_bfloat162 two = __floats2bfloat162_rn(lo, hi);        // one instruction (F2FP) for both
    uint32_t bits;
    memcpy(&bits, &two, sizeof(bits));
    return bits;
}
// two adjacent bf16 (dst 4-byte aligned) in one store
__device__ inline void store_bf16_pair(floatX* dst, float lo, float hi) { *(uint32_t*)dst = pack_bf16(lo, hi); }

// The softmax's exponentials as exp2: e^(x scale - m) = 2^(x scale log2(e) - m log2(e)), one
// fused multiply-add and the hardware's exp2 per score, where expf costs about ten
// instructions (LOG2E, above). A row's max m is kept in the scores' own units (scale > 0
// keeps the order) and the causal mask is applied only in the tiles that cross the diagonal:
// off it, no score is masked, and checking each one would cost as much as the exponential.

// fragments from a row-major tile in shared memory with rows ld elements apart, one ldmatrix
// each (lane l names the row l % 8 of its matrix l / 8). A: rows [r0, r0 + 16), columns
// [c0, c0 + 16), the matrices (rows, columns) (0-7, 0-7), (8-15, 0-7), (0-7, 8-15), (8-15,
// 8-15) giving a[0..3]. B for the k index [k0, k0 + 16) and two 8-column tiles n0 and n0 + 8
// (b[0..1] the first, b[2..3] the second), from a tile that holds B transposed (tile[n][k], as
// k is for S = q k^T: rows are n, as ldmatrix delivers them) or B itself (tile[k][n], as v is
// for P v: .trans turns its columns into rows)
__device__ inline void load_a(uint32_t a[4], const floatX* tile, int ld, int r0, int c0) {
    int l = threadIdx.x % 32;
    ldmatrix_x4(a, tile + (r0 + l % 16) * ld + c0 + l / 16 * 8);
}
__device__ inline void load_b_transposed_x2(uint32_t b[4], const floatX* tile, int ld, int k0, int n0) {
    int l = threadIdx.x % 32;
    ldmatrix_x4(b, tile + (n0 + l % 8 + l / 16 * 8) * ld + k0 + l / 8 % 2 * 8);
}
__device__ inline void load_b_x2(uint32_t b[4], const floatX* tile, int ld, int k0, int n0) {
    int l = threadIdx.x % 32;
    ldmatrix_x4_trans(b, tile + (k0 + l % 8 + l / 8 % 2 * 8) * ld + n0 + l / 16 * 8);
}
// the A operand for columns [16 kk, 16 kk + 16) of a warp's 16-row product held as
// accumulators (acc[n] is its columns [8n, 8n + 8)): P or dS, rounded to bf16
__device__ inline void accumulators_as_a(uint32_t a[4], const float (*acc)[4], int kk) {
    const float *left = acc[2 * kk], *right = acc[2 * kk + 1];
    a[0] = pack_bf16(left[0], left[1]); a[1] = pack_bf16(left[2], left[3]);
    a[2] = pack_bf16(right[0], right[1]); a[3] = pack_bf16(right[2], right[3]);
}

// c (16 x 8 NT tiles) = a (16 x K, as K / 16 A operands) @ b^T, b a row-major (8 NT, K) tile in
// shared memory: a warp's scores q k^T (or k q^T, dout v^T, v dout^T). The k steps are the
// outer loop: consecutive mma.sync instructions add into different tiles of c, so none waits
// for the one before it to finish (the sums are the same, each tile's k steps in order).
template <int K, int NT>
__device__ inline void mma_rows_times_tile_t(float (*c)[4], const uint32_t (*a)[4], const floatX* b, int ld) {
    for (int n = 0; n < NT; n++) c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.0f;
    for (int kk = 0; kk < K / 16; kk++)
        for (int n = 0; n < NT; n += 2) {   // two 8-column tiles per B load
            uint32_t bf[4];
            load_b_transposed_x2(bf, b, ld, kk * 16, n * 8);
            mma_m16n8k16(c[n], a[kk], bf);
            mma_m16n8k16(c[n + 1], a[kk], bf + 2);
        }
}
// c (16 x 8 NT tiles) += A (16 x 16 ksteps) @ b, b a row-major (16 ksteps, 8 NT) tile in shared
// memory; a_operand(a, kk) gives the A operand of A's columns [16 kk, 16 kk + 16)
template <int NT, class AOperand>
__device__ inline void mma_times_tile(float (*c)[4], AOperand a_operand, int ksteps, const floatX* b, int ld) {
    for (int kk = 0; kk < ksteps; kk++) {
        uint32_t a[4];
        a_operand(a, kk);
        for (int n = 0; n < NT; n += 2) {   // two 8-column tiles per B load
            uint32_t bf[4];
            load_b_x2(bf, b, ld, kk * 16, n * 8);
            mma_m16n8k16(c[n], a, bf);
            mma_m16n8k16(c[n + 1], a, bf + 2);
        }
    }
}
// c (16 x 8 NT tiles) += p (16 x K accumulators) @ b: o += P v (and dv += P^T dout, dk += dS^T q, dq += dS k)
template <int K, int NT>
__device__ inline void mma_acc_times_tile(float (*c)[4], const float (*p)[4], const floatX* b, int ld) {
    mma_times_tile<NT>(c, [&](uint32_t a[4], int kk) { accumulators_as_a(a, p, kk); }, K / 16, b, ld);
}

template <int HS> __host__ __device__ constexpr int mma_ld() { return HS + 8; }   // a tile's row stride in shared memory

// starts copying rows [t0, t0 + ROWS) of a head (stride apart in src) into a tile with
// rows mma_ld<HS>() apart, 16 bytes per copy, asynchronously: they have landed once the
// thread waits for the group they are committed in (__pipeline_wait_prior) and the block has
// met at a barrier after that. Rows past T become zeros (the copy writes 16 zero bytes, reads
// nothing).
template <int HS, int ROWS = MMA_TILE>
__device__ void load_rows_async(floatX* tile, const floatX* src, size_t stride, int t0, int T) {
    const int W = 8, ld = mma_ld<HS>();   // W: bf16 per 16 bytes
    for (int idx = threadIdx.x; idx < ROWS * HS / W; idx += blockDim.x) {
        int r = idx / (HS / W), i = idx % (HS / W) * W;
        bool inside = t0 + r < T;
        __pipeline_memcpy_async(tile + r * ld + i, src + (size_t)(inside ? t0 + r : t0) * stride + i, 16, inside ? 0 : 16);
    }
}
template <int HS> constexpr size_t mma_smem(int tiles) { return (size_t)tiles * MMA_TILE * mma_ld<HS>() * sizeof(floatX); }

// one block of 8 warps per (query tile of FWD_ROWS = 128 rows, b * NH + h), walking key tiles of
// 64: FlashAttention-2's forward block. Each key tile copied in serves 128 query rows (twice
// what a 64-row block gets from it), and a warp whose 16 rows all come before a key tile (the
// lower half's, at the block's last key tile) or past T skips its products for that tile.
// Two blocks per SM (16 warps) need at most 128 registers a thread, which __launch_bounds__
// asks for up to HS = 64 (130 otherwise: one block); at HS = 128 that would spill. A head's
// query tiles go out last first (as in the dq kernel): the GPU starts blocks in index order,
// so the longest walks start first and the short ones fill the grid's end.
static const int FWD_ROWS = 2 * MMA_TILE, FWD_WARPS = FWD_ROWS / 16;
template <int HS>
__global__ void __launch_bounds__(FWD_WARPS * 32, HS <= 64 ? 2 : 1)
attention_forward_mma_kernel(floatX* out, float* lse, const floatX* qkv, int T, int NH) {
    extern __shared__ float smem[];
    const int LD = mma_ld<HS>(), NT = MMA_TILE / 8;   // NT: a warp's 64 columns of scores, as 8 tiles of 8
    floatX* sq = (floatX*)smem;   // FWD_ROWS rows of q, then two buffers, each a tile of k and one of v
    auto sk = [&](int buf) { return sq + FWD_ROWS * LD + 2 * buf * MMA_TILE * LD; };
    auto sv = [&](int buf) { return sq + FWD_ROWS * LD + (2 * buf + 1) * MMA_TILE * LD; };
    int q0 = (gridDim.x - 1 - blockIdx.x) * FWD_ROWS, b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
    int first = q0 + warp * 16;                                   // the warp's first query row
    int rows[2] = {first + g, first + g + 8};                     // the two query rows this lane holds
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;   // q of (b, 0, h); k at + C, v at + 2C
    float scale = 1.0f / sqrtf((float)HS), scale_log2 = scale * LOG2E;
    load_rows_async<HS, FWD_ROWS>(sq, head, 3 * C, q0, T);
    __pipeline_commit();
    load_rows_async<HS>(sk(0), head + C, 3 * C, 0, T);   // the first key tile
    load_rows_async<HS>(sv(0), head + 2 * C, 3 * C, 0, T);
    __pipeline_commit();
    __pipeline_wait_prior(1);   // q has landed (the key tile may still be on its way)
    __syncthreads();
    uint32_t q[HS / 16][4];   // the warp's 16 rows of q, as A operands for every key tile
    for (int kk = 0; kk < HS / 16; kk++) load_a(q[kk], sq, LD, warp * 16, kk * 16);
    float o[HS / 8][4] = {};   // out, unnormalised
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};   // m (of q k^T, unscaled), this lane's part of l
    int k_end = min(q0 + FWD_ROWS, T);
    for (int k0 = 0, buf = 0; k0 < k_end; k0 += MMA_TILE, buf ^= 1) {
        __pipeline_wait_prior(0);   // this key tile has landed (the one group in flight)
        __syncthreads();            // and every warp is done with the tile before, in the other buffers
        if (k0 + MMA_TILE < k_end) {   // the next key tile into the other buffers, while this one is used
            load_rows_async<HS>(sk(buf ^ 1), head + C, 3 * C, k0 + MMA_TILE, T);
            load_rows_async<HS>(sv(buf ^ 1), head + 2 * C, 3 * C, k0 + MMA_TILE, T);
            __pipeline_commit();
        }
        // a warp skips a tile whose keys all come after its rows, or whose rows are past T: it
        // has nothing to add (and still meets the block at its barrier)
        if (k0 <= first + 15 && first < T) {
            float s[NT][4];
            mma_rows_times_tile_t<HS, NT>(s, q, sk(buf), LD);   // S = q k^T
            if (k0 + MMA_TILE - 1 > first)   // the tile crosses the warp's diagonal: causal, keys <= the query only
                for (int n = 0; n < NT; n++)
                    for (int i = 0; i < 4; i++)
                        if (k0 + n * 8 + 2 * t + i % 2 > rows[i / 2]) s[n][i] = -INFINITY;
            float tile_max[2] = {-INFINITY, -INFINITY};
            for (int n = 0; n < NT; n++)
                for (int i = 0; i < 4; i++) tile_max[i / 2] = fmaxf(tile_max[i / 2], s[n][i]);
            float rescale[2], max_log2[2];
            for (int r = 0; r < 2; r++) {   // the row's max over the 4 lanes of the group, then the online softmax
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 1));
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 2));
                // finite: the first tile holds key 0 <= each row, and a row's later tiles only add to it
                float new_max = fmaxf(row_max[r], tile_max[r]);
                rescale[r] = exp2f((row_max[r] - new_max) * scale_log2);
                row_max[r] = new_max;
                row_sum[r] *= rescale[r];
                max_log2[r] = new_max * scale_log2;
            }
            for (int n = 0; n < NT; n++)
                for (int i = 0; i < 4; i++) {
                    s[n][i] = exp2f(fmaf(s[n][i], scale_log2, -max_log2[i / 2]));   // P, unnormalised (0 where masked)
                    row_sum[i / 2] += s[n][i];
                }
            for (int n = 0; n < HS / 8; n++)
                for (int i = 0; i < 4; i++) o[n][i] *= rescale[i / 2];
            mma_acc_times_tile<MMA_TILE, HS / 8>(o, s, sv(buf), LD);   // o += P v
        }
    }
    for (int r = 0; r < 2; r++) {
        float l = row_sum[r];
        l += __shfl_xor_sync(0xffffffff, l, 1);
        l += __shfl_xor_sync(0xffffffff, l, 2);
        if (rows[r] >= T) continue;
        floatX* dst = out + ((size_t)b * T + rows[r]) * C + h * HS + 2 * t;
        for (int n = 0; n < HS / 8; n++) store_bf16_pair(dst + n * 8, o[n][2 * r] / l, o[n][2 * r + 1] / l);
        if (t == 0) lse[((size_t)b * NH + h) * T + rows[r]] = row_max[r] * scale + logf(l);
    }
}

// the A operand for rows [r0, r0 + 16), columns [c0, c0 + 16) of A = tile^T, from a row-major
// tile that holds A transposed (tile[c][r], as dS^T is for dq = dS k): .trans turns the
// stored 8x8 blocks, whose rows are A's columns, into A's rows
__device__ inline void load_a_transposed(uint32_t a[4], const floatX* tile, int ld, int r0, int c0) {
    int l = threadIdx.x % 32;
    ldmatrix_x4_trans(a, tile + (c0 + l / 16 * 8 + l % 8) * ld + r0 + l / 8 % 2 * 8);
}

// Each warp owns 16 keys and computes the transposed products (rows are keys) against a tile of
// MMA_TILE queries: S^T = k q^T, dP^T = v dout^T, then dv += P^T dout and dk += dS^T q. Two
// ways to launch it:
// - WHOLE_HEAD false: one block of 4 warps per (key tile of 64, b * NH + h), as
//   attention_backward_dkdv_kernel; dq is the dq kernel's below, which computes S and dP a
//   second time: 7 products per pair of tiles.
// - WHOLE_HEAD true: one block of 8 warps per head (b * NH + h), walking its key tiles of 128
//   from the last to the first, and dq += dS k is a fifth product of the same pair: 5
//   products. dS^T goes through shared memory; each warp takes 16 query rows of it as the A
//   operand and computes their dq for half of the head's channels, which it adds to the
//   running sum of those rows in dq_sum (fp32, (B,NH,T,HS)). A query tile's keys come in a
//   fixed order (the key tile that holds its diagonal first, key tile 0 last, which writes the
//   bf16 result), and every element of dq_sum has one thread, the same for every key tile,
//   that adds to it: deterministic, with no barrier (and atomics that never meet). The sums
//   of the head's last query tiles, from resident_from on, stay in shared memory instead, as
//   many as fit beside the tiles (9 of 16 at HS = 64, T = 1,024 on an H100): those tiles
//   meet the most key tiles (the last two meet all 8), so 56 of the 72 additions of a head
//   never leave the SM. A block holds one head's sums in flight where blocks of 4 warps would
//   hold two, and its 128 keys use each query tile it reads twice as long.
//   One block per head needs many heads (B * NH) to fill a GPU: with fewer the first way runs.
template <int HS, bool WHOLE_HEAD>
__global__ void __launch_bounds__(WHOLE_HEAD ? 2 * ATT_WARPS * 32 : ATT_WARPS * 32)
attention_backward_dkdv_mma_kernel(floatX* dqkv, const floatX* dout, const floatX* qkv, const floatX* out, const float* lse,
                                   float* dot, float* dq_sum, int resident_from, int T, int NH) {
    static_assert(!WHOLE_HEAD || HS % 32 == 0, "the whole-head kernel splits a head's channels in two 16-column halves or "
                  "wider, and swizzles its dq sums' columns within 32");
    extern __shared__ float smem[];
    const int LD = mma_ld<HS>(), NT = MMA_TILE / 8;   // NT: a warp's 64 query columns, as 8 tiles of 8
    const int KEYS = WHOLE_HEAD ? 2 * MMA_TILE : MMA_TILE;   // keys per block: 16 per warp
    floatX* base = (floatX*)smem;   // two buffers of a query tile's q and dout (v first passes through the second)
    auto sq = [&](int buf) { return base + 2 * buf * MMA_TILE * LD; };
    auto sdo = [&](int buf) { return base + (2 * buf + 1) * MMA_TILE * LD; };
    auto slse = [&](int buf) { return (float*)(base + 4 * MMA_TILE * LD) + 2 * buf * MMA_TILE; };   // the query tile's lse
    auto sdot = [&](int buf) { return slse(buf) + MMA_TILE; };                                     // and D
    floatX* v_tile = sq(1);   // v arrives here (KEYS rows: the second buffers of q and dout, which lie back to back)
    floatX* sk = (floatX*)(slse(2));   // k: WHOLE_HEAD keeps it for dq += dS k, else it passes through
    floatX* k_tile = WHOLE_HEAD ? sk : sdo(1);
    floatX* sds = sk + KEYS * LD;   // WHOLE_HEAD: dS^T of a pair of tiles (keys x queries), rows mma_ld<MMA_TILE>() apart
    // WHOLE_HEAD: dq's running sums (fp32, rows of HS) of the query tiles from resident_from on
    float* sdq = (float*)(sds + KEYS * mma_ld<MMA_TILE>());
    int b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;
    float scale = 1.0f / sqrtf((float)HS), scale_log2 = scale * LOG2E;
    const floatX* dout_head = dout + (size_t)b * T * C + h * HS;
    lse += (size_t)blockIdx.y * T;
    dot += (size_t)blockIdx.y * T;
    // lse and D of the query tile at q0, 2 x 64 floats: threads 0-63 (blocks have 128 or more)
    // load them into registers early and store them into buffer buf (lse times log2(e), for
    // exp2) late, so that the loads' latency passes while the warps compute. A GPU showed
    // these threads waiting on them, the block with them, when the store came right after.
    struct LseDot { float lse = 0.0f, dot = 0.0f; };
    auto fetch_lse_dot = [&](int q0) {
        LseDot x;
        int r = threadIdx.x;
        if (r < MMA_TILE && q0 + r < T) { x.lse = lse[q0 + r]; x.dot = dot[q0 + r]; }
        return x;
    };
    auto store_lse_dot = [&](const LseDot& x, int buf) {
        int r = threadIdx.x;
        if (r < MMA_TILE) { slse(buf)[r] = x.lse * LOG2E; sdot(buf)[r] = x.dot; }
    };
    // WHOLE_HEAD: D = rowsum(dout * out) of a query tile is computed on the tile's first visit,
    // 4 threads a row, each a quarter of the channels (HS / 4 adjacent ones). Where registers
    // allow (AHEAD: HS <= 64; at 128 the kernel already spills), the thread's part of out comes
    // into registers a tile ahead, likewise: at the key tile's start for its first query tile,
    // one tile before for the second; and key tile 0 reads dq's sums from dq_sum before its
    // product instead of after. Rows past T read nothing and hold zeros.
    const bool AHEAD = HS <= 64;
    struct OutPart { Packed<floatX, 8> x[HS >= 32 ? HS / 32 : 1] = {}; };
    auto fetch_out = [&](int q0) {
        OutPart x;
        int r = threadIdx.x / 4, part = threadIdx.x % 4;
        if (WHOLE_HEAD && q0 + r < T) {
            const floatX* o = out + ((size_t)b * T + q0 + r) * C + h * HS + part * (HS / 4);
            for (int i = 0; i < HS / 32; i++) x.x[i] = load_packed<8>(o + i * 8);
        }
        return x;
    };
    int first = WHOLE_HEAD ? CEIL_DIV(T, KEYS) - 1 : blockIdx.x, last = WHOLE_HEAD ? 0 : blockIdx.x;
    for (int kt = first; kt >= last; kt--) {
        int k0 = kt * KEYS, keys[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
        load_rows_async<HS, KEYS>(k_tile, head + C, 3 * C, k0, T);
        load_rows_async<HS, KEYS>(v_tile, head + 2 * C, 3 * C, k0, T);
        load_rows_async<HS>(sq(0), head, 3 * C, k0, T);   // the first query tile (q0 = k0)
        load_rows_async<HS>(sdo(0), dout_head, C, k0, T);
        __pipeline_commit();
        OutPart out_part;   // (WHOLE_HEAD) for the first query tile's D
        if (AHEAD) out_part = fetch_out(k0);
        store_lse_dot(fetch_lse_dot(k0), 0);
        __pipeline_wait_prior(0);
        __syncthreads();
        uint32_t k[HS / 16][4], v[HS / 16][4];   // the warp's 16 keys of k and v, as A operands
        for (int kk = 0; kk < HS / 16; kk++) { load_a(k[kk], k_tile, LD, warp * 16, kk * 16); load_a(v[kk], v_tile, LD, warp * 16, kk * 16); }
        float dk[HS / 8][4] = {}, dv[HS / 8][4] = {};
        // One barrier a query tile where two would be plain: the next tile is copied into the
        // other buffers after the barrier that says this one has landed, since that barrier
        // also says every warp is done with the tile before, whose buffers these were (and, at
        // the first query tile, that every warp has its k and v from the second buffers).
        for (int q0 = k0, buf = 0; q0 < T; q0 += MMA_TILE, buf ^= 1) {   // queries before the tile's keys see none of them
            bool more = q0 + MMA_TILE < T;
            __pipeline_wait_prior(0);   // this query tile has landed (the one group in flight)
            __syncthreads();
            LseDot next;       // the next tile's lse and D, on their way into registers
            OutPart out_next;  // and its part of out where that tile's D is computed next
            if (more) {        // the next query tile into the other buffers, while this one is used
                load_rows_async<HS>(sq(buf ^ 1), head, 3 * C, q0 + MMA_TILE, T);
                load_rows_async<HS>(sdo(buf ^ 1), dout_head, C, q0 + MMA_TILE, T);
                __pipeline_commit();
                next = fetch_lse_dot(q0 + MMA_TILE);
                if (AHEAD && WHOLE_HEAD && q0 + MMA_TILE < k0 + KEYS) out_next = fetch_out(q0 + MMA_TILE);
            }
            if (WHOLE_HEAD && q0 < k0 + KEYS) {   // the query tile's first visit: its D, kept in dot for the later ones
                int r = threadIdx.x / 4, part = threadIdx.x % 4;   // D = rowsum(dout * out), 4 threads a row
                const floatX* dO = sdo(buf) + r * LD + part * (HS / 4);
                if (!AHEAD) out_part = fetch_out(q0);
                float d = 0.0f;
                for (int i = 0; i < HS / 32; i++) {
                    Packed<floatX, 8> x = load_packed<8>(dO + i * 8);
                    for (int j = 0; j < 8; j++) d += x[j] * out_part.x[i][j];
                }
                d += __shfl_xor_sync(0xffffffff, d, 1);
                d += __shfl_xor_sync(0xffffffff, d, 2);
                if (part == 0) {
                    sdot(buf)[r] = d;
                    if (q0 + r < T) dot[q0 + r] = d;
                }
                __syncthreads();   // this tile's D is in place before the products read it
            }
            float p[NT][4], ds[NT][4];
            // a warp whose keys all come after the tile's last query has no weight here, all
            // masked (the upper half of a 128-key tile against the query tile at its start)
            if (k0 + warp * 16 > q0 + MMA_TILE - 1) {
                for (int n = 0; n < NT; n++)
                    for (int i = 0; i < 4; i++) ds[n][i] = 0.0f;
            } else {
                mma_rows_times_tile_t<HS, NT>(p, k, sq(buf), LD);     // S^T = k q^T
                mma_rows_times_tile_t<HS, NT>(ds, v, sdo(buf), LD);   // dP^T = v dout^T
                // the causal mask only where the warp's keys cross the tile's diagonal. Queries
                // past T need none: their rows of q, dout, lse and D are zeros, so their dS is 0
                // and their P^T meets zero rows of dout
                bool masked = k0 + warp * 16 + 15 > q0;
                for (int n = 0; n < NT; n++) {
                    int c0 = n * 8 + 2 * t;   // the lane's two query columns, c0 and c0 + 1: their lse and D in pairs
                    float2 lse2 = *(const float2*)(slse(buf) + c0), dot2 = *(const float2*)(sdot(buf) + c0);
                    for (int i = 0; i < 4; i++) {
                        int c = c0 + i % 2;
                        float pi = exp2f(fmaf(p[n][i], scale_log2, -(i % 2 ? lse2.y : lse2.x)));
                        if (masked && keys[i / 2] > q0 + c) pi = 0.0f;
                        p[n][i] = (float)(floatX)pi;   // P^T in bf16, as the products take it
                        ds[n][i] = p[n][i] * (ds[n][i] - (i % 2 ? dot2.y : dot2.x)) * scale;   // dS^T, scaled
                    }
                }
                mma_acc_times_tile<MMA_TILE, HS / 8>(dv, p, sdo(buf), LD);   // dv += P^T dout
                mma_acc_times_tile<MMA_TILE, HS / 8>(dk, ds, sq(buf), LD);   // dk += dS^T q
            }
            if (WHOLE_HEAD) {   // dq += dS k for this query tile: the warp's 16 query rows, half of the channels
                const int LDS = mma_ld<MMA_TILE>(), HALF = HS / 2;
                for (int n = 0; n < NT; n++)
                    for (int r = 0; r < 2; r++)   // this lane's keys (rows of dS^T), two queries each
                        *(uint32_t*)(sds + (warp * 16 + g + 8 * r) * LDS + n * 8 + 2 * t) = pack_bf16(ds[n][2 * r], ds[n][2 * r + 1]);
                __syncthreads();   // every warp's keys of dS^T are in place
                int r0 = warp % ATT_WARPS * 16, c0 = warp / ATT_WARPS * HALF;   // the warp's query rows and channels
                float dq[HALF / 8][4] = {};
                int ksteps = min(KEYS, q0 + MMA_TILE - k0) / 16;   // not the keys after the tile's last query: dS = 0
                bool resident = q0 >= resident_from * MMA_TILE, first = q0 < k0 + KEYS;
                auto sum = [&](int r, int n) {   // the sums of query row r0 + g + 8r, columns c0 + 8n + 2t and the one after
                    int query = q0 + r0 + g + 8 * r, c = c0 + n * 8 + 2 * t;
                    return (float2*)(resident ? sdq + (size_t)(query - resident_from * MMA_TILE) * HS + (c ^ (query % 4 * 8))
                                              : dq_sum + ((size_t)blockIdx.y * T + query) * HS + c);
                };
                float2 so_far[2][HALF / 8];   // key tile 0: the sums in dq_sum, read while the tensor cores work
                if (AHEAD && kt == 0 && !first && !resident)
                    for (int r = 0; r < 2; r++)
                        for (int n = 0; n < HALF / 8; n++)
                            so_far[r][n] = q0 + r0 + g + 8 * r < T ? *sum(r, n) : make_float2(0.0f, 0.0f);
                mma_times_tile<HALF / 8>(dq, [&](uint32_t a[4], int kk) { load_a_transposed(a, sds, LDS, r0, kk * 16); },
                                         ksteps, sk + c0, LD);   // dq += dS k
                // into the query tile's running sums: its first key tile (the one that holds its
                // diagonal) writes them, the ones between add to them, key tile 0 adds the last
                // term and writes dq in bf16. No two threads ever add to one element: each
                // element's terms are added by one thread, in its program order, the same on every
                // run. In shared memory that is a plain +=; in dq_sum an atomicAdd, which buys that
                // L2 does the addition, so the thread never waits for the old value (only key
                // tile 0 reads the sums). In shared memory, a row's 8-column groups are swizzled
                // (the group index xor the row's index mod 4) so that the 4 rows of a half warp's
                // float2 accesses fall in different banks, where rows HS floats apart would share them.
                for (int r = 0; r < 2; r++) {
                    int query = q0 + r0 + g + 8 * r;
                    if (query >= T) continue;
                    floatX* row = dqkv + ((size_t)b * T + query) * 3 * C + h * HS + c0 + 2 * t;
                    for (int n = 0; n < HALF / 8; n++) {
                        float2 x = make_float2(dq[n][2 * r], dq[n][2 * r + 1]);
                        float2* s = sum(r, n);
                        if (kt == 0) {
                            if (!first) { float2 y = resident || !AHEAD ? *s : so_far[r][n]; x.x += y.x; x.y += y.y; }
                            store_bf16_pair(row + n * 8, x.x, x.y);
                        } else if (first) {
                            *s = x;
                        } else if (resident) {
                            float2 y = *s;
                            *s = make_float2(y.x + x.x, y.y + x.y);
                        } else {
                            atomicAdd(&s->x, x.x);
                            atomicAdd(&s->y, x.y);
                        }
                    }
                }
            }
            if (more) store_lse_dot(next, buf ^ 1);   // (the other buffer: nobody reads it before the barrier)
            if (AHEAD) out_part = out_next;
        }
        __syncthreads();   // every warp is done with the buffers (and k) before the next key tile copies into them
        for (int r = 0; r < 2; r++) {
            if (keys[r] >= T) continue;
            floatX* row = dqkv + ((size_t)b * T + keys[r]) * 3 * C + h * HS + 2 * t;
            for (int n = 0; n < HS / 8; n++) {
                store_bf16_pair(row + C + n * 8, dk[n][2 * r], dk[n][2 * r + 1]);
                store_bf16_pair(row + 2 * C + n * 8, dv[n][2 * r], dv[n][2 * r + 1]);
            }
        }
    }
}

// one block per (query tile, b * NH + h), as attention_backward_dq_kernel: S = q k^T,
// dP = dout v^T, dq += dS k
template <int HS>
__global__ void __launch_bounds__(ATT_WARPS * 32) attention_backward_dq_mma_kernel(floatX* dqkv, const floatX* dout,
        const floatX* qkv, const float* lse, const float* dot, int T, int NH) {
    extern __shared__ float smem[];
    const int LD = mma_ld<HS>(), NT = MMA_TILE / 8;
    floatX* base = (floatX*)smem;   // two buffers of a key tile's k and v (q and dout first pass through the second)
    auto sk = [&](int buf) { return base + 2 * buf * MMA_TILE * LD; };
    auto sv = [&](int buf) { return base + (2 * buf + 1) * MMA_TILE * LD; };
    int q0 = (gridDim.x - 1 - blockIdx.x) * MMA_TILE;   // the longest first, as in the forward
    int b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * HS;
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
    int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    const floatX* head = qkv + (size_t)b * T * 3 * C + h * HS;
    float scale = 1.0f / sqrtf((float)HS), scale_log2 = scale * LOG2E, row_lse[2], row_dot[2];   // lse times log2(e)
    for (int r = 0; r < 2; r++) {
        row_lse[r] = rows[r] < T ? lse[(size_t)blockIdx.y * T + rows[r]] * LOG2E : 0.0f;
        row_dot[r] = rows[r] < T ? dot[(size_t)blockIdx.y * T + rows[r]] : 0.0f;
    }
    load_rows_async<HS>(sk(1), head, 3 * C, q0, T);   // q and dout, through the second buffers
    load_rows_async<HS>(sv(1), dout + (size_t)b * T * C + h * HS, C, q0, T);
    load_rows_async<HS>(sk(0), head + C, 3 * C, 0, T);   // the first key tile
    load_rows_async<HS>(sv(0), head + 2 * C, 3 * C, 0, T);
    __pipeline_commit();
    __pipeline_wait_prior(0);
    __syncthreads();
    uint32_t q[HS / 16][4], dO[HS / 16][4];   // the warp's 16 rows of q and dout, as A operands
    for (int kk = 0; kk < HS / 16; kk++) { load_a(q[kk], sk(1), LD, warp * 16, kk * 16); load_a(dO[kk], sv(1), LD, warp * 16, kk * 16); }
    float dq[HS / 8][4] = {};
    int k_end = min(q0 + MMA_TILE, T);
    for (int k0 = 0, buf = 0; k0 < k_end; k0 += MMA_TILE, buf ^= 1) {   // one barrier a tile, as the dk, dv kernel
        __pipeline_wait_prior(0);   // this key tile has landed
        __syncthreads();            // and every warp is done with the other buffers (at first: has its q and dout)
        if (k0 + MMA_TILE < k_end) {   // the next key tile into the other buffers, while this one is used
            load_rows_async<HS>(sk(buf ^ 1), head + C, 3 * C, k0 + MMA_TILE, T);
            load_rows_async<HS>(sv(buf ^ 1), head + 2 * C, 3 * C, k0 + MMA_TILE, T);
            __pipeline_commit();
        }
        float p[NT][4], ds[NT][4];
        mma_rows_times_tile_t<HS, NT>(p, q, sk(buf), LD);    // S = q k^T
        mma_rows_times_tile_t<HS, NT>(ds, dO, sv(buf), LD);  // dP = dout v^T
        // the causal mask only in the key tile that crosses the warp's diagonal (rows past T have
        // zeros for q, dout, lse and D: their dS is 0, and they are not stored)
        bool masked = k0 + MMA_TILE - 1 > q0 + warp * 16;
        for (int n = 0; n < NT; n++)
            for (int i = 0; i < 4; i++) {
                int key = k0 + n * 8 + 2 * t + i % 2, r = i / 2;
                float pi = exp2f(fmaf(p[n][i], scale_log2, -row_lse[r]));
                if (masked && key > rows[r]) pi = 0.0f;
                p[n][i] = (float)(floatX)pi;
                ds[n][i] = p[n][i] * (ds[n][i] - row_dot[r]) * scale;   // dS, scaled
            }
        mma_acc_times_tile<MMA_TILE, HS / 8>(dq, ds, sk(buf), LD);   // dq += dS k
    }
    for (int r = 0; r < 2; r++) {
        if (rows[r] >= T) continue;
        floatX* row = dqkv + ((size_t)b * T + rows[r]) * 3 * C + h * HS + 2 * t;
        for (int n = 0; n < HS / 8; n++) store_bf16_pair(row + n * 8, dq[n][2 * r], dq[n][2 * r + 1]);
    }
}
#endif  // ENABLE_FP32

// the shared memory a kernel needs (its tiles grow with HS), checked and allowed to the kernel
template <class Kernel> static size_t attention_smem(Kernel kernel, int HS, bool backward) {
    size_t bytes = AttentionSmem(nullptr, HS, backward).bytes;
    allow_shared_memory(kernel, bytes, "the attention tiles grow with the head size (--n-embd / --n-head): use more heads");
    return bytes;
}

static void attention_forward_launch(floatX* out, float* lse, const floatX* qkv, int B, int T, int NH, int HS) {
    size_t smem = attention_smem(attention_forward_kernel, HS, false);
    dim3 grid(CEIL_DIV(T, Q_TILE), B * NH);
    attention_forward_kernel<<<grid, ATT_WARPS * 32, smem, stream>>>(out, lse, qkv, T, NH, HS);
    cudaCheck(cudaGetLastError());
}

#ifndef ENABLE_FP32
// f(std::integral_constant<int, HS>()) where the tensor-core kernels are built for HS; false elsewhere
template <class F> static bool with_mma_head_size(int HS, F f) {
    switch (HS) {
        case 16: f(std::integral_constant<int, 16>()); return true;
        case 32: f(std::integral_constant<int, 32>()); return true;
        case 64: f(std::integral_constant<int, 64>()); return true;
        case 128: f(std::integral_constant<int, 128>()); return true;
        default: return false;
    }
}
static const char* MMA_SMEM_FIX = "the attention tiles grow with the head size (--n-embd / --n-head): use more heads";

// the whole-head backward (one block per head) runs where B * NH is at least this: two heads
// per SM of the GPU, unless the environment variable TRAIN_GPT_WHOLE_HEAD_MIN names another
// number (for measuring both ways: bench/bench_gpu.sh) or the tests set this variable
int attention_whole_head_min = 0;
static int attention_whole_head_min_heads() {
    static int fallback = [] {
        if (const char* v = getenv("TRAIN_GPT_WHOLE_HEAD_MIN")) {
            char* end = nullptr;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > INT_MAX)
                fail("TRAIN_GPT_WHOLE_HEAD_MIN=%s: expected a number of heads (B x NH) from 1 to %d", v, INT_MAX);
            return (int)n;
        }
        return 2 * device_attribute(cudaDevAttrMultiProcessorCount);
    }();
    return attention_whole_head_min > 0 ? attention_whole_head_min : fallback;
}

template <int HS> static void attention_forward_mma(floatX* out, float* lse, const floatX* qkv, int B, int T, int NH) {
    size_t smem = mma_smem<HS>(FWD_ROWS / MMA_TILE + 4);   // q, and two buffers of k and v
    allow_shared_memory(attention_forward_mma_kernel<HS>, smem, MMA_SMEM_FIX);
    attention_forward_mma_kernel<HS><<<dim3(CEIL_DIV(T, FWD_ROWS), B * NH), FWD_WARPS * 32, smem, stream>>>(out, lse, qkv, T, NH);
    cudaCheck(cudaGetLastError());
}

// the whole-head backward where B * NH fills the GPU, for the tensor-core head sizes from 32
// (each warp takes half of a head's channels for dq, two 8-column tiles at a time)
static bool attention_whole_head(int B, int NH, int HS) {
    return HS >= 32 && with_mma_head_size(HS, [](auto) {}) && B * NH >= attention_whole_head_min_heads();
}

// the whole-head kernel's shared memory but for dq's resident sums: two buffers of q and dout,
// and of lse and D; k, and dS^T, 128 rows each
template <int HS> constexpr size_t whole_head_smem() {
    return mma_smem<HS>(4) + 4 * MMA_TILE * sizeof(float) + mma_smem<HS>(2) + mma_smem<MMA_TILE>(2);
}
// how many query tiles' dq sums the whole-head kernel keeps in shared memory: as many as fit
// beside its tiles, at most attention_dq_resident_max where a test sets it (>= 0)
int attention_dq_resident_max = -1;
template <int HS> static int attention_dq_resident(int T) {
    size_t tile = (size_t)MMA_TILE * HS * sizeof(float), used = whole_head_smem<HS>();
    size_t free = max_shared_bytes() > used ? max_shared_bytes() - used : 0;
    int fit = (int)std::min<size_t>(free / tile, CEIL_DIV(T, MMA_TILE));
    return attention_dq_resident_max >= 0 ? std::min(fit, attention_dq_resident_max) : fit;
}

// whole_head: the whole-head kernel, which also computes D (into dot); else the two kernels,
// which read the D that attention_backward_dot_kernel wrote there
template <int HS> static void attention_backward_mma(floatX* dqkv, const floatX* dout, const floatX* qkv, const floatX* out,
                                                     const float* lse, float* dot, float* dq_sum, int B, int T, int NH,
                                                     bool whole_head) {
    size_t smem = mma_smem<HS>(4) + 4 * MMA_TILE * sizeof(float);   // two buffers of q and dout, and of lse and D
    if constexpr (HS >= 32) {
        if (whole_head) {
            int resident = attention_dq_resident<HS>(T);   // and k, dS^T, and the last query tiles' dq sums
            smem = whole_head_smem<HS>() + (size_t)resident * MMA_TILE * HS * sizeof(float);
            allow_shared_memory(attention_backward_dkdv_mma_kernel<HS, true>, smem, MMA_SMEM_FIX);
            attention_backward_dkdv_mma_kernel<HS, true><<<dim3(1, B * NH), 2 * ATT_WARPS * 32, smem, stream>>>(
                dqkv, dout, qkv, out, lse, dot, dq_sum, CEIL_DIV(T, MMA_TILE) - resident, T, NH);
            cudaCheck(cudaGetLastError());
            return;
        }
    }
    dim3 grid(CEIL_DIV(T, MMA_TILE), B * NH);
    allow_shared_memory(attention_backward_dkdv_mma_kernel<HS, false>, smem, MMA_SMEM_FIX);
    attention_backward_dkdv_mma_kernel<HS, false><<<grid, ATT_WARPS * 32, smem, stream>>>(dqkv, dout, qkv, out, lse, dot,
                                                                                           nullptr, 0, T, NH);
    cudaCheck(cudaGetLastError());
    smem = mma_smem<HS>(4);   // two buffers of k and v
    allow_shared_memory(attention_backward_dq_mma_kernel<HS>, smem, MMA_SMEM_FIX);
    attention_backward_dq_mma_kernel<HS><<<grid, ATT_WARPS * 32, smem, stream>>>(dqkv, dout, qkv, lse, dot, T, NH);
    cudaCheck(cudaGetLastError());
}
#endif

// Built with -DUSE_CUDNN (`make train_gpt_cudnn`, bf16 only), attention_forward and
// attention_backward hand the work to cuDNN's fused kernels instead, as llm.c can: the same
// tensors in the same layouts (cuDNN's softmax "stats" are our lse), in attention_cudnn.cpp,
// its own file because cuDNN's graph API takes minutes to compile. Where cuDNN declines a
// shape (it says so once), the kernels above run.

void attention_forward(floatX* out, float* lse, const floatX* qkv, int B, int T, int C, int NH) {
    // out (B,T,C), lse (B,NH,T) fp32 logsumexp of each row of scaled scores, qkv (B,T,3C)
    assert(B > 0 && T > 0 && NH > 0 && C % NH == 0);
    int HS = C / NH;
#ifdef USE_CUDNN
    if (cudnn_attention_forward(out, lse, qkv, B, T, NH, HS)) return;
#endif
#ifndef ENABLE_FP32
    if (with_mma_head_size(HS, [&](auto hs) { attention_forward_mma<decltype(hs)::value>(out, lse, qkv, B, T, NH); })) return;
#endif
    attention_forward_launch(out, lse, qkv, B, T, NH, HS);
}

static void attention_backward_launch(floatX* dqkv, const floatX* dout, const floatX* qkv, const float* lse, const float* dot,
                                      int B, int T, int NH, int HS) {
    size_t smem = attention_smem(attention_backward_dkdv_kernel, HS, true);   // one layout for both
    attention_smem(attention_backward_dq_kernel, HS, true);
    attention_backward_dkdv_kernel<<<dim3(CEIL_DIV(T, KV_TILE), B * NH), ATT_WARPS * 32, smem, stream>>>(
        dqkv, dout, qkv, lse, dot, T, NH, HS);
    cudaCheck(cudaGetLastError());
    attention_backward_dq_kernel<<<dim3(CEIL_DIV(T, Q_TILE), B * NH), ATT_WARPS * 32, smem, stream>>>(
        dqkv, dout, qkv, lse, dot, T, NH, HS);
    cudaCheck(cudaGetLastError());
}

// which attention kernels this build runs at this shape, for the trainer's first lines
static std::string attention_plan(int B, int T, int NH, int HS) {
#if defined(USE_CUDNN)
    return "cuDNN's fused kernels (flash attention's own where cuDNN declines the shape)";
#elif defined(ENABLE_FP32)
    (void)B; (void)T; (void)NH; (void)HS;
    return "flash attention, fp32 tiles in shared memory";
#else
    if (!with_mma_head_size(HS, [](auto) {}))
        return "flash attention, tiles in shared memory (no tensor-core kernels for head size " + std::to_string(HS) + ")";
    if (HS < 32) return "flash attention on the tensor cores; backward in two kernels (head size " + std::to_string(HS) + " < 32)";
    bool whole_head = attention_whole_head(B, NH, HS);
    std::string plan = std::string("flash attention on the tensor cores; backward ") +
                       (whole_head ? "one block per head" : "in two kernels") + " (B x heads = " + std::to_string(B * NH) +
                       "; one block per head from " + std::to_string(attention_whole_head_min_heads()) + ")";
    if (!whole_head) return plan;
    int resident = 0;
    with_mma_head_size(HS, [&](auto hs) { resident = attention_dq_resident<decltype(hs)::value>(T); });
    return plan + "; dq's sums of the last " + std::to_string(resident) + " of " + std::to_string(CEIL_DIV(T, MMA_TILE)) +
           " query tiles in shared memory";
#endif
}

void attention_backward(floatX* dqkv, const floatX* dout, const floatX* qkv, const floatX* out, const float* lse,
                        int B, int T, int C, int NH, const Workspace& ws) {
    // dqkv (B,T,3C) written, dout (B,T,C), qkv (B,T,3C), out (B,T,C) and lse (B,NH,T) of the forward pass
    // ws: att_dot (B,NH,T) fp32, D of every row; att_dq (B,NH,T,HS) fp32, the whole-head kernel's sums of dq
    assert(B > 0 && T > 0 && NH > 0 && C % NH == 0 && (size_t)B * NH * T <= ws.att_dot_elems);
    int HS = C / NH, block_size = 256, rows = B * NH * T;
#ifdef USE_CUDNN
    if (cudnn_attention_backward(dqkv, dout, qkv, out, lse, B, T, NH, HS)) return;
#endif
#ifndef ENABLE_FP32
    bool whole_head = attention_whole_head(B, NH, HS);
#else
    bool whole_head = false;
#endif
    if (!whole_head) {   // D of every row (the whole-head kernel computes its own)
        attention_backward_dot_kernel<<<CEIL_DIV(rows, block_size / 32), block_size, 0, stream>>>(ws.att_dot, dout, out, B, T, NH, HS);
        cudaCheck(cudaGetLastError());
    }
#ifndef ENABLE_FP32
    assert((size_t)B * T * C <= ws.att_dq_elems);
    auto mma = [&](auto hs) {
        attention_backward_mma<decltype(hs)::value>(dqkv, dout, qkv, out, lse, ws.att_dot, ws.att_dq, B, T, NH, whole_head);
    };
    if (with_mma_head_size(HS, mma)) return;
#endif
    attention_backward_launch(dqkv, dout, qkv, lse, ws.att_dot, B, T, NH, HS);
}

// --- GELU, tanh approximation ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise: each thread W values (one 16-byte pack), the last n % W one at a time.
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
__device__ inline float gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(GELU_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
}
__device__ inline float gelu_grad(float x, float dout) {   // dout * gelu'(x)
    float th = tanhf(GELU_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
    float dth = (1.0f - th * th) * GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
    return dout * 0.5f * ((1.0f + th) + x * dth);
}

template <int W> __global__ void gelu_forward_kernel(floatX* out, const floatX* inp, size_t n) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;
    if (i + W <= n) {
        Packed<floatX, W> x = load_packed<W>(inp + i), y;
        #pragma unroll
        for (int k = 0; k < W; k++) y.set(k, gelu(x[k]));
        store_packed(out + i, y);
    } else {
        for (; i < n; i++) out[i] = (floatX)gelu((float)inp[i]);   // the tail
    }
}

template <int W> __global__ void gelu_backward_kernel(floatX* dinp, const floatX* inp, const floatX* dout, size_t n) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;
    if (i + W <= n) {
        Packed<floatX, W> x = load_packed<W>(inp + i), d = load_packed<W>(dout + i), dx;
        #pragma unroll
        for (int k = 0; k < W; k++) dx.set(k, gelu_grad(x[k], d[k]));
        store_packed(dinp + i, dx);
    } else {
        for (; i < n; i++) dinp[i] = (floatX)gelu_grad((float)inp[i], (float)dout[i]);   // the tail
    }
}

// the packs of an elementwise launch over n values: 16-byte packs where all its pointers are
// 16-byte aligned (views carved from one buffer are 256-byte aligned), else one value each
static int elementwise_width(std::initializer_list<const void*> pointers) {
    return aligned16(pointers) ? PACK16<floatX> : 1;
}

void gelu_forward(floatX* out, const floatX* inp, size_t n) {
    // out (N,4C), inp (N,4C)
    assert(n > 0);
    int block_size = 256;
    int W = elementwise_width({out, inp});
    size_t blocks = CEIL_DIV(n, (size_t)block_size * W);
    if (W > 1) gelu_forward_kernel<PACK16<floatX>><<<blocks, block_size, 0, stream>>>(out, inp, n);
    else gelu_forward_kernel<1><<<blocks, block_size, 0, stream>>>(out, inp, n);
    cudaCheck(cudaGetLastError());
}

void gelu_backward(floatX* dinp, const floatX* inp, const floatX* dout, size_t n) {
    // dinp (N,4C) written, inp (N,4C), dout (N,4C); dinp may alias dout
    assert(n > 0);
    int block_size = 256;
    int W = elementwise_width({dinp, inp, dout});
    size_t blocks = CEIL_DIV(n, (size_t)block_size * W);
    if (W > 1) gelu_backward_kernel<PACK16<floatX>><<<blocks, block_size, 0, stream>>>(dinp, inp, dout, n);
    else gelu_backward_kernel<1><<<blocks, block_size, 0, stream>>>(dinp, inp, dout, n);
    cudaCheck(cudaGetLastError());
}

// --- softmax and cross-entropy: loss = logsumexp(logits) - logits[target], one block per row.
// Training uses the fused form, crossentropy_forward_backward: one kernel finds a row's max and
// sum, writes the loss, and turns the row, in place, into its gradient (softmax - onehot) * dloss.
// The max and the sum must be complete before the first gradient value can be written, so the
// row is read twice. The first brings it into shared memory (100 KB for GPT-2's 50,304 bf16
// logits) and finds the max and the sum at once, by the attention's online softmax (each
// thread's sum in units of its largest logit so far; then the block's in the row's max). The
// second, of shared memory, writes the gradient. So the (B,T,Vp) logits, the largest
// activation at small C, go through memory once each way (N Vp read, N Vp written) instead of
// twice read and once written by a separate forward and backward. A row too large for shared
// memory is read again from global memory (then mostly from L2). Validation (crossentropy_forward)
// is the same kernel without the gradient; crossentropy_backward is the separate backward from a
// kept logsumexp, which gpt_backward uses after a forward that only computed the loss.
// the gradient of the pack of logits x at columns v .. v+W-1 of a row with logsumexp z
template <int W>
__device__ inline Packed<floatX, W> crossentropy_grad(const Packed<floatX, W>& x, int v, float z, float dloss, int V, int target) {
    Packed<floatX, W> g;
    #pragma unroll
    for (int k = 0; k < W; k++) {
        float gk = v + k < V ? exp2f((x[k] - z) * LOG2E) * dloss : 0.0f;   // softmax * dloss, 0 in the padding
        if (v + k == target) gk -= dloss;                        // - onehot * dloss
        g.set(k, gk);
    }
    return g;
}

template <int W>
__global__ void crossentropy_kernel(floatX* dlogits, float* losses, float* lse, const floatX* logits, const int* targets,
                                    float dloss, int V, int Vp, bool cache_row) {
    extern __shared__ float smem[];   // (Vp) floatX values: the row, where it fits (cache_row)
    floatX* cached = (floatX*)smem;
    int row = blockIdx.x, target = targets[row];
    const floatX* l = logits + (size_t)row * Vp;
    float target_logit = (float)l[target];   // read before any thread overwrites the row with its gradient
    float m = -INFINITY, sum = 0.0f;   // this thread's largest logit, and its sum of e^(x - m)
    for (int v = threadIdx.x * W; v < Vp; v += blockDim.x * W) {   // the whole padded row: Vp is a multiple of W
        Packed<floatX, W> x = load_packed<W>(l + v);
        if (cache_row) store_packed(cached + v, x);
        float pack_max = -INFINITY;
        #pragma unroll
        for (int k = 0; k < W; k++)
            if (v + k < V) pack_max = fmaxf(pack_max, x[k]);
        if (pack_max > m) {   // the sum so far in units of the new max (0 before the first value)
            sum *= exp2f((m - pack_max) * LOG2E);
            m = pack_max;
        }
        #pragma unroll
        for (int k = 0; k < W; k++)
            if (v + k < V) sum += exp2f((x[k] - m) * LOG2E);
    }
    float maxv = block_max(m);   // its barriers also make the cached row visible to every thread
    sum = block_sum(m > -INFINITY ? sum * exp2f((m - maxv) * LOG2E) : 0.0f);   // (a thread with no logits has none)
    const floatX* src = cache_row ? cached : l;
    float z = maxv + logf(sum);
    if (threadIdx.x == 0) { lse[row] = z; losses[row] = z - target_logit; }
    if (!dlogits) return;
    floatX* d = dlogits + (size_t)row * Vp;   // may be the logits themselves
    for (int v = threadIdx.x * W; v < Vp; v += blockDim.x * W) {
        store_packed(d + v, crossentropy_grad(load_packed<W>(src + v), v, z, dloss, V, target));
    }
}

// the launch both cross-entropy forwards share; a row is cached in shared memory if it takes at
// most row_cache_limit bytes (the device's limit; the tests also pass 0, for the uncached path)
static void crossentropy_launch(floatX* dlogits, float* losses, float* lse, const floatX* logits, const int* targets,
                                float dloss, int N, int V, int Vp, size_t row_cache_limit) {
    assert(N > 0 && V > 0 && V <= Vp);
    const int W = PACK16<floatX>;
    bool packed = Vp % W == 0 && aligned16({dlogits, logits});   // else one value at a time
    size_t row_bytes = (size_t)Vp * sizeof(floatX);
    bool cache_row = row_bytes <= row_cache_limit;
    int block_size = 512;   // a multiple of 32, as block_sum and block_max need
    size_t smem = cache_row ? row_bytes : 0;
    if (packed) {
        allow_shared_memory(crossentropy_kernel<W>, smem);
        crossentropy_kernel<W><<<N, block_size, smem, stream>>>(dlogits, losses, lse, logits, targets, dloss, V, Vp, cache_row);
    } else {
        allow_shared_memory(crossentropy_kernel<1>, smem);
        crossentropy_kernel<1><<<N, block_size, smem, stream>>>(dlogits, losses, lse, logits, targets, dloss, V, Vp, cache_row);
    }
    cudaCheck(cudaGetLastError());
}
void crossentropy_forward(float* losses, float* lse, const floatX* logits, const int* targets, int N, int V, int Vp) {
    // losses (N), lse (N), logits (N,Vp) of which the first V columns are real, targets (N) on the device
    crossentropy_launch(nullptr, losses, lse, logits, targets, 0.0f, N, V, Vp, max_shared_bytes());
}

// crossentropy_forward, and crossentropy_backward with dloss, in one pass over the logits
void crossentropy_forward_backward(float* losses, float* lse, floatX* logits, const int* targets, float dloss, int N, int V,
                                   int Vp) {
    // losses (N), lse (N), logits (N,Vp): the logits on entry, their gradient on exit, targets (N) on the device
    crossentropy_launch(logits, losses, lse, logits, targets, dloss, N, V, Vp, max_shared_bytes());
}

// from the kept logsumexp: one read and one write of each row, W values per access
template <int W>
__global__ void crossentropy_backward_kernel(floatX* dlogits, const float* lse, const int* targets, float dloss, int V, int Vp) {
    int row = blockIdx.x, target = targets[row];
    floatX* d = dlogits + (size_t)row * Vp;
    float z = lse[row];
    for (int v = threadIdx.x * W; v < Vp; v += blockDim.x * W) {
        store_packed(d + v, crossentropy_grad(load_packed<W>(d + v), v, z, dloss, V, target));
    }
}

void crossentropy_backward(floatX* dlogits, const float* lse, const int* targets, float dloss, int N, int V, int Vp) {
    // dlogits (N,Vp): the logits on entry, their gradient on exit; dloss: d(mean loss)/d(each position's loss)
    assert(N > 0 && V > 0 && V <= Vp);
    const int W = PACK16<floatX>;
    bool packed = Vp % W == 0 && aligned16({dlogits});   // else one value at a time
    int block_size = 512;
    if (packed) crossentropy_backward_kernel<W><<<N, block_size, 0, stream>>>(dlogits, lse, targets, dloss, V, Vp);
    else crossentropy_backward_kernel<1><<<N, block_size, 0, stream>>>(dlogits, lse, targets, dloss, V, Vp);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// model: config, parameters, activations, forward, backward, update

// a view of one block's parameters (T = floatX) or gradients (T = float) inside one buffer
template <class T> struct BlockParams {
    T *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
};
// param_views fills the fields by index: each must sit at its tensor's place in param_table
#define AT(field, index) (offsetof(BlockParams<floatX>, field) == (index) * sizeof(floatX*))
static_assert(AT(ln1w, LN1_W) && AT(ln1b, LN1_B) && AT(qkvw, QKV_W) && AT(qkvb, QKV_B) && AT(attprojw, ATTPROJ_W) &&
              AT(attprojb, ATTPROJ_B) && AT(ln2w, LN2_W) && AT(ln2b, LN2_B) && AT(fcw, FC_W) && AT(fcb, FC_B) &&
              AT(fcprojw, FCPROJ_W) && AT(fcprojb, FCPROJ_B) && sizeof(BlockParams<floatX>) == NUM_LAYER_TENSORS * sizeof(floatX*),
              "BlockParams' fields must follow LayerTensor's order (train_common.h)");
#undef AT
template <class T> struct ParamViews {
    T *wte, *wpe, *lnfw, *lnfb;          // wte (Vp,C), wpe (maxT,C), lnf (C)
    std::vector<BlockParams<T>> h;       // per layer: ln (C), qkvw (C,3C), attprojw (C,C), fcw (C,4C), fcprojw (4C,C), biases
};

template <class T> static ParamViews<T> param_views(T* base, const GPTConfig& c) {
    std::vector<ParamTensor> t = param_table(c);
    ParamViews<T> v;
    v.wte = base + t[0].offset;
    v.wpe = base + t[1].offset;
    for (int l = 0; l < c.num_layers; l++) {
        T* p[NUM_LAYER_TENSORS];
        for (int i = 0; i < NUM_LAYER_TENSORS; i++) p[i] = base + t[2 + l * NUM_LAYER_TENSORS + i].offset;
        v.h.push_back({p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]});
    }
    v.lnfw = base + t[t.size() - 2].offset;
    v.lnfb = base + t[t.size() - 1].offset;
    return v;
}

// what the forward pass keeps for the backward pass, per layer where it says (L,...);
// floatX unless marked fp32
struct Activations {
    floatX *encoded;                   // (B,T,C) the residual stream entering layer 0
    floatX *ln1; float *ln1_mean, *ln1_rstd;   // (L,B,T,C), fp32 (L,B,T) x2
    floatX *qkv;                       // (L,B,T,3C)
    floatX *atty;                      // (L,B,T,C) attention output before its projection
    float *att_lse;                    // (L,B,NH,T) fp32 logsumexp of each row of attention scores (not the
                                       // (L,B,NH,T,T) weights: the backward pass recomputes them from it)
    floatX *residual2;                 // (L,B,T,C) stream after attention
    floatX *ln2; float *ln2_mean, *ln2_rstd;   // (L,B,T,C), fp32 (L,B,T) x2
    floatX *fch;                       // (L,B,T,4C) the MLP's pre-GELU values (fc's epilogue keeps them)
    floatX *fch_gelu;                  // (L,B,T,4C), or (B,T,4C) under --recompute 1: remade in the backward
    floatX *residual3;                 // (L,B,T,C) stream after the MLP
    floatX *lnf; float *lnf_mean, *lnf_rstd;   // (B,T,C), fp32 (B,T) x2
    floatX *logits;                    // (B,T,Vp): logits, turned into their gradient by the backward pass
    float *lse, *losses;               // (B,T) logsumexp and loss per position
    int *inputs, *targets;             // (B,T) on the device
};

// the gradient buffers of the backward pass: one layer's worth, reused by every layer
struct GradScratch {
    floatX *dresidual;  // (B,T,C) gradient of the residual stream
    floatX *dln;        // (B,T,C)
    floatX *dqkv;       // (B,T,3C)
    floatX *datty;      // (B,T,C)
    floatX *dfch;       // (B,T,4C)
};

// What the host hands the GPU each micro-batch (tokens, targets, encoder buckets) and reads
// back (losses), in pinned (page-locked) memory: a copy from pageable memory makes the driver
// wait for the stream first, so every upload would stall the host until the GPU caught up.
// The host refills the buffers only once `uploaded` says the last micro-batch's copies ran
// (its tokens at its start, its buckets after its forward), so it stays at most one
// micro-batch ahead of the GPU.
struct HostStaging {
    int *inputs = nullptr, *targets = nullptr;                             // (B*T) each
    int *bucket_start = nullptr, *bucket_token = nullptr, *positions = nullptr;   // (B*T+1), (B*T), (B*T)
    float* losses = nullptr;                                               // (B*T)
    double* loss_sum = nullptr;                                            // (1)
    cudaEvent_t uploaded = nullptr;
};

// the optimizer's part of the model. Under ZeRO-1 each rank holds only its shard of the
// fp32 master weights and the moments: elements [first, first + count) of the parameter buffer.
struct OptState {
    size_t first = 0, count = 0;      // this rank's range; count = n without ZeRO
    float *master = nullptr, *m = nullptr, *v = nullptr;   // (count) each, fp32
    size_t *tensor_offsets = nullptr;  // device, (tensors + 1): where each tensor starts
    unsigned char *tensor_decay = nullptr;  // device, (tensors): weight decay applies
    int num_tensors = 0;
};

struct GPT {
    GPTConfig config;
    int zero = 0;                            // 1: ZeRO-1, this rank updates only its shard (opt)
    size_t num_params = 0, buffer_size = 0;  // n, and n padded to equal shards over ranks
    floatX* params = nullptr;                // (buffer_size): the weights the layers read
    float* grads = nullptr;                  // (buffer_size): fp32 gradients
    OptState opt;
    ParamViews<floatX> p;
    ParamViews<float> g;
    int recompute = 0;                       // --recompute: 1 = keep one layer's GELU output, remake it in the backward
    int B = 0, T = 0, allocated_recompute = 0;   // what the activations were allocated for
    void *act_memory = nullptr, *scratch_memory = nullptr;
    Activations a;
    GradScratch d;
    EncoderBuckets buckets;                  // positions by token of the last forward
    Workspace ws;                            // the layers' shared scratch
    HostStaging host;                        // pinned host memory the uploads and the loss pass through
    double* loss_sum = nullptr;              // (1) on the device: gpt_step's loss, summed over its micro-batches
    float mean_loss = -1;                    // of the last forward with targets (-1: none; 0: left on the device)
    float dlogits_scale = 0;                 // > 0: a.logits hold the gradient of dlogits_scale * mean_loss
};

// points each named tensor of a family at its place in one device allocation (256-byte
// aligned views, so cuBLAS gets aligned pointers); returns the bytes of the allocation
struct View { void** ptr; size_t bytes; };
static size_t carve_size(const std::vector<View>& views) {
    size_t total = 0;
    for (const View& v : views) total += CEIL_DIV(v.bytes, (size_t)256) * 256;
    return total;
}
static void* carve(const std::vector<View>& views) {
    void* memory;
    cudaCheck(cudaMalloc(&memory, carve_size(views)));
    cudaCheck(cudaMemset(memory, 0, carve_size(views)));
    char* p = (char*)memory;
    for (const View& v : views) { *v.ptr = p; p += CEIL_DIV(v.bytes, (size_t)256) * 256; }
    return memory;
}

// the activation and scratch families for batch B, T: one tensor a line, its size in bytes
// and its shape (nothing is allocated here)
static std::vector<View> activation_views(GPT& model, int B, int T) {
    const GPTConfig& c = model.config;
    size_t L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, BT = (size_t)B * T;
    size_t X = sizeof(floatX), F = sizeof(float), I = sizeof(int);
    Activations& a = model.a;
    return {
        {(void**)&a.encoded, BT * C * X},            // (B,T,C)
        {(void**)&a.ln1, L * BT * C * X},            // (L,B,T,C)
        {(void**)&a.ln1_mean, L * BT * F},           // (L,B,T)
        {(void**)&a.ln1_rstd, L * BT * F},           // (L,B,T)
        {(void**)&a.qkv, L * BT * 3 * C * X},        // (L,B,T,3C)
        {(void**)&a.atty, L * BT * C * X},           // (L,B,T,C)
        {(void**)&a.att_lse, L * B * NH * T * F},    // (L,B,NH,T)
        {(void**)&a.residual2, L * BT * C * X},      // (L,B,T,C)
        {(void**)&a.ln2, L * BT * C * X},            // (L,B,T,C)
        {(void**)&a.ln2_mean, L * BT * F},           // (L,B,T)
        {(void**)&a.ln2_rstd, L * BT * F},           // (L,B,T)
        {(void**)&a.fch, L * BT * 4 * C * X},        // (L,B,T,4C)
        {(void**)&a.fch_gelu, (model.recompute >= 1 ? 1 : L) * BT * 4 * C * X},   // (L,B,T,4C), (B,T,4C) recomputed
        {(void**)&a.residual3, L * BT * C * X},      // (L,B,T,C)
        {(void**)&a.lnf, BT * C * X},                // (B,T,C)
        {(void**)&a.lnf_mean, BT * F},               // (B,T)
        {(void**)&a.lnf_rstd, BT * F},               // (B,T)
        {(void**)&a.logits, BT * Vp * X},            // (B,T,Vp)
        {(void**)&a.lse, BT * F},                    // (B,T)
        {(void**)&a.losses, BT * F},                 // (B,T)
        {(void**)&a.inputs, BT * I},                 // (B,T)
        {(void**)&a.targets, BT * I},                // (B,T)
    };
}
static std::vector<View> scratch_views(GPT& model, int B, int T) {
    const GPTConfig& c = model.config;
    size_t NH = c.num_heads, C = c.channels, BT = (size_t)B * T, X = sizeof(floatX), F = sizeof(float), I = sizeof(int);
    GradScratch& d = model.d;
    EncoderBuckets& e = model.buckets;
    Workspace& ws = model.ws;
    ws.att_dot_elems = B * NH * T;
#ifdef ENABLE_FP32
    ws.att_dq_elems = 0;   // the fp32 build's attention keeps no sums (it has no whole-head kernel)
#else
    ws.att_dq_elems = BT * C;
#endif
    ws.partial_elems = 2 * REDUCE_CHUNKS * 4 * C;
    return {
        {(void**)&d.dresidual, BT * C * X},          // (B,T,C)
        {(void**)&d.dln, BT * C * X},                // (B,T,C)
        {(void**)&d.dqkv, BT * 3 * C * X},           // (B,T,3C)
        {(void**)&d.datty, BT * C * X},              // (B,T,C)
        {(void**)&d.dfch, BT * 4 * C * X},           // (B,T,4C)
        {(void**)&ws.att_dot, ws.att_dot_elems * F}, // (B,NH,T)
        {(void**)&ws.att_dq, ws.att_dq_elems * F},   // (B,NH,T,HS)
        {(void**)&ws.partial, ws.partial_elems * F}, // (2,REDUCE_CHUNKS,4C)
        {(void**)&ws.norm_partial, NORM_BLOCKS * F}, // (NORM_BLOCKS)
        {(void**)&ws.norm_result, sizeof(double)},   // (1)
        {(void**)&ws.ticket, sizeof(unsigned int)},  // (1), zero (carve zeroes it; each use leaves it zero)
        {(void**)&model.loss_sum, sizeof(double)},   // (1)
        {(void**)&e.bucket_start, (BT + 1) * I},     // (B*T+1)
        {(void**)&e.bucket_token, BT * I},           // (B*T)
        {(void**)&e.positions, BT * I},              // (B*T)
    };
}

// bytes of GPU memory the activations and scratch take for batch B, T
static size_t activation_bytes(GPT& model, int B, int T) {
    return carve_size(activation_views(model, B, T)) + carve_size(scratch_views(model, B, T));
}

// uploads params (host, fp32, laid out by param_table(config), buffer_size long) as the
// floatX weights and this rank's shard of the fp32 master weights
static void gpt_set_parameters(GPT& model, const std::vector<float>& params) {
    if (params.size() < model.num_params) fail("gpt_set_parameters: %zu values for %zu parameters", params.size(), model.num_params);
    std::vector<float> full(params.begin(), params.begin() + model.num_params);
    full.resize(model.buffer_size, 0.0f);
    // the fp32 gradient buffer has exactly the right size: use it as the staging area
    cudaCheck(cudaMemcpy(model.grads, full.data(), model.buffer_size * sizeof(float), cudaMemcpyHostToDevice));
    cast_to_floatX(model.params, model.grads, model.buffer_size);
    cudaCheck(cudaMemcpy(model.opt.master, full.data() + model.opt.first, model.opt.count * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemset(model.grads, 0, model.buffer_size * sizeof(float)));
    cudaCheck(cudaDeviceSynchronize());
}

// world and rank: how many ranks share the optimizer state (ZeRO-1: world > 1 and zero = 1)
void gpt_build(GPT& model, const GPTConfig& config, const std::vector<float>& params, int world = 1, int rank = 0,
               int zero = 0) {
    model.config = config;
    model.zero = zero;
    model.num_params = num_parameters(config);
    model.buffer_size = padded_size(model.num_params, world, SHARD_ALIGN);
    size_t n = model.num_params, s = shard_size(n, world, SHARD_ALIGN);
    OptState& o = model.opt;
    o.first = zero ? rank * s : 0;
    Shard mine = shard_of(n, world, rank, SHARD_ALIGN);   // equal shards, each starting 16-byte aligned
    o.count = zero ? mine.end - mine.begin : n;
    cudaCheck(cudaMalloc(&model.params, model.buffer_size * sizeof(floatX)));
    cudaCheck(cudaMalloc(&model.grads, model.buffer_size * sizeof(float)));
    size_t opt_len = std::max<size_t>(o.count, 1);
    cudaCheck(cudaMalloc(&o.master, opt_len * sizeof(float)));
    cudaCheck(cudaMalloc(&o.m, opt_len * sizeof(float)));
    cudaCheck(cudaMalloc(&o.v, opt_len * sizeof(float)));
    cudaCheck(cudaMemset(model.params, 0, model.buffer_size * sizeof(floatX)));
    cudaCheck(cudaMemset(o.m, 0, opt_len * sizeof(float)));
    cudaCheck(cudaMemset(o.v, 0, opt_len * sizeof(float)));
    // the weight-decay mask, per tensor: AdamW looks each element's tensor up in this table
    std::vector<ParamTensor> table = param_table(config);
    std::vector<size_t> offsets;
    std::vector<unsigned char> decay;
    for (const ParamTensor& t : table) { offsets.push_back(t.offset); decay.push_back(t.decay); }
    offsets.push_back(n);
    o.num_tensors = (int)table.size();
    cudaCheck(cudaMalloc(&o.tensor_offsets, offsets.size() * sizeof(size_t)));
    cudaCheck(cudaMalloc(&o.tensor_decay, decay.size()));
    cudaCheck(cudaMemcpy(o.tensor_offsets, offsets.data(), offsets.size() * sizeof(size_t), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(o.tensor_decay, decay.data(), decay.size(), cudaMemcpyHostToDevice));
    model.p = param_views(model.params, config);
    model.g = param_views(model.grads, config);
    gpt_set_parameters(model, params);
    model.B = model.T = 0;
}

static void free_host_staging(HostStaging& h) {
    for (void* p : {(void*)h.inputs, (void*)h.targets, (void*)h.bucket_start, (void*)h.bucket_token, (void*)h.positions,
                    (void*)h.losses, (void*)h.loss_sum})
        cudaCheck(cudaFreeHost(p));
}

void gpt_free(GPT& model) {
    for (void* p : {(void*)model.params, (void*)model.grads, (void*)model.opt.master, (void*)model.opt.m, (void*)model.opt.v,
                    (void*)model.opt.tensor_offsets, (void*)model.opt.tensor_decay, model.act_memory, model.scratch_memory})
        cudaCheck(cudaFree(p));
    free_host_staging(model.host);
    if (model.host.uploaded) cudaCheck(cudaEventDestroy(model.host.uploaded));
    model = GPT();
}

static void gpt_allocate_activations(GPT& model, int B, int T) {
    if (model.B == B && model.T == T && model.allocated_recompute == model.recompute) return;
    cudaCheck(cudaStreamSynchronize(stream));   // (only when the sizes change) nothing may still use the old buffers
    cudaCheck(cudaFree(model.act_memory));
    cudaCheck(cudaFree(model.scratch_memory));
    model.act_memory = carve(activation_views(model, B, T));
    model.scratch_memory = carve(scratch_views(model, B, T));
    HostStaging& h = model.host;
    free_host_staging(h);
    size_t N = (size_t)B * T;
    int** ints[] = {&h.inputs, &h.targets, &h.bucket_start, &h.bucket_token, &h.positions};
    for (int** p : ints) cudaCheck(cudaMallocHost((void**)p, (N + 1) * sizeof(int)));
    cudaCheck(cudaMallocHost((void**)&h.losses, N * sizeof(float)));
    cudaCheck(cudaMallocHost((void**)&h.loss_sum, sizeof(double)));
    memset(h.losses, 0, N * sizeof(float));   // defined even where a copy does nothing (a dry run of the CPU execution mode)
    *h.loss_sum = 0;
    if (!h.uploaded) cudaCheck(cudaEventCreateWithFlags(&h.uploaded, cudaEventDisableTiming));
    model.B = B;
    model.T = T;
    model.allocated_recompute = model.recompute;
}

// groups the batch's positions by token on the host (a counting sort) for encoder_backward,
// and uploads them through the pinned buffers of h (which the caller made free to refill)
static void make_encoder_buckets(EncoderBuckets& e, HostStaging& h, const int* inputs, int N, int V) {
    std::vector<int> count(V + 1, 0);
    for (int i = 0; i < N; i++) count[inputs[i] + 1]++;
    for (int v = 0; v < V; v++) count[v + 1] += count[v];          // count[v] = first slot of token v
    std::vector<int> next(count.begin(), count.end() - 1);
    for (int i = 0; i < N; i++) h.positions[next[inputs[i]]++] = i;  // increasing positions per token
    int u = 0;
    e.largest = 0;
    for (int v = 0; v < V; v++)
        if (count[v + 1] > count[v]) {
            h.bucket_start[u] = count[v];
            h.bucket_token[u++] = v;
            e.largest = std::max(e.largest, count[v + 1] - count[v]);
        }
    h.bucket_start[u] = N;
    e.num_buckets = u;
    cudaCheck(cudaMemcpyAsync(e.bucket_start, h.bucket_start, (u + 1) * sizeof(int), cudaMemcpyHostToDevice, stream));
    cudaCheck(cudaMemcpyAsync(e.bucket_token, h.bucket_token, u * sizeof(int), cudaMemcpyHostToDevice, stream));
    cudaCheck(cudaMemcpyAsync(e.positions, h.positions, N * sizeof(int), cudaMemcpyHostToDevice, stream));
}

// loss_sum += scale * sum(losses), in a fixed order: 256 threads each add a fixed strided
// slice, then thread 0 adds the 256 partial sums in order, in double
__global__ void loss_sum_kernel(double* loss_sum, const float* losses, int N, double scale) {
    __shared__ double partial[256];
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) s += losses[i];
    partial[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x != 0) return;
    double total = 0.0;
    for (int i = 0; i < (int)blockDim.x; i++) total += partial[i];
    *loss_sum += scale * total;
}

// one layer's slices of the (L,...) activations, and the residual stream entering the layer
struct LayerActivations {
    floatX *residual;             // (B,T,C) the stream entering the layer
    floatX *ln1;                  // (B,T,C)
    float *ln1_mean, *ln1_rstd;   // (B,T) each
    floatX *qkv;                  // (B,T,3C)
    floatX *atty;                 // (B,T,C)
    float *att_lse;               // (B,NH,T)
    floatX *residual2;            // (B,T,C)
    floatX *ln2;                  // (B,T,C)
    float *ln2_mean, *ln2_rstd;   // (B,T) each
    floatX *fch, *fch_gelu;       // (B,T,4C) each
    floatX *residual3;            // (B,T,C) the stream leaving the layer
};

static LayerActivations layer_activations(const GPT& model, int l) {
    const Activations& a = model.a;
    size_t N = (size_t)model.B * model.T, C = model.config.channels, NH = model.config.num_heads, T = model.T;
    return {l == 0 ? a.encoded : a.residual3 + (l - 1) * N * C,
            a.ln1 + l * N * C, a.ln1_mean + l * N, a.ln1_rstd + l * N, a.qkv + l * N * 3 * C, a.atty + l * N * C,
            a.att_lse + l * model.B * NH * T, a.residual2 + l * N * C, a.ln2 + l * N * C, a.ln2_mean + l * N,
            a.ln2_rstd + l * N, a.fch + l * N * 4 * C, a.fch_gelu + (model.recompute >= 1 ? 0 : l * N * 4 * C),
            a.residual3 + l * N * C};
}

// forward pass over inputs (B,T) (host); with targets (B,T), also the loss: read back into
// model.mean_loss (a wait for the GPU), or with read_loss false, left on the device and its
// mean added to model.loss_sum (gpt_step reads the sum once, at the end of its micro-batches).
// loss_scale > 0 (training: gpt_step): the classifier also turns the logits into the gradient
// of loss_scale * mean_loss, in the same pass over them, and gpt_backward starts from there.
void gpt_forward(GPT& model, const int* inputs, const int* targets, int B, int T, float loss_scale = 0,
                 bool read_loss = true) {
    const GPTConfig& c = model.config;
    if (T > c.max_seq_len) fail("sequence length %d exceeds the model's %d positions (--seq-len)", T, c.max_seq_len);
    for (int i = 0; i < B * T; i++)
        if (inputs[i] < 0 || inputs[i] >= c.vocab_size || (targets && (targets[i] < 0 || targets[i] >= c.vocab_size)))
            fail("token id out of range [0, %d) at position %d: do --vocab-size and the data agree?", c.vocab_size, i);
    gpt_allocate_activations(model, B, T);
    int L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, N = B * T;
    Activations& a = model.a;
    ParamViews<floatX>& p = model.p;
    // the uploads go through pinned buffers; the host may refill them once the last ones went
    HostStaging& h = model.host;
    cudaCheck(cudaEventSynchronize(h.uploaded));
    memcpy(h.inputs, inputs, N * sizeof(int));
    cudaCheck(cudaMemcpyAsync(a.inputs, h.inputs, N * sizeof(int), cudaMemcpyHostToDevice, stream));
    if (targets) {
        memcpy(h.targets, targets, N * sizeof(int));
        cudaCheck(cudaMemcpyAsync(a.targets, h.targets, N * sizeof(int), cudaMemcpyHostToDevice, stream));
    }
    cudaCheck(cudaEventRecord(h.uploaded, stream));

    encoder_forward(a.encoded, a.inputs, p.wte, p.wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        const BlockParams<floatX>& w = p.h[l];
        LayerActivations act = layer_activations(model, l);
        layernorm_forward(act.ln1, act.ln1_mean, act.ln1_rstd, act.residual, w.ln1w, w.ln1b, N, C);
        matmul_forward(act.qkv, act.ln1, w.qkvw, w.qkvb, N, C, 3 * C);         // (N,C) -> (N,3C)
        attention_forward(act.atty, act.att_lse, act.qkv, B, T, C, NH);         // (N,3C) -> (N,C)
        // x = x + attn(ln_1(x)): the projection and the residual add in one matmul
        matmul_residual_forward(act.residual2, act.residual, act.atty, w.attprojw, w.attprojb, N, C, C);
        layernorm_forward(act.ln2, act.ln2_mean, act.ln2_rstd, act.residual2, w.ln2w, w.ln2b, N, C);
        // (N,C) -> (N,4C): fch_gelu = gelu(fch), fch = ln2 @ fcw + fcb kept, GELU in the matmul's epilogue
        matmul_forward(act.fch_gelu, act.ln2, w.fcw, w.fcb, N, C, 4 * C, act.fch);
        // x = x + mlp(ln_2(x)): (N,4C) -> (N,C), the residual add in the same matmul
        matmul_residual_forward(act.residual3, act.residual2, act.fch_gelu, w.fcprojw, w.fcprojb, N, 4 * C, C);
    }
    const floatX* last = a.residual3 + (size_t)(L - 1) * N * C;   // the stream leaving the last layer
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, N, C);
    // logits = lnf @ wte.T (tied head); column-major: logits^T (Vp,N) = wte (Vp,C) @ lnf^T (C,N)
    matmul_cublaslt(a.logits, CUBLAS_FLOATX, p.wte, a.lnf, nullptr, Vp, N, C, true, false, nullptr);
    model.mean_loss = -1;
    model.dlogits_scale = 0;
    if (loss_scale > 0 && !targets) fail("gpt_forward: a loss_scale (%g) needs targets", loss_scale);
    if (targets && loss_scale > 0) {   // logits -> dlogits, and the loss
        crossentropy_forward_backward(a.losses, a.lse, a.logits, a.targets, loss_scale / N, N, c.vocab_size, Vp);
        model.dlogits_scale = loss_scale;
    } else if (targets) {
        crossentropy_forward(a.losses, a.lse, a.logits, a.targets, N, c.vocab_size, Vp);
    }
    if (targets && !read_loss) {   // the mean stays on the device; mean_loss 0 says a backward may follow
        loss_sum_kernel<<<1, 256, 0, stream>>>(model.loss_sum, a.losses, N, 1.0 / N);
        cudaCheck(cudaGetLastError());
        model.mean_loss = 0;
        return;
    }
    if (targets) {
        cudaCheck(cudaMemcpyAsync(h.losses, a.losses, N * sizeof(float), cudaMemcpyDeviceToHost, stream));
        cudaCheck(cudaStreamSynchronize(stream));   // the host reads the losses: it must wait for them
        double sum = 0;
        for (int i = 0; i < N; i++) sum += h.losses[i];
        model.mean_loss = (float)(sum / N);
    }
}

void gpt_zero_grad(GPT& model) { cudaCheck(cudaMemsetAsync(model.grads, 0, model.buffer_size * sizeof(float), stream)); }

// backward pass of the last gpt_forward (which must have had targets): adds the gradient of
// loss_scale * mean_loss to model.grads. It calls the layers' backward functions in exactly
// the reverse order of gpt_forward; the first, crossentropy_backward, only where the forward
// did not already turn the logits into their gradient (it did when given the same loss_scale).
void gpt_backward(GPT& model, float loss_scale) {
    if (model.mean_loss < 0) fail("gpt_backward needs a forward pass with targets first");
    const GPTConfig& c = model.config;
    int B = model.B, T = model.T, L = c.num_layers, NH = c.num_heads, C = c.channels;
    int V = c.vocab_size, Vp = c.padded_vocab_size, N = B * T;
    Activations& a = model.a;
    GradScratch& d = model.d;
    ParamViews<floatX>& p = model.p;
    ParamViews<float>& g = model.g;
    const Workspace& ws = model.ws;

    // dwte's buckets (encoder_backward, the last layer below), made from the forward's inputs
    // in their pinned buffer while the GPU runs that forward: host time the GPU does not wait
    // for. The previous buckets have gone up: the forward waited for every earlier upload
    make_encoder_buckets(model.buckets, model.host, model.host.inputs, N, V);
    cudaCheck(cudaEventRecord(model.host.uploaded, stream));
    if (model.dlogits_scale == 0) crossentropy_backward(a.logits, a.lse, a.targets, loss_scale / N, N, V, Vp);   // logits -> dlogits
    else if (model.dlogits_scale != loss_scale)
        fail("gpt_backward(loss_scale %g) after gpt_forward made the logits' gradient for loss_scale %g", loss_scale,
             model.dlogits_scale);
    // dlnf = dlogits @ wte; column-major: dlnf^T (C,N) = wte^T (C,Vp) @ dlogits^T (Vp,N)
    matmul_cublaslt(d.dln, CUBLAS_FLOATX, p.wte, a.logits, nullptr, C, N, Vp, false, false, nullptr);
    // dwte += dlogits.T @ lnf; column-major: dwte^T (C,Vp) += lnf^T (C,N) @ dlogits (N,Vp)
    matmul_cublaslt(g.wte, CUDA_R_32F, a.lnf, a.logits, nullptr, C, Vp, N, false, true, g.wte);
    // The residual stream's gradient flows backward through the layers; each branch reads it
    // and layernorm_backward adds the branch's contribution back into it.
    cudaCheck(cudaMemsetAsync(d.dresidual, 0, (size_t)N * C * sizeof(floatX), stream));
    floatX* last = a.residual3 + (size_t)(L - 1) * N * C;
    layernorm_backward(d.dresidual, g.lnfw, g.lnfb, d.dln, last, p.lnfw, a.lnf_mean, a.lnf_rstd, N, C, ws);
    for (int l = L - 1; l >= 0; l--) {
        const BlockParams<floatX>& w = p.h[l];
        const BlockParams<float>& dw = g.h[l];
        LayerActivations act = layer_activations(model, l);
        // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln_2(residual2))))
        // --recompute 1 kept only the pre-GELU values: remake this layer's GELU output from them
        // (the forward's came from the fc matmul's epilogue: the same function, equal to rounding)
        if (model.recompute >= 1) gelu_forward(act.fch_gelu, act.fch, (size_t)N * 4 * C);
        // dfch = d(loss)/d(fch): fcproj's backward with GELU's backward in its epilogue
        matmul_backward(d.dfch, dw.fcprojw, dw.fcprojb, d.dresidual, act.fch_gelu, w.fcprojw, N, 4 * C, C, ws, act.fch);
        matmul_backward(d.dln, dw.fcw, dw.fcb, d.dfch, act.ln2, w.fcw, N, C, 4 * C, ws);
        layernorm_backward(d.dresidual, dw.ln2w, dw.ln2b, d.dln, act.residual2, w.ln2w,
                           act.ln2_mean, act.ln2_rstd, N, C, ws);   // now d(loss)/d(residual2)
        // attention branch: residual2 = residual + attproj(attention(qkv(ln_1(residual))))
        matmul_backward(d.datty, dw.attprojw, dw.attprojb, d.dresidual, act.atty, w.attprojw, N, C, C, ws);
        attention_backward(d.dqkv, d.datty, act.qkv, act.atty, act.att_lse, B, T, C, NH, ws);
        matmul_backward(d.dln, dw.qkvw, dw.qkvb, d.dqkv, act.ln1, w.qkvw, N, C, 3 * C, ws);
        layernorm_backward(d.dresidual, dw.ln1w, dw.ln1b, d.dln, act.residual, w.ln1w,
                           act.ln1_mean, act.ln1_rstd, N, C, ws);   // now d(loss)/d(residual)
    }
    encoder_backward(g.wte, g.wpe, d.dresidual, model.buckets, B, T, C);
    model.mean_loss = -1;   // the logits are gone: a second backward needs a new forward
    model.dlogits_scale = 0;
}

// --- global gradient norm, deterministic: a fixed grid of blocks each sums a fixed slice of
// squares, 16 bytes (4 floats) per load where x is 16-byte aligned; the last block to finish
// (an integer ticket, as in layernorm_backward) adds the block sums in order, in double.
// One launch; memory reads the n fp32 gradients once.
template <int W>
__global__ void sum_squares_kernel(double* out, float* partial, unsigned int* ticket, const float* x, size_t n) {
    __shared__ unsigned int is_last;
    float s = 0.0f;
    size_t stride = (size_t)gridDim.x * blockDim.x * W;
    for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W; i < n; i += stride) {
        if (i + W <= n) {
            Packed<float, W> p = load_packed<W>(x + i);
            #pragma unroll
            for (int k = 0; k < W; k++) s += p[k] * p[k];
        } else {
            for (size_t j = i; j < n; j++) s += x[j] * x[j];   // the tail
        }
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = s;
        __threadfence();   // the block sum is visible to every block before this block's ticket is taken
        is_last = atomicAdd(ticket, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (!is_last || threadIdx.x != 0) return;
    double sum = 0.0;
    for (int b = 0; b < (int)gridDim.x; b++) sum += partial[b];
    *out = sum;
    *ticket = 0;   // ready for the next launch
}

// the sum of squares of x (n, device), back on the host; ws: norm_partial, norm_result, ticket.
// The host needs the norm before the update (the clip, and the stop on a NaN): it waits here.
static double sum_squares(const float* x, size_t n, const Workspace& ws) {
    assert(ws.norm_partial && ws.norm_result && ws.ticket);   // carved with the activations (gpt_allocate_activations)
    int block_size = 256;
    if (aligned16({x}))
        sum_squares_kernel<PACK16<float>><<<NORM_BLOCKS, block_size, 0, stream>>>(ws.norm_result, ws.norm_partial, ws.ticket, x, n);
    else
        sum_squares_kernel<1><<<NORM_BLOCKS, block_size, 0, stream>>>(ws.norm_result, ws.norm_partial, ws.ticket, x, n);
    cudaCheck(cudaGetLastError());
    double result = 0;   // defined even where the copy does nothing (a dry run of the CPU execution mode)
    cudaCheck(cudaMemcpyAsync(&result, ws.norm_result, sizeof result, cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));   // the host reads the norm: it must wait for it
    return result;
}

// --- AdamW over this rank's range of the one parameter buffer, one kernel. Each thread updates
// W consecutive values (4 floats: 16-byte loads and stores of the gradient, master weight and
// both moments) and finds their tensor in a small table (binary search over ~12L offsets) for
// the decay mask, stepping to the next tensor where one ends inside the pack. Memory: 16 bytes
// read and 12 + sizeof(floatX) written per parameter, the least AdamW can move.
__device__ inline float adamw_step(float& m, float& v, float p, float grad, float wd, float lr, float beta1, float beta2,
                                   float bc1, float bc2, float eps) {
    m = beta1 * m + (1.0f - beta1) * grad;
    v = beta2 * v + (1.0f - beta2) * grad * grad;
    float mhat = m / bc1, vhat = v / bc2;
    return p - lr * (mhat / (sqrtf(vhat) + eps) + wd * p);   // the new weight
}

template <int W>
__global__ void adamw_kernel(floatX* params, float* master, float* m, float* v, const float* grads, size_t first, size_t count,
                             const size_t* offsets, const unsigned char* decay, int num_tensors, float lr, float beta1,
                             float beta2, float bc1, float bc2, float eps, float weight_decay, float grad_scale) {
    size_t j = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;   // this pack's first index in the shard
    if (j >= count) return;
    size_t i = first + j;                         // ... and in the whole buffer
    int lo = 0, hi = num_tensors - 1;             // the last tensor whose offset is <= i
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= i) lo = mid; else hi = mid - 1;
    }
    int n = count - j < (size_t)W ? (int)(count - j) : W;   // W, fewer in the tail
    Packed<float, W> g, mj, vj, p;
    Packed<floatX, W> out;
    if (n == W) { g = load_packed<W>(grads + i); mj = load_packed<W>(m + j); vj = load_packed<W>(v + j); p = load_packed<W>(master + j); }
    else for (int k = 0; k < n; k++) { g.v[k] = grads[i + k]; mj.v[k] = m[j + k]; vj.v[k] = v[j + k]; p.v[k] = master[j + k]; }
    #pragma unroll
    for (int k = 0; k < W; k++) {
        if (k >= n) break;
        while (lo + 1 < num_tensors && offsets[lo + 1] <= i + k) lo++;   // a tensor ends inside the pack
        float wd = decay[lo] ? weight_decay : 0.0f;
        p.v[k] = adamw_step(mj.v[k], vj.v[k], p.v[k], g.v[k] * grad_scale, wd, lr, beta1, beta2, bc1, bc2, eps);
        out.set(k, p.v[k]);                       // the fp32 master weight rounded for the layers
    }
    if (n == W) { store_packed(m + j, mj); store_packed(v + j, vj); store_packed(master + j, p); store_packed(params + i, out); }
    else for (int k = 0; k < n; k++) { m[j + k] = mj.v[k]; v[j + k] = vj.v[k]; master[j + k] = p.v[k]; params[i + k] = out.v[k]; }
}

// AdamW's settings for one step: lr is that step's learning rate (train() takes it from the
// schedule, lr_at). Weight decay is decoupled and applies to 2-D tensors only.
struct AdamW {
    float lr, beta1, beta2, eps, weight_decay;
};

// AdamW on the parameters this rank updates (model.opt: all of them, or its ZeRO-1 shard).
// grad_scale multiplies every gradient first (gradient clipping); t counts optimizer steps from 1.
void gpt_update(GPT& model, const AdamW& opt, float grad_scale, int t) {
    const OptState& o = model.opt;
    if (o.count == 0) return;
    float bc1 = 1.0f - std::pow(opt.beta1, (float)t), bc2 = 1.0f - std::pow(opt.beta2, (float)t);   // bias corrections
    // 16-byte packs where this rank's range starts 16-byte aligned (always: this trainer's ZeRO-1
    // shards are multiples of SHARD_ALIGN values); else one value per thread, the same arithmetic
    const int W = PACK16<float>;
    bool packed = o.first % W == 0 && aligned16({model.params, model.grads, o.master, o.m, o.v});
    int block_size = 256;
    size_t blocks = CEIL_DIV(o.count, (size_t)block_size * (packed ? W : 1));
    if (packed)
        adamw_kernel<W><<<blocks, block_size, 0, stream>>>(model.params, o.master, o.m, o.v, model.grads, o.first, o.count,
                                                           o.tensor_offsets, o.tensor_decay, o.num_tensors, opt.lr, opt.beta1,
                                                           opt.beta2, bc1, bc2, opt.eps, opt.weight_decay, grad_scale);
    else
        adamw_kernel<1><<<blocks, block_size, 0, stream>>>(model.params, o.master, o.m, o.v, model.grads, o.first, o.count,
                                                           o.tensor_offsets, o.tensor_decay, o.num_tensors, opt.lr, opt.beta1,
                                                           opt.beta2, bc1, bc2, opt.eps, opt.weight_decay, grad_scale);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// data-parallel: one process per GPU. Each rank runs forward and backward on its own slice
// of the batch, the gradients are averaged (NCCL), and every rank takes the same optimizer
// step. With ZeRO-1, the average is a reduce-scatter (rank r gets the mean of its shard),
// each rank updates its shard, and the new floatX weights are all-gathered. Ranks come from
// mpirun (-DUSE_MPI) or torchrun's environment variables (rendezvous.h hands NCCL's id over);
// one GPU needs neither, and every collective is a no-op. A rank that fails aborts its
// communicator before it exits (main), so that no other rank waits for it forever.

struct ProcessGroup {
    int rank = 0, world = 1, local_rank = 0;
    ncclComm_t comm = nullptr;
    double* sum_buffer = nullptr;   // (1) on the device: what dp_sum all-reduces (world > 1 only)
};

ProcessGroup dp_init(int* argc, char*** argv) {
    ProcessGroup pg;
#ifdef USE_MPI
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &pg.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &pg.world);
    MPI_Comm local;   // the ranks on this machine, to pick this rank's GPU
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, pg.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &pg.local_rank);
    MPI_Comm_free(&local);
#else
    pg.rank = env_int("RANK", 0);
    pg.world = env_int("WORLD_SIZE", 1);
    pg.local_rank = env_int("LOCAL_RANK", pg.rank);
    if (pg.world < 1 || pg.rank >= pg.world) fail("RANK=%d is not below WORLD_SIZE=%d", pg.rank, pg.world);
#endif
    cuda_setup(pg.local_rank);
    if (pg.world > 1) {
        ncclUniqueId id;
        if (pg.rank == 0) ncclCheck(ncclGetUniqueId(&id));
#ifdef USE_MPI
        MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
#else
        broadcast_from_rank0(&id, sizeof id, pg.rank, pg.world);   // over a socket: rendezvous.h
#endif
        ncclCheck(ncclCommInitRank(&pg.comm, pg.world, id, pg.rank));
        cudaCheck(cudaMalloc(&pg.sum_buffer, sizeof(double)));
    }
    return pg;
}

void dp_finalize(ProcessGroup& pg) {
    if (pg.comm) ncclCheck(ncclCommDestroy(pg.comm));
    if (pg.sum_buffer) cudaCheck(cudaFree(pg.sum_buffer));
    cuda_teardown();
#ifdef USE_MPI
    MPI_Finalize();
#endif
    pg = ProcessGroup();
}

inline ncclDataType_t nccl_type(const float*) { return ncclFloat; }
inline ncclDataType_t nccl_type(const __nv_bfloat16*) { return ncclBfloat16; }

// every rank's shard of buf (padded_size(n, world) elements) is copied to all ranks
template <class T> void dp_all_gather(const ProcessGroup& pg, T* buf, size_t n) {
    if (pg.world == 1) return;
    size_t s = shard_size(n, pg.world, SHARD_ALIGN);
    ncclCheck(ncclAllGather(buf + s * pg.rank, buf, s, nccl_type(buf), pg.comm, stream));
}

// grads (padded_size(n, world), fp32): the mean over ranks, of this rank's shard (ZeRO-1, a
// reduce-scatter: half the traffic) or of all of it (ZeRO off, one all-reduce)
void dp_average_gradients(const ProcessGroup& pg, float* grads, size_t n, int zero) {
    if (pg.world == 1) return;
    size_t s = shard_size(n, pg.world, SHARD_ALIGN);
    if (zero) ncclCheck(ncclReduceScatter(grads, grads + s * pg.rank, s, ncclFloat, ncclAvg, pg.comm, stream));
    else ncclCheck(ncclAllReduce(grads, grads, s * pg.world, ncclFloat, ncclAvg, pg.comm, stream));
}

// the sum of x over ranks (every rank gets the same value), through pg's own device buffer
double dp_sum(const ProcessGroup& pg, double x) {
    if (pg.world == 1) return x;
    cudaCheck(cudaMemcpyAsync(pg.sum_buffer, &x, sizeof x, cudaMemcpyHostToDevice, stream));
    ncclCheck(ncclAllReduce(pg.sum_buffer, pg.sum_buffer, 1, ncclDouble, ncclSum, pg.comm, stream));
    cudaCheck(cudaMemcpyAsync(&x, pg.sum_buffer, sizeof x, cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));
    return x;
}

// what one optimizer step reports
struct StepStats {
    double loss;        // the mean training loss of the step's batch over all ranks, before the update
    double norm;        // the global gradient norm, before clipping
    float grad_scale;   // what clipping multiplied the gradients by (1: no clipping)
};

// before the first of several forwards that add their mean losses on the device (read_loss
// false): the activations for B, T (model.loss_sum among them), and that sum set to zero
static void start_loss_sum(GPT& model, int B, int T) {
    gpt_allocate_activations(model, B, T);
    cudaCheck(cudaMemsetAsync(model.loss_sum, 0, sizeof(double), stream));
}

// One optimizer step on the loader's next K micro-batches of B x T tokens (per rank); opt.lr
// is this step's learning rate, grad_clip the largest global gradient norm (0 = off), step
// counts from 0. A collective: every rank calls it. train(), the tests and the tutorial take
// their steps here. The host waits for the GPU twice: for the loss and the norm together,
// which it must see before the update (the clip, the stop on a NaN), and at the end.
StepStats gpt_step(GPT& model, DataLoader& loader, const ProcessGroup& pg, const AdamW& opt, float grad_clip, int step) {
    int B = loader.batch(), T = loader.seq_len(), K = loader.grad_accum();
    size_t n = model.num_params;
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    StepStats st;
    // 1. forward and backward over K micro-batches, the gradients adding up in model.grads
    gpt_zero_grad(model);
    for (int k = 0; k < K; k++) {
        loader.next_batch(inputs.data(), targets.data());
        if (k == 0) start_loss_sum(model, B, T);
        // the loss and the logits' gradient; the loss's mean is added to model.loss_sum on the device
        gpt_forward(model, inputs.data(), targets.data(), B, T, 1.0f / K, false);
        gpt_backward(model, 1.0f / K);
    }
    // the loss comes back with the norm, in sum_squares' one wait
    cudaCheck(cudaMemcpyAsync(model.host.loss_sum, model.loss_sum, sizeof(double), cudaMemcpyDeviceToHost, stream));
    // 2. average the gradients over ranks (all of them, or this rank's shard under ZeRO-1);
    //    the global norm is the sum over ranks of each rank's shard
    dp_average_gradients(pg, model.grads, n, model.zero);
    Shard mine = shard_of(n, pg.world, pg.rank, SHARD_ALIGN);
    st.norm = std::sqrt(dp_sum(pg, sum_squares(model.grads + mine.begin, mine.end - mine.begin, model.ws)));
    st.loss = dp_sum(pg, *model.host.loss_sum / K) / pg.world;
    check_step_finite(step + 1, st.loss, st.norm);   // NaN must not reach the weights
    // 3. update: clip the global norm (as torch.nn.utils.clip_grad_norm_), then AdamW;
    //    under ZeRO-1 each rank updated its shard, and the ranks swap the new weights
    st.grad_scale = grad_clip > 0 && st.norm > grad_clip ? (float)(grad_clip / (st.norm + 1e-6)) : 1.0f;
    gpt_update(model, opt, st.grad_scale, step + 1);
    if (model.zero) dp_all_gather(pg, model.params, n);
    cudaCheck(cudaStreamSynchronize(stream));   // the step's work is done when it returns: its time is its own
    return st;
}

// the full fp32 master weights and moments on the host (n each), gathered from the shards
// under ZeRO-1; for checkpoints. Every rank must call it (it is a collective).
static void gpt_download_optimizer(GPT& model, const ProcessGroup& pg, std::vector<float>& master, std::vector<float>& m,
                                   std::vector<float>& v) {
    size_t n = model.num_params;
    const OptState& o = model.opt;
    float* full = nullptr;
    bool sharded = o.count != n || o.first != 0;
    if (sharded) cudaCheck(cudaMalloc(&full, model.buffer_size * sizeof(float)));
    std::vector<float>* out[3] = {&master, &m, &v};
    float* src[3] = {o.master, o.m, o.v};
    for (int i = 0; i < 3; i++) {
        const float* from = src[i];
        if (sharded) {
            cudaCheck(cudaMemsetAsync(full, 0, model.buffer_size * sizeof(float), stream));
            cudaCheck(cudaMemcpyAsync(full + o.first, src[i], o.count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
            dp_all_gather(pg, full, n);
            from = full;
        }
        out[i]->resize(n);
        cudaCheck(cudaMemcpyAsync(out[i]->data(), from, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
    }
    cudaCheck(cudaStreamSynchronize(stream));
    cudaCheck(cudaFree(full));
}

// ----------------------------------------------------------------------------
// data and sampling

// the mean loss over `batches` validation batches (the same batches every time), averaged over ranks
double gpt_validate(GPT& model, DataLoader& loader, int batches, int B, int T, const ProcessGroup& pg) {
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    loader.reset();
    for (int i = 0; i < batches; i++) {
        loader.next_batch(inputs.data(), targets.data());
        if (i == 0) start_loss_sum(model, B, T);
        // each batch's mean loss is added to model.loss_sum on the device: the host reads the
        // next batch while the GPU runs this one, and waits once, for the sum
        gpt_forward(model, inputs.data(), targets.data(), B, T, 0, false);
    }
    cudaCheck(cudaMemcpyAsync(model.host.loss_sum, model.loss_sum, sizeof(double), cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));   // the host reads the sum: it must wait for it
    model.mean_loss = -1;                       // no backward follows a validation
    return dp_sum(pg, *model.host.loss_sum / batches) / pg.world;
}

// attention for one new position against the cached keys and values of the positions before
// it; one block per head. The keys are walked in tiles of CACHED_TILE positions with an
// online softmax, as flash-decoding does: a running max and sum, and the output so far
// rescaled whenever the max grows. So shared memory holds one tile of weights and one head's
// output, whatever the context length (all pos+1 scores at once would pass the 48 KB a kernel
// may use without opting in once the context passes 12,288 positions). Flash-decoding also
// splits a long context over several blocks per head; one block per head is enough here.
static const int CACHED_TILE = 256;
__global__ void attention_forward_cached_kernel(floatX* out, const floatX* kcache, const floatX* vcache, const floatX* qkv,
                                                int pos, int C, int NH) {
    extern __shared__ float smem[];
    float* w = smem;                 // (CACHED_TILE) this tile's scores, then its weights
    float* o = smem + CACHED_TILE;   // (HS) the output so far, in units of exp(maxv)
    int h = blockIdx.x, HS = C / NH;
    const floatX* q = qkv + h * HS;
    float scale = 1.0f / sqrtf((float)HS), maxv = -INFINITY, sum = 0.0f;
    for (int i = threadIdx.x; i < HS; i += blockDim.x) o[i] = 0.0f;
    for (int t0 = 0; t0 <= pos; t0 += CACHED_TILE) {
        int n = min(CACHED_TILE, pos + 1 - t0);   // positions t0 .. t0+n-1
        float tile_max = -INFINITY;
        for (int j = threadIdx.x; j < n; j += blockDim.x) {
            const floatX* k = kcache + (size_t)(t0 + j) * C + h * HS;
            float s = 0.0f;
            for (int i = 0; i < HS; i++) s += (float)q[i] * (float)k[i];
            w[j] = s * scale;
            tile_max = fmaxf(tile_max, w[j]);
        }
        float new_max = fmaxf(maxv, block_max(tile_max));
        float tile_sum = 0.0f;
        for (int j = threadIdx.x; j < n; j += blockDim.x) { w[j] = expf(w[j] - new_max); tile_sum += w[j]; }
        tile_sum = block_sum(tile_sum);            // its barriers also make every w[j] visible to all threads
        float rescale = expf(maxv - new_max);      // the old terms in units of the new max (0 on the first tile)
        sum = sum * rescale + tile_sum;
        for (int i = threadIdx.x; i < HS; i += blockDim.x) {   // each thread owns its own o[i]
            float acc = o[i] * rescale;
            for (int j = 0; j < n; j++) acc += w[j] * (float)vcache[(size_t)(t0 + j) * C + h * HS + i];
            o[i] = acc;
        }
        maxv = new_max;
        __syncthreads();                           // all have read w before the next tile writes it
    }
    for (int i = threadIdx.x; i < HS; i += blockDim.x) out[h * HS + i] = (floatX)(o[i] / sum);   // softmax(q k^T) v
}

void attention_forward_cached(floatX* out, floatX* kcache, floatX* vcache, const floatX* qkv, int pos, int C, int NH) {
    // out (C), kcache and vcache (maxT,C) of this layer, qkv (3C) of position pos
    size_t smem = (size_t)(CACHED_TILE + C / NH) * sizeof(float);   // independent of pos
    assert(pos >= 0 && NH > 0 && C % NH == 0 && smem <= 48 * 1024);
    cudaCheck(cudaMemcpyAsync(kcache + (size_t)pos * C, qkv + C, C * sizeof(floatX), cudaMemcpyDeviceToDevice, stream));
    cudaCheck(cudaMemcpyAsync(vcache + (size_t)pos * C, qkv + 2 * C, C * sizeof(floatX), cudaMemcpyDeviceToDevice, stream));
    int block_size = 128;
    attention_forward_cached_kernel<<<NH, block_size, smem, stream>>>(out, kcache, vcache, qkv, pos, C, NH);
    cudaCheck(cudaGetLastError());
}

// the model on one token at position pos, reusing the keys and values of earlier positions
// (the KV cache): each new token costs one position instead of a whole forward pass.
// Same layers as gpt_forward with N = 1; the logits (V) come back to the host.
struct KVCache {
    floatX *k = nullptr, *v = nullptr;   // (L,maxT,C) each: the keys and values of the positions so far
    floatX *x, *ln, *atty;               // (C) each: the stream, a LayerNorm's output, attention's
    floatX *qkv;                         // (3C)
    floatX *fch, *fch_gelu;              // (4C) each
    floatX *logits;                      // (Vp)
    float *mean, *rstd;                  // (1) each
    int* token;                          // (1)
    void* memory = nullptr;
    std::vector<floatX> host_logits;
    ~KVCache() { if (memory) cudaFree(memory); }
};

// the cache's tensors, one a line (check_batch_fits counts them before training starts)
static std::vector<View> kv_cache_views(KVCache& cache, const GPTConfig& c) {
    size_t C = c.channels, Vp = c.padded_vocab_size, X = sizeof(floatX), per_layer = (size_t)c.max_seq_len * C;
    return {
        {(void**)&cache.k, c.num_layers * per_layer * X},   // (L,maxT,C)
        {(void**)&cache.v, c.num_layers * per_layer * X},   // (L,maxT,C)
        {(void**)&cache.x, C * X},                          // (C)
        {(void**)&cache.ln, C * X},                         // (C)
        {(void**)&cache.qkv, 3 * C * X},                    // (3C)
        {(void**)&cache.atty, C * X},                       // (C)
        {(void**)&cache.fch, 4 * C * X},                    // (4C)
        {(void**)&cache.fch_gelu, 4 * C * X},               // (4C)
        {(void**)&cache.logits, Vp * X},                    // (Vp)
        {(void**)&cache.mean, sizeof(float)},               // (1)
        {(void**)&cache.rstd, sizeof(float)},               // (1)
        {(void**)&cache.token, sizeof(int)},                // (1)
    };
}

void gpt_forward_cached(GPT& model, KVCache& cache, int token, int pos, float* logits) {
    const GPTConfig& c = model.config;
    int C = c.channels, Vp = c.padded_vocab_size;
    size_t per_layer = (size_t)c.max_seq_len * C, X = sizeof(floatX);
    if (!cache.memory) {
        cache.memory = carve(kv_cache_views(cache, c));
        cache.host_logits.resize(Vp);
    }
    cudaCheck(cudaMemcpyAsync(cache.token, &token, sizeof(int), cudaMemcpyHostToDevice, stream));
    encoder_forward(cache.x, cache.token, model.p.wte, model.p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c.num_layers; l++) {
        const BlockParams<floatX>& w = model.p.h[l];
        layernorm_forward(cache.ln, cache.mean, cache.rstd, cache.x, w.ln1w, w.ln1b, 1, C);
        matmul_forward(cache.qkv, cache.ln, w.qkvw, w.qkvb, 1, C, 3 * C);
        attention_forward_cached(cache.atty, cache.k + l * per_layer, cache.v + l * per_layer, cache.qkv, pos, C, c.num_heads);
        matmul_residual_forward(cache.x, cache.x, cache.atty, w.attprojw, w.attprojb, 1, C, C);
        layernorm_forward(cache.ln, cache.mean, cache.rstd, cache.x, w.ln2w, w.ln2b, 1, C);
        matmul_forward(cache.fch_gelu, cache.ln, w.fcw, w.fcb, 1, C, 4 * C, cache.fch);
        matmul_residual_forward(cache.x, cache.x, cache.fch_gelu, w.fcprojw, w.fcprojb, 1, 4 * C, C);
    }
    layernorm_forward(cache.ln, cache.mean, cache.rstd, cache.x, model.p.lnfw, model.p.lnfb, 1, C);
    matmul_cublaslt(cache.logits, CUBLAS_FLOATX, model.p.wte, cache.ln, nullptr, Vp, 1, C, true, false, nullptr);
    cudaCheck(cudaMemcpyAsync(cache.host_logits.data(), cache.logits, Vp * X, cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));
    for (int i = 0; i < c.vocab_size; i++) logits[i] = (float)cache.host_logits[i];
}

// continues `prompt` by n tokens and returns them; tok (may be null) decodes them as they come.
// The sampling loop itself (generate_tokens, sample_token) is host code shared with the CPU trainer.
std::vector<int> gpt_generate(GPT& model, const std::vector<int>& prompt, int n, float temperature, int top_k,
                              Rng& rng, const Tokenizer* tok, FILE* echo) {
    const GPTConfig& c = model.config;
    KVCache cache;
    std::vector<float> logits(c.vocab_size);
    return generate_tokens(c.max_seq_len, c.vocab_size, prompt, n, temperature, top_k, rng, tok, echo,
                           [&](int token, int pos) {
                               gpt_forward_cached(model, cache, token, pos, logits.data());
                               return logits.data();
                           });
}

// ----------------------------------------------------------------------------
// main: the training loop

// the vocabulary is padded to a multiple of 128 (full tensor-core tiles for the classifier);
// start_run applies it
constexpr int VOCAB_MULTIPLE = 128;

// What a run allocates after its first step, beyond the weights, gradients, optimizer state
// (allocated before the check) and the activations; each only where the run needs it. A batch
// that left no room for these would fail later: at the first all-reduce, save or sample.
struct LaterMemory {
    size_t zero_gather = 0;   // a save under ZeRO-1 gathers the master weights and moments: (buffer_size) fp32
    size_t nccl = 0;          // NCCL's buffers, an estimate (NCCL_ESTIMATE)
    size_t kv_cache = 0;      // sampling: the keys and values of every layer and position (kv_cache_views)
    size_t total() const { return zero_gather + nccl + kv_cache; }
    std::string text() const {
        return "ZeRO checkpoint gather " + format_bytes(zero_gather) + ", NCCL buffers " + format_bytes(nccl) +
               " (estimate), KV cache for sampling " + format_bytes(kv_cache);
    }
};
// NCCL's own device buffers, allocated at the first collective: NCCL_BUFFSIZE (4 MiB) per channel,
// peer and protocol, a few hundred MiB per GPU on 8 NVLink GPUs. 1 GiB: an upper estimate.
static const size_t NCCL_ESTIMATE = 1ull << 30;

static LaterMemory later_memory(GPT& model, const Settings& s, int world) {
    LaterMemory m;
    bool sharded = model.opt.count != model.num_params || model.opt.first != 0;   // as gpt_download_optimizer
    if (!s.out.empty() && sharded) m.zero_gather = model.buffer_size * sizeof(float);
    if (world > 1) m.nccl = NCCL_ESTIMATE;
    KVCache views_only;   // nothing is allocated: the views only give the sizes
    if (s.sample_every > 0 && s.sample_tokens > 0) m.kv_cache = carve_size(kv_cache_views(views_only, model.config));
    return m;
}

// the activations for B, T (as model.recompute keeps them), and what the run allocates later,
// must fit in what is free on the GPU: say so before training starts
static void check_batch_fits(GPT& model, int B, int T, const LaterMemory& later) {
    size_t free_bytes, total_bytes, margin = 256ull << 20;   // room for cuBLAS's own buffers
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t need = activation_bytes(model, B, T), fixed = later.total() + margin;
    if (need + fixed <= free_bytes) return;
    auto largest_batch = [&]() {
        int largest = 0;
        while (activation_bytes(model, largest + 1, T) + fixed <= free_bytes) largest++;
        return largest;
    };
    int largest = largest_batch();
    std::string what = format_bytes(need) + " of activations, and later " + later.text() + ",";
    std::string hint;   // keeping less (--recompute 1) may fit more
    if (model.recompute == 0) {
        model.recompute = 1;
        int with_recompute = largest_batch();
        model.recompute = 0;
        if (with_recompute >= B) hint = "; or keep this batch with --recompute 1";
        else if (with_recompute > largest) hint = "; --recompute 1 fits up to --batch " + std::to_string(with_recompute);
    }
    if (largest == 0)
        fail("--batch %d --seq-len %d needs %s but only %s of GPU memory is free, and not even --batch 1 fits: "
             "lower --seq-len, use a smaller model, or turn off sampling (--sample-every 0)%s", B, T, what.c_str(),
             format_bytes(free_bytes).c_str(), hint.c_str());
    fail("--batch %d --seq-len %d needs %s but only %s of GPU memory is free: the largest batch that fits is "
         "--batch %d (raise --grad-accum to keep the tokens per step)%s", B, T, what.c_str(), format_bytes(free_bytes).c_str(),
         largest, hint.c_str());
}

int train(int argc, char** argv, const ProcessGroup& pg) {
    Settings s;   // --help was answered by main, before any GPU work
    parse_args(argc, argv, s);
    bool main_rank = pg.rank == 0;
    FILE* out = main_rank ? stdout : nullptr;   // only rank 0 prints and writes files

    // the model: from the newest checkpoint (--resume), from --init, or from scratch; then its data.
    RunStart start = start_run(s, VOCAB_MULTIPLE, out);
    if (start.finished) return 0;
    const GPTConfig& config = start.config;
    size_t n = num_parameters(config);
    GPT model;
    gpt_build(model, config, start.params, pg.world, pg.rank, s.zero);
    model.recompute = s.recompute;   // before the memory check: it decides what the activations take
    if (!start.resume_dir.empty()) {
        const OptState& o = model.opt;
        cudaCheck(cudaMemcpy(o.m, start.m.data() + o.first, o.count * sizeof(float), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(o.v, start.v.data() + o.first, o.count * sizeof(float), cudaMemcpyHostToDevice));
    }
    int B = s.batch, T = s.seq_len, K = s.grad_accum;
    RunData data = open_data(s, start, pg.rank, pg.world);
    DataLoader& train_loader = *data.train;

    if (out) {
        print_settings(s);
        cudaDeviceProp prop;
        cudaCheck(cudaGetDeviceProperties(&prop, pg.local_rank));
        fprintf(out, "device: %s, %s, %d rank(s)%s\n", prop.name, PRECISION_NAME, pg.world, s.zero ? ", ZeRO-1" : "");
        fprintf(out, "model: %d layers, %d heads, %d channels, %d positions, vocabulary %d (padded to %d): %zu parameters\n",
                config.num_layers, config.num_heads, config.channels, config.max_seq_len, config.vocab_size,
                config.padded_vocab_size, n);
        fprintf(out, "attention: %s\n", attention_plan(B, T, config.num_heads, config.channels / config.num_heads).c_str());
        fprintf(out, "memory: parameters %s, gradients %s, master weights + AdamW moments %s, activations (B=%d, T=%d) %s\n",
                format_bytes(model.buffer_size * sizeof(floatX)).c_str(), format_bytes(model.buffer_size * sizeof(float)).c_str(),
                format_bytes(3 * model.opt.count * sizeof(float)).c_str(), B, T, format_bytes(activation_bytes(model, B, T)).c_str());
        fprintf(out, "memory later in the run: %s\n", later_memory(model, s, pg.world).text().c_str());
        fprintf(out, "data: %zu training tokens in %zu shard(s); %d rank(s) x %d micro-batch(es) x %d x %d = %d tokens per step\n",
                train_loader.total_tokens(), train_loader.files().size(), pg.world, K, B, T, pg.world * K * B * T);
        if (!start.resume_dir.empty()) fprintf(out, "resuming from %s at step %d\n", start.resume_dir.c_str(), start.step);
        if (!data.tok) fprintf(out, "no tokenizer found beside the training data (--vocab): samples print token ids\n");
        fflush(out);
    }
    check_batch_fits(model, B, T, later_memory(model, s, pg.world));
    gpt_allocate_activations(model, B, T);
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
        if (!main_rank && !s.zero) return;
        std::vector<float> p, m, v;
        gpt_download_optimizer(model, pg, p, m, v);   // a collective under ZeRO-1: every rank takes part
        if (!main_rank) return;
        json state = trainer_state(step, data, pg.world, logger);
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
        report_step(out, logger, step + 1, s.steps, st.loss, opt.lr, st.norm, ms, pg.world * K * B * T / (ms / 1000));
        if (s.save_every > 0 && (step + 1) % s.save_every == 0 && step + 1 < s.steps) save(step + 1);
    }
    if (s.eval_every > 0) validate(s.steps);
    if (s.sample_every > 0) sample(s.steps);
    save(s.steps);
    gpt_free(model);
    return 0;
}

#ifndef TRAIN_GPT_NO_MAIN
int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++)   // --help needs no GPU
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { print_help(argv[0]); return 0; }
    int status = 0;
    ProcessGroup pg;
    try {
        pg = dp_init(&argc, &argv);
        status = train(argc, argv, pg);
    } catch (const UsageError& e) {
        fprintf(stderr, "error: %s\n", e.what());
        status = 2;
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        status = 1;
    }
    // a rank that failed alone must not leave the others waiting for it in a collective forever:
    // aborting the communicator releases it (and in the CPU execution mode fails the others'
    // collectives at once); on GPUs, MPI_Abort, or torchrun seeing a rank exit with an error,
    // stops the other ranks. Under MPI even a failure inside dp_init (pg not yet set) aborts.
#ifdef USE_MPI
    int mpi_up = 0;
    MPI_Initialized(&mpi_up);
    if (status != 0 && mpi_up) {
        if (pg.comm) ncclCommAbort(pg.comm);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
#else
    if (status != 0 && pg.world > 1) {
        if (pg.comm) ncclCommAbort(pg.comm);
        _exit(status);
    }
#endif
    try { dp_finalize(pg); } catch (const std::exception& e) { fprintf(stderr, "error: %s\n", e.what()); status = status ? status : 1; }
    return status;
}
#endif
