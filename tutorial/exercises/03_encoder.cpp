// tutorial/exercises/03_encoder.cpp: chapter 3's exercise, the embedding layer.
// Checked by `bash tutorial/03-embeddings/check.sh` against train_gpt_cpu.cpp's
// encoder_forward / encoder_backward. Layouts are row-major, e.g. out[(b*T + t)*C + c].

namespace exercise {

// out (B,T,C), inp (B,T) token ids, wte (V,C), wpe (maxT,C):
//     out[b,t,:] = wte[inp[b,t], :] + wpe[t, :]
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < B * T * C; i++) out[i] = 0;
}

// dwte (V,C) +=, dwpe (maxT,C) +=, dout (B,T,C), inp (B,T):
//     dwte[inp[b,t], :] += dout[b,t,:]      dwpe[t, :] += dout[b,t,:]
// A token that appears at several positions collects the sum of their gradients: add, never assign.
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    // TODO. This stub adds nothing, so the check fails.
}

}  // namespace exercise
