// tutorial/solutions/15_flash_attention.cpp: a solution to chapter 15's exercise, and the
// planted mistakes its check must catch. Read it after your own version passes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

// one (b, h, t) row at a time: keys in tiles; running max mx, running sum l, running output acc.
// Scratch: acc (HS) and one tile of scores, independent of T.
static void tiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile, bool rescale) {
    int HS = C / NH;
    float scale = 1 / std::sqrt((float)HS);
    std::vector<float> acc(HS), s(tile);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float* q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
                float mx = -INFINITY, l = 0;
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (int t0 = 0; t0 <= t; t0 += tile) {
                    int t1 = std::min(t + 1, t0 + tile);   // the causal mask: keys up to t only
                    float tile_max = -INFINITY;
                    for (int t2 = t0; t2 < t1; t2++) {
                        const float* k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * HS;
                        float d = 0;
                        for (int i = 0; i < HS; i++) d += q[i] * k[i];
                        s[t2 - t0] = d * scale;
                        tile_max = std::max(tile_max, s[t2 - t0]);
                    }
                    float new_max = std::max(mx, tile_max);
                    float correction = rescale ? std::exp(mx - new_max) : 1.0f;   // planted mistake when false
                    l *= correction;
                    for (int i = 0; i < HS; i++) acc[i] *= correction;
                    for (int t2 = t0; t2 < t1; t2++) {
                        float pexp = std::exp(s[t2 - t0] - new_max);
                        l += pexp;
                        const float* v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * HS;
                        for (int i = 0; i < HS; i++) acc[i] += pexp * v[i];
                    }
                    mx = new_max;
                }
                float* o = out + ((size_t)b * T + t) * C + h * HS;
                for (int i = 0; i < HS; i++) o[i] = acc[i] / l;
            }
}

namespace exercise {
void attention_forward_tiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile) {
    tiled(out, qkv, B, T, C, NH, tile, true);
}
}  // namespace exercise

namespace planted {

// WRONG on purpose: the old sums are not rescaled when the running max grows
void attention_forward_tiled_no_rescale(float* out, const float* qkv, int B, int T, int C, int NH, int tile) {
    tiled(out, qkv, B, T, C, NH, tile, false);
}

// WRONG on purpose: correct numbers, but it does not tile: it keeps a whole row of T scores,
// the memory that FlashAttention exists to avoid
void attention_forward_untiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile) {
    int HS = C / NH;
    std::vector<float> s(T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float* q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
                float mx = -INFINITY, l = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float* k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * HS;
                    float d = 0;
                    for (int i = 0; i < HS; i++) d += q[i] * k[i];
                    s[t2] = d / std::sqrt((float)HS);
                    mx = std::max(mx, s[t2]);
                }
                for (int t2 = 0; t2 <= t; t2++) { s[t2] = std::exp(s[t2] - mx); l += s[t2]; }
                float* o = out + ((size_t)b * T + t) * C + h * HS;
                for (int i = 0; i < HS; i++) {
                    float a = 0;
                    for (int t2 = 0; t2 <= t; t2++) a += s[t2] * qkv[((size_t)b * T + t2) * 3 * C + 2 * C + h * HS + i];
                    o[i] = a / l;
                }
            }
}

}  // namespace planted
