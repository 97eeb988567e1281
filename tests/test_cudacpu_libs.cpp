// tests/test_cudacpu_libs.cpp: the CPU execution mode's cuBLAS, cuBLASLt and NCCL
// (tools/cudacpu/cublas.cpp, nccl.cpp), called through the real CUDA headers as train_gpt.cu
// calls them, against naive double-precision loops. Also what they must refuse, and planted
// wrong versions that the checks must catch. Collectives run as forked processes.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <unistd.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <omp.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/test_util.h"

// ----------------------------------------------------------------------------
// device buffers of fp32 or bf16 elements, filled from the host

static float bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t bf16_bits(float f) {   // round to nearest even
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

struct DevMatrix {
    cudaDataType type = CUDA_R_32F;
    size_t count = 0;
    void* p = nullptr;
    DevMatrix() = default;
    DevMatrix(cudaDataType t, size_t n) : type(t), count(n) { REQUIRE(cudaMalloc(&p, std::max<size_t>(n, 1) * es()) == cudaSuccess); }
    DevMatrix(const DevMatrix&) = delete;
    DevMatrix& operator=(DevMatrix&& o) { std::swap(type, o.type); std::swap(count, o.count); std::swap(p, o.p); return *this; }
    ~DevMatrix() { if (p) cudaFree(p); }
    size_t es() const { return type == CUDA_R_32F ? 4 : 2; }
    float get(size_t i) const { return type == CUDA_R_32F ? ((float*)p)[i] : bf16_value(((uint16_t*)p)[i]); }
    void set(size_t i, float v) {
        if (type == CUDA_R_32F) ((float*)p)[i] = v;
        else ((uint16_t*)p)[i] = bf16_bits(v);
    }
    void fill_random(std::mt19937& rng, float scale = 1.0f) {
        std::uniform_real_distribution<float> u(-scale, scale);
        for (size_t i = 0; i < count; i++) set(i, u(rng));
    }
    std::vector<float> host() const {
        std::vector<float> h(count);
        for (size_t i = 0; i < count; i++) h[i] = get(i);
        return h;
    }
};

// ----------------------------------------------------------------------------
// the oracle: a naive double loop over column-major operands

static double gelu_ref(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
static double gelu_grad_ref(double x) {
    double u = 0.7978845608028654 * (x + 0.044715 * x * x * x), t = std::tanh(u);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
}

// one cuBLASLt problem: D (m,n) = epilogue(alpha op(A) op(B) + beta C), batch times
struct LtCase {
    int m = 8, n = 8, k = 8;
    bool ta = false, tb = false;
    cudaDataType ab = CUDA_R_32F, cd = CUDA_R_32F;
    int pad_a = 0, pad_b = 0, pad_c = 0;   // leading dimension = rows + pad
    int batch = 1;
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    float alpha = 1.0f, beta = 0.0f;
    bool in_place = true;                  // C == D (as train_gpt.cu calls it)
};

// a way of getting the oracle wrong, to show that the comparison notices
enum class Plant { none, transpose_a, ld_off_by_one, drop_bias, exact_gelu, drop_beta };

struct LtRun {
    LtCase c;
    int rows_a, cols_a, rows_b, cols_b, lda, ldb, ldc, aux_ld;
    long long stride_a, stride_b, stride_c;
    size_t a_off = 0;                          // A starts this many elements into its allocation
    DevMatrix A, B, C, D, bias, aux;
    std::vector<float> c_before, aux_before;   // C and the aux input before the call

    explicit LtRun(const LtCase& cs, uint32_t seed = 1) : c(cs) {
        std::mt19937 rng(seed);
        rows_a = c.ta ? c.k : c.m; cols_a = c.ta ? c.m : c.k;
        rows_b = c.tb ? c.n : c.k; cols_b = c.tb ? c.k : c.n;
        lda = rows_a + c.pad_a; ldb = rows_b + c.pad_b; ldc = c.m + c.pad_c;
        aux_ld = (c.m + 7) / 8 * 8;
        stride_a = (long long)lda * cols_a + 3; stride_b = (long long)ldb * cols_b + 5; stride_c = (long long)ldc * c.n + 1;
        A = DevMatrix(c.ab, stride_a * c.batch); A.fill_random(rng);
        B = DevMatrix(c.ab, stride_b * c.batch); B.fill_random(rng);
        C = DevMatrix(c.cd, stride_c * c.batch); C.fill_random(rng);
        if (!c.in_place) D = DevMatrix(c.cd, stride_c * c.batch);
        bias = DevMatrix(c.cd, std::max(c.m, c.n)); bias.fill_random(rng);
        aux = DevMatrix(c.cd, (size_t)aux_ld * c.n); aux.fill_random(rng, 2.0f);
        c_before = C.host(); aux_before = aux.host();
    }
    void* d_ptr() { return c.in_place ? C.p : D.p; }
    const DevMatrix& d_mat() const { return c.in_place ? C : D; }

    // D, then the aux output or the bias gradient where the epilogue writes one
    cublasStatus_t run(uint32_t align_a = 256, cublasLtHandle_t handle = nullptr) {
        cublasLtHandle_t h = handle;
        if (!h) REQUIRE(cublasLtCreate(&h) == CUBLAS_STATUS_SUCCESS);
        cublasLtMatmulDesc_t desc;
        REQUIRE(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
        cublasOperation_t oa = c.ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = c.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof oa) == CUBLAS_STATUS_SUCCESS);
        REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof ob) == CUBLAS_STATUS_SUCCESS);
        if (c.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
            REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof c.epilogue) == CUBLAS_STATUS_SUCCESS);
            const void* bp = bias.p;
            void* ap = aux.p;
            int64_t ald = aux_ld;
            REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp) == CUBLAS_STATUS_SUCCESS);
            REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &ap, sizeof ap) == CUBLAS_STATUS_SUCCESS);
            REQUIRE(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ald, sizeof ald) == CUBLAS_STATUS_SUCCESS);
        }
        cublasLtMatrixLayout_t la, lb, lc;
        REQUIRE(cublasLtMatrixLayoutCreate(&la, c.ab, rows_a, cols_a, lda) == CUBLAS_STATUS_SUCCESS);
        REQUIRE(cublasLtMatrixLayoutCreate(&lb, c.ab, rows_b, cols_b, ldb) == CUBLAS_STATUS_SUCCESS);
        REQUIRE(cublasLtMatrixLayoutCreate(&lc, c.cd, c.m, c.n, ldc) == CUBLAS_STATUS_SUCCESS);
        if (c.batch > 1) {
            int32_t bc = c.batch;
            for (auto [l, s] : {std::pair{la, stride_a}, {lb, stride_b}, {lc, stride_c}}) {
                int64_t st = s;
                REQUIRE(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc) == CUBLAS_STATUS_SUCCESS);
                REQUIRE(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &st, sizeof st) == CUBLAS_STATUS_SUCCESS);
            }
        }
        cublasLtMatmulPreference_t pref;
        REQUIRE(cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS);
        REQUIRE(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a) == CUBLAS_STATUS_SUCCESS);
        cublasLtMatmulHeuristicResult_t heur;
        int found = 0;
        cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &heur, &found);
        if (s == CUBLAS_STATUS_SUCCESS) {
            REQUIRE(found == 1);
            s = cublasLtMatmul(h, desc, &c.alpha, (char*)A.p + a_off * A.es(), la, B.p, lb, &c.beta, C.p, lc, d_ptr(), lc, &heur.algo, nullptr, 0, 0);
        }
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(la);
        cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(lc);
        cublasLtMatmulDescDestroy(desc);
        if (!handle) cublasLtDestroy(h);
        return s;
    }

    // the oracle's D, aux output and bias gradient (the ones the epilogue produces)
    void oracle(std::vector<double>& d, std::vector<double>& aux_out, std::vector<double>& dbias, Plant plant = Plant::none) const {
        uint32_t e = c.epilogue;
        bool bias_add = e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
        bool gelu = e == CUBLASLT_EPILOGUE_GELU || e == CUBLASLT_EPILOGUE_GELU_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX ||
                    e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
        bool dgelu = e == CUBLASLT_EPILOGUE_DGELU || e == CUBLASLT_EPILOGUE_DGELU_BGRAD;
        if (plant == Plant::drop_bias) bias_add = false;
        std::vector<float> a = A.host(), b = B.host();
        int la = plant == Plant::ld_off_by_one ? lda - 1 : lda;
        d.assign((size_t)c.m * c.n * c.batch, 0.0);
        aux_out.assign((size_t)c.m * c.n, 0.0);
        dbias.assign(e == CUBLASLT_EPILOGUE_BGRADB ? c.n : c.m, 0.0);
        for (int bt = 0; bt < c.batch; bt++)
            for (int j = 0; j < c.n; j++)
                for (int i = 0; i < c.m; i++) {
                    double s = 0;
                    for (int kk = 0; kk < c.k; kk++) {
                        bool ta = plant == Plant::transpose_a ? !c.ta : c.ta;
                        double av = a[a_off + bt * stride_a + (ta ? kk + (size_t)i * la : i + (size_t)kk * la)];
                        double bv = b[bt * stride_b + (c.tb ? j + (size_t)kk * ldb : kk + (size_t)j * ldb)];
                        s += av * bv;
                    }
                    double t = c.alpha * s;
                    if (c.beta != 0 && plant != Plant::drop_beta) t += c.beta * c_before[bt * stride_c + i + (size_t)j * ldc];
                    if (bias_add) t += bias.get(i);
                    if (gelu) {
                        aux_out[i + (size_t)j * c.m] = t;
                        t = plant == Plant::exact_gelu ? 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))) : gelu_ref(t);
                    }
                    if (dgelu) t *= gelu_grad_ref(aux_before[i + (size_t)j * aux_ld]);
                    d[(size_t)bt * c.m * c.n + i + (size_t)j * c.m] = t;
                    if (e == CUBLASLT_EPILOGUE_DGELU_BGRAD) dbias[i] += t;
                }
        if (e == CUBLASLT_EPILOGUE_BGRADA)
            for (int i = 0; i < c.m; i++)
                for (int kk = 0; kk < c.k; kk++) dbias[i] += a[a_off + (c.ta ? kk + (size_t)i * lda : i + (size_t)kk * lda)];
        if (e == CUBLASLT_EPILOGUE_BGRADB)
            for (int j = 0; j < c.n; j++)
                for (int kk = 0; kk < c.k; kk++) dbias[j] += b[c.tb ? j + (size_t)kk * ldb : kk + (size_t)j * ldb];
    }

    // the library's D (without the ld padding), aux output and bias gradient
    std::vector<float> got_d() const {
        std::vector<float> d((size_t)c.m * c.n * c.batch);
        for (int bt = 0; bt < c.batch; bt++)
            for (int j = 0; j < c.n; j++)
                for (int i = 0; i < c.m; i++) d[(size_t)bt * c.m * c.n + i + (size_t)j * c.m] = d_mat().get(bt * stride_c + i + (size_t)j * ldc);
        return d;
    }
    std::vector<float> got_aux() const {
        std::vector<float> x((size_t)c.m * c.n);
        for (int j = 0; j < c.n; j++)
            for (int i = 0; i < c.m; i++) x[i + (size_t)j * c.m] = aux.get(i + (size_t)j * aux_ld);
        return x;
    }
    std::vector<float> got_bias() const {
        std::vector<float> x(c.epilogue == CUBLASLT_EPILOGUE_BGRADB ? c.n : c.m);
        for (size_t i = 0; i < x.size(); i++) x[i] = bias.get(i);
        return x;
    }
};

// relative error tolerated: fp32 accumulation against double; bf16 also rounds every input and the output once
static double tolerance(const LtCase& c) { return c.cd == CUDA_R_16BF ? 8e-3 : 1e-5; }

// the largest relative error over the outputs the epilogue produces (D always)
static double lt_error(const LtRun& r, Plant plant = Plant::none) {
    std::vector<double> d, aux, dbias;
    r.oracle(d, aux, dbias, plant);
    std::vector<float> gd = r.got_d();
    double err = rel_error(gd.data(), d.data(), d.size());
    uint32_t e = r.c.epilogue;
    if (e == CUBLASLT_EPILOGUE_GELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS) {
        std::vector<float> ga = r.got_aux();
        err = std::max(err, rel_error(ga.data(), aux.data(), aux.size()));
    }
    if (e == CUBLASLT_EPILOGUE_DGELU_BGRAD || e == CUBLASLT_EPILOGUE_BGRADA || e == CUBLASLT_EPILOGUE_BGRADB) {
        std::vector<float> gb = r.got_bias();
        err = std::max(err, rel_error(gb.data(), dbias.data(), dbias.size()));
    }
    bool finite = true;
    for (float v : gd) finite = finite && std::isfinite(v);
    return finite ? err : INFINITY;
}

static const char* type_str(cudaDataType t) { return t == CUDA_R_32F ? "fp32" : "bf16"; }

// runs a case and checks every output against the oracle
static void check_case(const LtCase& c, const char* what) {
    LtRun r(c);
    REQUIRE(r.run() == CUBLAS_STATUS_SUCCESS);
    double err = lt_error(r), tol = tolerance(c);
    CHECK_MESSAGE(err <= tol, what << ": m " << c.m << " n " << c.n << " k " << c.k << " trans " << c.ta << c.tb << " "
                                   << type_str(c.ab) << "->" << type_str(c.cd) << " epilogue " << (int)c.epilogue
                                   << ": relative error " << err << " > " << tol);
}

// ----------------------------------------------------------------------------
// a call that must abort the process (the CPU mode's launch failure): run it in a child

static std::string expect_abort(const std::function<void()>& fn) {
    char path[] = "/tmp/cudacpu_test_stderr_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        signal(SIGABRT, SIG_DFL);   // the abort itself, not doctest's report of it
        fn();
        _exit(0);   // returned: the call did not abort
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::string err;
    char buf[4096];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof buf)) > 0) err.append(buf, n);
    close(fd);
    unlink(path);
    CHECK_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT), "the call returned instead of aborting; stderr: " << err);
    return err;
}

// ----------------------------------------------------------------------------
// cuBLASLt

TEST_CASE("cublasLtMatmul: every transpose, leading dimensions past the rows, fp32 and bf16, against a double loop") {
    struct Types { cudaDataType ab, cd; };
    for (Types t : {Types{CUDA_R_32F, CUDA_R_32F}, Types{CUDA_R_16BF, CUDA_R_16BF}, Types{CUDA_R_16BF, CUDA_R_32F}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                LtCase c;
                c.ab = t.ab; c.cd = t.cd; c.ta = ta; c.tb = tb;
                c.m = 37; c.n = 29; c.k = 45; c.pad_a = 3; c.pad_b = 1; c.pad_c = 5;
                check_case(c, "small");
                // past one output tile and one k block in every direction, alpha and beta C
                c.m = 150; c.n = 100; c.k = 300; c.alpha = 0.5f; c.beta = 1.0f; c.pad_a = 0; c.pad_b = 2; c.pad_c = 0;
                check_case(c, "tiled");
                c.in_place = false;   // C and D apart
                check_case(c, "out of place");
            }
}

TEST_CASE("cublasLtMatmul: every epilogue, fp32 and bf16: D, the GELU input (aux) and the bias gradients") {
    for (cublasLtEpilogue_t e : {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_GELU,
                                 CUBLASLT_EPILOGUE_GELU_BIAS, CUBLASLT_EPILOGUE_GELU_AUX, CUBLASLT_EPILOGUE_GELU_AUX_BIAS,
                                 CUBLASLT_EPILOGUE_DGELU, CUBLASLT_EPILOGUE_DGELU_BGRAD, CUBLASLT_EPILOGUE_BGRADA,
                                 CUBLASLT_EPILOGUE_BGRADB})
        for (cudaDataType t : {CUDA_R_32F, CUDA_R_16BF}) {
            LtCase c;
            c.ab = c.cd = t; c.epilogue = e;
            c.m = 45; c.n = 130; c.k = 33; c.pad_c = 2;   // two output tiles across n: the bias gradient sums tiles
            c.ta = e != CUBLASLT_EPILOGUE_BGRADA;         // BGRADA reduces an untransposed A, BGRADB a transposed B
            c.tb = e == CUBLASLT_EPILOGUE_BGRADB;
            check_case(c, "epilogue");
            c.tb = true; c.beta = 0.5f;
            if (e == CUBLASLT_EPILOGUE_BGRADA) c.ta = false;
            check_case(c, "epilogue, transposed B, beta C");
        }
}

TEST_CASE("cublasLtMatmul: strided batches") {
    for (cudaDataType t : {CUDA_R_32F, CUDA_R_16BF}) {
        LtCase c;
        c.ab = c.cd = t; c.batch = 3; c.m = 20; c.n = 17; c.k = 24; c.ta = true; c.pad_b = 4;
        check_case(c, "batched");
        c.epilogue = CUBLASLT_EPILOGUE_BIAS;   // one bias shared by the batches
        check_case(c, "batched with bias");
    }
}

TEST_CASE("the checks catch planted wrong versions: a transposed operand, a wrong ld, a lost bias, beta or GELU variant") {
    struct P { Plant plant; cublasLtEpilogue_t e; float beta; bool ta; };
    for (P p : {P{Plant::transpose_a, CUBLASLT_EPILOGUE_DEFAULT, 0, false}, P{Plant::transpose_a, CUBLASLT_EPILOGUE_DEFAULT, 0, true},
                P{Plant::ld_off_by_one, CUBLASLT_EPILOGUE_DEFAULT, 0, false}, P{Plant::drop_bias, CUBLASLT_EPILOGUE_BIAS, 0, false},
                P{Plant::drop_beta, CUBLASLT_EPILOGUE_DEFAULT, 1, false}, P{Plant::exact_gelu, CUBLASLT_EPILOGUE_GELU, 0, false}}) {
        LtCase c;
        c.m = c.k = 24; c.n = 16; c.pad_a = 2; c.epilogue = p.e; c.beta = p.beta; c.ta = p.ta;
        LtRun r(c);
        REQUIRE(r.run() == CUBLAS_STATUS_SUCCESS);
        CHECK(lt_error(r) <= tolerance(c));                     // the right oracle agrees
        CHECK_MESSAGE(lt_error(r, p.plant) > tolerance(c), "planted wrong oracle " << (int)p.plant << " was not caught");
    }
}

TEST_CASE("cublasLtMatmul: results do not depend on the thread count") {
    LtCase c;
    c.m = 300; c.n = 200; c.k = 700; c.ab = CUDA_R_16BF; c.cd = CUDA_R_32F; c.ta = true; c.beta = 1.0f;
    c.epilogue = CUBLASLT_EPILOGUE_DGELU_BGRAD;
    std::vector<std::vector<float>> outs;
    int threads = omp_get_max_threads();
    for (int nt : {1, 3}) {
        omp_set_num_threads(nt);
        LtRun r(c, 7);
        REQUIRE(r.run() == CUBLAS_STATUS_SUCCESS);
        std::vector<float> d = r.got_d(), b = r.got_bias();
        d.insert(d.end(), b.begin(), b.end());
        outs.push_back(d);
    }
    omp_set_num_threads(threads);
    CHECK(memcmp(outs[0].data(), outs[1].data(), outs[0].size() * 4) == 0);
}

// checks sampled entries of a big product in double
static double sampled_error(const DevMatrix& A, bool ta, int lda, const DevMatrix& B, bool tb, int ldb, const DevMatrix& D,
                            const std::vector<float>& d_before, float beta, int m, int n, int k) {
    std::mt19937 rng(5);
    double num = 0, den = 0;
    for (int s = 0; s < 300; s++) {
        int i = rng() % m, j = rng() % n;
        double sum = 0;
        for (int kk = 0; kk < k; kk++)
            sum += (double)A.get(ta ? kk + (size_t)i * lda : i + (size_t)kk * lda) * B.get(tb ? j + (size_t)kk * ldb : kk + (size_t)j * ldb);
        if (beta != 0) sum += beta * d_before[i + (size_t)j * m];
        double diff = D.get(i + (size_t)j * m) - sum;
        num += diff * diff;
        den += sum * sum;
    }
    return std::sqrt(num / den);
}

TEST_CASE("the classifier's GEMMs at GPT-2's vocabulary: (1024 x 64) @ (64 x 50257), forward and backward") {
    // as train_gpt.cu calls them (column-major): logits^T (V,N) = wte (C,V)^T @ lnf^T (C,N);
    // dlnf^T (C,N) = wte^T... (C,V) @ dlogits^T (V,N); dwte^T (C,V) += lnf^T (C,N) @ dlogits (N,V)
    const int N = 1024, C = 64, V = 50257;
    std::mt19937 rng(3);
    DevMatrix wte(CUDA_R_16BF, (size_t)V * C), lnf(CUDA_R_16BF, (size_t)N * C), logits(CUDA_R_16BF, (size_t)V * N),
        dlnf(CUDA_R_16BF, (size_t)N * C), dwte(CUDA_R_32F, (size_t)V * C);
    wte.fill_random(rng); lnf.fill_random(rng); dwte.fill_random(rng);
    cublasLtHandle_t h;
    REQUIRE(cublasLtCreate(&h) == CUBLAS_STATUS_SUCCESS);
    auto matmul = [&](void* d, cudaDataType dt, const void* a, const void* b, int m, int n, int k, bool ta, bool tb, float beta) {
        cublasLtMatmulDesc_t desc;
        REQUIRE(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
        cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof oa);
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof ob);
        cublasLtMatrixLayout_t la, lb, ld;
        cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, ta ? k : m, ta ? m : k, ta ? k : m);
        cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, tb ? n : k, tb ? k : n, tb ? n : k);
        cublasLtMatrixLayoutCreate(&ld, dt, m, n, m);
        float alpha = 1.0f;
        CHECK(cublasLtMatmul(h, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld, nullptr, nullptr, 0, 0) == CUBLAS_STATUS_SUCCESS);
        cublasLtMatrixLayoutDestroy(la); cublasLtMatrixLayoutDestroy(lb); cublasLtMatrixLayoutDestroy(ld);
        cublasLtMatmulDescDestroy(desc);
    };
    double t0 = omp_get_wtime();
    matmul(logits.p, CUDA_R_16BF, wte.p, lnf.p, V, N, C, true, false, 0.0f);
    double t1 = omp_get_wtime();
    CHECK(sampled_error(wte, true, C, lnf, false, C, logits, {}, 0.0f, V, N, C) < 8e-3);
    std::vector<float> dwte_before = dwte.host();
    double t2 = omp_get_wtime();
    matmul(dlnf.p, CUDA_R_16BF, wte.p, logits.p, C, N, V, false, false, 0.0f);   // logits stand in for dlogits
    double t3 = omp_get_wtime();
    matmul(dwte.p, CUDA_R_32F, lnf.p, logits.p, C, V, N, false, true, 1.0f);
    double t4 = omp_get_wtime();
    CHECK(sampled_error(wte, false, C, logits, false, V, dlnf, {}, 0.0f, C, N, V) < 8e-3);
    CHECK(sampled_error(lnf, false, C, logits, true, V, dwte, dwte_before, 1.0f, C, V, N) < 1e-5);
    MESSAGE("classifier GEMMs on " << omp_get_max_threads() << " threads: forward " << (t1 - t0) << " s, backward "
                                   << (t3 - t2) << " + " << (t4 - t3) << " s");
    cublasLtDestroy(h);
}

TEST_CASE("cuBLASLt refuses what the real library refuses, naming the call and the operand") {
    cublasLtMatrixLayout_t l = nullptr;
    CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, 10, 4, 9) == CUBLAS_STATUS_INVALID_VALUE);   // ld < rows
    SUBCASE("shapes that do not agree") {
        LtRun r(LtCase{});
        r.rows_b = 9;   // op(B) has 9 rows, op(A) 8 columns
        r.ldb = 9;
        CHECK(r.run() == CUBLAS_STATUS_INVALID_VALUE);
    }
    SUBCASE("type combinations CUBLAS_COMPUTE_32F does not support") {
        LtCase c;
        c.ab = CUDA_R_32F; c.cd = CUDA_R_16BF;   // fp32 inputs, bf16 output
        LtRun r(c);
        CHECK(r.run() == CUBLAS_STATUS_NOT_SUPPORTED);
    }
    SUBCASE("an unaligned pointer the preference promised aligned") {
        LtCase c;
        c.m = c.k = 16;
        LtRun r(c);
        r.a_off = 1;   // A is 4-byte aligned now
        CHECK(r.run(256) == CUBLAS_STATUS_INVALID_VALUE);   // the default promise: the algorithm loads 16 bytes at a time
        CHECK(r.run(4) == CUBLAS_STATUS_SUCCESS);           // promised 4 bytes: an algorithm that copes
        CHECK(lt_error(r) <= tolerance(c));
        CHECK(r.run(2) == CUBLAS_STATUS_NOT_SUPPORTED);     // less than one fp32 element: no algorithm
    }
    SUBCASE("an aux leading dimension that is not a multiple of 8") {
        LtCase c;
        c.m = 12; c.epilogue = CUBLASLT_EPILOGUE_GELU_AUX;
        LtRun r(c);
        r.aux_ld = 12;
        CHECK(r.run() == CUBLAS_STATUS_INVALID_VALUE);
    }
    SUBCASE("a bias gradient of an operand in the orientation the epilogue does not reduce") {
        LtCase c;
        c.epilogue = CUBLASLT_EPILOGUE_BGRADA; c.ta = true;
        CHECK(LtRun(c).run() == CUBLAS_STATUS_NOT_SUPPORTED);
        c.ta = false;
        CHECK(LtRun(c).run() == CUBLAS_STATUS_SUCCESS);
        c.epilogue = CUBLASLT_EPILOGUE_BGRADB; c.tb = false;
        CHECK(LtRun(c).run() == CUBLAS_STATUS_NOT_SUPPORTED);
        c.tb = true;
        CHECK(LtRun(c).run() == CUBLAS_STATUS_SUCCESS);
    }
    SUBCASE("an attribute buffer of the wrong size") {
        cublasLtMatmulDesc_t desc;
        REQUIRE(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
        int64_t op = CUBLAS_OP_T;   // TRANSA is an int32_t
        CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op, sizeof op) == CUBLAS_STATUS_INVALID_VALUE);
        cublasLtMatmulDescDestroy(desc);
    }
    SUBCASE("an operand that runs past its allocation is a launch failure") {
        LtCase c;
        LtRun r(c);
        r.ldc = 9;   // D is 8 x 8 in 69 elements; with ld 9 its last column ends at element 72
        std::string err = expect_abort([&] { r.run(); });
        CHECK_MESSAGE(err.find("cublasLtMatmul: D") != std::string::npos, err);   // C == D, and beta 0 does not read C
        CHECK_MESSAGE(err.find("past the end") != std::string::npos, err);
    }
    SUBCASE("batches whose outputs overlap") {
        LtCase c;
        c.batch = 2;
        LtRun r(c);
        r.stride_c = 10;   // less than one 8 x 8 matrix
        CHECK(r.run() == CUBLAS_STATUS_INVALID_VALUE);
    }
}

// ----------------------------------------------------------------------------
// cuBLAS

TEST_CASE("cublasGemmStridedBatchedEx: every transpose, ld past the rows, strided batches, fp32 and bf16") {
    cublasHandle_t h;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSetStream(h, nullptr) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
    for (cudaDataType t : {CUDA_R_32F, CUDA_R_16BF})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                LtCase c;
                c.ab = c.cd = t; c.ta = ta; c.tb = tb; c.batch = 4; c.m = 19; c.n = 23; c.k = 31;
                c.pad_a = 1; c.pad_b = 2; c.pad_c = 3; c.alpha = 0.7f; c.beta = 0.25f;
                LtRun r(c);
                CHECK(cublasGemmStridedBatchedEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, c.m, c.n, c.k,
                                                 &c.alpha, r.A.p, t, r.lda, r.stride_a, r.B.p, t, r.ldb, r.stride_b, &c.beta,
                                                 r.C.p, t, r.ldc, r.stride_c, c.batch, CUBLAS_COMPUTE_32F,
                                                 CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
                double err = lt_error(r);
                CHECK_MESSAGE(err <= tolerance(c), type_str(t) << " trans " << ta << tb << ": relative error " << err);
            }
    SUBCASE("refusals: lda below the rows, mixed input types, a batch past the allocation") {
        LtCase c;
        c.batch = 2;
        LtRun r(c);
        float one = 1.0f, zero = 0.0f;
        CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, 8, 8, 8, &one, r.A.p, CUDA_R_32F, 7, r.stride_a, r.B.p,
                                         CUDA_R_32F, 8, r.stride_b, &zero, r.C.p, CUDA_R_32F, 8, r.stride_c, 2,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
        CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, r.A.p, CUDA_R_16BF, 8, r.stride_a, r.B.p,
                                         CUDA_R_32F, 8, r.stride_b, &zero, r.C.p, CUDA_R_32F, 8, r.stride_c, 2,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
        std::string err = expect_abort([&] {
            cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, r.A.p, CUDA_R_32F, 8, r.stride_a, r.B.p,
                                       CUDA_R_32F, 8, r.stride_b * 2, &zero, r.C.p, CUDA_R_32F, 8, r.stride_c, 2,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        });
        CHECK_MESSAGE(err.find("cublasGemmStridedBatchedEx: B (batch 1)") != std::string::npos, err);
    }
    SUBCASE("TF32 math mode rounds fp32 inputs to TF32 as tensor cores do") {
        REQUIRE(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
        LtCase c;
        c.m = c.n = c.k = 32;
        LtRun r(c);
        float one = 1.0f, zero = 0.0f;
        REQUIRE(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 32, 32, 32, &one, r.A.p, CUDA_R_32F, 32, 0, r.B.p,
                                           CUDA_R_32F, 32, 0, &zero, r.C.p, CUDA_R_32F, 32, 0, 1, CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
        double err = lt_error(r);
        CHECK(err > 1e-5);   // ten mantissa bits: no longer fp32-accurate...
        CHECK(err < 2e-3);   // ...but close
    }
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

// ----------------------------------------------------------------------------
// NCCL: each rank a forked process running plain code (doctest runs in the parent only);
// a rank reports what went wrong on its stderr and exits non-zero

struct RankResult {
    int status;        // exit status, 128 + signal, or -1 if it had to be killed
    std::string err;   // its stderr
    double seconds;    // from the start until it exited
};

static double wall() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// runs fn(rank, id) on n ranks; each must be done within `limit` seconds
static std::vector<RankResult> run_ranks(int n, const std::function<int(int, const ncclUniqueId&)>& fn, const char* timeout = nullptr,
                                         double limit = 30) {
    ncclUniqueId id;
    REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
    std::vector<pid_t> pids(n);
    std::vector<int> fds(n);
    std::vector<RankResult> res(n, RankResult{-1, "", 0});
    fflush(nullptr);
    double start = wall();
    for (int r = 0; r < n; r++) {
        char path[] = "/tmp/cudacpu_rank_XXXXXX";
        fds[r] = mkstemp(path);
        unlink(path);
        pids[r] = fork();
        REQUIRE(pids[r] >= 0);
        if (pids[r] == 0) {
            dup2(fds[r], 2);
            signal(SIGABRT, SIG_DFL);
            if (timeout) setenv("CUDACPU_NCCL_TIMEOUT", timeout, 1);
            int rc = fn(r, id);
            fflush(nullptr);
            _exit(rc);
        }
    }
    int left = n;
    while (left > 0) {
        for (int r = 0; r < n; r++) {
            int st;
            if (res[r].seconds == 0 && waitpid(pids[r], &st, WNOHANG) == pids[r]) {
                res[r].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                res[r].seconds = wall() - start;
                left--;
            }
        }
        if (left > 0 && wall() - start > limit) {
            for (int r = 0; r < n; r++)
                if (res[r].seconds == 0) {
                    kill(pids[r], SIGKILL);
                    waitpid(pids[r], nullptr, 0);
                    res[r].seconds = wall() - start;
                    left--;
                }
        }
        usleep(2000);
    }
    for (int r = 0; r < n; r++) {
        char buf[4096];
        ssize_t k;
        lseek(fds[r], 0, SEEK_SET);
        while ((k = read(fds[r], buf, sizeof buf)) > 0) res[r].err.append(buf, k);
        close(fds[r]);
    }
    // whatever happened, the shared memory segment named in the id is gone
    std::string shm = std::string("/dev/shm/") + (strchr(id.internal, '/') + 1);
    struct stat st;
    CHECK_MESSAGE(stat(shm.c_str(), &st) != 0, shm << " was left behind");
    return res;
}

static std::string describe(const std::vector<RankResult>& res) {
    std::string s;
    for (size_t r = 0; r < res.size(); r++)
        s += "rank " + std::to_string(r) + ": exit " + std::to_string(res[r].status) + " after " +
             std::to_string(res[r].seconds) + " s; stderr:\n" + res[r].err + "\n";
    return s;
}

static int failures = 0;   // in a rank's process
#define EXPECT(cond, ...)                                            \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "FAILED (line %d): ", __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
            failures++;                                              \
        }                                                            \
    } while (0)

// element access by NCCL datatype
static size_t nccl_size(ncclDataType_t t) {
    switch (t) {
        case ncclInt8: case ncclUint8: return 1;
        case ncclFloat16: case ncclBfloat16: return 2;
        case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
        default: return 8;
    }
}
static double get_elem(ncclDataType_t t, const void* p, size_t i) {
    switch (t) {
        case ncclInt8: return ((const int8_t*)p)[i];
        case ncclUint8: return ((const uint8_t*)p)[i];
        case ncclInt32: return ((const int32_t*)p)[i];
        case ncclUint32: return ((const uint32_t*)p)[i];
        case ncclInt64: return (double)((const int64_t*)p)[i];
        case ncclUint64: return (double)((const uint64_t*)p)[i];
        case ncclFloat16: return (double)((const _Float16*)p)[i];
        case ncclBfloat16: return bf16_value(((const uint16_t*)p)[i]);
        case ncclFloat32: return ((const float*)p)[i];
        default: return ((const double*)p)[i];
    }
}
static void set_elem(ncclDataType_t t, void* p, size_t i, double v) {
    switch (t) {
        case ncclInt8: ((int8_t*)p)[i] = (int8_t)v; break;
        case ncclUint8: ((uint8_t*)p)[i] = (uint8_t)v; break;
        case ncclInt32: ((int32_t*)p)[i] = (int32_t)v; break;
        case ncclUint32: ((uint32_t*)p)[i] = (uint32_t)v; break;
        case ncclInt64: ((int64_t*)p)[i] = (int64_t)v; break;
        case ncclUint64: ((uint64_t*)p)[i] = (uint64_t)v; break;
        case ncclFloat16: ((_Float16*)p)[i] = (_Float16)v; break;
        case ncclBfloat16: ((uint16_t*)p)[i] = bf16_bits((float)v); break;
        case ncclFloat32: ((float*)p)[i] = (float)v; break;
        default: ((double*)p)[i] = v;
    }
}
static bool is_float(ncclDataType_t t) { return t == ncclFloat16 || t == ncclBfloat16 || t == ncclFloat32 || t == ncclFloat64; }

// rank r's i-th input: small positive integers for the integer types (no overflow, exact
// averages up to truncation), values near 1 for products, signed fractions otherwise
static double input(int r, size_t i, ncclDataType_t t, ncclRedOp_t op) {
    if (op == ncclProd) return 1 + (r + i) % 3;
    if (!is_float(t)) return 1 + (r * 7 + i * 3) % 40;
    return (double)(float)(((r + 1) * 0.37 + (i % 97) * 0.013 - 0.8) * (1 + r % 2));
}
static double expected(int n, size_t i, ncclDataType_t t, ncclRedOp_t op, int skip_rank = -1) {
    double acc = 0;
    bool first = true;
    for (int r = 0; r < n; r++) {
        if (r == skip_rank) continue;
        alignas(8) uint8_t tmp[8];
        set_elem(t, tmp, 0, input(r, i, t, op));
        double x = get_elem(t, tmp, 0);   // the input as the type holds it
        if (first) acc = x;
        else if (op == ncclProd) acc *= x;
        else if (op == ncclMax) acc = std::max(acc, x);
        else if (op == ncclMin) acc = std::min(acc, x);
        else acc += x;
        first = false;
    }
    if (op == ncclAvg) acc = is_float(t) ? acc / n : std::floor(acc / n);
    return acc;
}
// how many of got[0..count) differ from want(i) by more than the type allows
static int mismatches(ncclDataType_t t, const void* got, size_t count, const std::function<double(size_t)>& want) {
    double tol = t == ncclBfloat16 ? 1e-2 : t == ncclFloat16 ? 2e-3 : t == ncclFloat32 ? 1e-6 : t == ncclFloat64 ? 1e-12 : 0;
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        double g = get_elem(t, got, i), w = want(i);
        if (!(std::fabs(g - w) <= tol * std::max(1.0, std::fabs(w)))) {
            if (bad < 3) fprintf(stderr, "  [%zu]: got %g, want %g\n", i, g, w);
            bad++;
        }
    }
    return bad;
}

static const char* dt_name(ncclDataType_t t) {
    static const char* names[] = {"int8", "uint8", "int32", "uint32", "int64", "uint64", "fp16", "fp32", "fp64", "bf16"};
    return (int)t < 10 ? names[t] : "?";
}

// every collective, in place and out of place, over one datatype and op; rank `me` of n
static void check_collectives(ncclComm_t comm, int me, int n, ncclDataType_t t, ncclRedOp_t op, size_t count) {
    size_t es = nccl_size(t);
    void *send, *recv;
    cudaMalloc(&send, count * n * es);
    cudaMalloc(&recv, count * n * es);
    for (int in_place = 0; in_place < 2; in_place++) {
        // all-reduce: every rank gets the reduction of all
        for (size_t i = 0; i < count; i++) set_elem(t, send, i, input(me, i, t, op));
        void* out = in_place ? send : recv;
        EXPECT(ncclAllReduce(send, out, count, t, op, comm, 0) == ncclSuccess, "ncclAllReduce");
        EXPECT(mismatches(t, out, count, [&](size_t i) { return expected(n, i, t, op); }) == 0,
               "ncclAllReduce %s op %d in place %d", dt_name(t), (int)op, in_place);
        // reduce-scatter: rank r gets block r of the reduction; in place means recvbuff = sendbuff + r * count
        for (size_t i = 0; i < count * n; i++) set_elem(t, send, i, input(me, i, t, op));
        out = in_place ? (char*)send + me * count * es : recv;
        EXPECT(ncclReduceScatter(send, out, count, t, op, comm, 0) == ncclSuccess, "ncclReduceScatter");
        EXPECT(mismatches(t, out, count, [&](size_t i) { return expected(n, me * count + i, t, op); }) == 0,
               "ncclReduceScatter %s op %d in place %d", dt_name(t), (int)op, in_place);
        // reduce: only the root (the last rank) gets the reduction
        int root = n - 1;
        for (size_t i = 0; i < count; i++) set_elem(t, send, i, input(me, i, t, op));
        out = in_place ? send : recv;
        EXPECT(ncclReduce(send, out, count, t, op, root, comm, 0) == ncclSuccess, "ncclReduce");
        if (me == root)
            EXPECT(mismatches(t, out, count, [&](size_t i) { return expected(n, i, t, op); }) == 0,
                   "ncclReduce %s op %d in place %d", dt_name(t), (int)op, in_place);
        if (op != ncclSum) continue;   // the data-movement collectives have no op: once per type
        // all-gather: rank r's block lands at r * count everywhere; in place means sendbuff = recvbuff + r * count
        void* in = in_place ? (char*)recv + me * count * es : send;
        for (size_t i = 0; i < count; i++) set_elem(t, in, i, input(me, i, t, op));
        EXPECT(ncclAllGather(in, recv, count, t, comm, 0) == ncclSuccess, "ncclAllGather");
        EXPECT(mismatches(t, recv, count * n, [&](size_t i) { return input((int)(i / count), i % count, t, op); }) == 0,
               "ncclAllGather %s in place %d", dt_name(t), in_place);
        // broadcast from rank 1 (or 0 alone)
        int from = n > 1 ? 1 : 0;
        for (size_t i = 0; i < count; i++) set_elem(t, send, i, input(me, i, t, op));
        out = in_place ? send : recv;
        EXPECT(ncclBroadcast(send, out, count, t, from, comm, 0) == ncclSuccess, "ncclBroadcast");
        EXPECT(mismatches(t, out, count, [&](size_t i) { return input(from, i, t, op); }) == 0,
               "ncclBroadcast %s in place %d", dt_name(t), in_place);
    }
    cudaFree(send);
    cudaFree(recv);
}

static int all_collectives_rank(int me, int n, const ncclUniqueId& id) {
    ncclComm_t comm;
    if (ncclCommInitRank(&comm, n, id, me) != ncclSuccess) return 2;
    int count = 0, rank = -1;
    EXPECT(ncclCommCount(comm, &count) == ncclSuccess && count == n, "ncclCommCount");
    EXPECT(ncclCommUserRank(comm, &rank) == ncclSuccess && rank == me, "ncclCommUserRank");
    for (ncclDataType_t t : {ncclInt8, ncclUint8, ncclInt32, ncclUint32, ncclInt64, ncclUint64, ncclFloat16, ncclBfloat16,
                             ncclFloat32, ncclFloat64})
        for (ncclRedOp_t op : {ncclSum, ncclProd, ncclMax, ncclMin, ncclAvg}) check_collectives(comm, me, n, t, op, 301);
    // larger than one staging slot (4 MiB): the chunked path, as the gradients take it
    check_collectives(comm, me, n, ncclFloat32, ncclAvg, 1300000);
    // the documented order: fp32 sums in rank order, in fp32, bitwise
    const size_t c = 1000;
    float* x;
    cudaMalloc((void**)&x, c * 4);
    for (size_t i = 0; i < c; i++) x[i] = (float)input(me, i, ncclFloat32, ncclSum);
    EXPECT(ncclAllReduce(x, x, c, ncclFloat32, ncclSum, comm, 0) == ncclSuccess, "ncclAllReduce");
    int differ = 0;
    for (size_t i = 0; i < c; i++) {
        float want = (float)input(0, i, ncclFloat32, ncclSum);
        for (int r = 1; r < n; r++) want += (float)input(r, i, ncclFloat32, ncclSum);
        differ += x[i] != want;
    }
    EXPECT(differ == 0, "%d fp32 sums differ from the rank-order sum", differ);
    // calls that move nothing still meet: a fast rank must not describe its next call while a
    // slow one is still comparing this one (with nothing to move, only a barrier stops it)
    for (int i = 0; i < 200; i++)
        EXPECT((i % 2 ? ncclAllGather(x, x, 0, ncclFloat32, comm, 0) : ncclAllReduce(x, x, 0, ncclFloat32, ncclSum, comm, 0)) ==
                   ncclSuccess, "empty collective %d", i);
    // the project's dp_sum: one double, summed
    double* d;
    cudaMalloc((void**)&d, 8);
    *d = me + 0.5;
    EXPECT(ncclAllReduce(d, d, 1, ncclDouble, ncclSum, comm, 0) == ncclSuccess && *d == n * n / 2.0, "double sum %g", *d);
    // planted wrong expectations must be caught by the same comparison
    for (size_t i = 0; i < c; i++) x[i] = (float)input(me, i, ncclFloat32, ncclSum);
    ncclAllReduce(x, x, c, ncclFloat32, ncclSum, comm, 0);
    fprintf(stderr, "planted (mismatches expected below):\n");
    if (n > 1) EXPECT(mismatches(ncclFloat32, x, c, [&](size_t i) { return expected(n, i, ncclFloat32, ncclSum, n - 1); }) > 0,
                      "a sum missing the last rank was not caught");
    EXPECT(mismatches(ncclFloat32, x, c, [&](size_t i) { return expected(n, i + 1, ncclFloat32, ncclSum); }) > 0,
           "a result shifted by one element was not caught");
    EXPECT(mismatches(ncclFloat32, x, c, [&](size_t i) { return expected(n, i, ncclFloat32, ncclAvg); }) > 0 || n == 1,
           "the average in place of the sum was not caught");
    EXPECT(ncclCommDestroy(comm) == ncclSuccess, "ncclCommDestroy");
    return failures ? 1 : 0;
}

TEST_CASE("NCCL on 1, 2 and 3 ranks: every collective, in place and out of place, every datatype and op") {
    for (int n : {1, 2, 3}) {
        CAPTURE(n);
        auto res = run_ranks(n, [n](int me, const ncclUniqueId& id) { return all_collectives_rank(me, n, id); });
        for (auto& r : res) CHECK_MESSAGE(r.status == 0, describe(res));
    }
}

// every rank but `odd` calls AllReduce(100 floats, sum); `odd` calls `call` instead
static std::vector<RankResult> disagree(int n, int odd, const std::function<ncclResult_t(ncclComm_t, float*)>& call) {
    return run_ranks(n, [&](int me, const ncclUniqueId& id) {
        ncclComm_t comm;
        if (ncclCommInitRank(&comm, n, id, me) != ncclSuccess) return 2;
        float* x;
        cudaMalloc((void**)&x, 400 * 4);
        for (int i = 0; i < 400; i++) x[i] = 1.0f;
        ncclResult_t r = me == odd ? call(comm, x) : ncclAllReduce(x, x, 100, ncclFloat, ncclSum, comm, 0);
        EXPECT(r == ncclInvalidUsage, "the mismatched call returned %s", ncclGetErrorString(r));
        // and the communicator stays broken: the next call fails at once
        r = ncclAllReduce(x, x, 100, ncclFloat, ncclSum, comm, 0);
        EXPECT(r != ncclSuccess, "a collective after the mismatch succeeded");
        ncclCommDestroy(comm);
        return failures ? 1 : 0;
    });
}

TEST_CASE("NCCL: ranks that disagree on count, datatype, op or call order all fail, naming the difference") {
    struct Case { const char* what; std::function<ncclResult_t(ncclComm_t, float*)> call; const char* says; };
    std::vector<Case> cases = {
        {"count", [](ncclComm_t c, float* x) { return ncclAllReduce(x, x, 99, ncclFloat, ncclSum, c, 0); }, "count 99"},
        {"datatype", [](ncclComm_t c, float* x) { return ncclAllReduce(x, x, 100, ncclInt32, ncclSum, c, 0); }, "datatype 2"},
        {"op", [](ncclComm_t c, float* x) { return ncclAllReduce(x, x, 100, ncclFloat, ncclAvg, c, 0); }, "op 4"},
        {"call order", [](ncclComm_t c, float* x) { return ncclAllGather(x + 200, x, 100, ncclFloat, c, 0); }, "ncclAllGather"},
    };
    for (const Case& c : cases) {
        std::string what = c.what;
        CAPTURE(what);
        auto res = disagree(3, 2, c.call);
        for (auto& r : res) {
            CHECK_MESSAGE(r.status == 0, describe(res));
            CHECK_MESSAGE(r.err.find("ranks disagree") != std::string::npos, describe(res));
            CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, describe(res));
        }
    }
}

TEST_CASE("NCCL: a rank that never arrives: the others fail after CUDACPU_NCCL_TIMEOUT, naming it") {
    SUBCASE("at a collective") {
        auto res = run_ranks(3, [](int me, const ncclUniqueId& id) {
            ncclComm_t comm;
            if (ncclCommInitRank(&comm, 3, id, me) != ncclSuccess) return 2;
            if (me == 2) { usleep(900000); return 0; }   // never calls the collective
            float* x;
            cudaMalloc((void**)&x, 16);
            ncclResult_t r = ncclAllReduce(x, x, 4, ncclFloat, ncclSum, comm, 0);
            EXPECT(r != ncclSuccess, "returned %s", ncclGetErrorString(r));   // timed out, or saw the other rank time out
            return failures ? 1 : 0;
        }, "0.5");
        for (int r = 0; r < 2; r++) {
            CHECK_MESSAGE(res[r].status == 0, describe(res));
            CHECK_MESSAGE(res[r].err.find("ncclAllReduce: timed out after 0.5 s waiting for rank(s) 2") != std::string::npos, describe(res));
            CHECK_MESSAGE(res[r].seconds < 0.85, describe(res));   // before the missing rank has exited
        }
    }
    SUBCASE("at ncclCommInitRank") {
        auto res = run_ranks(3, [](int me, const ncclUniqueId& id) {
            if (me == 1) { usleep(900000); return 0; }   // never joins
            ncclComm_t comm;
            ncclResult_t r = ncclCommInitRank(&comm, 3, id, me);
            EXPECT(r != ncclSuccess, "returned %s", ncclGetErrorString(r));
            return failures ? 1 : 0;
        }, "0.5");
        for (int r : {0, 2}) {
            CHECK_MESSAGE(res[r].status == 0, describe(res));
            CHECK_MESSAGE(res[r].err.find("ncclCommInitRank: timed out after 0.5 s waiting for rank(s) 1") != std::string::npos, describe(res));
        }
    }
}

TEST_CASE("NCCL: an abort or a destroyed communicator on one rank fails the others' collectives at once; an exit does not") {
    struct Case { const char* what; std::function<void(ncclComm_t)> leave; const char* says; bool prompt; };
    std::vector<Case> cases = {
        {"abort", [](ncclComm_t c) { ncclCommAbort(c); usleep(800000); }, "rank 1 called ncclCommAbort", true},
        {"destroy", [](ncclComm_t c) { ncclCommDestroy(c); usleep(800000); }, "1 (it destroyed its communicator)", true},
        // like real NCCL, an exit without ncclCommAbort leaves the others waiting: here, until the timeout
        {"exit", [](ncclComm_t) { _exit(0); }, "timed out after 1 s waiting for rank(s) 1 (its process has exited)", false},
    };
    for (const Case& c : cases) {
        std::string what = c.what;
        CAPTURE(what);
        auto res = run_ranks(3, [&](int me, const ncclUniqueId& id) {
            ncclComm_t comm;
            if (ncclCommInitRank(&comm, 3, id, me) != ncclSuccess) return 2;
            if (me == 1) {
                usleep(200000);   // the others are waiting in the collective by now
                c.leave(comm);
                return 0;
            }
            float* x;
            cudaMalloc((void**)&x, 16);
            ncclResult_t r = ncclAllReduce(x, x, 4, ncclFloat, ncclSum, comm, 0);
            EXPECT(r == (c.prompt ? ncclRemoteError : ncclSystemError) || (!c.prompt && r == ncclRemoteError),
                   "returned %s", ncclGetErrorString(r));
            double t = wall();
            r = ncclAllReduce(x, x, 4, ncclFloat, ncclSum, comm, 0);   // and every later one
            EXPECT(r == ncclRemoteError && wall() - t < 0.5, "a later collective returned %s after %g s", ncclGetErrorString(r), wall() - t);
            return failures ? 1 : 0;
        }, c.prompt ? "30" : "1");
        for (int r : {0, 2}) {
            CHECK_MESSAGE(res[r].status == 0, describe(res));
            CHECK_MESSAGE(res[r].err.find(c.says) != std::string::npos, describe(res));
            if (c.prompt) CHECK_MESSAGE(res[r].seconds < 0.75, describe(res));   // at once: before rank 1 exits, long before the timeout
            else CHECK_MESSAGE(res[r].seconds > 1.0, describe(res));             // not before the timeout
        }
    }
}

// ----------------------------------------------------------------------------
// a dry run (CUDACPU_DRY_RUN=1) checks everything and computes nothing: this binary again,
// with the variable set, running dry_run_child (plain code: doctest is not running there)

static int dry_run_child() {
    const int m = 40, n = 24, k = 16;
    float *a, *b, *d, *bias;
    cudaMalloc((void**)&a, m * k * 4); cudaMalloc((void**)&b, k * n * 4); cudaMalloc((void**)&d, m * n * 4);
    cudaMalloc((void**)&bias, m * 4);
    for (int i = 0; i < m * k; i++) a[i] = 1.0f;
    for (int i = 0; i < k * n; i++) b[i] = 1.0f;
    for (int i = 0; i < m * n; i++) d[i] = -7.0f;
    for (int i = 0; i < m; i++) bias[i] = 1.0f;
    cublasLtHandle_t h;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld, bad;
    cublasLtCreate(&h);
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, m, k, m);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, k, n, k);
    cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m);
    cublasLtMatrixLayoutCreate(&bad, CUDA_R_32F, m, n, m + 1);   // runs past D's allocation
    float alpha = 1.0f, beta = 0.0f;
    if (cublasLtMatmul(h, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld, nullptr, nullptr, 0, 0) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "dry run: the matmul was refused\n");
        return 1;
    }
    for (int i = 0; i < m * n; i++)
        if (d[i] != -7.0f) { fprintf(stderr, "dry run: D was written\n"); return 1; }
    fprintf(stderr, "dry run: checked, nothing written\n");
    cublasLtMatmul(h, desc, &alpha, a, la, b, lb, &beta, d, bad, d, bad, nullptr, nullptr, 0, 0);   // must abort
    fprintf(stderr, "dry run: an operand past its allocation was not caught\n");
    return 1;
}

TEST_CASE("a dry run checks the call and computes nothing") {
    CommandResult r = run_command("CUDACPU_DRY_RUN=1 /proc/" + std::to_string(getpid()) + "/exe --dry-run-child");
    CHECK_MESSAGE(r.status == 128 + SIGABRT, r.output);
    CHECK_MESSAGE(r.output.find("dry run: checked, nothing written") != std::string::npos, r.output);
    CHECK_MESSAGE(r.output.find("cublasLtMatmul: D") != std::string::npos, r.output);
    // the same calls without the dry run compute: the child then fails at "D was written"
    CommandResult wet = run_command("/proc/" + std::to_string(getpid()) + "/exe --dry-run-child");
    CHECK_MESSAGE(wet.output.find("dry run: D was written") != std::string::npos, wet.output);
}

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--dry-run-child") return dry_run_child();
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
