// tutorial/solutions/05_matmul.cpp: chapter 5's reference is the trainer's own
// matmul_backward, so the solution calls it; the planted mistakes use it too.
// Linked only into the self-test: an exercise file cannot reach the trainer.
#include <cstddef>
#include <vector>

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                     int N, int C, int OC);

namespace exercise {
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
    ::matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
}  // namespace exercise

namespace planted {
// WRONG on purpose: forgets the bias gradient
void matmul_backward_no_bias(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, int N, int C, int OC) {
    ::matmul_backward(dinp, dweight, nullptr, dout, inp, weight, N, C, OC);
}
// WRONG on purpose: writes dweight instead of adding to it (breaks gradient accumulation)
void matmul_backward_assigns(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, int N, int C, int OC) {
    for (int i = 0; i < C * OC; i++) dweight[i] = 0;
    ::matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
}  // namespace planted
