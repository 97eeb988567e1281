// tutorial/solutions/07_gelu.cpp: chapter 7's reference is the trainer's own gelu_backward,
// so the solution calls it; the planted mistake is written out.
// Linked only into the self-test: an exercise file cannot reach the trainer.
#include <cmath>
#include <cstddef>

void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n);

namespace exercise {
void gelu_backward(float* dinp, const float* inp, const float* dout, int n) { ::gelu_backward(dinp, inp, dout, (size_t)n); }
}  // namespace exercise

namespace planted {
// WRONG on purpose: differentiates only the 0.5 (1 + tanh(u)) factor, forgetting the product rule's x * d tanh(u)/dx
void gelu_backward_one_term(float* dinp, const float* inp, const float* dout, int n) {
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        dinp[i] = dout[i] * 0.5f * (1 + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    }
}
}  // namespace planted
