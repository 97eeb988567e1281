// tests/test_gradcheck.cpp: the CPU trainer's backward pass, built in double, against
// central finite differences of its own forward pass: every parameter tensor, by name,
// within 1e-6 relative (DESIGN.md section 6). A tiny model keeps it to a second.
#include <doctest/doctest.h>
#define TRAIN_GPT_NO_MAIN
#define REAL double
#include "train_gpt_cpu.cpp"
#include "tests/test_util.h"

static GPTConfig tiny_config() {
    GPTConfig c;
    c.num_layers = 2; c.num_heads = 2; c.channels = 8; c.max_seq_len = 6;
    c.vocab_size = c.padded_vocab_size = 13;
    return c;
}

static void gradcheck(int B, int T, uint64_t seed) {
    GPTConfig c = tiny_config();
    GPT model;
    gpt_build(model, c, random_params(c, seed, 0.3f));   // large enough that every path matters
    Rng rng(seed + 1);
    std::vector<int> inputs(B * T), targets(B * T);
    for (int i = 0; i < B * T; i++) { inputs[i] = rng.next_u32() % c.vocab_size; targets[i] = rng.next_u32() % c.vocab_size; }
    inputs[1] = inputs[0];   // a repeated token: its embedding row gets two contributions

    gpt_zero_grad(model);
    gpt_forward(model, inputs.data(), targets.data(), B, T);
    gpt_backward(model, 1.0);
    auto loss_at = [&]() {
        gpt_forward(model, inputs.data(), targets.data(), B, T);
        return (double)model.mean_loss;
    };
    const double h = 1e-6;
    for (const ParamTensor& t : param_table(c)) {
        std::vector<double> numeric(t.numel);
        for (size_t i = 0; i < t.numel; i++) {
            double& w = model.params[t.offset + i];
            double saved = w;
            w = saved + h; double plus = loss_at();
            w = saved - h; double minus = loss_at();
            w = saved;
            numeric[i] = (plus - minus) / (2 * h);
        }
        CAPTURE(t.name);
        double gnorm = 0;
        for (double x : numeric) gnorm += x * x;
        if (t.name != "transformer.wpe.weight" || T == c.max_seq_len) CHECK(gnorm > 0);   // the check is not vacuous
        CHECK(check_close(t.name, model.grads.data() + t.offset, numeric.data(), t.numel, 1e-6));
    }
}

TEST_CASE("finite differences: every parameter gradient, B=2, T=5 (unused positions get none)") { gradcheck(2, 5, 7); }
TEST_CASE("finite differences: every parameter gradient, B=1, T=6 (all positions)") { gradcheck(1, 6, 11); }

TEST_CASE("finite differences: layers alone, including the inputs' gradients") {
    // each layer as a function of its input, with a random linear read-out as the loss
    Rng rng(3);
    int B = 2, T = 4, C = 6, NH = 2, N = B * T;
    auto randv = [&](size_t n) { std::vector<double> v(n); for (double& x : v) x = rng.normal(); return v; };
    const double h = 1e-6;
    auto fd = [&](std::vector<double>& x, auto f) {   // numeric gradient of f() w.r.t. x
        std::vector<double> g(x.size());
        for (size_t i = 0; i < x.size(); i++) {
            double s = x[i];
            x[i] = s + h; double p = f(); x[i] = s - h; double m = f(); x[i] = s;
            g[i] = (p - m) / (2 * h);
        }
        return g;
    };
    auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
        double s = 0; for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i]; return s;
    };
    SUBCASE("layernorm") {
        auto x = randv(N * C), w = randv(C), b = randv(C), r = randv(N * C);
        std::vector<double> out(N * C), mean(N), rstd(N), dx(N * C, 0), dw(C, 0), db(C, 0);
        auto f = [&]() { layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C); return dot(out, r); };
        f();
        layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
        CHECK(check_close("dx", dx.data(), fd(x, f).data(), dx.size(), 1e-6));
        CHECK(check_close("dweight", dw.data(), fd(w, f).data(), C, 1e-6));
        CHECK(check_close("dbias", db.data(), fd(b, f).data(), C, 1e-6));
    }
    SUBCASE("attention") {
        auto qkv = randv(N * 3 * C), r = randv(N * C);
        std::vector<double> out(N * C), att(B * NH * T * T), dqkv(N * 3 * C);
        auto f = [&]() { attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH); return dot(out, r); };
        f();
        attention_backward(dqkv.data(), r.data(), qkv.data(), att.data(), B, T, C, NH);
        CHECK(check_close("dqkv", dqkv.data(), fd(qkv, f).data(), dqkv.size(), 1e-6));
    }
    SUBCASE("gelu") {
        auto x = randv(N * C), r = randv(N * C);
        std::vector<double> out(N * C), dx(N * C);
        auto f = [&]() { gelu_forward(out.data(), x.data(), x.size()); return dot(out, r); };
        f();
        gelu_backward(dx.data(), x.data(), r.data(), x.size());
        CHECK(check_close("dx", dx.data(), fd(x, f).data(), dx.size(), 1e-6));
    }
    SUBCASE("matmul") {
        int OC = 5;
        auto x = randv(N * C), w = randv(C * OC), b = randv(OC), r = randv(N * OC);
        std::vector<double> out(N * OC), dx(N * C), dw(C * OC, 0), db(OC, 0);
        auto f = [&]() { matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC); return dot(out, r); };
        f();
        matmul_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, C, OC);
        CHECK(check_close("dx", dx.data(), fd(x, f).data(), dx.size(), 1e-6));
        CHECK(check_close("dweight", dw.data(), fd(w, f).data(), dw.size(), 1e-6));
        CHECK(check_close("dbias", db.data(), fd(b, f).data(), OC, 1e-6));
    }
    SUBCASE("softmax cross-entropy") {
        int V = 7;
        auto logits = randv(N * V);
        std::vector<int> targets(N);
        for (int& t : targets) t = rng.next_u32() % V;
        std::vector<double> losses(N), lse(N);
        auto f = [&]() {
            crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V, V);
            double s = 0; for (double l : losses) s += l; return s / N;
        };
        f();
        std::vector<double> numeric = fd(logits, f), d = logits;
        crossentropy_backward(d.data(), lse.data(), targets.data(), 1.0 / N, N, V, V);
        CHECK(check_close("dlogits", d.data(), numeric.data(), d.size(), 1e-6));
    }
}
