// tutorial/exercises/06_attention.cpp: chapter 6's exercise, causal self-attention forward.
// Checked by `bash tutorial/06-attention/check.sh` against train_gpt_cpu.cpp's
// attention_forward. The chapter gives the math; stuck? `make hint CH=06`.
#include <cmath>

namespace exercise {

// qkv (B,T,3C): each row holds q, then k, then v, C channels each; head h (of NH) uses
// channels h*HS .. (h+1)*HS - 1 of each, HS = C / NH.
// out (B,T,C) written, head h's result in channels h*HS ..
// att (B,NH,T,T) written: the attention weights, row t of head h of batch b at
// att[((b*NH + h)*T + t)*T], every element written (a weight that must be zero, written as 0).
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < B * T * C; i++) out[i] = 0;
    for (int i = 0; i < B * NH * T * T; i++) att[i] = 0;
}

}  // namespace exercise
