// tutorial/solutions/09_crossentropy.cpp: chapter 9's reference is the trainer's own fused
// crossentropy_forward/backward, so the solution calls them; the planted mistake uses them too.
// Linked only into the self-test: an exercise file cannot reach the trainer.
#include <algorithm>
#include <cstddef>
#include <vector>

void crossentropy_forward(float* losses, float* lse, const float* logits, const int* targets, int N, int V, int Vp);
void crossentropy_backward(float* dlogits, const float* lse, const int* targets, float dloss, int N, int V, int Vp);

namespace exercise {
void crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss, int N, int V) {
    std::vector<float> losses(N), lse(N);
    ::crossentropy_forward(losses.data(), lse.data(), logits, targets, N, V, V);
    std::copy(logits, logits + (size_t)N * V, dlogits);
    ::crossentropy_backward(dlogits, lse.data(), targets, dloss, N, V, V);   // in place: logits -> dlogits
}
}  // namespace exercise

namespace planted {
// WRONG on purpose: the softmax alone, without subtracting the one-hot of the target
void crossentropy_backward_no_onehot(float* dlogits, const float* logits, const int* targets, float dloss, int N, int V) {
    exercise::crossentropy_backward(dlogits, logits, targets, dloss, N, V);
    for (int n = 0; n < N; n++) dlogits[(size_t)n * V + targets[n]] += dloss;
}
}  // namespace planted
