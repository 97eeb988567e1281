// tutorial/solutions/03_encoder.cpp: chapter 3's reference is the trainer's own layer
// (train_gpt_cpu.cpp), so the solution calls it; the planted mistake is written out.
// Linked only into the self-test: an exercise file cannot reach the trainer.

void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C);

namespace exercise {
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C) {
    ::encoder_forward(out, inp, wte, wpe, B, T, C);
}
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    ::encoder_backward(dwte, dwpe, dout, inp, B, T, C);
}
}  // namespace exercise

namespace planted {
// WRONG on purpose: writes the token embedding's gradient instead of adding to it
void encoder_backward_assigns(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                dwte[inp[b * T + t] * C + c] = dout[(b * T + t) * C + c];
                dwpe[t * C + c] += dout[(b * T + t) * C + c];
            }
}
}  // namespace planted
