// tutorial/exercises/07_gelu.cpp: chapter 7's exercise, the derivative of GELU.
// Checked by `bash tutorial/07-gelu-mlp/check.sh` against train_gpt_cpu.cpp's gelu_backward.
// Differentiate the chapter's tanh-approximate GELU yourself; stuck? `make hint CH=07`.
#include <cmath>

namespace exercise {

// dinp[i] = dout[i] * gelu'(inp[i]) for i < n, WRITTEN (not added); gelu is the tanh
// approximation of the chapter (the one the trainer's gelu_forward computes).
void gelu_backward(float* dinp, const float* inp, const float* dout, int n) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < n; i++) dinp[i] = 0;
}

}  // namespace exercise
