// tutorial/exercises/10_gradcheck.cpp: chapter 10's exercise, a finite-difference gradient.
// Checked by `bash tutorial/10-backward/check.sh` against gpt_backward (train_gpt_cpu.cpp).
// Plain C++, no project headers: the checker links this file in.

namespace exercise {

// numeric_gradient: the gradient of a scalar loss with respect to x[0..n), by central
// differences. loss(ctx) evaluates the loss at the current contents of x (here: one
// gpt_forward of the whole model, whose parameter buffer is x).
//
//   grad[i] = (loss(x + h e_i) - loss(x - h e_i)) / (2 h)
//
// where e_i is the i-th unit vector: change x[i] alone, evaluate, and put x[i] back exactly
// as it was before moving on. The error of the formula is O(h^2) (the h and h^3 terms of the
// Taylor series cancel), against O(h) for the one-sided (loss(x + h e_i) - loss(x)) / h.
// A refinement worth knowing: in fp32, x[i] + h is rounded, so the step actually taken is
// (x[i] + h) - (x[i] - h) computed in double, which may differ from 2h in the last bits.
void numeric_gradient(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h) {
    // TODO: write the loop above. Until then every gradient is zero and the check fails.
    for (int i = 0; i < n; i++) grad[i] = 0.0f;
}

}  // namespace exercise
