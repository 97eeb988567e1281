// tutorial/exercises/11_adamw.cpp: chapter 11's exercise, one AdamW step on one tensor.
// Checked by `bash tutorial/11-adamw/check.sh` against gpt_update (train_gpt_cpu.cpp), three
// steps with clipping and weight decay. The chapter gives the update rule; stuck?
// `make hint CH=11`.
#include <cmath>
#include <cstddef>

namespace exercise {

// adamw_update: one AdamW step on the n parameters param[0..n), with their gradients grad,
// and their first and second moments m and v (updated in place; zero before step 1).
// t counts optimizer steps from 1. grad_scale multiplies every gradient before anything else
// (it is how gradient clipping reaches the optimizer). lr, beta1, beta2, eps, weight_decay
// as in the chapter; the caller passes weight_decay = 0 for 1-D tensors.
void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float grad_scale, int t) {
    // TODO. Until then nothing moves and the check fails.
}

}  // namespace exercise
