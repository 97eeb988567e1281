// tools/cudacpu/cublas.cpp: cuBLAS and cuBLASLt of the CPU execution mode: the matrix
// multiplications train_gpt.cu asks of the two libraries, computed on the host.
//
// It is not a BLAS: it implements the calls the project makes (cublasGemmStridedBatchedEx,
// cublasLtMatmul with its descriptors, layouts, preferences and heuristic), for fp32 and bf16
// operands with CUBLAS_COMPUTE_32F, and checks their arguments as the real libraries would.
// Conventions a reader needs first:
// - column-major, as the real libraries: element (r, c) of a matrix with leading dimension ld
//   is at r + c * ld; op(X) is X or its transpose.
// - a refused call prints "cudacpu: <call>: <what was wrong>" to stderr and returns the status
//   the real library returns (CUBLAS_STATUS_INVALID_VALUE, CUBLAS_STATUS_NOT_SUPPORTED); a
//   pointer outside device memory is a launch failure (cudacpu::fatal), as on the GPU.
// - every output element is accumulated in fp32 in k order (one fused multiply-add per term)
//   by one thread and rounded to D's type once, so results do not depend on the thread count.
// - the calls run at once, in the caller's thread: the stream of the handle is not used.
// - in a dry run (CUDACPU_DRY_RUN=1) every check is made and nothing is computed.
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "internal.h"

using namespace cudacpu;

// ----------------------------------------------------------------------------
// utilities: refusals, element types

// prints why a call is refused and returns the real library's status for it
__attribute__((format(printf, 2, 3))) static cublasStatus_t refuse(cublasStatus_t status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cudacpu: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return status;
}

static const char* type_name(cudaDataType t) {
    switch (t) {
        case CUDA_R_32F: return "CUDA_R_32F";
        case CUDA_R_16BF: return "CUDA_R_16BF";
        case CUDA_R_16F: return "CUDA_R_16F";
        case CUDA_R_64F: return "CUDA_R_64F";
        default: return "a type the CPU mode does not emulate";
    }
}

// the element types the CPU mode computes with: 0 bytes for any other
static size_t elem_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF ? 2 : 0; }

static inline float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// round to nearest even, as __float2bfloat16 does; NaN stays NaN
static inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

// TF32 keeps 10 of fp32's 23 mantissa bits (round to nearest); used when the math mode or
// compute type allows TF32, as the GPU's tensor cores do
static inline float round_tf32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return f;   // inf, NaN
    u += 0xfffu + ((u >> 13) & 1);
    u &= 0xffffe000u;
    memcpy(&f, &u, 4);
    return f;
}

static inline float load(const void* p, size_t i, cudaDataType t) {
    return t == CUDA_R_32F ? ((const float*)p)[i] : bf16_to_float(((const uint16_t*)p)[i]);
}
static inline void store(void* p, size_t i, cudaDataType t, float v) {
    if (t == CUDA_R_32F) ((float*)p)[i] = v;
    else ((uint16_t*)p)[i] = float_to_bf16(v);
}

// GPT-2's tanh-approximate GELU ("gelu_new"), which is also cuBLASLt's GELU epilogue, and its derivative
static inline float gelu(float x) {
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + cube)));
}
static inline float gelu_grad(float x) {
    float u = 0.7978845608f * (x + 0.044715f * x * x * x);
    float t = tanhf(u);
    float du = 0.7978845608f * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

// bytes spanned by a column-major (rows, cols) matrix with leading dimension ld
static size_t matrix_bytes(int64_t rows, int64_t cols, int64_t ld, size_t es) {
    if (rows <= 0 || cols <= 0) return 0;
    return (size_t)((cols - 1) * ld + rows) * es;
}

static int pointer_alignment(const void* p) {
    int a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

// ----------------------------------------------------------------------------
// the one matrix multiplication both APIs call
//
// D (m,n) = epilogue(alpha op(A) (m,k) op(B) (k,n) + beta C), batch times, all column-major.
// Blocked as BLIS does: the output is cut into tiles of TM x TN elements, one tile per OpenMP
// task; a tile walks k in blocks of KC, packing its slices of op(A) and op(B) as fp32 into
// panels the micro-kernel reads contiguously; the micro-kernel holds an MR x NR block of the
// tile in registers and adds one product per k step (a vectorised loop over MR rows). The
// tile grid depends on the shape only, never on the number of threads.

struct Operand {             // op(X)[r][c] = X[r * rs + c * cs] of batch b at X + b * stride
    const void* p;
    cudaDataType type;
    int64_t rs, cs, stride;
};

struct Epilogue {
    bool bias_add = false, gelu = false, dgelu = false;
    void* aux = nullptr;                 // GELU input: written by GELU_AUX*, read by DGELU*
    int64_t aux_ld = 0;
    cudaDataType aux_type = CUDA_R_32F;
    const void* bias = nullptr;          // read by BIAS epilogues
    cudaDataType bias_type = CUDA_R_32F;
    float* row_sums = nullptr;           // DGELU_BGRAD: per tile column, the tile's sum of each row of D
};

struct Gemm {
    int64_t m, n, k, batch;
    float alpha, beta;
    Operand a, b;
    const void* c; cudaDataType c_type; int64_t ldc, stride_c;
    void* d; cudaDataType d_type; int64_t ldd, stride_d;
    bool tf32;
    Epilogue epi;
};

#ifdef __AVX512F__
constexpr int MR = 32;   // two 16-float vectors per micro-kernel column
#else
constexpr int MR = 16;
#endif
constexpr int NR = 6, KC = 256, TM = 128, TN = 96;   // TM % MR == 0, TN % NR == 0
typedef float vec16 __attribute__((vector_size(64)));   // 16 floats: one AVX-512 or two AVX2 registers
constexpr int MV = MR / 16;

// acc (MR x NR, column-major with leading dimension ldt) += a (kc x MR panel) @ b (kc x NR panel);
// the hot loop of every GEMM: MR*NR fused multiply-adds per step of k, all in registers
static void micro_kernel(int kc, const float* a, const float* b, float* acc, int ldt) {
    vec16 c[NR][MV];
    for (int j = 0; j < NR; j++)
        for (int v = 0; v < MV; v++) memcpy(&c[j][v], acc + j * ldt + v * 16, 64);
    for (int p = 0; p < kc; p++) {
        vec16 av[MV];
        for (int v = 0; v < MV; v++) memcpy(&av[v], a + p * MR + v * 16, 64);
        for (int j = 0; j < NR; j++) {
            vec16 bj = vec16{} + b[p * NR + j];
            for (int v = 0; v < MV; v++) c[j][v] += av[v] * bj;
        }
    }
    for (int j = 0; j < NR; j++)
        for (int v = 0; v < MV; v++) memcpy(acc + j * ldt + v * 16, &c[j][v], 64);
}

// op(X)[r0 .. r0+rows)[c0 .. c0+cols) as fp32 panels of `width` along `by_rows` (A: rows, B: columns), zero-padded
static void pack(float* out, const Operand& x, const void* base, int64_t r0, int64_t rows, int64_t c0, int64_t cols,
                 int64_t rows_total, int64_t cols_total, bool panels_of_rows, int width, bool tf32) {
    // A panels: for each group of `width` rows, kc steps of `width` values (k runs along the columns)
    // B panels: for each group of `width` columns, kc steps of `width` values (k runs along the rows)
    int64_t groups = panels_of_rows ? (rows + width - 1) / width : (cols + width - 1) / width;
    int64_t kc = panels_of_rows ? cols : rows;
    for (int64_t g = 0; g < groups; g++) {
        float* panel = out + g * kc * width;
        for (int w = 0; w < width; w++) {
            int64_t r = panels_of_rows ? r0 + g * width + w : 0, c = panels_of_rows ? 0 : c0 + g * width + w;
            bool inside = panels_of_rows ? r < rows_total : c < cols_total;
            for (int64_t p = 0; p < kc; p++) {
                float v = 0.0f;
                if (inside) {
                    int64_t rr = panels_of_rows ? r : r0 + p, cc = panels_of_rows ? c0 + p : c;
                    v = load(base, (size_t)(rr * x.rs + cc * x.cs), x.type);
                    if (tf32) v = round_tf32(v);
                }
                panel[p * width + w] = v;
            }
        }
    }
}

// one output tile: rows [i0, i0+TM), columns [j0, j0+TN) of batch bt
static void gemm_tile(const Gemm& g, int64_t bt, int64_t i0, int64_t j0, std::vector<float>& apack,
                      std::vector<float>& bpack, std::vector<float>& tile) {
    int64_t rows = std::min<int64_t>(TM, g.m - i0), cols = std::min<int64_t>(TN, g.n - j0);
    int64_t prow = (rows + MR - 1) / MR * MR, pcol = (cols + NR - 1) / NR * NR;
    std::fill(tile.begin(), tile.end(), 0.0f);
    const char* abase = (const char*)g.a.p + bt * g.a.stride * elem_size(g.a.type);
    const char* bbase = (const char*)g.b.p + bt * g.b.stride * elem_size(g.b.type);
    for (int64_t k0 = 0; k0 < g.k; k0 += KC) {
        int kc = (int)std::min<int64_t>(KC, g.k - k0);
        pack(apack.data(), g.a, abase, i0, rows, k0, kc, g.m, g.k, true, MR, g.tf32);
        pack(bpack.data(), g.b, bbase, k0, kc, j0, cols, g.k, g.n, false, NR, g.tf32);
        for (int64_t jj = 0; jj < pcol; jj += NR)
            for (int64_t ii = 0; ii < prow; ii += MR)
                micro_kernel(kc, apack.data() + ii * kc, bpack.data() + jj * kc, tile.data() + ii + jj * TM, TM);
    }
    // the epilogue, element by element: scale, C, bias, GELU or its gradient, one rounding to D's type
    const Epilogue& e = g.epi;
    const char* cbase = g.c ? (const char*)g.c + bt * g.stride_c * elem_size(g.c_type) : nullptr;
    char* dbase = (char*)g.d + bt * g.stride_d * elem_size(g.d_type);
    for (int64_t j = 0; j < cols; j++) {
        for (int64_t i = 0; i < rows; i++) {
            int64_t r = i0 + i, c = j0 + j;
            float t = g.alpha * tile[i + j * TM];
            if (g.beta != 0.0f) t += g.beta * load(cbase, (size_t)(r + c * g.ldc), g.c_type);   // beta == 0: C is not read
            if (e.bias_add) t += load(e.bias, (size_t)r, e.bias_type);
            if (e.gelu) {
                if (e.aux) store(e.aux, (size_t)(r + c * e.aux_ld), e.aux_type, t);
                t = gelu(t);
            }
            if (e.dgelu) t *= gelu_grad(load(e.aux, (size_t)(r + c * e.aux_ld), e.aux_type));
            tile[i + j * TM] = t;
            store(dbase, (size_t)(r + c * g.ldd), g.d_type, t);
        }
    }
    if (e.row_sums) {   // this tile's part of the bias gradient: the sum of each row over the tile's columns
        float* sums = e.row_sums + (j0 / TN) * g.m;
        for (int64_t i = 0; i < rows; i++) {
            float s = 0.0f;
            for (int64_t j = 0; j < cols; j++) s += tile[i + j * TM];
            sums[i0 + i] = s;
        }
    }
}

static void run_gemm(const Gemm& g) {
    int64_t tiles_m = (g.m + TM - 1) / TM, tiles_n = (g.n + TN - 1) / TN, tiles = tiles_m * tiles_n;
    int64_t total = tiles * g.batch;
#pragma omp parallel
    {
        std::vector<float> apack((size_t)TM * KC), bpack((size_t)TN * KC), tile((size_t)TM * TN);
#pragma omp for schedule(dynamic)
        for (int64_t t = 0; t < total; t++) {
            int64_t bt = t / tiles, rest = t % tiles;
            gemm_tile(g, bt, (rest % tiles_m) * TM, (rest / tiles_m) * TN, apack, bpack, tile);
        }
    }
}

// ----------------------------------------------------------------------------
// cuBLAS: a handle, its stream and math mode, and one batched GEMM

struct cublasContext {
    uint32_t magic;
    cudaStream_t stream;
    cublasMath_t math_mode;
};
static const uint32_t CUBLAS_MAGIC = 0xc0b1a5u, CUBLASLT_MAGIC = 0xc0b1a517u;

static bool live(cublasHandle_t h) { return h && h->magic == CUBLAS_MAGIC; }

extern "C" cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    if (!handle) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasCreate: handle is a null pointer");
    *handle = new cublasContext{CUBLAS_MAGIC, nullptr, CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!live(handle)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "cublasDestroy: not a live cuBLAS handle");
    handle->magic = 0;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    if (!live(handle)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSetStream: not a live cuBLAS handle");
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!live(handle)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSetMathMode: not a live cuBLAS handle");
    int base = mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_PEDANTIC_MATH && base != CUBLAS_TF32_TENSOR_OP_MATH)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "cublasSetMathMode: mode %d is not emulated by the CPU mode "
                      "(CUBLAS_DEFAULT_MATH, CUBLAS_PEDANTIC_MATH and CUBLAS_TF32_TENSOR_OP_MATH are)", (int)mode);
    handle->math_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

// the (A/B, C/D) type pairs that CUBLAS_COMPUTE_32F supports and the CPU mode computes:
// fp32 with fp32, bf16 with bf16 or fp32 (the cuBLAS documentation's table also lists fp16
// and int8 inputs, which the project does not use and the CPU mode refuses)
static bool supported_types(cudaDataType ab, cudaDataType cd) {
    return (ab == CUDA_R_32F && cd == CUDA_R_32F) || (ab == CUDA_R_16BF && (cd == CUDA_R_16BF || cd == CUDA_R_32F));
}

// every batch's slice of an operand must lie in one allocation
static void check_batches(const char* what, const void* p, int64_t rows, int64_t cols, int64_t ld, int64_t stride,
                          int64_t batch, size_t es) {
    size_t bytes = matrix_bytes(rows, cols, ld, es);
    if (bytes == 0) return;
    char name[96];
    for (int64_t b = 0; b < batch; b++) {
        snprintf(name, sizeof name, batch > 1 ? "%s (batch %lld)" : "%s", what, (long long)b);
        check_device_range((const char*)p + b * stride * (int64_t)es, bytes, name);
    }
}

extern "C" cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                                     int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                                     int lda, long long strideA, const void* B, cudaDataType Btype, int ldb,
                                                     long long strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
                                                     long long strideC, int batchCount, cublasComputeType_t computeType,
                                                     cublasGemmAlgo_t algo) {
    const char* call = "cublasGemmStridedBatchedEx";
    if (!live(handle)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "%s: not a live cuBLAS handle", call);
    for (cublasOperation_t op : {transa, transb})
        if (op != CUBLAS_OP_N && op != CUBLAS_OP_T)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: operation %d is not CUBLAS_OP_N or CUBLAS_OP_T", call, (int)op);
    if (m < 0 || n < 0 || k < 0 || batchCount < 0)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: negative size (m %d, n %d, k %d, batchCount %d)", call, m, n, k, batchCount);
    int rows_a = transa == CUBLAS_OP_N ? m : k, rows_b = transb == CUBLAS_OP_N ? k : n;
    if (lda < std::max(1, rows_a))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: lda %d is less than A's %d rows (transa %s)", call, lda, rows_a,
                      transa == CUBLAS_OP_N ? "N" : "T");
    if (ldb < std::max(1, rows_b))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: ldb %d is less than B's %d rows (transb %s)", call, ldb, rows_b,
                      transb == CUBLAS_OP_N ? "N" : "T");
    if (ldc < std::max(1, m)) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: ldc %d is less than C's %d rows", call, ldc, m);
    if (!alpha || !beta) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: alpha or beta is a null pointer", call);
    if (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_PEDANTIC &&
        computeType != CUBLAS_COMPUTE_32F_FAST_TF32)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: compute type %d is not emulated by the CPU mode "
                      "(CUBLAS_COMPUTE_32F is)", call, (int)computeType);
    if (Atype != Btype || !supported_types(Atype, Ctype))
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: types A %s, B %s, C %s are not a combination CUBLAS_COMPUTE_32F "
                      "supports (A and B alike; fp32 with fp32 C, bf16 with bf16 or fp32 C)", call, type_name(Atype),
                      type_name(Btype), type_name(Ctype));
    if (algo != CUBLAS_GEMM_DEFAULT && algo != CUBLAS_GEMM_DEFAULT_TENSOR_OP)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: algo %d is not emulated (CUBLAS_GEMM_DEFAULT is)", call, (int)algo);
    if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
    float a = *(const float*)alpha, b = *(const float*)beta;
    size_t es_ab = elem_size(Atype), es_c = elem_size(Ctype);
    check_batches("cublasGemmStridedBatchedEx: A", A, rows_a, transa == CUBLAS_OP_N ? k : m, lda, strideA, batchCount, es_ab);
    check_batches("cublasGemmStridedBatchedEx: B", B, rows_b, transb == CUBLAS_OP_N ? n : k, ldb, strideB, batchCount, es_ab);
    check_batches("cublasGemmStridedBatchedEx: C", C, m, n, ldc, strideC, batchCount, es_c);
    if (batchCount > 1 && llabs(strideC) < (long long)matrix_bytes(m, n, ldc, 1))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: strideC %lld is smaller than one C matrix (%lld elements): "
                      "the batches' outputs would overlap", call, strideC, (long long)matrix_bytes(m, n, ldc, 1));
    if (dry_run()) return CUBLAS_STATUS_SUCCESS;
    bool tf32 = Atype == CUDA_R_32F && computeType != CUBLAS_COMPUTE_32F_PEDANTIC &&
                (computeType == CUBLAS_COMPUTE_32F_FAST_TF32 ||
                 (handle->math_mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) == CUBLAS_TF32_TENSOR_OP_MATH);
    Gemm g{};
    g.m = m; g.n = n; g.k = k; g.batch = batchCount; g.alpha = a; g.beta = b;
    g.a = {A, Atype, transa == CUBLAS_OP_N ? 1 : (int64_t)lda, transa == CUBLAS_OP_N ? (int64_t)lda : 1, strideA};
    g.b = {B, Btype, transb == CUBLAS_OP_N ? 1 : (int64_t)ldb, transb == CUBLAS_OP_N ? (int64_t)ldb : 1, strideB};
    g.c = C; g.c_type = Ctype; g.ldc = ldc; g.stride_c = strideC;
    g.d = C; g.d_type = Ctype; g.ldd = ldc; g.stride_d = strideC;
    g.tf32 = tf32;
    run_gemm(g);
    return CUBLAS_STATUS_SUCCESS;
}

// ----------------------------------------------------------------------------
// cuBLASLt: descriptors kept inside the real headers' fixed-size opaque structs

struct cublasLtContext { uint32_t magic; };

struct LayoutFields {
    uint32_t magic;
    cudaDataType type;
    int32_t order;
    int32_t batch_count;
    uint64_t rows, cols;
    int64_t ld, batch_stride;
};
struct DescFields {
    uint32_t magic;
    cublasComputeType_t compute;
    cudaDataType scale;
    int32_t pointer_mode;
    int32_t transa, transb, transc;
    uint32_t epilogue;
    const void* bias;
    int64_t bias_batch_stride;
    void* aux;
    int64_t aux_ld, aux_batch_stride;
    int32_t aux_type, bias_type;   // -1: D's type
};
struct PrefFields {
    uint32_t magic;
    uint32_t search_mode, reduction_mask;
    uint64_t max_workspace;
    uint32_t align[4];             // minimum alignment of A, B, C, D in bytes, as promised by the caller
};
// what the heuristic hands back in cublasLtMatmulAlgo_t: the alignments its "algorithm" needs
struct AlgoFields {
    uint32_t magic;
    uint32_t align[4];             // A, B, C, D
    uint32_t align_bias, align_aux;
};
static_assert(sizeof(LayoutFields) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout fields fit the real struct");
static_assert(sizeof(DescFields) <= sizeof(cublasLtMatmulDescOpaque_t), "descriptor fields fit the real struct");
static_assert(sizeof(PrefFields) <= sizeof(cublasLtMatmulPreferenceOpaque_t), "preference fields fit the real struct");
static_assert(sizeof(AlgoFields) <= sizeof(cublasLtMatmulAlgo_t), "algorithm fields fit the real struct");
static const uint32_t LAYOUT_MAGIC = 0x1a7001u, DESC_MAGIC = 0xde5c01u, PREF_MAGIC = 0x9ef001u, ALGO_MAGIC = 0xa190u;

static LayoutFields* fields(cublasLtMatrixLayout_t l) { return l && ((LayoutFields*)l)->magic == LAYOUT_MAGIC ? (LayoutFields*)l : nullptr; }
static DescFields* fields(cublasLtMatmulDesc_t d) { return d && ((DescFields*)d)->magic == DESC_MAGIC ? (DescFields*)d : nullptr; }
static PrefFields* fields(cublasLtMatmulPreference_t p) { return p && ((PrefFields*)p)->magic == PREF_MAGIC ? (PrefFields*)p : nullptr; }

// attribute setters check the buffer size as the real library does: a wrong size is a wrong type
#define SET_ATTR(call, name, field, T)                                                                         \
    case name:                                                                                                 \
        if (size != sizeof(T))                                                                                 \
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s takes %zu bytes, got %zu", call, #name, sizeof(T), size); \
        { T v; memcpy(&v, buf, sizeof v); field = (decltype(field))v; }                                                       \
        return CUBLAS_STATUS_SUCCESS;

extern "C" cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
    if (!handle) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtCreate: handle is a null pointer");
    *handle = new cublasLtContext{CUBLASLT_MAGIC};
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
    if (!handle || handle->magic != CUBLASLT_MAGIC)
        return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "cublasLtDestroy: not a live cuBLASLt handle");
    handle->magic = 0;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                                     uint64_t cols, int64_t ld) {
    if (!layout) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatrixLayoutCreate: layout is a null pointer");
    // the real library refuses a leading dimension that would make columns overlap
    if (ld < 0 || (cols > 1 && (uint64_t)ld < rows) || rows > INT32_MAX || cols > INT32_MAX)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatrixLayoutCreate: ld %lld is less than the %llu rows of a "
                      "(%llu x %llu) column-major matrix", (long long)ld, (unsigned long long)rows,
                      (unsigned long long)rows, (unsigned long long)cols);
    auto* l = new cublasLtMatrixLayoutOpaque_t{};
    *(LayoutFields*)l = LayoutFields{LAYOUT_MAGIC, type, CUBLASLT_ORDER_COL, 1, rows, cols, ld, 0};
    *layout = l;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
    if (!fields(layout)) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatrixLayoutDestroy: not a live layout");
    fields(layout)->magic = 0;
    delete layout;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr,
                                                           const void* buf, size_t size) {
    const char* call = "cublasLtMatrixLayoutSetAttribute";
    LayoutFields* l = fields(layout);
    if (!l || !buf) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: not a live layout, or a null buffer", call);
    switch (attr) {
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_TYPE, l->type, uint32_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_ORDER, l->order, int32_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_ROWS, l->rows, uint64_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_COLS, l->cols, uint64_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_LD, l->ld, int64_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, l->batch_count, int32_t)
        SET_ATTR(call, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, l->batch_stride, int64_t)
        default:
            return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: attribute %d is not emulated by the CPU mode", call, (int)attr);
    }
}

extern "C" cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
    if (!desc) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulDescCreate: desc is a null pointer");
    auto* d = new cublasLtMatmulDescOpaque_t{};
    *(DescFields*)d = DescFields{DESC_MAGIC, compute, scale, CUBLASLT_POINTER_MODE_HOST, CUBLAS_OP_N, CUBLAS_OP_N, CUBLAS_OP_N,
                                 CUBLASLT_EPILOGUE_DEFAULT, nullptr, 0, nullptr, 0, 0, -1, -1};
    *desc = d;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
    if (!fields(desc)) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulDescDestroy: not a live descriptor");
    fields(desc)->magic = 0;
    delete desc;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                                         const void* buf, size_t size) {
    const char* call = "cublasLtMatmulDescSetAttribute";
    DescFields* d = fields(desc);
    if (!d || !buf) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: not a live descriptor, or a null buffer", call);
    switch (attr) {
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, d->compute, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_SCALE_TYPE, d->scale, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_POINTER_MODE, d->pointer_mode, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_TRANSA, d->transa, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_TRANSB, d->transb, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_TRANSC, d->transc, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_EPILOGUE, d->epilogue, uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_BIAS_POINTER, d->bias, const void*)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, d->bias_batch_stride, int64_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, d->aux, void*)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, d->aux_ld, int64_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE, d->aux_batch_stride, int64_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, d->aux_type, int32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, d->bias_type, int32_t)
        default:
            return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: attribute %d is not emulated by the CPU mode", call, (int)attr);
    }
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
    if (!pref) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceCreate: pref is a null pointer");
    auto* p = new cublasLtMatmulPreferenceOpaque_t{};
    *(PrefFields*)p = PrefFields{PREF_MAGIC, CUBLASLT_SEARCH_BEST_FIT, CUBLASLT_REDUCTION_SCHEME_MASK, 0, {256, 256, 256, 256}};
    *pref = p;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
    if (!fields(pref)) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceDestroy: not a live preference");
    fields(pref)->magic = 0;
    delete pref;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                               cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                               size_t size) {
    const char* call = "cublasLtMatmulPreferenceSetAttribute";
    PrefFields* p = fields(pref);
    if (!p || !buf) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: not a live preference, or a null buffer", call);
    switch (attr) {
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_SEARCH_MODE, p->search_mode, uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, p->max_workspace, uint64_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, p->reduction_mask, uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, p->align[0], uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, p->align[1], uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, p->align[2], uint32_t)
        SET_ATTR(call, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, p->align[3], uint32_t)
        default:
            return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: attribute %d is not emulated by the CPU mode", call, (int)attr);
    }
}

// the epilogues as flags: which of bias add, GELU, aux output/input, bias gradient each one does
struct EpilogueKind {
    bool known, bias_add, gelu, aux_out, dgelu, bgrad_d, bgrad_a, bgrad_b;
};
static EpilogueKind epilogue_kind(uint32_t e) {
    switch (e) {
        case CUBLASLT_EPILOGUE_DEFAULT: return {true, false, false, false, false, false, false, false};
        case CUBLASLT_EPILOGUE_BIAS: return {true, true, false, false, false, false, false, false};
        case CUBLASLT_EPILOGUE_GELU: return {true, false, true, false, false, false, false, false};
        case CUBLASLT_EPILOGUE_GELU_BIAS: return {true, true, true, false, false, false, false, false};
        case CUBLASLT_EPILOGUE_GELU_AUX: return {true, false, true, true, false, false, false, false};
        case CUBLASLT_EPILOGUE_GELU_AUX_BIAS: return {true, true, true, true, false, false, false, false};
        case CUBLASLT_EPILOGUE_DGELU: return {true, false, false, false, true, false, false, false};
        case CUBLASLT_EPILOGUE_DGELU_BGRAD: return {true, false, false, false, true, true, false, false};
        case CUBLASLT_EPILOGUE_BGRADA: return {true, false, false, false, false, false, true, false};
        case CUBLASLT_EPILOGUE_BGRADB: return {true, false, false, false, false, false, false, true};
        default: return {false, false, false, false, false, false, false, false};
    }
}

// One problem, checked: everything cublasLtMatmulAlgoGetHeuristic and cublasLtMatmul agree on.
// Returns CUBLAS_STATUS_SUCCESS or the refusal (already printed).
struct Problem {
    const DescFields* d;
    const LayoutFields *a, *b, *c, *dd;
    EpilogueKind epi;
    int64_t m, n, k, batch;
    cudaDataType bias_type, aux_type;
};

static cublasStatus_t check_problem(const char* call, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t la,
                                    cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc, cublasLtMatrixLayout_t ld, Problem& p) {
    p.d = fields(desc);
    p.a = fields(la); p.b = fields(lb); p.c = fields(lc); p.dd = fields(ld);
    if (!p.d) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: the matmul descriptor is not live", call);
    const char* names[4] = {"Adesc", "Bdesc", "Cdesc", "Ddesc"};
    const LayoutFields* ls[4] = {p.a, p.b, p.c, p.dd};
    for (int i = 0; i < 4; i++) {
        if (!ls[i]) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s is not a live matrix layout", call, names[i]);
        if (ls[i]->order != CUBLASLT_ORDER_COL)
            return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: %s has order %d; the CPU mode emulates CUBLASLT_ORDER_COL only",
                          call, names[i], ls[i]->order);
        if (ls[i]->ld < 0 || (ls[i]->cols > 1 && (uint64_t)ls[i]->ld < ls[i]->rows))
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s has ld %lld, less than its %llu rows", call, names[i],
                          (long long)ls[i]->ld, (unsigned long long)ls[i]->rows);
        if (ls[i]->batch_count < 1)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s has batch count %d", call, names[i], ls[i]->batch_count);
    }
    const DescFields& d = *p.d;
    if (d.compute != CUBLAS_COMPUTE_32F && d.compute != CUBLAS_COMPUTE_32F_PEDANTIC && d.compute != CUBLAS_COMPUTE_32F_FAST_TF32)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: compute type %d is not emulated by the CPU mode (CUBLAS_COMPUTE_32F is)",
                      call, (int)d.compute);
    if (d.scale != CUDA_R_32F)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: scale type %s with CUBLAS_COMPUTE_32F; cuBLASLt takes CUDA_R_32F",
                      call, type_name(d.scale));
    if (d.pointer_mode != CUBLASLT_POINTER_MODE_HOST && d.pointer_mode != CUBLASLT_POINTER_MODE_DEVICE)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: pointer mode %d is not emulated (HOST and DEVICE are)", call, d.pointer_mode);
    for (int32_t op : {d.transa, d.transb})
        if (op != CUBLAS_OP_N && op != CUBLAS_OP_T)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: operation %d is not CUBLAS_OP_N or CUBLAS_OP_T", call, op);
    if (d.transc != CUBLAS_OP_N)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_MATMUL_DESC_TRANSC must be CUBLAS_OP_N", call);
    // shapes: op(A) (m,k), op(B) (k,n), C and D (m,n)
    bool ta = d.transa == CUBLAS_OP_T, tb = d.transb == CUBLAS_OP_T;
    p.m = (int64_t)p.dd->rows; p.n = (int64_t)p.dd->cols;
    int64_t am = ta ? p.a->cols : p.a->rows, ak = ta ? p.a->rows : p.a->cols;
    int64_t bk = tb ? p.b->cols : p.b->rows, bn = tb ? p.b->rows : p.b->cols;
    p.k = ak;
    if (am != p.m || bn != p.n || ak != bk || p.c->rows != p.dd->rows || p.c->cols != p.dd->cols)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: shapes do not agree: op(A) is (%lld x %lld) (transa %s), op(B) is "
                      "(%lld x %lld) (transb %s), C is (%llu x %llu), D is (%llu x %llu)", call, (long long)am,
                      (long long)ak, ta ? "T" : "N", (long long)bk, (long long)bn, tb ? "T" : "N",
                      (unsigned long long)p.c->rows, (unsigned long long)p.c->cols, (unsigned long long)p.dd->rows,
                      (unsigned long long)p.dd->cols);
    // types: A and B alike; C and D alike; a pair CUBLAS_COMPUTE_32F supports
    if (p.a->type != p.b->type || p.c->type != p.dd->type || !supported_types(p.a->type, p.dd->type))
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: types A %s, B %s, C %s, D %s are not a combination cuBLASLt supports "
                      "with CUBLAS_COMPUTE_32F as the CPU mode emulates it (A and B alike, C and D alike; fp32 with fp32, "
                      "bf16 with bf16 or fp32)", call, type_name(p.a->type), type_name(p.b->type), type_name(p.c->type),
                      type_name(p.dd->type));
    // batches: every layout the same count (C and D alike)
    p.batch = p.dd->batch_count;
    for (int i = 0; i < 3; i++)
        if (ls[i]->batch_count != p.batch)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s has batch count %d but Ddesc has %lld", call, names[i],
                          ls[i]->batch_count, (long long)p.batch);
    if (p.batch > 1 && llabs(p.dd->batch_stride) < (long long)matrix_bytes(p.m, p.n, p.dd->ld, 1))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: Ddesc's batch stride %lld is smaller than one D matrix: the batches' "
                      "outputs would overlap", call, (long long)p.dd->batch_stride);
    // the epilogue and what it needs
    p.epi = epilogue_kind(d.epilogue);
    if (!p.epi.known)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: epilogue %u is not emulated by the CPU mode (DEFAULT, BIAS, GELU, "
                      "GELU_BIAS, GELU_AUX, GELU_AUX_BIAS, DGELU, DGELU_BGRAD, BGRADA, BGRADB are)", call, d.epilogue);
    bool uses_bias = p.epi.bias_add || p.epi.bgrad_d || p.epi.bgrad_a || p.epi.bgrad_b;
    bool uses_aux = p.epi.aux_out || p.epi.dgelu;
    // bias and bias-gradient vectors are in D's type (the header's rule outside IMMA and fp8 kernels)
    p.bias_type = d.bias_type == -1 ? p.dd->type : (cudaDataType)d.bias_type;
    p.aux_type = d.aux_type == -1 ? p.dd->type : (cudaDataType)d.aux_type;
    if (uses_bias && p.bias_type != p.dd->type)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE is %s but D is %s; for these "
                      "types cuBLASLt's bias is in D's type", call, type_name(p.bias_type), type_name(p.dd->type));
    if (uses_aux && p.aux_type != p.dd->type)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE is %s but D is %s; for "
                      "these types the GELU input matrix is in D's type", call, type_name(p.aux_type), type_name(p.dd->type));
    if (uses_bias && !d.bias)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: the epilogue needs CUBLASLT_MATMUL_DESC_BIAS_POINTER", call);
    if (uses_aux) {
        if (!d.aux) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: the epilogue needs CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER", call);
        if (d.aux_ld < p.m || d.aux_ld % 8 != 0)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD is %lld; it must be a "
                          "multiple of 8 and at least D's %lld rows", call, (long long)d.aux_ld, (long long)p.m);
    }
    // the bias-gradient epilogues reduce an operand over k in one orientation only: NVIDIA's own
    // tests (nvmath-python) skip BGRADA with a transposed A and BGRADB with an untransposed B as
    // unsupported. The cuBLAS documentation does not list the rule; refusing it keeps callers
    // to the orientation those tests run.
    if (p.epi.bgrad_a && d.transa != CUBLAS_OP_N)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_EPILOGUE_BGRADA needs A untransposed (CUBLAS_OP_N)", call);
    if (p.epi.bgrad_b && d.transb != CUBLAS_OP_T)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_EPILOGUE_BGRADB needs B transposed (CUBLAS_OP_T)", call);
    if (p.batch > 1 && (uses_aux || p.epi.bgrad_d || p.epi.bgrad_a || p.epi.bgrad_b || (p.epi.bias_add && d.bias_batch_stride)))
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: with %lld batches the CPU mode emulates the DEFAULT, BIAS, GELU and "
                      "GELU_BIAS epilogues with one shared bias only", call, (long long)p.batch);
    return CUBLAS_STATUS_SUCCESS;
}

// the alignment the emulated algorithm needs of a pointer whose caller promised `promised`
// bytes: real kernels load 16 bytes at a time where they may, and never need more than that
static uint32_t needed_alignment(uint32_t promised, size_t es) {
    return (uint32_t)std::max<size_t>(es, std::min<uint32_t>(promised, 16));
}

extern "C" cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                                         cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb,
                                                         cublasLtMatrixLayout_t lc, cublasLtMatrixLayout_t ld,
                                                         cublasLtMatmulPreference_t pref, int requested,
                                                         cublasLtMatmulHeuristicResult_t results[], int* returned) {
    const char* call = "cublasLtMatmulAlgoGetHeuristic";
    if (!handle || handle->magic != CUBLASLT_MAGIC) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "%s: not a live cuBLASLt handle", call);
    if (!returned || !results || requested < 1)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: requestedAlgoCount %d, or a null results array", call, requested);
    *returned = 0;
    const PrefFields* p = fields(pref);
    if (!p) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: the preference is not live", call);
    Problem pr;
    cublasStatus_t s = check_problem(call, desc, la, lb, lc, ld, pr);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    size_t es_ab = elem_size(pr.a->type), es_cd = elem_size(pr.dd->type);
    const char* names = "ABCD";
    AlgoFields algo{ALGO_MAGIC, {}, 0, 0};
    for (int i = 0; i < 4; i++) {
        size_t es = i < 2 ? es_ab : es_cd;
        if (p->align[i] < es)   // no algorithm reads elements that straddle their natural alignment
            return refuse(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_%c_BYTES is %u, less than "
                          "one %zu-byte element: no algorithm", call, names[i], p->align[i], es);
        algo.align[i] = needed_alignment(p->align[i], es);
    }
    // the heuristic reads the bias and aux pointers' values (not their data) to pick an
    // algorithm that fits their alignment; cublasLtMatmul must then be given pointers as aligned
    if (pr.d->bias) algo.align_bias = std::min(pointer_alignment(pr.d->bias), 16);
    if (pr.d->aux) algo.align_aux = std::min(pointer_alignment(pr.d->aux), 16);
    memset(&results[0], 0, sizeof results[0]);
    memcpy(&results[0].algo, &algo, sizeof algo);
    results[0].workspaceSize = 0;   // the CPU mode needs no workspace
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *returned = 1;                  // one deterministic algorithm, whatever the count asked for
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t check_alignment(const char* call, const char* what, const void* ptr, uint32_t needed, const char* why) {
    if (!ptr || pointer_alignment(ptr) >= (int)needed) return CUBLAS_STATUS_SUCCESS;
    return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: %s at %p is aligned to %d bytes, but the algorithm needs %u (%s)", call,
                  what, ptr, pointer_alignment(ptr), needed, why);
}

extern "C" cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,
                                         cublasLtMatrixLayout_t la, const void* B, cublasLtMatrixLayout_t lb, const void* beta,
                                         const void* C, cublasLtMatrixLayout_t lc, void* D, cublasLtMatrixLayout_t ld,
                                         const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_size,
                                         cudaStream_t stream) {
    const char* call = "cublasLtMatmul";
    if (!handle || handle->magic != CUBLASLT_MAGIC) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "%s: not a live cuBLASLt handle", call);
    Problem pr;
    cublasStatus_t s = check_problem(call, desc, la, lb, lc, ld, pr);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (!alpha || !beta) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: alpha or beta is a null pointer", call);
    const DescFields& d = *pr.d;
    float a = *(const float*)alpha, b = *(const float*)beta;   // host or device pointer: both are host memory here
    size_t es_ab = elem_size(pr.a->type), es_cd = elem_size(pr.dd->type);
    // alignment: what the chosen algorithm was promised; no algorithm: an implicit heuristic
    // with the default preference (256-byte alignment promised)
    AlgoFields al{ALGO_MAGIC, {needed_alignment(256, es_ab), needed_alignment(256, es_ab), needed_alignment(256, es_cd),
                               needed_alignment(256, es_cd)}, 0, 0};
    if (algo) {
        memcpy(&al, algo, sizeof al);
        if (al.magic != ALGO_MAGIC)
            return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: algo did not come from cublasLtMatmulAlgoGetHeuristic", call);
    }
    const char* why = algo ? "the preference given to cublasLtMatmulAlgoGetHeuristic promised it" : "no algo given: the default preference promises 256";
    const void* ptrs[4] = {A, B, b != 0.0f ? C : nullptr, D};
    const char* names[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        if ((s = check_alignment(call, names[i], ptrs[i], al.align[i], why)) != CUBLAS_STATUS_SUCCESS) return s;
    if ((s = check_alignment(call, "the bias vector", d.bias, al.align_bias,
                             "the bias pointer had that alignment when the heuristic chose the algorithm")) != CUBLAS_STATUS_SUCCESS ||
        (s = check_alignment(call, "the epilogue aux matrix", d.aux, al.align_aux,
                             "the aux pointer had that alignment when the heuristic chose the algorithm")) != CUBLAS_STATUS_SUCCESS)
        return s;
    if (!A || !B || !D || (b != 0.0f && !C)) return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: a null matrix pointer", call);
    if (C == D && pr.c->ld != pr.dd->ld)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: in place (C == D) needs Cdesc and Ddesc alike, but ldc %lld != ldd %lld",
                      call, (long long)pr.c->ld, (long long)pr.dd->ld);
    if (D == A || D == B)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, "%s: D is the same memory as %s: the output would overwrite an input while "
                      "it is read", call, D == A ? "A" : "B");
    // every operand's every batch inside one allocation
    check_batches("cublasLtMatmul: A", A, pr.a->rows, pr.a->cols, pr.a->ld, pr.a->batch_stride, pr.batch, es_ab);
    check_batches("cublasLtMatmul: B", B, pr.b->rows, pr.b->cols, pr.b->ld, pr.b->batch_stride, pr.batch, es_ab);
    if (b != 0.0f) check_batches("cublasLtMatmul: C", C, pr.c->rows, pr.c->cols, pr.c->ld, pr.c->batch_stride, pr.batch, es_cd);
    check_batches("cublasLtMatmul: D", D, pr.m, pr.n, pr.dd->ld, pr.dd->batch_stride, pr.batch, es_cd);
    bool uses_bias = pr.epi.bias_add || pr.epi.bgrad_d || pr.epi.bgrad_a || pr.epi.bgrad_b;
    if (uses_bias)   // bias length: D's rows, except BGRADB's: D's columns
        check_device_range(d.bias, (size_t)(pr.epi.bgrad_b ? pr.n : pr.m) * es_cd, "cublasLtMatmul: bias (CUBLASLT_MATMUL_DESC_BIAS_POINTER)");
    if (pr.epi.aux_out || pr.epi.dgelu)
        check_device_range(d.aux, matrix_bytes(pr.m, pr.n, d.aux_ld, es_cd), "cublasLtMatmul: aux (CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER)");
    if (workspace && workspace_size) check_device_range(workspace, workspace_size, "cublasLtMatmul: workspace");
    if (dry_run() || pr.m == 0 || pr.n == 0) return CUBLAS_STATUS_SUCCESS;

    bool ta = d.transa == CUBLAS_OP_T, tb = d.transb == CUBLAS_OP_T;
    Gemm g{};
    g.m = pr.m; g.n = pr.n; g.k = pr.k; g.batch = pr.batch; g.alpha = a; g.beta = b;
    g.a = {A, pr.a->type, ta ? pr.a->ld : 1, ta ? 1 : pr.a->ld, pr.a->batch_stride};
    g.b = {B, pr.b->type, tb ? pr.b->ld : 1, tb ? 1 : pr.b->ld, pr.b->batch_stride};
    g.c = C; g.c_type = pr.c->type; g.ldc = pr.c->ld; g.stride_c = pr.c->batch_stride;
    g.d = D; g.d_type = pr.dd->type; g.ldd = pr.dd->ld; g.stride_d = pr.dd->batch_stride;
    g.tf32 = pr.a->type == CUDA_R_32F && d.compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    Epilogue& e = g.epi;
    e.bias_add = pr.epi.bias_add;
    e.bias = d.bias; e.bias_type = pr.bias_type;
    e.gelu = pr.epi.gelu; e.dgelu = pr.epi.dgelu;
    e.aux = pr.epi.aux_out || pr.epi.dgelu ? d.aux : nullptr;
    e.aux_ld = d.aux_ld; e.aux_type = pr.aux_type;
    std::vector<float> row_sums;
    int64_t tiles_n = (g.n + TN - 1) / TN;
    if (pr.epi.bgrad_d) {
        row_sums.resize((size_t)(tiles_n * g.m));
        e.row_sums = row_sums.data();
    }
    run_gemm(g);
    // bias gradients, each element summed by one thread in a fixed order
    void* bias = (void*)d.bias;
    if (pr.epi.bgrad_d) {   // DGELU_BGRAD: the sum of each row of D (the GELU gradient), over the tiles in order
#pragma omp parallel for
        for (int64_t i = 0; i < g.m; i++) {
            float sum = 0.0f;
            for (int64_t t = 0; t < tiles_n; t++) sum += row_sums[(size_t)(t * g.m + i)];
            store(bias, (size_t)i, pr.bias_type, sum);
        }
    }
    if (pr.epi.bgrad_a) {   // BGRADA: the sum of each row of op(A) over k
#pragma omp parallel for
        for (int64_t i = 0; i < g.m; i++) {
            float sum = 0.0f;
            for (int64_t kk = 0; kk < g.k; kk++) sum += load(A, (size_t)(i * g.a.rs + kk * g.a.cs), g.a.type);
            store(bias, (size_t)i, pr.bias_type, sum);
        }
    }
    if (pr.epi.bgrad_b) {   // BGRADB: the sum of each column of op(B) over k
#pragma omp parallel for
        for (int64_t j = 0; j < g.n; j++) {
            float sum = 0.0f;
            for (int64_t kk = 0; kk < g.k; kk++) sum += load(B, (size_t)(kk * g.b.rs + j * g.b.cs), g.b.type);
            store(bias, (size_t)j, pr.bias_type, sum);
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}
