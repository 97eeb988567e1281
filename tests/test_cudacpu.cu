// tests/test_cudacpu.cu: the self-test of the CPU execution mode for CUDA (tools/cudacpu).
//
// Copies of kernels from train_gpt.cu, a tensor-core (WMMA) matmul of the kind flash
// attention is built from, a tile product through the mma.sync instruction (registers built
// by the PTX ISA's layout), and a double-buffered tile copy into shared memory through cp.async
// (the pipeline primitives), each with classic bugs that can be switched on, run through
// the CPU mode: the unmodified kernels must agree with a plain host computation
// under every schedule, and each planted bug must be caught; each case says by what (the
// 0xFF/NaN fill of fresh memory, the warp-collective checks, the schedule that runs a later
// warp first, AddressSanitizer's bounds, ThreadSanitizer's race detection, the comparison
// with the host result). A bug that aborts the launch runs in a forked child, whose exit
// status and message are checked. Built three times by the Makefile: build/test_cudacpu
// (plain), build/test_cudacpu_asan (-DCUDACPU_TEST_ASAN: the bounds cases) and
// build/test_cudacpu_tsan (-DCUDACPU_TEST_TSAN: the race cases).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <mma.h>   // nvcuda::wmma: in the CPU mode, tools/cudacpu/wmma.h (this include adds nothing)

#include "tools/cudacpu/internal.h"

// ---------------------------------------------------------------- copies of train_gpt.cu's kernels
// `bug` plants one mistake; 0 is the kernel as train_gpt.cu has it
enum Bug {
    NONE,
    NO_BARRIER_AFTER_WRITE,     // block_reduce: no __syncthreads between writing `shared` and reading it
    NO_BARRIER_BEFORE_REUSE,    // block_reduce: no __syncthreads before writing `shared` again
    WARP_SUM_MISSING_STEP,      // warp_sum starts at offset 8: lanes 16-31 never meet lanes 0-15
    OFF_BY_ONE,                 // residual_forward: i <= n
    NO_ROW_GUARD,               // layernorm_forward: no `if (row >= N) return`
    SHUFFLE_IN_DIVERGENT_CODE,  // attention_softmax: the warp_max inside the per-lane loop
};

__device__ inline float warp_sum(float v, int bug) {
    for (int o = bug == WARP_SUM_MISSING_STEP ? 8 : 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}
__device__ inline float block_reduce(float v, bool is_max, int bug) {
    __shared__ float shared[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = is_max ? warp_max(v) : warp_sum(v, bug);
    if (bug != NO_BARRIER_BEFORE_REUSE) __syncthreads();   // an earlier call may still be reading `shared`
    if (lane == 0) shared[warp] = v;
    if (bug != NO_BARRIER_AFTER_WRITE) __syncthreads();
    v = lane < nwarps ? shared[lane] : (is_max ? -INFINITY : 0.0f);
    return is_max ? warp_max(v) : warp_sum(v, bug);
}

__global__ void crossentropy_forward_kernel(float* losses, float* lse, const float* logits, const int* targets, int V, int Vp,
                                            int bug) {
    int row = blockIdx.x;
    const float* l = logits + (size_t)row * Vp;
    float maxv = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) maxv = fmaxf(maxv, l[v]);
    maxv = block_reduce(maxv, true, bug);
    float sum = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) sum += expf(l[v] - maxv);
    sum = block_reduce(sum, false, bug);
    if (threadIdx.x == 0) {
        float z = maxv + logf(sum);
        lse[row] = z;
        losses[row] = z - l[targets[row]];
    }
}

__global__ void sum_squares_partial_kernel(float* partial, const float* x, size_t n, int bug) {
    float s = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) s += x[i] * x[i];
    s = block_reduce(s, false, bug);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void residual_forward_kernel(float* out, const float* inp1, const float* inp2, size_t n, int bug) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (bug == OFF_BY_ONE ? i <= n : i < n) out[i] = inp1[i] + inp2[i];
}

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C, int bug) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (bug != NO_ROW_GUARD && row >= N) return;
    const float* x = inp + (size_t)row * C;
    float m = 0.0f;
    for (int c = lane; c < C; c += 32) m += x[c];
    m = warp_sum(m, bug) / C;
    float v = 0.0f;
    for (int c = lane; c < C; c += 32) { float d = x[c] - m; v += d * d; }
    v = warp_sum(v, bug) / C;
    float s = rsqrtf(v + 1e-5f);
    float* o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (lane == 0) { mean[row] = m; rstd[row] = s; }
}

__global__ void attention_softmax_kernel(float* att, const float* preatt, int rows, int T, float scale, int bug) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    int t = row % T;
    const float* s = preatt + (size_t)row * T;
    float* a = att + (size_t)row * T;
    float maxv = -INFINITY;
    for (int t2 = lane; t2 <= t; t2 += 32) {
        maxv = fmaxf(maxv, s[t2] * scale);
        if (bug == SHUFFLE_IN_DIVERGENT_CODE) maxv = warp_max(maxv);   // lanes run this loop different times
    }
    if (bug != SHUFFLE_IN_DIVERGENT_CODE) maxv = warp_max(maxv);
    float sum = 0.0f;
    for (int t2 = lane; t2 <= t; t2 += 32) sum += expf(s[t2] * scale - maxv);
    sum = warp_sum(sum, bug);
    for (int t2 = lane; t2 < T; t2 += 32) a[t2] = t2 <= t ? expf(s[t2] * scale - maxv) / sum : 0.0f;
}

// one block per head; `short_by` makes the dynamic shared memory that many floats too small
__global__ void attention_forward_cached_kernel(float* out, const float* kcache, const float* vcache, const float* qkv, int pos,
                                                int C, int NH) {
    extern __shared__ float a[];   // (pos+1) scores, then weights
    int h = blockIdx.x, HS = C / NH;
    const float* q = qkv + h * HS;
    float scale = 1.0f / sqrtf((float)HS), maxv = -INFINITY;
    for (int t2 = threadIdx.x; t2 <= pos; t2 += blockDim.x) {
        const float* k = kcache + (size_t)t2 * C + h * HS;
        float s = 0.0f;
        for (int i = 0; i < HS; i++) s += q[i] * k[i];
        a[t2] = s * scale;
        maxv = fmaxf(maxv, a[t2]);
    }
    maxv = block_reduce(maxv, true, NONE);
    float sum = 0.0f;
    for (int t2 = threadIdx.x; t2 <= pos; t2 += blockDim.x) { a[t2] = expf(a[t2] - maxv); sum += a[t2]; }
    sum = block_reduce(sum, false, NONE);
    for (int i = threadIdx.x; i < HS; i += blockDim.x) {
        float o = 0.0f;
        for (int t2 = 0; t2 <= pos; t2++) o += a[t2] * vcache[(size_t)t2 * C + h * HS + i];
        out[h * HS + i] = o / sum;
    }
}

// ---------------------------------------------------------------- a tensor-core (WMMA) matmul
// `bug` plants one mistake in the warp-level matrix multiply that tensor-core attention is made of
enum WmmaBug {
    WMMA_NONE,
    WMMA_LANE_SKIPS_MMA,        // lane 7 does not call mma_sync
    WMMA_LDM_NOT_MULTIPLE_OF_8, // the staged tile padded to rows of 20 elements instead of 24
    WMMA_ASSUMES_MAPPING,       // writes acc.x[i] to c as if lane l held row l/2, columns (l%2)*8 + i
    WMMA_NO_FILL,               // the accumulator is never set to zero
    WMMA_NO_SYNCWARP,           // no __syncwarp between the lanes' stores of the staged tile and the warp's load
};

// c (M,N) = scale * (a (M,K) @ b (K,N)) [+ c], bf16 inputs, fp32 accumulation; one 16x16 tile
// of c per warp, 2x2 warps per block. Each matrix is stored row-major or column-major (the
// template flags and c_col); a's tiles are staged through shared memory, padded rows of 24
// elements (a common way to spread the banks), b's are read from global memory directly.
// A_FRAG_COL is the layout the fragment declares: a different one from A_COL is a bug.
template <bool A_COL, bool B_COL, bool A_FRAG_COL = A_COL>
__global__ void wmma_matmul_kernel(float* c, const __nv_bfloat16* a, const __nv_bfloat16* b, int M, int N, int K, bool c_col,
                                   bool accumulate, float scale, int bug) {
    using namespace nvcuda;
    typedef typename std::conditional<A_FRAG_COL, wmma::col_major, wmma::row_major>::type LA;
    typedef typename std::conditional<B_COL, wmma::col_major, wmma::row_major>::type LB;
    __shared__ __align__(32) __nv_bfloat16 staged[4][16 * 24];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int tm = blockIdx.y * 2 + warp / 2, tn = blockIdx.x * 2 + warp % 2;   // this warp's tile of c
    if (tm * 16 >= M || tn * 16 >= N) return;   // the whole warp leaves together
    int lds = bug == WMMA_LDM_NOT_MULTIPLE_OF_8 ? 20 : 24;
    float* ct = c_col ? c + (size_t)tn * 16 * M + tm * 16 : c + (size_t)tm * 16 * N + tn * 16;
    unsigned ldc = c_col ? M : N;
    wmma::layout_t c_layout = c_col ? wmma::mem_col_major : wmma::mem_row_major;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, LA> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, LB> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    if (accumulate) wmma::load_matrix_sync(acc, ct, ldc, c_layout);
    else if (bug != WMMA_NO_FILL) wmma::fill_fragment(acc, 0.0f);
    for (int k0 = 0; k0 < K; k0 += 16) {
        for (int e = lane; e < 256; e += 32) {   // the 16x16 tile of a, in a's own layout
            int outer = e / 16, inner = e % 16;
            staged[warp][outer * lds + inner] = A_COL ? a[(size_t)(k0 + outer) * M + tm * 16 + inner]
                                                      : a[(size_t)(tm * 16 + outer) * K + k0 + inner];
        }
        if (bug != WMMA_NO_SYNCWARP) __syncwarp();   // the lanes' stores, before the warp's load
        wmma::load_matrix_sync(fa, &staged[warp][0], lds);
        wmma::load_matrix_sync(fb, B_COL ? b + (size_t)tn * 16 * K + k0 : b + (size_t)k0 * N + tn * 16, B_COL ? K : N);
        if (!(bug == WMMA_LANE_SKIPS_MMA && lane == 7)) wmma::mma_sync(acc, fa, fb, acc);
        __syncwarp();   // the warp's load, before the lanes overwrite the tile
    }
    for (int i = 0; i < acc.num_elements; i++) acc.x[i] *= scale;
    if (bug == WMMA_ASSUMES_MAPPING) {
        for (int i = 0; i < acc.num_elements; i++) {
            int r = lane / 2, col = (lane % 2) * 8 + i;
            ct[c_col ? (size_t)col * ldc + r : (size_t)r * ldc + col] = acc.x[i];
        }
    } else {
        wmma::store_matrix_sync(ct, acc, ldc, c_layout);
    }
}

// one warp, one tile of the shape M x N x K with inputs of type T: a row-major, b column-major,
// c row-major (the shapes and type besides 16x16x16 bf16)
template <int M, int N, int K, class T>
__global__ void wmma_tile_kernel(float* c, const T* a, const T* b) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, M, N, K, T, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, M, N, K, T, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, M, N, K, float> acc;
    wmma::fill_fragment(acc, 1.0f);
    wmma::load_matrix_sync(fa, a, K);
    wmma::load_matrix_sync(fb, b, K);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(c, acc, N, wmma::mem_row_major);
}

// ---------------------------------------------------------------- a tensor-core product through mma.sync
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, which a kernel reaches through inline
// PTX and the CPU mode provides as mma_m16n8k16(d, a, b) (tools/cudacpu/mma_ptx.h). Here each
// lane builds its own registers, so the kernel must follow the PTX ISA's fragment layout
// ("Matrix Fragments for mma.m16n8k16 with floating point type"). The layout is written out
// below from the ISA's formulas, not taken from the emulation: a wrong mapping in either one
// gives a wrong product. With g = groupID = lane >> 2 and t = threadID_in_group = lane % 4:
//   a0..a7: row g for a0, a1, a4, a5, else g + 8; column 2t + (i & 1), plus 8 for a4..a7
//   b0..b3: row (k) 2t + (i & 1), plus 8 for b2, b3; column g
//   c0..c3 (and d): row g for c0, c1, g + 8 for c2, c3; column 2t + (i & 1)
// Two bf16 per 32-bit register, the lower-numbered element in the low half: a0, a1 in a[0],
// a2, a3 in a[1], a4, a5 in a[2], a6, a7 in a[3]; b0, b1 in b[0], b2, b3 in b[1].
// `bug` plants one mistake.
enum MmaBug {
    MMA_NONE,
    MMA_A_ROWS_SWAPPED,     // a's registers built with rows g and g + 8 exchanged
    MMA_B_HALVES_SWAPPED,   // b's two elements per register packed high, low instead of low, high
    MMA_LANE_SKIPS,         // lane 7 does not call mma_m16n8k16
};

// d = c + a @ b for each warp's own tile: a (16,K), b (K,8), c and d (16,8), all row-major
// bf16 (a, b) and fp32 (c, d), tile after tile in memory. K / 16 chained calls accumulate in d.
__global__ void mma_tile_kernel(float* d, const float* c, const __nv_bfloat16* a, const __nv_bfloat16* b, int K, int bug) {
    int tile = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    int g = lane >> 2, t = lane % 4;
    a += (size_t)tile * 16 * K;
    b += (size_t)tile * K * 8;
    c += tile * 16 * 8;
    d += tile * 16 * 8;
    float acc[4];   // the accumulator starts as c
    for (int i = 0; i < 4; i++) acc[i] = c[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)];
    for (int k0 = 0; k0 < K; k0 += 16) {
        uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
        for (int i = 0; i < 8; i++) {   // a0..a7
            bool row_g = i < 2 || (i >= 4 && i < 6);
            if (bug == MMA_A_ROWS_SWAPPED) row_g = !row_g;
            int row = row_g ? g : g + 8, col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
            ra[i / 2] |= (uint32_t)__bfloat16_as_ushort(a[(size_t)row * K + k0 + col]) << (16 * (i & 1));
        }
        for (int i = 0; i < 4; i++) {   // b0..b3
            int row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0), col = g;
            int high = bug == MMA_B_HALVES_SWAPPED ? 1 - (i & 1) : i & 1;
            rb[i / 2] |= (uint32_t)__bfloat16_as_ushort(b[(size_t)(k0 + row) * 8 + col]) << (16 * high);
        }
        if (!(bug == MMA_LANE_SKIPS && lane == 7)) mma_m16n8k16(acc, ra, rb);   // acc += A[:, k0:k0+16] @ B[k0:k0+16, :]
    }
    for (int i = 0; i < 4; i++) d[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = acc[i];
}

// ---------------------------------------------------------------- ldmatrix
// Each warp of the block stages a 16x16 bf16 matrix (values 0..255, its row-major index) in
// shared memory, rows `ld` apart, and loads it with ldmatrix_x4 (or .trans): lane l names row
// l % 16, columns l / 16 * 8 on, as a kernel loading mma's A operand does. Out: the 4 registers
// of every lane, (warps, 32, 4). `bug` plants one mistake.
enum LdmatrixBug { LDM_NONE, LDM_MISALIGNED, LDM_GLOBAL_ROW, LDM_LANE_SKIPS };
__global__ void ldmatrix_kernel(uint32_t* out, const __nv_bfloat16* m, int ld, bool trans, int bug) {
    extern __shared__ __nv_bfloat16 staged[];   // (warps, 16, ld)
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __nv_bfloat16* mine = staged + warp * 16 * ld;
    for (int i = lane; i < 256; i += 32) mine[i / 16 * ld + i % 16] = m[i];
    __syncwarp();
    const __nv_bfloat16* row = mine + (lane % 16) * ld + lane / 16 * 8;
    if (bug == LDM_MISALIGNED) row += 1;
    if (bug == LDM_GLOBAL_ROW) row = m + (lane % 16) * 16 + lane / 16 * 8;
    uint32_t r[4] = {0, 0, 0, 0};
    if (!(bug == LDM_LANE_SKIPS && lane == 5)) {
        if (trans) ldmatrix_x4_trans(r, row);
        else ldmatrix_x4(r, row);
    }
    for (int i = 0; i < 4; i++) out[(warp * 32 + lane) * 4 + i] = r[i];
}

// ---------------------------------------------------------------- asynchronous copies into shared memory (cp.async)
// The way a flash-attention kernel streams its K and V tiles: the block copies the next tile
// into one of two shared-memory buffers with __pipeline_memcpy_async while it works on the
// current one, then waits for the copies and meets at a barrier before reading. The CPU mode
// (tools/cudacpu/pipeline.h) lands a thread's copies only when that thread waits for them, so a
// kernel that waits too little, or reads other threads' copies before the barrier that follows
// every thread's wait, reads the 0xFF fill of shared memory (NaN). `bug` plants one mistake.
enum AsyncBug {
    ASYNC_NONE,
    ASYNC_WAIT_TOO_LITTLE,         // __pipeline_wait_prior(2): the current tile's group is still in flight
    ASYNC_NO_WAIT,                 // no __pipeline_wait_prior at all
    ASYNC_NO_BARRIER_AFTER_WAIT,   // no __syncthreads between this thread's wait and its reads of other threads' copies
    ASYNC_NO_BARRIER_BEFORE_REFILL,   // no __syncthreads after the reads: a thread refills a buffer others still read
};

static const int ASYNC_COLS = 128, ASYNC_TILE_ROWS = 32;   // a tile: 32 rows of 128 bf16, each row 16 copies of 16 bytes

// this thread's share of the 16-byte copies of rows [tile * 32, tile * 32 + 32) of x into buf;
// rows at or past `rows` are zero-filled (zfill = 16): their source lies past x's rows, unread
__device__ inline void tile_copy_start(__nv_bfloat16* buf, const __nv_bfloat16* x, int tile, int rows) {
    for (int k = threadIdx.x; k < ASYNC_TILE_ROWS * ASYNC_COLS / 8; k += blockDim.x) {
        int r = k / (ASYNC_COLS / 8), c = k % (ASYNC_COLS / 8) * 8, row = tile * ASYNC_TILE_ROWS + r;
        __pipeline_memcpy_async(buf + r * ASYNC_COLS + c, x + (size_t)row * ASYNC_COLS + c, 16, row < rows ? 0 : 16);
    }
}

// colsum (M, 128) fp32, x (M, rows, 128) bf16: colsum = x.float().sum(dim=1), added in row order
// (then the zero rows that pad the last tile). One block of 128 threads per matrix; thread c sums
// column c, which other threads copied. Dynamic shared memory: two tiles, 2 * 32 * 128 bf16 = 16 KB.
__global__ void tile_colsum_kernel(float* colsum, const __nv_bfloat16* x, int rows, int bug) {
    extern __shared__ __nv_bfloat16 tiles[];   // (2, 32, 128): the tile being summed, the next one arriving
    const int tile_size = ASYNC_TILE_ROWS * ASYNC_COLS, ntiles = (rows + ASYNC_TILE_ROWS - 1) / ASYNC_TILE_ROWS;
    x += (size_t)blockIdx.x * rows * ASYNC_COLS;
    tile_copy_start(tiles, x, 0, rows);
    __pipeline_commit();
    float sum = 0.0f;
    for (int tile = 0; tile < ntiles; tile++) {
        if (tile + 1 < ntiles) tile_copy_start(tiles + (tile + 1) % 2 * tile_size, x, tile + 1, rows);
        __pipeline_commit();   // after the last tile an empty group, so that wait_prior(1) below still means `tile`
        if (bug == ASYNC_WAIT_TOO_LITTLE) __pipeline_wait_prior(2);
        else if (bug != ASYNC_NO_WAIT) __pipeline_wait_prior(1);   // this thread's copies of `tile` have landed...
        if (bug != ASYNC_NO_BARRIER_AFTER_WAIT) __syncthreads();   // ...and, after the barrier, every thread's
        const __nv_bfloat16* buf = tiles + tile % 2 * tile_size;
        for (int r = 0; r < ASYNC_TILE_ROWS; r++) sum += (float)buf[r * ASYNC_COLS + threadIdx.x];
        if (bug != ASYNC_NO_BARRIER_BEFORE_REFILL) __syncthreads();   // every thread done with this buffer before the next iteration's copies refill it
    }
    colsum[blockIdx.x * ASYNC_COLS + threadIdx.x] = sum;
}

// ---------------------------------------------------------------- helpers
[[maybe_unused]] static std::vector<float> pseudo_random(size_t n, unsigned seed, float lo, float hi) {
    std::vector<float> v(n);
    unsigned s = seed * 2654435761u + 1;
    for (float& x : v) { s = s * 1664525u + 1013904223u; x = lo + (hi - lo) * (float)(s >> 8) / (float)(1u << 24); }
    return v;
}

struct Dev {   // a device copy of host floats
    float* p = nullptr;
    size_t n;
    explicit Dev(const std::vector<float>& h) : n(h.size()) {
        REQUIRE(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess);
        REQUIRE(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
    }
    explicit Dev(size_t count) : n(count) { REQUIRE(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess); }
    ~Dev() { cudaFree(p); }
    std::vector<float> host() const {
        std::vector<float> h(n);
        REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
        return h;
    }
};

[[maybe_unused]] static double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::isnan(a[i]) ? INFINITY : std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

// runs f in a forked child; its exit status (128 + signal if killed) and what it wrote to stderr
struct Outcome { int status; std::string err; };
[[maybe_unused]] static Outcome in_child(const std::function<void()>& f) {
    fflush(stdout);
    fflush(stderr);
    int fd[2];
    REQUIRE(pipe(fd) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {   // the child: default signal handling (not doctest's), all output into the pipe
        for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, SIG_DFL);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        f();
        fflush(stderr);
        _exit(0);
    }
    close(fd[1]);
    std::string err;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd[0], buf, sizeof buf)) > 0) err.append(buf, r);
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), err};
}
[[maybe_unused]] static void check_caught(const Outcome& o, const std::string& expect) {
    CHECK_MESSAGE(o.status != 0, "the child exited 0; stderr: " << o.err);
    CHECK_MESSAGE(o.err.find(expect) != std::string::npos, "expected \"" << expect << "\" in: " << o.err);
}

// ThreadSanitizer reports and lets the child go on: its message is the evidence
[[maybe_unused]] static void check_reported(const Outcome& o, const std::string& expect) {
    CHECK_MESSAGE(o.err.find(expect) != std::string::npos, "expected \"" << expect << "\" in: " << o.err);
}

// the three schedules every correct kernel must pass under (and give bitwise the same result in)
struct Schedule { const char* name; bool reverse, shuffle; };
static const Schedule SCHEDULES[] = {{"inorder", false, false}, {"reverse", true, false}, {"shuffled blocks", false, true}};
struct ScheduleGuard { ~ScheduleGuard() { cudacpu::set_schedule(false, false, 1); } };

// f(schedule name) under each schedule in turn (the name captured for doctest's messages),
// the default schedule restored after
template <class F> static void for_each_schedule(F f) {
    ScheduleGuard guard;
    for (const Schedule& s : SCHEDULES) {
        std::string schedule = s.name;
        CAPTURE(schedule);
        cudacpu::set_schedule(s.reverse, s.shuffle, 7);
        f(schedule);
    }
}

// the cross-entropy forward of (N, Vp) logits on the host, in double
[[maybe_unused]] static void crossentropy_reference(std::vector<double>& losses, const std::vector<float>& logits, const std::vector<int>& targets,
                                   int N, int V, int Vp) {
    losses.resize(N);
    for (int r = 0; r < N; r++) {
        const float* l = &logits[(size_t)r * Vp];
        double m = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) m = std::max(m, (double)l[v]);
        for (int v = 0; v < V; v++) s += std::exp(l[v] - m);
        losses[r] = m + std::log(s) - l[targets[r]];
    }
}

// cross-entropy of N rows through the kernel with `bug`, 512 threads (16 warps) per row
[[maybe_unused]] static std::vector<float> crossentropy_run(const std::vector<float>& logits, const std::vector<int>& targets, int N, int V,
                                           int Vp, int bug) {
    Dev d_logits(logits), losses((size_t)N), lse((size_t)N);
    int* d_targets;
    REQUIRE(cudaMalloc(&d_targets, N * sizeof(int)) == cudaSuccess);
    REQUIRE(cudaMemcpy(d_targets, targets.data(), N * sizeof(int), cudaMemcpyHostToDevice) == cudaSuccess);
    crossentropy_forward_kernel<<<N, 512>>>(losses.p, lse.p, d_logits.p, d_targets, V, Vp, bug);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    cudaFree(d_targets);
    return losses.host();
}

static const int CE_N = 5, CE_V = 1000, CE_VP = 1024;
[[maybe_unused]] static std::vector<float> ce_logits() { return pseudo_random((size_t)CE_N * CE_VP, 1, -8.0f, -2.0f); }
[[maybe_unused]] static std::vector<int> ce_targets() { return {3, 999, 0, 517, 42}; }

// the WMMA matmul's test data
template <class T> [[maybe_unused]] static T* device_copy(const std::vector<T>& h) {
    T* p;
    REQUIRE(cudaMalloc(&p, h.size() * sizeof(T)) == cudaSuccess);
    REQUIRE(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
    return p;
}
// values already rounded to T (bf16 or fp16), so the host reference multiplies the same numbers
template <class T> [[maybe_unused]] static std::vector<float> rounded(std::vector<float> v) {
    for (float& x : v) x = (float)(T)x;
    return v;
}
template <class T> [[maybe_unused]] static std::vector<T> converted(const std::vector<float>& v) {
    std::vector<T> r;
    for (float x : v) r.push_back((T)x);
    return r;
}
// (rows, cols) row-major to column-major storage, and back
[[maybe_unused]] static std::vector<float> transposed(const std::vector<float>& v, int rows, int cols) {
    std::vector<float> t(v.size());
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) t[(size_t)j * rows + i] = v[(size_t)i * cols + j];
    return t;
}

// the WMMA matmul's operands, c = scale * (a @ b) [+ c0]: a (M,K), b (K,N), c (M,N), row-major here
struct WmmaMatmul {
    int M = 48, N = 80, K = 48;   // c: 3 x 5 tiles, 2 x 3 blocks (the last column of blocks has one idle warp pair)
    float scale = 0.5f;
    std::vector<float> a = rounded<__nv_bfloat16>(pseudo_random((size_t)M * K, 11, -1, 1));
    std::vector<float> b = rounded<__nv_bfloat16>(pseudo_random((size_t)K * N, 12, -1, 1));
    std::vector<float> c0 = pseudo_random((size_t)M * N, 13, -1, 1);

    // in double: the CPU matmul the kernel must match within fp32 rounding
    std::vector<double> reference(bool accumulate) const {
        std::vector<double> c((size_t)M * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = accumulate ? c0[(size_t)i * N + j] : 0.0;
                for (int k = 0; k < K; k++) s += (double)a[(size_t)i * K + k] * b[(size_t)k * N + j];
                c[(size_t)i * N + j] = scale * s;
            }
        return c;
    }
    // in fp32, the emulation's documented order: c, then each product added in k order
    std::vector<float> reference_fp32(bool accumulate) const {
        std::vector<float> c((size_t)M * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float s = accumulate ? c0[(size_t)i * N + j] : 0.0f;
                for (int k = 0; k < K; k++) s += a[(size_t)i * K + k] * b[(size_t)k * N + j];
                c[(size_t)i * N + j] = scale * s;
            }
        return c;
    }
    // runs the kernel with the operands stored as the flags say; c comes back row-major
    template <bool A_COL, bool B_COL, bool A_FRAG_COL = A_COL>
    std::vector<float> run(bool c_col, bool accumulate, int bug) const {
        __nv_bfloat16* da = device_copy(converted<__nv_bfloat16>(A_COL ? transposed(a, M, K) : a));
        __nv_bfloat16* db = device_copy(converted<__nv_bfloat16>(B_COL ? transposed(b, K, N) : b));
        float* dc = device_copy(c_col ? transposed(c0, M, N) : c0);
        dim3 grid((N / 16 + 1) / 2, (M / 16 + 1) / 2);
        wmma_matmul_kernel<A_COL, B_COL, A_FRAG_COL><<<grid, 128>>>(dc, da, db, M, N, K, c_col, accumulate, scale, bug);
        REQUIRE(cudaGetLastError() == cudaSuccess);
        std::vector<float> c((size_t)M * N);
        REQUIRE(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
        cudaFree(da);
        cudaFree(db);
        cudaFree(dc);
        return c_col ? transposed(c, N, M) : c;
    }
    template <bool A_COL, bool B_COL> std::vector<float> run_any(bool c_col, bool accumulate) const {
        return run<A_COL, B_COL>(c_col, accumulate, WMMA_NONE);
    }
};

// the mma.sync kernel's operands: `tiles` products d = c + a @ b, a (16,K), b (K,8), c (16,8),
// row-major, tile after tile; 3 blocks of 2 warps, a warp per tile
struct MmaTiles {
    int K, tiles = 6;
    std::vector<float> a, b, c;
    explicit MmaTiles(int k)
        : K(k), a(rounded<__nv_bfloat16>(pseudo_random((size_t)tiles * 16 * k, 31, -1, 1))),
          b(rounded<__nv_bfloat16>(pseudo_random((size_t)tiles * k * 8, 32, -1, 1))), c(pseudo_random((size_t)tiles * 16 * 8, 33, -1, 1)) {}

    // in fp32, the emulation's documented order: c, then each product added in k order
    std::vector<float> reference() const {
        std::vector<float> d(c.size());
        for (int tile = 0; tile < tiles; tile++)
            for (int i = 0; i < 16; i++)
                for (int j = 0; j < 8; j++) {
                    float s = c[(size_t)tile * 128 + i * 8 + j];
                    for (int k = 0; k < K; k++) s += a[((size_t)tile * 16 + i) * K + k] * b[((size_t)tile * K + k) * 8 + j];
                    d[(size_t)tile * 128 + i * 8 + j] = s;
                }
        return d;
    }
    // runs the kernel with `bug`; b or c left as cudaMalloc gives them (never written) if asked
    std::vector<float> run(int bug, bool b_written = true, bool c_written = true) const {
        __nv_bfloat16 *da = device_copy(converted<__nv_bfloat16>(a)), *db;
        float *dc, *dd;
        if (b_written) db = device_copy(converted<__nv_bfloat16>(b));
        else REQUIRE(cudaMalloc(&db, b.size() * sizeof(__nv_bfloat16)) == cudaSuccess);
        if (c_written) dc = device_copy(c);
        else REQUIRE(cudaMalloc(&dc, c.size() * sizeof(float)) == cudaSuccess);
        REQUIRE(cudaMalloc(&dd, c.size() * sizeof(float)) == cudaSuccess);
        mma_tile_kernel<<<tiles / 2, 64>>>(dd, dc, da, db, K, bug);
        REQUIRE(cudaGetLastError() == cudaSuccess);
        std::vector<float> d(c.size());
        REQUIRE(cudaMemcpy(d.data(), dd, d.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
        cudaFree(da);
        cudaFree(db);
        cudaFree(dc);
        cudaFree(dd);
        return d;
    }
    // the elements of d whose bits differ from want's: how many, and the first three
    struct Mismatches { int count = 0; std::string first; };
    Mismatches compare(const std::vector<float>& d, const std::vector<float>& want) const {
        Mismatches m;
        for (size_t e = 0; e < d.size(); e++) {
            if (memcmp(&d[e], &want[e], sizeof(float)) == 0) continue;
            if (m.count++ < 3)
                m.first += "K " + std::to_string(K) + ", tile " + std::to_string(e / 128) + ", d[" + std::to_string(e % 128 / 8) + "][" +
                           std::to_string(e % 8) + "] = " + std::to_string(d[e]) + ", want " + std::to_string(want[e]) + " (bitwise); ";
        }
        return m;
    }
};

// the cp.async kernel's operands: M matrices x (M, rows, 128), bf16 values; the last tile of
// each is 4 rows of data and 28 zero-filled rows
struct AsyncTiles {
    int M = 3, rows = 100;
    std::vector<float> x = rounded<__nv_bfloat16>(pseudo_random((size_t)M * rows * ASYNC_COLS, 41, -1, 1));

    // in fp32, the kernel's order: each column's rows in order, then the zeros of the last tile
    std::vector<float> reference() const {
        std::vector<float> colsum((size_t)M * ASYNC_COLS);
        int padded = (rows + ASYNC_TILE_ROWS - 1) / ASYNC_TILE_ROWS * ASYNC_TILE_ROWS;
        for (int m = 0; m < M; m++)
            for (int c = 0; c < ASYNC_COLS; c++) {
                float s = 0.0f;
                for (int r = 0; r < padded; r++) s += r < rows ? x[((size_t)m * rows + r) * ASYNC_COLS + c] : 0.0f;
                colsum[(size_t)m * ASYNC_COLS + c] = s;
            }
        return colsum;
    }
    std::vector<float> run(int bug) const {
        __nv_bfloat16* dx = device_copy(converted<__nv_bfloat16>(x));
        Dev colsum((size_t)M * ASYNC_COLS);
        tile_colsum_kernel<<<M, 128, 2 * ASYNC_TILE_ROWS * ASYNC_COLS * sizeof(__nv_bfloat16)>>>(colsum.p, dx, rows, bug);
        REQUIRE(cudaGetLastError() == cudaSuccess);
        cudaFree(dx);
        return colsum.host();
    }
    // the column sums whose bits differ from want's: how many, how many of them NaN, and the first three
    struct Mismatches { int count = 0, nan = 0; std::string first; };
    Mismatches compare(const std::vector<float>& colsum, const std::vector<float>& want) const {
        Mismatches m;
        for (size_t e = 0; e < colsum.size(); e++) {
            if (memcmp(&colsum[e], &want[e], sizeof(float)) == 0) continue;
            m.nan += std::isnan(colsum[e]);
            if (m.count++ < 3)
                m.first += "matrix " + std::to_string(e / ASYNC_COLS) + ", column " + std::to_string(e % ASYNC_COLS) + ": " +
                           std::to_string(colsum[e]) + ", want " + std::to_string(want[e]) + " (bitwise); ";
        }
        return m;
    }
};

// ---------------------------------------------------------------- the kernels as they are
#if !defined(CUDACPU_TEST_ASAN) && !defined(CUDACPU_TEST_TSAN)

TEST_CASE("the unmodified kernels match the host under every schedule, bitwise the same in each") {
    std::vector<float> logits = ce_logits();
    std::vector<double> want;
    crossentropy_reference(want, logits, ce_targets(), CE_N, CE_V, CE_VP);
    int N = 37, C = 72, rows = 2 * 3 * 37, T = 37;
    std::vector<float> x = pseudo_random((size_t)N * C, 2, -2, 2), w = pseudo_random(C, 3, 0.5f, 1.5f), b = pseudo_random(C, 4, -1, 1);
    std::vector<double> ln_want((size_t)N * C);
    for (int r = 0; r < N; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[(size_t)r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[(size_t)r * C + c] - m) * (x[(size_t)r * C + c] - m);
        double s = 1 / std::sqrt(v / C + 1e-5);
        for (int c = 0; c < C; c++) ln_want[(size_t)r * C + c] = (x[(size_t)r * C + c] - m) * s * w[c] + b[c];
    }
    std::vector<float> pre = pseudo_random((size_t)rows * T, 5, -3, 3);
    std::vector<double> sm_want((size_t)rows * T, 0.0);
    for (int r = 0; r < rows; r++) {
        int t = r % T;
        double m = -INFINITY, s = 0;
        for (int t2 = 0; t2 <= t; t2++) m = std::max(m, (double)pre[(size_t)r * T + t2] * 0.5);
        for (int t2 = 0; t2 <= t; t2++) s += std::exp(pre[(size_t)r * T + t2] * 0.5 - m);
        for (int t2 = 0; t2 <= t; t2++) sm_want[(size_t)r * T + t2] = std::exp(pre[(size_t)r * T + t2] * 0.5 - m) / s;
    }
    std::vector<float> first_ce, first_ln, first_sm;
    for_each_schedule([&](const std::string& schedule) {
        std::vector<float> ce = crossentropy_run(logits, ce_targets(), CE_N, CE_V, CE_VP, NONE);
        CHECK(max_abs_diff(ce, want) < 1e-4);
        Dev dx(x), dw(w), db(b), out((size_t)N * C), mean((size_t)N), rstd((size_t)N);
        layernorm_forward_kernel<<<(N + 7) / 8, 256>>>(out.p, mean.p, rstd.p, dx.p, dw.p, db.p, N, C, NONE);
        std::vector<float> ln = out.host();
        CHECK(max_abs_diff(ln, ln_want) < 1e-4);
        Dev dpre(pre), att((size_t)rows * T);
        attention_softmax_kernel<<<(rows + 7) / 8, 256>>>(att.p, dpre.p, rows, T, 0.5f, NONE);
        std::vector<float> sm = att.host();
        CHECK(max_abs_diff(sm, sm_want) < 1e-5);
        if (first_ce.empty()) { first_ce = ce; first_ln = ln; first_sm = sm; }
        CHECK(memcmp(ce.data(), first_ce.data(), ce.size() * sizeof(float)) == 0);
        CHECK(memcmp(ln.data(), first_ln.data(), ln.size() * sizeof(float)) == 0);
        CHECK(memcmp(sm.data(), first_sm.data(), sm.size() * sizeof(float)) == 0);
    });
}

TEST_CASE("the KV-cache attention kernel with its dynamic shared memory matches the host") {
    int C = 64, NH = 4, HS = C / NH, pos = 70;   // 71 scores per head: 2.2 passes of a 32-thread block
    std::vector<float> k = pseudo_random((size_t)(pos + 1) * C, 6, -1, 1), v = pseudo_random((size_t)(pos + 1) * C, 7, -1, 1);
    std::vector<float> qkv = pseudo_random(3 * C, 8, -1, 1);
    std::vector<double> want(C);
    for (int h = 0; h < NH; h++) {
        std::vector<double> a(pos + 1);
        double m = -INFINITY, s = 0;
        for (int t = 0; t <= pos; t++) {
            double d = 0;
            for (int i = 0; i < HS; i++) d += qkv[h * HS + i] * k[(size_t)t * C + h * HS + i];
            a[t] = d / std::sqrt((double)HS);
            m = std::max(m, a[t]);
        }
        for (int t = 0; t <= pos; t++) s += (a[t] = std::exp(a[t] - m));
        for (int i = 0; i < HS; i++) {
            double o = 0;
            for (int t = 0; t <= pos; t++) o += a[t] * v[(size_t)t * C + h * HS + i];
            want[h * HS + i] = o / s;
        }
    }
    Dev dk(k), dv(v), dq(qkv), out((size_t)C);
    attention_forward_cached_kernel<<<NH, 32, (pos + 1) * sizeof(float)>>>(out.p, dk.p, dv.p, dq.p, pos, C, NH);
    CHECK(max_abs_diff(out.host(), want) < 1e-5);
}

// ---------------------------------------------------------------- tensor cores (WMMA)
TEST_CASE("WMMA: a bf16 matmul on emulated tensor cores matches the CPU matmul, every layout, every schedule") {
    ScheduleGuard guard;
    WmmaMatmul mm;
    for (const Schedule& s : SCHEDULES) {
        cudacpu::set_schedule(s.reverse, s.shuffle, 7);
        for (int layouts = 0; layouts < 16; layouts++) {
            bool a_col = layouts & 1, b_col = layouts & 2, c_col = layouts & 4, accumulate = layouts & 8;
            std::string schedule = s.name;
            CAPTURE(schedule);
            CAPTURE(a_col);
            CAPTURE(b_col);
            CAPTURE(c_col);
            CAPTURE(accumulate);
            std::vector<float> c = a_col ? (b_col ? mm.run_any<true, true>(c_col, accumulate) : mm.run_any<true, false>(c_col, accumulate))
                                         : (b_col ? mm.run_any<false, true>(c_col, accumulate) : mm.run_any<false, false>(c_col, accumulate));
            CHECK(max_abs_diff(c, mm.reference(accumulate)) < 1e-5);
            std::vector<float> want = mm.reference_fp32(accumulate);
            CHECK(memcmp(c.data(), want.data(), c.size() * sizeof(float)) == 0);   // the documented summation order, bitwise
        }
    }
}

TEST_CASE("WMMA: the other shapes (32x8x16, 8x32x16) and fp16 inputs") {
    auto check_tile = [](auto tag, int M, int N, int K, auto kernel) {
        typedef decltype(tag) T;
        std::vector<float> a = rounded<T>(pseudo_random((size_t)M * K, 21, -1, 1));
        std::vector<float> b = rounded<T>(pseudo_random((size_t)K * N, 22, -1, 1));   // (K,N), stored column-major
        T* da = device_copy(converted<T>(a));
        T* db = device_copy(converted<T>(transposed(b, K, N)));
        float* dc;
        REQUIRE(cudaMalloc(&dc, (size_t)M * N * sizeof(float)) == cudaSuccess);
        kernel(dc, da, db);
        std::vector<float> c((size_t)M * N);
        REQUIRE(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float s = 1.0f;   // the kernel fills the accumulator with ones
                for (int k = 0; k < K; k++) s += a[(size_t)i * K + k] * b[(size_t)k * N + j];
                CAPTURE(M);
                CAPTURE(N);
                CAPTURE(i);
                CAPTURE(j);
                CHECK(c[(size_t)i * N + j] == s);
            }
        cudaFree(da);
        cudaFree(db);
        cudaFree(dc);
    };
    check_tile(__nv_bfloat16(), 32, 8, 16, [](float* c, __nv_bfloat16* a, __nv_bfloat16* b) { wmma_tile_kernel<32, 8, 16><<<1, 32>>>(c, a, b); });
    check_tile(__nv_bfloat16(), 8, 32, 16, [](float* c, __nv_bfloat16* a, __nv_bfloat16* b) { wmma_tile_kernel<8, 32, 16><<<1, 32>>>(c, a, b); });
    check_tile(__half(), 16, 16, 16, [](float* c, __half* a, __half* b) { wmma_tile_kernel<16, 16, 16><<<1, 32>>>(c, a, b); });
    check_tile(__half(), 32, 8, 16, [](float* c, __half* a, __half* b) { wmma_tile_kernel<32, 8, 16><<<1, 32>>>(c, a, b); });
}

TEST_CASE("WMMA caught: a wrong layout, and code that assumes which lane holds which element (by the comparison with the host)") {
    WmmaMatmul mm;
    std::vector<double> want = mm.reference(false);
    // a is stored column-major, the fragment says row_major: the kernel multiplies by a's tiles transposed
    double wrong_layout = max_abs_diff(mm.run<true, false, false>(false, false, WMMA_NONE), want);
    MESSAGE("wrong layout of a: largest error " << wrong_layout);
    CHECK(wrong_layout > 0.1);
    // the accumulator's elements written to c by a guessed mapping instead of store_matrix_sync
    double assumed = max_abs_diff(mm.run<false, false>(false, false, WMMA_ASSUMES_MAPPING), want);
    MESSAGE("assumed element mapping: largest error " << assumed);
    CHECK(assumed > 0.1);
    // one matrix as a row_major fragment and as a col_major one (from its transpose): the
    // elements sit in different places of x[], so copying x[] between the layouts is wrong
    struct K { static __global__ void k(float* out, const __nv_bfloat16* m, const __nv_bfloat16* mt) {
        using namespace nvcuda;
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> r;
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major> c;
        wmma::load_matrix_sync(r, m, 16);
        wmma::load_matrix_sync(c, mt, 16);
        for (int i = 0; i < r.num_elements; i++) out[threadIdx.x * r.num_elements + i] = (float)r.x[i] - (float)c.x[i];
    } };
    std::vector<float> m = mm.a;
    m.resize(256);
    __nv_bfloat16 *dm = device_copy(converted<__nv_bfloat16>(m)), *dmt = device_copy(converted<__nv_bfloat16>(transposed(m, 16, 16)));
    Dev out((size_t)256);
    K::k<<<1, 32>>>(out.p, dm, dmt);
    std::vector<float> diff = out.host();
    CHECK(std::count(diff.begin(), diff.end(), 0.0f) < 16);
    cudaFree(dm);
    cudaFree(dmt);
}

TEST_CASE("WMMA caught: an accumulator never filled, and operands never written (by the NaN fill)") {
    WmmaMatmul mm;
    std::vector<float> c = mm.run<false, true>(false, false, WMMA_NO_FILL);
    CHECK(std::all_of(c.begin(), c.end(), [](float x) { return std::isnan(x); }));
    struct K { static __global__ void k(float* c, const __nv_bfloat16* a, const __nv_bfloat16* b) { wmma_tile_kernel<16, 16, 16>(c, a, b); } };
    __nv_bfloat16* a = device_copy(converted<__nv_bfloat16>(pseudo_random(256, 1, -1, 1)));
    __nv_bfloat16* b;   // never written
    float* dc;
    REQUIRE(cudaMalloc(&b, 256 * sizeof(__nv_bfloat16)) == cudaSuccess);
    REQUIRE(cudaMalloc(&dc, 256 * sizeof(float)) == cudaSuccess);
    K::k<<<1, 32>>>(dc, a, b);
    std::vector<float> h(256);
    REQUIRE(cudaMemcpy(h.data(), dc, h.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(std::all_of(h.begin(), h.end(), [](float x) { return std::isnan(x); }));
    cudaFree(a);
    cudaFree(b);
    cudaFree(dc);
}

TEST_CASE("WMMA caught: a lane that skips mma_sync, and an ldm that is not a multiple of 8 (by the warp-collective checks)") {
    WmmaMatmul mm;
    Outcome skip = in_child([&] { mm.run<false, false>(false, false, WMMA_LANE_SKIPS_MMA); });
    check_caught(skip, "launch failure in kernel wmma_matmul_kernel");
    check_caught(skip, "(warp 0, lane 7): reached __syncwarp at tests/test_cudacpu.cu:");
    check_caught(skip, "waits for it at wmma::mma_sync at tests/test_cudacpu.cu:");
    Outcome ldm = in_child([&] { mm.run<false, false>(false, false, WMMA_LDM_NOT_MULTIPLE_OF_8); });
    check_caught(ldm, "wmma::load_matrix_sync at tests/test_cudacpu.cu:");
    check_caught(ldm, "ldm 20 is not a multiple of 8 elements");
}

TEST_CASE("WMMA caught: misaligned, diverging or out-of-range tiles, and a warp that is not whole") {
    using namespace nvcuda;
    typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> A;
    __nv_bfloat16* a = device_copy(converted<__nv_bfloat16>(pseudo_random(512, 1, -1, 1)));
    __nv_bfloat16* short_a = device_copy(converted<__nv_bfloat16>(pseudo_random(255, 1, -1, 1)));
    struct K { static __global__ void k(const __nv_bfloat16* p, unsigned ldm, int lane_offset) {
        A f;
        wmma::load_matrix_sync(f, p + (threadIdx.x % 32 >= 16 ? lane_offset : 0), ldm);
    } };
    struct S { static __global__ void k(unsigned ldm) {
        __shared__ __align__(32) __nv_bfloat16 tile[16 * 16];
        A f;
        wmma::load_matrix_sync(f, tile, ldm);
    } };
    CHECK(in_child([&] { K::k<<<1, 64>>>(a, 16, 0); S::k<<<1, 32>>>(16); }).status == 0);
    check_caught(in_child([&] { K::k<<<1, 32>>>(a + 8, 16, 0); }), "is not 32-byte (256-bit) aligned, as WMMA requires (it is 16 bytes past");
    Outcome differ = in_child([&] { K::k<<<1, 32>>>(a, 16, 16); });
    check_caught(differ, "(warp 0, lane 16): wmma::load_matrix_sync at tests/test_cudacpu.cu:");
    check_caught(differ, "every lane of the warp must pass the same pointer, ldm and layout");
    check_caught(in_child([&] { K::k<<<1, 32>>>(short_a, 16, 0); }), "run 2 bytes past the end of its 510-byte allocation");
    check_caught(in_child([&] { S::k<<<1, 32>>>(24); }), "(it starts in a __shared__ variable and runs past its end)");
    check_caught(in_child([&] { K::k<<<1, 48>>>(a, 16, 0); }), "names lane 16 of warp 1, which does not exist");
    cudaFree(a);
    cudaFree(short_a);
}

// ---------------------------------------------------------------- tensor cores (mma.sync)
TEST_CASE("mma.sync: a 16x8x16 product matches the host, every schedule") {
    MmaTiles mt(16);
    std::vector<float> want = mt.reference();
    for_each_schedule([&](const std::string& schedule) {
        MmaTiles::Mismatches m = mt.compare(mt.run(MMA_NONE), want);
        CHECK_MESSAGE(m.count == 0, m.first);   // bitwise: the documented order
    });
}

TEST_CASE("mma.sync: four chained calls (K = 64) accumulate as one product, every schedule") {
    MmaTiles mt(64);
    std::vector<float> want = mt.reference();
    for_each_schedule([&](const std::string& schedule) {
        MmaTiles::Mismatches m = mt.compare(mt.run(MMA_NONE), want);
        CHECK_MESSAGE(m.count == 0, m.first);
    });
}

TEST_CASE("mma.sync caught: a's rows g and g + 8 exchanged, b's halves packed the wrong way round (by the comparison with the host)") {
    MmaTiles mt(16);
    std::vector<float> want = mt.reference();
    int rows = mt.compare(mt.run(MMA_A_ROWS_SWAPPED), want).count, halves = mt.compare(mt.run(MMA_B_HALVES_SWAPPED), want).count;
    MESSAGE("elements of d wrong, of " << want.size() << ": " << rows << " (a's rows exchanged), " << halves << " (b's halves)");
    CHECK(rows == (int)want.size());
    CHECK(halves == (int)want.size());
    CHECK(halves == (int)want.size());
}

TEST_CASE("mma.sync caught: a lane that skips the call (by the warp-collective check)") {
    MmaTiles mt(16);
    Outcome skip = in_child([&] { mt.run(MMA_LANE_SKIPS); });
    check_caught(skip, "launch failure in kernel mma_tile_kernel");
    check_caught(skip, "(warp 0, lane 7): exited while lane 0 of its warp waits for it at mma.sync.m16n8k16 at tests/test_cudacpu.cu:");
}

TEST_CASE("mma.sync caught: registers built from memory never written (by the NaN fill)") {
    MmaTiles mt(16);
    auto all_nan = [](const std::vector<float>& d) { return std::all_of(d.begin(), d.end(), [](float x) { return std::isnan(x); }); };
    CHECK(all_nan(mt.run(MMA_NONE, false, true)));    // b never written: every product NaN
    CHECK(all_nan(mt.run(MMA_NONE, true, false)));    // c never written: the accumulator starts NaN
}

// ---------------------------------------------------------------- ldmatrix
// the registers ldmatrix gives each lane, by the PTX ISA's description written out here: the
// 16x16 matrix M as four 8x8 matrices, number i at rows (i % 2) * 8, columns (i / 2) * 8 (the
// lanes' addresses above); lane l = 4g + t receives in r[i] the 16-bit elements (row g, columns
// 2t, 2t + 1) of matrix i, or with .trans (rows 2t, 2t + 1, column g), the lower in the low half
static std::vector<uint32_t> ldmatrix_reference(int warps, bool trans) {
    std::vector<uint32_t> want((size_t)warps * 32 * 4);
    for (int w = 0; w < warps; w++)
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 4; i++) {
                int g = l / 4, t = l % 4, r0 = i % 2 * 8, c0 = i / 2 * 8;
                auto element = [&](int r, int c) { return (uint32_t)__bfloat16_as_ushort(__float2bfloat16((float)((r0 + r) * 16 + c0 + c))); };
                uint32_t lo = trans ? element(2 * t, g) : element(g, 2 * t), hi = trans ? element(2 * t + 1, g) : element(g, 2 * t + 1);
                want[((size_t)w * 32 + l) * 4 + i] = lo | hi << 16;
            }
    return want;
}

static std::vector<uint32_t> ldmatrix_run(int warps, int ld, bool trans, int bug) {
    std::vector<float> values(256);
    for (int i = 0; i < 256; i++) values[i] = (float)i;
    __nv_bfloat16* m = device_copy(converted<__nv_bfloat16>(values));
    uint32_t* out;
    REQUIRE(cudaMalloc(&out, (size_t)warps * 32 * 4 * sizeof(uint32_t)) == cudaSuccess);
    ldmatrix_kernel<<<1, warps * 32, (size_t)warps * 16 * ld * sizeof(__nv_bfloat16)>>>(out, m, ld, trans, bug);
    std::vector<uint32_t> h((size_t)warps * 32 * 4);
    REQUIRE(cudaMemcpy(h.data(), out, h.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost) == cudaSuccess);
    cudaFree(m);
    cudaFree(out);
    return h;
}

TEST_CASE("ldmatrix: the registers of every lane, plain and .trans, rows padded or not, every schedule") {
    for_each_schedule([&](const std::string&) {
        for (int ld : {16, 24})   // 24: rows padded by 8 elements, as the attention tiles are
            for (bool trans : {false, true}) {
                CAPTURE(ld);
                CAPTURE(trans);
                CHECK(ldmatrix_run(2, ld, trans, LDM_NONE) == ldmatrix_reference(2, trans));
            }
    });
    // and the two differ: a kernel that used one for the other would get the transpose
    CHECK(ldmatrix_reference(1, false) != ldmatrix_reference(1, true));
}

TEST_CASE("ldmatrix caught: a misaligned row, a row in global memory, a lane that skips the call") {
    Outcome misaligned = in_child([] { ldmatrix_run(1, 24, false, LDM_MISALIGNED); });
    check_caught(misaligned, "ldmatrix.sync.m8n8.x4 at tests/test_cudacpu.cu:");
    check_caught(misaligned, "is not 16-byte aligned");
    Outcome global = in_child([] { ldmatrix_run(1, 24, true, LDM_GLOBAL_ROW); });
    check_caught(global, "is not inside the dynamic shared memory or one __shared__ variable: ldmatrix reads shared memory only");
    Outcome skip = in_child([] { ldmatrix_run(1, 24, false, LDM_LANE_SKIPS); });
    check_caught(skip, "launch failure in kernel ldmatrix_kernel");
    check_caught(skip, "(warp 0, lane 5): exited while lane 0 of its warp waits for it at ldmatrix.sync.m8n8.x4 at tests/test_cudacpu.cu:");
}

// ---------------------------------------------------------------- asynchronous copies (cp.async)
TEST_CASE("cp.async: a double-buffered tile copy gives the host's result, every schedule") {
    AsyncTiles at;
    std::vector<float> want = at.reference();
    for_each_schedule([&](const std::string& schedule) {
        AsyncTiles::Mismatches m = at.compare(at.run(ASYNC_NONE), want);
        CHECK_MESSAGE(m.count == 0, m.first);
    });
}

TEST_CASE("cp.async: 4-, 8- and 16-byte copies, zfill, and which groups a wait lands") {
    // one thread: each copy lands when a wait covers its group, and not before (here), so the
    // words read before that are still the 0xFF fill; words past what a copy reads are zeros
    struct K { static __global__ void k(uint32_t* out, const uint32_t* src) {
        __shared__ __align__(16) uint32_t s[16];
        __pipeline_memcpy_async(s + 0, src + 0, 16, 8);   // words 0, 1 from src; 2, 3 zero
        __pipeline_memcpy_async(s + 4, src + 4, 8);       // words 4, 5
        __pipeline_memcpy_async(s + 6, src + 6, 4);       // word 6
        __pipeline_memcpy_async(s + 7, src + 64, 4, 4);   // word 7 zero; the source, past src's end, is not read
        __pipeline_memcpy_async(s + 8, src + 8, 8, 4);    // word 8 from src; 9 zero
        __pipeline_commit();
        __pipeline_memcpy_async(s + 12, src + 12, 16);    // words 12-15, a group of their own
        __pipeline_commit();
        __pipeline_memcpy_async(s + 10, src + 10, 8);     // words 10, 11, not committed yet
        __pipeline_wait_prior(1);   // the first group
        for (int i = 0; i < 16; i++) out[i] = s[i];
        __pipeline_wait_prior(0);   // and the second; the copy not committed is in no group
        for (int i = 0; i < 16; i++) out[16 + i] = s[i];
        __pipeline_commit();
        __pipeline_wait_prior(0);
        for (int i = 0; i < 16; i++) out[32 + i] = s[i];
    } };
    std::vector<uint32_t> src(16);
    for (int i = 0; i < 16; i++) src[i] = 0x01010101u * (i + 1);
    uint32_t *dsrc = device_copy(src), *dout;
    REQUIRE(cudaMalloc(&dout, 48 * sizeof(uint32_t)) == cudaSuccess);
    K::k<<<1, 1>>>(dout, dsrc);
    std::vector<uint32_t> out(48);
    REQUIRE(cudaMemcpy(out.data(), dout, out.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost) == cudaSuccess);
    const uint32_t F = 0xFFFFFFFFu;   // shared memory's fill
    std::vector<uint32_t> want = {src[0], src[1], 0, 0, src[4], src[5], src[6], 0, src[8], 0, F, F, F, F, F, F};
    for (int i = 0; i < 16; i++) { CAPTURE(i); CHECK(out[i] == want[i]); }
    for (int i = 12; i < 16; i++) want[i] = src[i];
    for (int i = 0; i < 16; i++) { CAPTURE(i); CHECK(out[16 + i] == want[i]); }
    want[10] = src[10];
    want[11] = src[11];
    for (int i = 0; i < 16; i++) { CAPTURE(i); CHECK(out[32 + i] == want[i]); }
    cudaFree(dsrc);
    cudaFree(dout);
}

TEST_CASE("cp.async caught: waiting too little, or not at all (by the 0xFF fill: NaN), every schedule") {
    // wait_prior(2) leaves the group of the current tile in flight: the first two tiles are
    // read before any of their copies land, so every column sum is NaN
    AsyncTiles at;
    std::vector<float> want = at.reference();
    for_each_schedule([&](const std::string& schedule) {
        for (int bug : {(int)ASYNC_WAIT_TOO_LITTLE, (int)ASYNC_NO_WAIT}) {
            CAPTURE(bug);
            AsyncTiles::Mismatches m = at.compare(at.run(bug), want);
            CHECK(m.nan == (int)want.size());
        }
    });
}

TEST_CASE("cp.async caught: a missing barrier after the wait, or after the reads (by the NaN of unlanded copies), every schedule") {
    // after the wait: each thread waits for its own copies only, so before the barrier the
    // threads that have not yet run this iteration's wait have left their part of the tile
    // unlanded (NaN). After the reads: the first thread to finish a tile starts the copies of
    // the tile after next into that tile's buffer; a copy's destination is undefined until it
    // lands (0xFF here), and the threads that read the buffer after that see NaN.
    AsyncTiles at;
    std::vector<float> want = at.reference();
    for (AsyncBug bug : {ASYNC_NO_BARRIER_AFTER_WAIT, ASYNC_NO_BARRIER_BEFORE_REFILL}) {
        CAPTURE(bug);
        for_each_schedule([&](const std::string& schedule) {
            AsyncTiles::Mismatches m = at.compare(at.run(bug), want);
            MESSAGE("bug " << bug << ", schedule " << schedule << ": " << m.count << " of " << want.size() << " column sums wrong, "
                    << m.nan << " NaN");
            CHECK(m.nan > 0);
        });
    }
}

TEST_CASE("cp.async caught: a 12-byte copy, zfill over the size, misaligned addresses, a destination in global memory, a source past its allocation") {
    struct K { static __global__ void k(void* global_dst, const char* src, int bytes, int zfill, int dst_offset) {
        __shared__ __align__(16) char s[64];
        __pipeline_memcpy_async(global_dst ? global_dst : (void*)(s + dst_offset), src, bytes, zfill);
        __pipeline_commit();
        __pipeline_wait_prior(0);
    } };
    char *src, *dst;
    REQUIRE(cudaMalloc(&src, 24) == cudaSuccess);   // 24 bytes: a 16-byte copy from src + 16 reads 8 past the end
    REQUIRE(cudaMalloc(&dst, 64) == cudaSuccess);
    REQUIRE(cudaMemset(src, 1, 24) == cudaSuccess);
    // the copies as they should be: 16 bytes into the middle of s; 8 bytes read from the last 8 of src, 8 zeros
    CHECK(in_child([&] { K::k<<<1, 1>>>(nullptr, src, 16, 0, 16); K::k<<<1, 1>>>(nullptr, src + 16, 16, 8, 0); }).status == 0);
    Outcome twelve = in_child([&] { K::k<<<1, 1>>>(nullptr, src, 12, 0, 0); });
    check_caught(twelve, "launch failure in kernel K::k (launched at tests/test_cudacpu.cu:");
    check_caught(twelve, "(warp 0, lane 0): __pipeline_memcpy_async at tests/test_cudacpu.cu:");
    check_caught(twelve, "copies 12 bytes: it takes 4, 8 or 16");
    check_caught(in_child([&] { K::k<<<1, 1>>>(nullptr, src, 8, 16, 0); }), "zfill 16 is more than its 8 bytes");
    Outcome dst_misaligned = in_child([&] { K::k<<<1, 1>>>(nullptr, src, 16, 0, 8); });
    check_caught(dst_misaligned, "the destination 0x");
    check_caught(dst_misaligned, "is not aligned to the copy's 16 bytes");
    check_caught(in_child([&] { K::k<<<1, 1>>>(nullptr, src + 4, 8, 0, 0); }), "the source 0x");
    check_caught(in_child([&] { K::k<<<1, 1>>>(dst, src, 16, 0, 0); }),
                 "is not inside the dynamic shared memory or one __shared__ variable: cp.async copies into shared memory only");
    Outcome past_end = in_child([&] { K::k<<<1, 1>>>(nullptr, src + 16, 16, 0, 0); });
    check_caught(past_end, "is not inside one device allocation: 16 bytes from 0x");
    check_caught(past_end, "run 8 bytes past the end of its 24-byte allocation");
    cudaFree(src);
    cudaFree(dst);
}

// ---------------------------------------------------------------- planted bugs (plain build)

TEST_CASE("caught: no barrier between writing shared memory and reading it (by the 0xFF fill: NaN)") {
    // sum_squares_partial: warp 0 reads the other warps' slots of `shared` before they are
    // written, and finds NaN there. Under the reverse schedule warp 0 runs last, when every
    // slot is written, and the result happens to be right: ThreadSanitizer catches it there.
    std::vector<float> x = pseudo_random(100000, 9, -1, 1);
    double want = 0;
    for (float v : x) want += (double)v * v;
    ScheduleGuard guard;
    for (const Schedule& s : SCHEDULES) {
        std::string schedule = s.name;
        CAPTURE(schedule);
        cudacpu::set_schedule(s.reverse, s.shuffle, 7);
        Dev dx(x), partial((size_t)64);
        for (int bug : {(int)NONE, (int)NO_BARRIER_AFTER_WRITE}) {
            sum_squares_partial_kernel<<<64, 512>>>(partial.p, dx.p, x.size(), bug);
            double got = 0;
            for (float p : partial.host()) got += p;
            if (bug == NONE) CHECK(std::fabs(got - want) < 1e-4 * want);
            else if (!s.reverse) CHECK_MESSAGE(std::isnan(got), "the sum came out as " << got << ": the missing barrier went unseen");
            else MESSAGE("reverse schedule, missing barrier: sum " << got << " (want " << want << ")");
        }
    }
}

TEST_CASE("caught: no barrier before reusing shared memory (by a schedule that runs another warp ahead)") {
    // block_reduce for the max, then for the sum: without the first barrier, the warp that
    // leaves the max first writes its partial sum over a slot another warp has yet to read as
    // a partial max. Logits below zero make every partial sum larger than any max.
    std::vector<double> want;
    crossentropy_reference(want, ce_logits(), ce_targets(), CE_N, CE_V, CE_VP);
    for_each_schedule([&](const std::string& schedule) {
        std::vector<float> ce = crossentropy_run(ce_logits(), ce_targets(), CE_N, CE_V, CE_VP, NO_BARRIER_BEFORE_REUSE);
        double err = max_abs_diff(ce, want);
        MESSAGE("schedule " << schedule << ": largest loss error " << err);
        CHECK(err > 1e-2);
    });
}

TEST_CASE("caught: a warp reduction missing a step (by the comparison with the host)") {
    std::vector<double> want;
    crossentropy_reference(want, ce_logits(), ce_targets(), CE_N, CE_V, CE_VP);
    std::vector<float> ce = crossentropy_run(ce_logits(), ce_targets(), CE_N, CE_V, CE_VP, WARP_SUM_MISSING_STEP);
    CHECK(max_abs_diff(ce, want) > 1e-2);
}

TEST_CASE("caught: a shuffle inside divergent code (by the warp-collective check)") {
    int rows = 3 * 37, T = 37;
    Outcome o = in_child([&] {
        Dev pre(pseudo_random((size_t)rows * T, 5, -3, 3)), att((size_t)rows * T);
        attention_softmax_kernel<<<(rows + 7) / 8, 256>>>(att.p, pre.p, rows, T, 0.5f, SHUFFLE_IN_DIVERGENT_CODE);
    });
    check_caught(o, "launch failure in kernel attention_softmax_kernel (launched at tests/test_cudacpu.cu:");
    check_caught(o, "__shfl_xor_sync at tests/test_cudacpu.cu:");
    check_caught(o, "the lanes of a warp collective must all reach the same call");
}

TEST_CASE("caught: a warp shuffle in a block that is not a multiple of 32 threads (by the warp-collective check)") {
    int N = 10, C = 64;
    Outcome o = in_child([&] {
        Dev x(pseudo_random((size_t)N * C, 2, -2, 2)), w(pseudo_random(C, 3, 0.5f, 1.5f)), b(pseudo_random(C, 4, -1, 1));
        Dev out((size_t)N * C), mean((size_t)N), rstd((size_t)N);
        layernorm_forward_kernel<<<N, 48>>>(out.p, mean.p, rstd.p, x.p, w.p, b.p, N, C, NONE);
    });
    check_caught(o, "launch failure in kernel layernorm_forward_kernel");
    check_caught(o, "names lane 16 of warp 1, which does not exist (the block has 48 threads");
}

TEST_CASE("caught: the other collective and barrier misuses, each with its own message") {
    SUBCASE("lanes at two different collectives") {
        Outcome o = in_child([] {
            struct K { static __global__ void k(int* out) {
                int v = threadIdx.x;
                if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffff, v, 1);
                else v = __shfl_xor_sync(0xffffffff, v, 2);
                out[threadIdx.x] = v;
            } };
            int* out;
            cudaMalloc(&out, 32 * sizeof(int));
            K::k<<<1, 32>>>(out);
        });
        check_caught(o, "the lanes of a warp collective must all reach the same call");
    }
    SUBCASE("barriers at different call sites") {
        Outcome o = in_child([] {
            struct K { static __global__ void k() {
                if (threadIdx.x < 64) __syncthreads();
                else __syncthreads();
            } };
            K::k<<<1, 128>>>();
        });
        check_caught(o, "the threads of a block must meet at the same barrier");
    }
    SUBCASE("a lane at a barrier while its warp waits at a shuffle") {
        Outcome o = in_child([] {
            struct K { static __global__ void k(int* out) {
                int v = threadIdx.x;
                if (threadIdx.x != 5) v = __shfl_down_sync(0xffffffff, v, 1);
                __syncthreads();
                out[threadIdx.x] = v;
            } };
            int* out;
            cudaMalloc(&out, 32 * sizeof(int));
            K::k<<<1, 32>>>(out);
        });
        check_caught(o, "the warp diverged");
    }
    SUBCASE("a lane that exits while its warp waits for it at a shuffle") {
        Outcome o = in_child([] {
            struct K { static __global__ void k(int* out) {
                if (threadIdx.x >= 8) return;   // a guard that should have come after the shuffle
                out[threadIdx.x] = __shfl_xor_sync(0xffffffff, (int)threadIdx.x, 1);
            } };
            int* out;
            cudaMalloc(&out, 32 * sizeof(int));
            K::k<<<1, 32>>>(out);
        });
        check_caught(o, "thread (8,0,0) (warp 0, lane 8): exited while lane 0 of its warp waits for it at __shfl_xor_sync");
    }
    SUBCASE("a mask that does not name the calling lane") {
        Outcome o = in_child([] {
            struct K { static __global__ void k() { (void)__ballot_sync(0x0000ffff, 1); } };
            K::k<<<1, 32>>>();
        });
        check_caught(o, "which does not name the calling lane 16");
    }
}

TEST_CASE("the other collectives give the GPU's results") {
    struct K { static __global__ void k(unsigned* out) {
        unsigned lane = threadIdx.x % 32;
        unsigned v = 100 + lane;
        out[threadIdx.x * 8 + 0] = __shfl_sync(0xffffffff, v, 3);
        out[threadIdx.x * 8 + 1] = __shfl_up_sync(0xffffffff, v, 2);
        out[threadIdx.x * 8 + 2] = __shfl_down_sync(0xffffffff, v, 5, 16);
        out[threadIdx.x * 8 + 3] = __ballot_sync(0xffffffff, lane % 3 == 0);
        out[threadIdx.x * 8 + 4] = __any_sync(0xffffffff, lane == 31);
        out[threadIdx.x * 8 + 5] = __all_sync(0xffffffff, lane < 31);
        __syncwarp();
        out[threadIdx.x * 8 + 6] = lane < 16 ? __shfl_xor_sync(0x0000ffff, v, 1) : __shfl_xor_sync(0xffff0000, v, 2);
        out[threadIdx.x * 8 + 7] = __shfl_sync(0xffffffff, v, lane + 8, 8);
    } };
    unsigned* d;
    REQUIRE(cudaMalloc(&d, 64 * 8 * sizeof(unsigned)) == cudaSuccess);
    K::k<<<1, 64>>>(d);
    std::vector<unsigned> h(64 * 8);
    REQUIRE(cudaMemcpy(h.data(), d, h.size() * sizeof(unsigned), cudaMemcpyDeviceToHost) == cudaSuccess);
    cudaFree(d);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
    for (unsigned t = 0; t < 64; t++) {
        unsigned lane = t % 32, *o = &h[t * 8];
        CAPTURE(t);
        CHECK(o[0] == 103);
        CHECK(o[1] == (lane >= 2 ? 100 + lane - 2 : 100 + lane));
        CHECK(o[2] == (lane % 16 + 5 < 16 ? 100 + lane + 5 : 100 + lane));
        CHECK(o[3] == ballot);
        CHECK(o[4] == 1);
        CHECK(o[5] == 0);
        CHECK(o[6] == (lane < 16 ? 100 + (lane ^ 1) : 100 + (lane ^ 2)));
        CHECK(o[7] == 100 + (lane & ~7u) + (lane & 7));
    }
}

TEST_CASE("launch limits are checked, naming the kernel and the launch") {
    struct K { static __global__ void k() {} };
    CHECK(in_child([] { K::k<<<1, 1024>>>(); }).status == 0);
    check_caught(in_child([] { K::k<<<1, 1025>>>(); }), "block (1025,1,1) is not a valid block");
    check_caught(in_child([] { K::k<<<1, 0>>>(); }), "block (0,1,1) is not a valid block");
    check_caught(in_child([] { K::k<<<1, dim3(32, 2, 65)>>>(); }), "is not a valid block");
    check_caught(in_child([] { K::k<<<dim3(1, 65536), 32>>>(); }), "exceeds CUDA's limits");
    check_caught(in_child([] { K::k<<<(size_t)1 << 31, 32>>>(); }), "exceeds CUDA's limits");
    check_caught(in_child([] { K::k<<<0, 32>>>(); }), "has a zero dimension");
    check_caught(in_child([] { K::k<<<1, 32, 48 * 1024 + 4>>>(); }), "more than 48 KB needs cudaFuncSetAttribute");
    check_caught(in_child([] { K::k<<<1, 32, 228 * 1024>>>(); }), "more than any block can have");
    check_caught(in_child([] { K::k<<<1, 1025>>>(); }), "launch failure in kernel K::k (launched at tests/test_cudacpu.cu:");
}

// a kernel outside any class, so that cudaFuncSetAttribute can find it by its address
__global__ void big_shared_kernel(float* out, int n) {
    extern __shared__ float buf[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = (float)i;
    __syncthreads();
    if (threadIdx.x == 0) out[0] = buf[n - 1];
}

TEST_CASE("dynamic shared memory over 48 KB after cudaFuncSetAttribute, and up to its limit only") {
    int n = 50 * 1024 / 4;
    Dev out((size_t)1);
    REQUIRE(cudaFuncSetAttribute(big_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n * 4) == cudaSuccess);
    big_shared_kernel<<<1, 256, n * 4>>>(out.p, n);
    CHECK(out.host()[0] == (float)(n - 1));
    check_caught(in_child([&] { big_shared_kernel<<<1, 256, n * 4 + 4>>>(out.p, n); }), "(the attribute set is smaller)");
}

// a kernel with 16 bytes of static shared memory besides its dynamic: together they count
// against the 48 KB a kernel has without the attribute
__global__ void static_and_dynamic_shared_kernel(float* out) {
    extern __shared__ float dyn[];
    __shared__ float fixed[4];
    if (threadIdx.x < 4) fixed[threadIdx.x] = 1.0f;
    dyn[threadIdx.x] = 2.0f;
    __syncthreads();
    if (threadIdx.x == 0) out[0] = fixed[3] + dyn[31];
}

TEST_CASE("static and dynamic shared memory together past 48 KB need the attribute, as on a GPU") {
    Dev out((size_t)1);
    static_and_dynamic_shared_kernel<<<1, 32, 48 * 1024 - 16>>>(out.p);   // 48 KB in all: no attribute needed
    CHECK(out.host()[0] == 3.0f);
    // 48 KB of dynamic and 16 bytes of static: an H100 refused it ("invalid argument")
    check_caught(in_child([&] { static_and_dynamic_shared_kernel<<<1, 32, 48 * 1024>>>(out.p); }),
                 "16 bytes of static plus 49152 of dynamic shared memory: more than 48 KB needs cudaFuncSetAttribute");
    REQUIRE(cudaFuncSetAttribute(static_and_dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024) ==
            cudaSuccess);
    static_and_dynamic_shared_kernel<<<1, 32, 48 * 1024>>>(out.p);
    CHECK(out.host()[0] == 3.0f);
}

TEST_CASE("shuffled block order: a kernel whose blocks depend on their order gives different results") {
    // each block adds its number to a running total in its order of execution: order-dependent
    struct K { static __global__ void k(int* trace, int* counter) {
        if (threadIdx.x == 0) trace[blockIdx.x] = (*counter)++;
    } };
    ScheduleGuard guard;
    int *trace, *counter;
    REQUIRE(cudaMalloc(&trace, 64 * sizeof(int)) == cudaSuccess);
    REQUIRE(cudaMalloc(&counter, sizeof(int)) == cudaSuccess);
    auto run = [&](bool shuffle, uint64_t seed) {
        cudacpu::set_schedule(false, shuffle, seed);
        cudaMemset(counter, 0, sizeof(int));
        K::k<<<64, 32>>>(trace, counter);
        std::vector<int> h(64);
        cudaMemcpy(h.data(), trace, 64 * sizeof(int), cudaMemcpyDeviceToHost);
        return h;
    };
    std::vector<int> in_order = run(false, 1), a = run(true, 1), b = run(true, 1), c = run(true, 2);
    for (int i = 0; i < 64; i++) CHECK(in_order[i] == i);
    CHECK(a != in_order);
    CHECK(c != a);
    std::vector<int> sorted = a;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == in_order);   // every block ran exactly once
    cudaFree(trace);
    cudaFree(counter);
}

TEST_CASE("dry run: launches are checked but not run, memory is address space only") {
    struct K { static __global__ void k(float* x) { x[threadIdx.x] = 1.0f; } };
    Outcome ok = in_child([] {
        setenv("CUDACPU_DRY_RUN", "1", 1);
        float* x;
        if (cudaMalloc(&x, (size_t)64 << 30) != cudaSuccess) _exit(3);   // 64 GB of address space, never touched
        K::k<<<1, 32>>>(x);
        float h = 5.0f;
        cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
        _exit(h == 5.0f ? 0 : 4);   // the copy did nothing, and the kernel never ran
    });
    CHECK_MESSAGE(ok.status == 0, ok.err);
    check_caught(in_child([] {
        setenv("CUDACPU_DRY_RUN", "1", 1);
        K::k<<<1, 2048>>>(nullptr);
    }), "block (2048,1,1) is not a valid block");
}

TEST_CASE("the runtime API: copies are range-checked, memory is NaN-filled, and the device is described") {
    float* p;
    REQUIRE(cudaMalloc(&p, 10 * sizeof(float)) == cudaSuccess);
    float h[11];
    REQUIRE(cudaMemcpy(h, p, 10 * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(std::isnan(h[0]));
    CHECK(std::isnan(h[9]));
    check_caught(in_child([&] { cudaMemcpy(h, p, 11 * sizeof(float), cudaMemcpyDeviceToHost); }),
                 "cudaMemcpy (device to host): source: 44 bytes from");
    check_caught(in_child([&] { cudaMemset(p + 1, 0, 10 * sizeof(float)); }), "run 4 bytes past the end of its 40-byte allocation");
    check_caught(in_child([&] { cudaMemcpy(h, h + 1, 4, cudaMemcpyDeviceToHost); }), "is not device memory");
    size_t free_bytes, total;
    REQUIRE(cudaMemGetInfo(&free_bytes, &total) == cudaSuccess);
    CHECK(total - free_bytes >= 40);
    void* huge;
    CHECK(cudaMalloc(&huge, total) == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaSuccess);
    cudaDeviceProp prop;
    REQUIRE(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
    CHECK(prop.maxThreadsPerBlock == 1024);
    CHECK(prop.sharedMemPerBlockOptin == 227 * 1024);
    int count = 0;
    CHECK((cudaGetDeviceCount(&count) == cudaSuccess && count == 1));
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    cudaStream_t s;
    REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaErrorInvalidResourceHandle);
    CHECK(cudaFree(p + 1) == cudaErrorInvalidValue);
    CHECK(cudaFree(p) == cudaSuccess);
}

#endif

// ---------------------------------------------------------------- planted bugs (AddressSanitizer build)
#ifdef CUDACPU_TEST_ASAN

TEST_CASE("caught: an off-by-one bound (by AddressSanitizer: device buffers are exact-size)") {
    size_t n = 1000;
    Outcome o = in_child([&] {
        Dev a(pseudo_random(n, 1, -1, 1)), b(pseudo_random(n, 2, -1, 1)), out(n);
        residual_forward_kernel<<<(n + 255) / 256, 256>>>(out.p, a.p, b.p, n, OFF_BY_ONE);
    });
    check_caught(o, "AddressSanitizer: heap-buffer-overflow");
    check_caught(o, "residual_forward_kernel");
    // and the kernel as it is runs clean
    Dev a(pseudo_random(n, 1, -1, 1)), b(pseudo_random(n, 2, -1, 1)), out(n);
    residual_forward_kernel<<<(n + 255) / 256, 256>>>(out.p, a.p, b.p, n, NONE);
    CHECK(out.host()[n - 1] == a.host()[n - 1] + b.host()[n - 1]);
}

TEST_CASE("caught: a missing row guard (by AddressSanitizer)") {
    int N = 13, C = 64;   // 8 rows per block: the second block has 3 rows past the end
    auto run = [&](int bug) {
        Dev x(pseudo_random((size_t)N * C, 2, -2, 2)), w(pseudo_random(C, 3, 0.5f, 1.5f)), b(pseudo_random(C, 4, -1, 1));
        Dev out((size_t)N * C), mean((size_t)N), rstd((size_t)N);
        layernorm_forward_kernel<<<(N + 7) / 8, 256>>>(out.p, mean.p, rstd.p, x.p, w.p, b.p, N, C, bug);
    };
    Outcome o = in_child([&] { run(NO_ROW_GUARD); });
    check_caught(o, "AddressSanitizer: heap-buffer-overflow");
    check_caught(o, "layernorm_forward_kernel");
    run(NONE);
}

TEST_CASE("caught: dynamic shared memory one element short (by AddressSanitizer: the buffer is exact-size)") {
    int C = 64, NH = 4, pos = 70;
    auto run = [&](int short_by) {
        Dev k(pseudo_random((size_t)(pos + 1) * C, 6, -1, 1)), v(pseudo_random((size_t)(pos + 1) * C, 7, -1, 1));
        Dev q(pseudo_random(3 * C, 8, -1, 1)), out((size_t)C);
        attention_forward_cached_kernel<<<NH, 32, (pos + 1 - short_by) * sizeof(float)>>>(out.p, k.p, v.p, q.p, pos, C, NH);
    };
    Outcome o = in_child([&] { run(1); });
    check_caught(o, "AddressSanitizer: heap-buffer-overflow");
    check_caught(o, "attention_forward_cached_kernel");
    run(0);
}

TEST_CASE("the WMMA matmul runs clean under AddressSanitizer (each lane's loads and stores are its own)") {
    WmmaMatmul mm;   // a report would abort this binary
    CHECK(max_abs_diff(mm.run<false, true>(true, true, WMMA_NONE), mm.reference(true)) < 1e-5);
    CHECK(max_abs_diff(mm.run<true, false>(false, false, WMMA_NONE), mm.reference(false)) < 1e-5);
}

TEST_CASE("the mma.sync kernel runs clean under AddressSanitizer (each lane reads its own elements of a, b and c)") {
    MmaTiles mt(64);   // a report would abort this binary
    CHECK(mt.compare(mt.run(MMA_NONE), mt.reference()).count == 0);
}

TEST_CASE("the cp.async kernel runs clean under AddressSanitizer (the zero-filled rows' sources, past the end of x, are not read)") {
    AsyncTiles at;   // a report would abort this binary
    CHECK(at.compare(at.run(ASYNC_NONE), at.reference()).count == 0);
}

TEST_CASE("device memory nobody frees or points to is reported as a leak at exit (by LeakSanitizer)") {
    Outcome o = in_child([] {
        float* p;
        cudaMalloc(&p, 12345);
        p = nullptr;
        exit(0);   // (not _exit: the leak check runs at exit)
    });
    check_caught(o, "12345 byte(s) in 1 object(s) allocated from");
    check_caught(o, "cudaMalloc");
}

#endif

// ---------------------------------------------------------------- planted bugs (ThreadSanitizer build)
#ifdef CUDACPU_TEST_TSAN

TEST_CASE("caught: a missing barrier after writing shared memory (by ThreadSanitizer: a data race)") {
    std::vector<double> want;
    crossentropy_reference(want, ce_logits(), ce_targets(), CE_N, CE_V, CE_VP);
    Outcome o = in_child([] { crossentropy_run(ce_logits(), ce_targets(), CE_N, CE_V, CE_VP, NO_BARRIER_AFTER_WRITE); });
    check_reported(o, "WARNING: ThreadSanitizer: data race");
    check_reported(o, "block_reduce");
    // the kernel as it is: no report (a report would fail this whole binary), the right losses
    CHECK(max_abs_diff(crossentropy_run(ce_logits(), ce_targets(), CE_N, CE_V, CE_VP, NONE), want) < 1e-4);
}

TEST_CASE("caught: a missing barrier before reusing shared memory (by ThreadSanitizer)") {
    Outcome o = in_child([] { crossentropy_run(ce_logits(), ce_targets(), CE_N, CE_V, CE_VP, NO_BARRIER_BEFORE_REUSE); });
    check_reported(o, "WARNING: ThreadSanitizer: data race");
}

TEST_CASE("a shuffle does not order memory: a write before it and a read after it race") {
    struct K { static __global__ void k(float* x) {
        __shared__ float s[32];
        s[threadIdx.x] = (float)threadIdx.x;
        float v = __shfl_xor_sync(0xffffffff, 1.0f, 1);   // no barrier: another lane's write is not ordered
        x[threadIdx.x] = s[(threadIdx.x + 1) % 32] + v;
    } };
    Outcome o = in_child([] {
        float* x;
        cudaMalloc(&x, 32 * sizeof(float));
        K::k<<<1, 32>>>(x);
    });
    check_reported(o, "WARNING: ThreadSanitizer: data race");
}

TEST_CASE("the mma.sync kernel runs clean under ThreadSanitizer (the registers travel through the collective, not memory)") {
    MmaTiles mt(64);   // a report would fail this whole binary
    CHECK(mt.compare(mt.run(MMA_NONE), mt.reference()).count == 0);
}

TEST_CASE("cp.async: the double-buffered tile copy runs clean under ThreadSanitizer, and without the barrier after the wait it races") {
    // a copy lands as a write by the thread that waits for it; another thread's read of it is
    // ordered only by the barrier that follows the wait
    AsyncTiles at;   // a report would fail this whole binary
    CHECK(at.compare(at.run(ASYNC_NONE), at.reference()).count == 0);
    Outcome o = in_child([&] { at.run(ASYNC_NO_BARRIER_AFTER_WAIT); });
    check_reported(o, "WARNING: ThreadSanitizer: data race");
    check_reported(o, "tile_colsum_kernel");
    check_reported(o, "cudacpu::async_wait_prior");   // the other side: the copy landing, in the waiting thread
}

TEST_CASE("__syncwarp orders the memory of its lanes: the WMMA matmul runs clean, and without its __syncwarp it races") {
    struct K { static __global__ void k(float* x) {
        __shared__ float s[32];
        s[threadIdx.x] = (float)threadIdx.x;
        __syncwarp();
        x[threadIdx.x] = s[(threadIdx.x + 1) % 32];
    } };
    Dev x((size_t)32);
    K::k<<<1, 32>>>(x.p);   // no report (a report would fail this whole binary)
    CHECK(x.host()[31] == 0.0f);
    WmmaMatmul mm;
    CHECK(max_abs_diff(mm.run<true, false>(true, true, WMMA_NONE), mm.reference(true)) < 1e-5);
    // a lane's stores of the staged tile, and another lane's read of them in load_matrix_sync:
    // the collective does not order them (the plain build computes the right result here)
    Outcome o = in_child([&] { mm.run<false, false>(false, false, WMMA_NO_SYNCWARP); });
    check_reported(o, "WARNING: ThreadSanitizer: data race");
    check_reported(o, "wmma_matmul_kernel");
}

#endif
