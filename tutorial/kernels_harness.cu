// tutorial/kernels_harness.cu: the check of chapter 13's kernel exercises
// (tutorial/exercises/13_kernels.cu), run through the CPU execution mode for CUDA.
//
// What it is: a host program that launches the three kernels as their comments say, on sizes
// chosen to expose the classic mistakes (n not a multiple of the block, C and V larger than a
// warp and a block, rows of very different scales), and compares the results with plain loops
// in double precision, printing the relative error and, when a result looks like a known
// mistake, what that mistake is. tutorial/common.sh rewrites it with
// tools/cudacpu/rewrite_launches.py and builds it with g++; no GPU is involved.
// What it is not: a test of train_gpt.cu's kernels (tests/ does that), or an answer: the
// reference loops are the math of chapters 4, 7 and 9 written for the CPU.
// Exit status 0: all three kernels agree; 1: one does not.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

__global__ void gelu_forward_kernel(float* out, const float* inp, int n);
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C);
__global__ void softmax_forward_kernel(float* out, const float* inp, int N, int V);

static unsigned long long rng_state = 13;
static float randn() {   // a normal sample, Box-Muller on a 64-bit LCG: the same inputs on every machine
    auto u = [] { rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL; return ((rng_state >> 11) + 0.5) / 9007199254740992.0; };
    return (float)(std::sqrt(-2 * std::log(u())) * std::cos(6.283185307179586 * u()));
}

// outputs are filled with this before a launch, so that an element the kernel never wrote is
// told apart from one it computed wrong (a NaN, say)
static const float UNWRITTEN = -7.25f;

struct Device {   // one device buffer of n floats, with its host copy (UNWRITTEN at first)
    float* d = nullptr;
    std::vector<float> h;
    explicit Device(size_t n) : h(n, UNWRITTEN) { cudaMalloc(&d, n * sizeof(float)); up(); }
    ~Device() { cudaFree(d); }
    void up() { cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice); }
    std::vector<float>& down() { cudaMemcpy(h.data(), d, h.size() * sizeof(float), cudaMemcpyDeviceToHost); return h; }
};

struct Result { bool ok; size_t unwritten, first_unwritten, nans; };

// ||got - want|| / ||want|| over the elements written, and how many were not written or NaN
static Result compare(const char* name, const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    Result r{false, 0, got.size(), 0};
    for (size_t i = 0; i < got.size(); i++) {
        if (got[i] == UNWRITTEN) { if (r.unwritten++ == 0) r.first_unwritten = i; continue; }
        if (std::isnan(got[i])) { r.nans++; continue; }
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    double err = den > 0 ? std::sqrt(num / den) : 0;
    r.ok = r.unwritten == 0 && r.nans == 0 && err <= 1e-5;
    printf("  %-5s relative error %.2e (tolerance 1e-5); of %zu elements %zu never written, %zu NaN%s\n", name, err,
           got.size(), r.unwritten, r.nans, r.ok ? "" : "  <-- wrong");
    return r;
}

static bool check_gelu() {
    const int n = 1000;                      // 4 blocks of 256, the last one partly past the end
    Device in(n), out(n);
    std::vector<double> want(n);
    for (int i = 0; i < n; i++) {
        in.h[i] = -6.0f + 12.0f * i / (n - 1);
        double x = in.h[i];
        want[i] = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    in.up();
    gelu_forward_kernel<<<(n + 255) / 256, 256>>>(out.d, in.d, n);
    cudaDeviceSynchronize();
    printf("gelu_forward_kernel, n = %d, 4 blocks of 256 threads:\n", n);
    Result r = compare("out", out.down(), want);
    if (r.unwritten && r.first_unwritten == 256)
        printf("  hint: elements from index 256 on were never written: a thread's element is "
               "blockIdx.x * blockDim.x + threadIdx.x, not threadIdx.x alone\n");
    else if (r.unwritten)
        printf("  hint: element %zu (and %zu more) was never written: does every thread with i < n write out[i]?\n",
               r.first_unwritten, r.unwritten - 1);
    return r.ok;
}

static bool check_layernorm() {
    const int N = 37, C = 80;                // C > 32: each lane walks 2 or 3 channels; 37 rows: the last block is partial
    Device in((size_t)N * C), w(C), b(C), out((size_t)N * C), mean(N), rstd(N);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) in.h[(size_t)n * C + c] = 0.5f * n + (1.0f + 0.1f * n) * randn();   // every row its own mean and scale
    for (int c = 0; c < C; c++) { w.h[c] = 1 + 0.3f * randn(); b.h[c] = 0.3f * randn(); }
    std::vector<double> want_out((size_t)N * C), want_mean(N), want_rstd(N);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += in.h[(size_t)n * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (in.h[(size_t)n * C + c] - m) * (in.h[(size_t)n * C + c] - m);
        double r = 1 / std::sqrt(v / C + 1e-5);
        want_mean[n] = m; want_rstd[n] = r;
        for (int c = 0; c < C; c++) want_out[(size_t)n * C + c] = (in.h[(size_t)n * C + c] - m) * r * w.h[c] + b.h[c];
    }
    in.up(); w.up(); b.up();
    layernorm_forward_kernel<<<(N + 3) / 4, 128>>>(out.d, mean.d, rstd.d, in.d, w.d, b.d, N, C);
    cudaDeviceSynchronize();
    printf("layernorm_forward_kernel, N = %d rows of C = %d, one warp per row, blocks of 128 threads:\n", N, C);
    Result r_out = compare("out", out.down(), want_out), r_mean = compare("mean", mean.down(), want_mean);
    Result r_rstd = compare("rstd", rstd.down(), want_rstd);
    bool ok_out = r_out.ok, ok_mean = r_mean.ok, ok_rstd = r_rstd.ok;
    if (r_mean.unwritten) {
        printf("  hint: mean[%zu] was never written: one lane per row (lane 0, say) writes mean[row] and rstd[row]; "
               "row = blockIdx.x * 4 + threadIdx.x / 32\n", r_mean.first_unwritten);
    } else if (!ok_mean) {   // is each mean the mean of only half the lanes' channels?
        int half = 0;
        for (int n = 0; n < N; n++) {
            double lo = 0;
            for (int c = 0; c < C; c++) if (c % 32 < 16) lo += in.h[(size_t)n * C + c];
            half += std::fabs(mean.h[n] - lo / C) < 1e-4 * (1 + std::fabs(lo / C));
        }
        if (half > N / 2)
            printf("  hint: mean[row] holds the sum of lanes 0-15 only: the warp reduction must combine all 32 lanes "
                   "(shuffle offsets 16, 8, 4, 2, 1)\n");
        else
            printf("  hint: mean[row] is not the row's mean: each lane sums channels lane, lane + 32, ...; then the "
                   "warp adds up its 32 partial sums\n");
    }
    return ok_out && ok_mean && ok_rstd;
}

static bool check_softmax() {
    const int N = 6, V = 1000;               // V > 256: each thread walks 3 or 4 entries; one row with a large logit
    Device in((size_t)N * V), out((size_t)N * V);
    for (int n = 0; n < N; n++)
        for (int v = 0; v < V; v++) in.h[(size_t)n * V + v] = (1.0f + n) * randn();
    in.h[3 * V + 7] = 90.0f;                 // exp(90) overflows float unless the max is subtracted
    std::vector<double> want((size_t)N * V);
    for (int n = 0; n < N; n++) {
        double m = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) m = std::fmax(m, in.h[(size_t)n * V + v]);
        for (int v = 0; v < V; v++) s += std::exp(in.h[(size_t)n * V + v] - m);
        for (int v = 0; v < V; v++) want[(size_t)n * V + v] = std::exp(in.h[(size_t)n * V + v] - m) / s;
    }
    in.up();
    softmax_forward_kernel<<<N, 256>>>(out.d, in.d, N, V);
    cudaDeviceSynchronize();
    printf("softmax_forward_kernel, N = %d rows of V = %d, one block of 256 threads per row:\n", N, V);
    Result r = compare("out", out.down(), want);
    if (r.unwritten)
        printf("  hint: element %zu (and %zu more) was never written: thread t of block n writes out[n, t], "
               "out[n, t + 256], ...\n", r.first_unwritten, r.unwritten - 1);
    else if (r.nans)
        printf("  hint: NaN in the output: a warp read shared memory that another warp had not written yet (this "
               "CPU mode fills fresh shared memory with NaN) - is a __syncthreads missing between writing the warps' "
               "results and reading them? (Or is exp() overflowing: is the row's max subtracted first?)\n");
    return r.ok;
}

int main() {
    bool a = check_gelu(), b = check_layernorm(), c = check_softmax();
    printf("%s\n", a && b && c ? "all three kernels agree" : "not all kernels agree yet (see above)");
    return a && b && c ? 0 : 1;
}
