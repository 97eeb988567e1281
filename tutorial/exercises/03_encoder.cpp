// tutorial/exercises/03_encoder.cpp: chapter 3's exercise, the embedding layer.
// Checked by `bash tutorial/03-embeddings/check.sh` against train_gpt_cpu.cpp's
// encoder_forward / encoder_backward. Stuck? `make hint CH=03`.
// Layouts are row-major: element (b, t, c) of a (B,T,C) tensor is at [(b*T + t)*C + c].

namespace exercise {

// out (B,T,C) written; inp (B,T) token ids; wte (V,C) token embedding; wpe (maxT,C)
// position embedding. The chapter's section "Forward" says what out holds.
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C) {
    // TODO. This stub writes zeros, so the check fails.
    for (int i = 0; i < B * T * C; i++) out[i] = 0;
}

// dwte (V,C) and dwpe (maxT,C): parameter gradients, which hold earlier gradients already:
// add to them (+=), never overwrite. dout (B,T,C), inp (B,T).
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    // TODO. This stub adds nothing, so the check fails.
}

}  // namespace exercise
