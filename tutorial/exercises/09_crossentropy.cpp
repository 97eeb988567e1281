// tutorial/exercises/09_crossentropy.cpp: chapter 9's exercise, the gradient of softmax +
// cross-entropy with respect to the logits. Checked by `bash tutorial/09-crossentropy/check.sh`
// against train_gpt_cpu.cpp's crossentropy_forward / crossentropy_backward. Derive the
// gradient in the chapter first; stuck? `make hint CH=09`.
#include <cmath>

namespace exercise {

// loss_n = -log softmax(logits[n,:])[targets[n]] for each row n; dloss is d(total)/d(loss_n),
// the same for every row (1/N for the mean).
// dlogits (N,V) WRITTEN with d(total)/d(logits); logits (N,V); targets (N). Logits may be
// large (80 and more): the result must stay finite.
void crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss, int N, int V) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < N * V; i++) dlogits[i] = 0;
}

}  // namespace exercise
