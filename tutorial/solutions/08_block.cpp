// tutorial/solutions/08_block.cpp: a solution to chapter 8's exercise, and the planted
// mistake its check must catch. Read it after your own version passes.
#include <cstddef>
#include <vector>

// the layers, as train_gpt_cpu.cpp defines them (the chapter-8 check exports exactly these)
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C);
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
void gelu_forward(float* out, const float* inp, size_t n);
void residual_forward(float* out, const float* inp1, const float* inp2, size_t n);

// one block; mlp_reads_input is the planted mistake: the MLP branch normalises the block's
// input x instead of the stream after attention
static void block(float* out, const float* x, const float* const* w, int B, int T, int C, int NH, bool mlp_reads_input) {
    int N = B * T;
    std::vector<float> ln((size_t)N * C), mean(N), rstd(N), qkv((size_t)N * 3 * C), atty((size_t)N * C);
    std::vector<float> att((size_t)B * NH * T * T), res2((size_t)N * C), fch((size_t)N * 4 * C), gel((size_t)N * 4 * C);
    layernorm_forward(ln.data(), mean.data(), rstd.data(), x, w[0], w[1], N, C);
    matmul_forward(qkv.data(), ln.data(), w[2], w[3], N, C, 3 * C);
    attention_forward(atty.data(), att.data(), qkv.data(), B, T, C, NH);
    matmul_forward(res2.data(), atty.data(), w[4], w[5], N, C, C);
    residual_forward(res2.data(), x, res2.data(), (size_t)N * C);
    layernorm_forward(ln.data(), mean.data(), rstd.data(), mlp_reads_input ? x : res2.data(), w[6], w[7], N, C);
    matmul_forward(fch.data(), ln.data(), w[8], w[9], N, C, 4 * C);
    gelu_forward(gel.data(), fch.data(), (size_t)N * 4 * C);
    matmul_forward(out, gel.data(), w[10], w[11], N, 4 * C, C);
    residual_forward(out, res2.data(), out, (size_t)N * C);
}

namespace exercise {
void block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH) {
    block(out, x, w, B, T, C, NH, false);
}
}  // namespace exercise

namespace planted {
// WRONG on purpose (see block above)
void block_forward_mlp_reads_input(float* out, const float* x, const float* const* w, int B, int T, int C, int NH) {
    block(out, x, w, B, T, C, NH, true);
}
}  // namespace planted
