// tutorial/exercises/06_attention.cpp: chapter 6's exercise, causal self-attention forward.
// Checked by `bash tutorial/06-attention/check.sh` against train_gpt_cpu.cpp's attention_forward.
#include <cmath>

namespace exercise {

// qkv (B,T,3C): q, k and v side by side in each row; head h (of NH) uses channels
// h*HS .. (h+1)*HS - 1 of each, HS = C / NH. For every b, h and t:
//     s[t2]   = q_t . k_t2 / sqrt(HS)            for t2 <= t (the past and the present only)
//     att[t2] = exp(s[t2] - max) / sum_t2' exp(s[t2'] - max),   and att[t2] = 0 for t2 > t
//     out_t   = sum_{t2 <= t} att[t2] * v_t2
// out (B,T,C) with head h's result in channels h*HS.., att (B,NH,T,T) the weights (row t of
// head h of batch b at att[((b*NH + h)*T + t)*T]), every element written (zeros above the diagonal).
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < B * T * C; i++) out[i] = 0;
    for (int i = 0; i < B * NH * T * T; i++) att[i] = 0;
}

}  // namespace exercise
