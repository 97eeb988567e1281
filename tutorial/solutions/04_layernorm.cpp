// tutorial/solutions/04_layernorm.cpp: chapter 4's reference is the trainer's own
// layernorm_backward, so the solution calls it; the planted mistakes are written out.
// Linked only into the self-test: an exercise file cannot reach the trainer.
#include <cstddef>
#include <vector>

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);

namespace exercise {
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
    ::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}
}  // namespace exercise

namespace planted {
// WRONG on purpose: forgets to subtract mean(g), the term from the mean's dependence on x
void layernorm_backward_no_mean(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                const float* weight, const float* mean, const float* rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float gx_mean = 0;
        for (int c = 0; c < C; c++) gx_mean += d[c] * weight[c] * (x[c] - mean[n]) * rstd[n];
        gx_mean /= C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mean[n]) * rstd[n];
            dinp[n * C + c] += rstd[n] * (d[c] * weight[c] - xhat * gx_mean);
            dweight[c] += d[c] * xhat;
            dbias[c] += d[c];
        }
    }
}
// WRONG on purpose: writes dinp instead of adding to it (the residual stream's gradient is lost)
void layernorm_backward_assigns(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                const float* weight, const float* mean, const float* rstd, int N, int C) {
    std::vector<float> fresh((size_t)N * C, 0.0f);
    ::layernorm_backward(fresh.data(), dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    for (size_t i = 0; i < fresh.size(); i++) dinp[i] = fresh[i];
}
}  // namespace planted
