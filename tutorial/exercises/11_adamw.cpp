// tutorial/exercises/11_adamw.cpp: chapter 11's exercise, one AdamW step on one tensor.
// Checked by `bash tutorial/11-adamw/check.sh` against gpt_update (train_gpt_cpu.cpp).
// Plain C++, no project headers: the checker links this file in.
#include <cmath>
#include <cstddef>

namespace exercise {

// adamw_update: one AdamW step (Loshchilov & Hutter, "Decoupled Weight Decay
// Regularization") on n parameters. t counts optimizer steps from 1; grad_scale multiplies
// every gradient first (it is how gradient clipping reaches the optimizer). For each i:
//
//   g     = grad[i] * grad_scale
//   m[i]  = beta1 * m[i] + (1 - beta1) * g            first moment: a running mean of g
//   v[i]  = beta2 * v[i] + (1 - beta2) * g^2          second moment: a running mean of g^2
//   mhat  = m[i] / (1 - beta1^t),  vhat = v[i] / (1 - beta2^t)     bias corrections
//   param[i] -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * param[i])
//
// The decay term is *decoupled*: it shrinks the parameter directly and never enters m or v.
// (Adding weight_decay * param to g instead is L2 regularisation, which Adam rescales per
// parameter; that is the bug AdamW fixed.) The caller passes weight_decay = 0 for 1-D tensors.
void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float grad_scale, int t) {
    // TODO: the loop above. Until then nothing moves and the check fails.
}

}  // namespace exercise
