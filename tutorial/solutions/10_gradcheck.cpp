// tutorial/solutions/10_gradcheck.cpp: a solution to chapter 10's exercise, and the planted
// mistakes its check must catch. Read it after your own version passes.

namespace exercise {

void numeric_gradient(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h) {
    for (int i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = saved + h; double plus = loss(ctx);
        x[i] = saved - h; double minus = loss(ctx);
        double step = (double)(saved + h) - (double)(saved - h);   // the step fp32 really took
        x[i] = saved;                                              // put back exactly
        grad[i] = (float)((plus - minus) / step);
    }
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: the two points are 2h apart, not h
void numeric_gradient_over_h(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h) {
    for (int i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = saved + h; double plus = loss(ctx);
        x[i] = saved - h; double minus = loss(ctx);
        x[i] = saved;
        grad[i] = (float)((plus - minus) / h);
    }
}

// WRONG on purpose: moves x[i] back by arithmetic (+h, -2h, +h), which in fp32 need not
// land on the original value; the gradients still look right, the parameters have drifted
void numeric_gradient_drifts(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h) {
    for (int i = 0; i < n; i++) {
        x[i] += h; double plus = loss(ctx);
        x[i] -= 2 * h; double minus = loss(ctx);
        x[i] += h;
        grad[i] = (float)((plus - minus) / (2 * h));
    }
}

}  // namespace planted
