// tutorial/exercises/05_matmul.cpp: chapter 5's exercise, the backward pass of a linear layer.
// Checked by `bash tutorial/05-matmul/check.sh` against train_gpt_cpu.cpp's matmul_backward.
// Derive the three gradients in the chapter first; stuck? `make hint CH=05`.

namespace exercise {

// The forward pass: out (N,OC) = inp (N,C) @ weight (C,OC) + bias (OC), the weight stored
// [in, out]: element (c, o) at weight[c*OC + o].
// dinp (N,C) is WRITTEN (it holds garbage on entry); dweight (C,OC) and dbias (OC) are
// parameter gradients and ADD (+=). dout (N,OC).
// Plain loops are fine here: the chapter explains why the real one is blocked.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
    // TODO. This stub writes zeros to dinp and adds nothing else, so the check fails.
    for (int i = 0; i < N * C; i++) dinp[i] = 0;
}

}  // namespace exercise
