// tutorial/flash_harness.cu: the check of chapter 15's kernel exercise
// (tutorial/exercises/15_flash_tile.cu), run through the CPU execution mode for CUDA.
//
// What it is: a host program that launches flash_attention_kernel as its comment says, on
// B = 2 sequences of T = 80 (three query tiles, the last one partial) with 2 heads of 32
// channels, scores scaled up so that the running max really moves, and compares the output
// with causal attention written as plain loops in double precision; when the result looks
// like a known mistake, it says which. tutorial/common.sh builds it like kernels_harness.cu.
// Exit status 0: the kernel agrees; 1: it does not.
#include <cmath>
#include <cstdio>
#include <vector>

__global__ void flash_attention_kernel(float* out, const float* qkv, int B, int T, int C, int NH);

static const float UNWRITTEN = -7.25f;   // out is filled with this first: unwritten shows as itself

int main() {
    const int B = 2, T = 80, C = 64, NH = 2, HS = C / NH, TILE = 32;
    std::vector<float> qkv((size_t)B * T * 3 * C), out((size_t)B * T * C, UNWRITTEN);
    unsigned long long state = 15;
    for (float& x : qkv) {   // uniform in (-2, 2) from a 64-bit LCG: the same inputs everywhere
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        x = (float)(4.0 * ((state >> 11) / 9007199254740992.0) - 2.0);
    }
    std::vector<double> want(out.size());
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float* q = &qkv[((size_t)b * T + t) * 3 * C + h * HS];
                std::vector<double> s(t + 1);
                double m = -INFINITY, l = 0;
                for (int k = 0; k <= t; k++) {
                    double d = 0;
                    for (int i = 0; i < HS; i++) d += (double)q[i] * qkv[((size_t)b * T + k) * 3 * C + C + h * HS + i];
                    s[k] = d / std::sqrt((double)HS);
                    m = std::fmax(m, s[k]);
                }
                for (int k = 0; k <= t; k++) l += std::exp(s[k] - m);
                for (int i = 0; i < HS; i++) {
                    double a = 0;
                    for (int k = 0; k <= t; k++) a += std::exp(s[k] - m) * qkv[((size_t)b * T + k) * 3 * C + 2 * C + h * HS + i];
                    want[((size_t)b * T + t) * C + h * HS + i] = a / l;
                }
            }
    float *d_qkv, *d_out;
    cudaMalloc(&d_qkv, qkv.size() * sizeof(float));
    cudaMalloc(&d_out, out.size() * sizeof(float));
    cudaMemcpy(d_qkv, qkv.data(), qkv.size() * sizeof(float), cudaMemcpyHostToDevice);
    cudaMemcpy(d_out, out.data(), out.size() * sizeof(float), cudaMemcpyHostToDevice);
    dim3 grid((T + TILE - 1) / TILE, NH, B);
    flash_attention_kernel<<<grid, TILE>>>(d_out, d_qkv, B, T, C, NH);
    cudaDeviceSynchronize();
    cudaMemcpy(out.data(), d_out, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(d_qkv);
    cudaFree(d_out);

    // per query row: written? right? (rows t < 32 need one key tile, later rows several)
    double num = 0, den = 0;
    size_t unwritten = 0;
    int wrong_one_tile = 0, wrong_several = 0, rows = 0;
    bool row0_wrong = false;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                double e = 0, w = 0;
                for (int i = 0; i < HS; i++) {
                    size_t k = ((size_t)b * T + t) * C + h * HS + i;
                    if (out[k] == UNWRITTEN) { unwritten++; continue; }
                    e += (out[k] - want[k]) * (out[k] - want[k]);
                    w += want[k] * want[k];
                }
                num += e; den += w; rows++;
                bool bad = !(e <= 1e-10 * w) || std::isnan(e);
                if (bad) (t < TILE ? wrong_one_tile : wrong_several)++;
                if (bad && t == 0) row0_wrong = true;
            }
    double err = std::sqrt(num / den);
    bool ok = unwritten == 0 && err <= 1e-5 && !std::isnan(err);
    printf("flash_attention_kernel, B = %d, T = %d, NH = %d, HS = %d, tiles of %d keys:\n", B, T, NH, HS, TILE);
    printf("  out relative error %.2e (tolerance 1e-5); %zu of %zu elements never written; wrong rows: %d needing one "
           "key tile, %d needing several%s\n", err, unwritten, out.size(), wrong_one_tile, wrong_several, ok ? "" : "  <-- wrong");
    if (unwritten)
        printf("  hint: some outputs were never written: block (x, h, b) owns queries 32x .. 32x + 31 of head h of "
               "sequence b, and each thread with a query t < T writes its HS outputs\n");
    else if (row0_wrong)
        printf("  hint: row t = 0 must be v_0 exactly (position 0 sees only itself): is the causal mask missing, "
               "so that a query also sees the later keys of its own tile?\n");
    else if (wrong_several && !wrong_one_tile)
        printf("  hint: rows whose keys fit in one tile are right, rows that need several tiles are wrong: are l and acc "
               "rescaled by exp(m_old - m_new) when the max grows, and does the block finish reading a tile "
               "(__syncthreads) before loading the next one over it?\n");
    printf("%s\n", ok ? "the kernel agrees" : "the kernel does not agree yet (see above)");
    return ok ? 0 : 1;
}
