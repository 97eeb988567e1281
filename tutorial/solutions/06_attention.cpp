// tutorial/solutions/06_attention.cpp: chapter 6's reference is the trainer's own
// attention_forward, so the solution calls it; the planted mistake is written out.
// Linked only into the self-test: an exercise file cannot reach the trainer.
#include <algorithm>
#include <cmath>

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);

namespace exercise {
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    ::attention_forward(out, att, qkv, B, T, C, NH);
}
}  // namespace exercise

namespace planted {
// WRONG on purpose: no causal mask, every position also attends to the future
void attention_forward_no_mask(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    int HS = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float* q = qkv + (b * T + t) * 3 * C + h * HS;
                float* a = att + ((b * NH + h) * T + t) * T;
                float maxv = -INFINITY, sum = 0;
                for (int t2 = 0; t2 < T; t2++) {
                    const float* k = qkv + (b * T + t2) * 3 * C + C + h * HS;
                    float s = 0;
                    for (int i = 0; i < HS; i++) s += q[i] * k[i];
                    a[t2] = s / std::sqrt((float)HS);
                    maxv = std::max(maxv, a[t2]);
                }
                for (int t2 = 0; t2 < T; t2++) { a[t2] = std::exp(a[t2] - maxv); sum += a[t2]; }
                for (int t2 = 0; t2 < T; t2++) a[t2] /= sum;
                float* o = out + (b * T + t) * C + h * HS;
                for (int i = 0; i < HS; i++) o[i] = 0;
                for (int t2 = 0; t2 < T; t2++)
                    for (int i = 0; i < HS; i++) o[i] += a[t2] * qkv[(b * T + t2) * 3 * C + 2 * C + h * HS + i];
            }
}
}  // namespace planted
