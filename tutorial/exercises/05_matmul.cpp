// tutorial/exercises/05_matmul.cpp: chapter 5's exercise, the backward pass of a linear layer.
// Checked by `bash tutorial/05-matmul/check.sh` against train_gpt_cpu.cpp's matmul_backward.

namespace exercise {

// Forward: out (N,OC) = inp (N,C) @ weight (C,OC) + bias (OC); the weight is stored [in, out],
// element (c, o) at weight[c*OC + o]. Backward:
//     dinp    = dout @ weight^T        dinp[n,c]    = sum_o dout[n,o] * weight[c,o]   (written)
//     dweight += inp^T @ dout          dweight[c,o] += sum_n inp[n,c] * dout[n,o]
//     dbias   += sum over rows of dout  dbias[o]     += sum_n dout[n,o]
// A plain triple loop is fine here: the chapter explains why the real one is blocked.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
    // TODO. This stub writes zeros to dinp and adds nothing else, so the check fails.
    for (int i = 0; i < N * C; i++) dinp[i] = 0;
}

}  // namespace exercise
