// tutorial/exercises/10_gradcheck.cpp: chapter 10's exercise, a finite-difference gradient.
// Checked by `bash tutorial/10-backward/check.sh` against gpt_backward (train_gpt_cpu.cpp).
// The chapter says which difference to use and why; stuck? `make hint CH=10`.
// Plain C++: an exercise can use the standard library, nothing of the project.

namespace exercise {

// numeric_gradient: grad[i] = d loss / d x[i] for i < n, estimated from loss values alone.
// loss(ctx) evaluates the loss at the current contents of x (here: one gpt_forward of the
// whole model, whose parameter buffer is x), so you change x[i], call loss(ctx), and so on.
// h is the step. When the function returns, every x[i] must hold exactly, bit for bit, the
// value it held on entry.
void numeric_gradient(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h) {
    // TODO. Until then every gradient is zero and the check fails.
    for (int i = 0; i < n; i++) grad[i] = 0.0f;
}

}  // namespace exercise
