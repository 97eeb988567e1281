// tutorial/solutions/11_adamw.cpp: a solution to chapter 11's exercise, and the planted
// mistakes its check must catch. Read it after your own version passes.
#include <cmath>
#include <cstddef>

namespace exercise {

void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2, float eps,
                  float wd, float grad_scale, int t) {
    float bc1 = 1 - std::pow(b1, (float)t), bc2 = 1 - std::pow(b2, (float)t);
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale;
        m[i] = b1 * m[i] + (1 - b1) * grad;
        v[i] = b2 * v[i] + (1 - b2) * grad * grad;
        p[i] -= lr * (m[i] / bc1 / (std::sqrt(v[i] / bc2) + eps) + wd * p[i]);
    }
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: L2 regularisation (weight decay added to the gradient, as in Adam), not decoupled decay
void adamw_update_l2(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2, float eps,
                     float wd, float grad_scale, int t) {
    float bc1 = 1 - std::pow(b1, (float)t), bc2 = 1 - std::pow(b2, (float)t);
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale + wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * grad;
        v[i] = b2 * v[i] + (1 - b2) * grad * grad;
        p[i] -= lr * (m[i] / bc1 / (std::sqrt(v[i] / bc2) + eps));
    }
}

// WRONG on purpose: no bias correction of the moments
void adamw_update_no_bias_correction(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2,
                                     float eps, float wd, float grad_scale, int t) {
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale;
        m[i] = b1 * m[i] + (1 - b1) * grad;
        v[i] = b2 * v[i] + (1 - b2) * grad * grad;
        p[i] -= lr * (m[i] / (std::sqrt(v[i]) + eps) + wd * p[i]);
    }
}

}  // namespace planted
