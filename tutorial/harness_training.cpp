// tutorial/harness_training.cpp: the checks of tutorial chapters 10-17, one subcommand each.
//
//   build/tutorial/harness_training chapterNN [--self-test] [--sweep | --lr-table | --roofline | ...]
//
// What it is: the checker behind `bash tutorial/NN-name/check.sh`. It includes the CPU
// reference trainer once (train_gpt_cpu.cpp, fp32) and compares the learner's exercise
// functions against it (tutorial/exercises/1N_*.cpp: one file linked per check program,
// plain float*/int signatures in namespace exercise; tutorial/common.sh builds it so that
// the exercise cannot reach the trainer). With --self-test (the program built with
// tutorial/solutions/) it checks the checker instead: the solution must pass and each
// planted mistake (a classic bug, in the same folder) must fail with its hint. No answer
// lives here. A few modes print the tables that the figure scripts in tutorial/figures/
// plot. Chapter 16 needs mpirun and is a shell script only.
// What it is not: a test of the trainer itself (tests/ does that) or a benchmark with
// assertions on time: measured speeds are printed, never checked.
// Conventions: exit status 0 = the check passed, 1 = it failed, 2 = bad command line;
// the check.sh scripts turn that into the PASS/FAIL line.
#define TRAIN_GPT_NO_MAIN
#include "train_gpt_cpu.cpp"

#include <cinttypes>
#include <functional>
#include <unistd.h>

#include "tutorial/check.h"   // defines: WEAK, hint, Planted, run_check, tutorial_heap_mark

// ----------------------------------------------------------------------------
// the learner's functions: tutorial/exercises/1N_*.cpp (the chapters give the math). Weak: a
// chapter's check program links that chapter's file only, the others are null there.

namespace exercise {
WEAK void numeric_gradient(float* grad, float* x, int n, double (*loss)(void* ctx), void* ctx, float h);   // ch10
WEAK void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
                       float beta2, float eps, float weight_decay, float grad_scale, int t);                // ch11
WEAK size_t gpt2_num_parameters(int L, int C, int V, int maxT);                                             // ch13
WEAK uint16_t fp32_to_bf16(float x);                                                                        // ch14
WEAK void attention_forward_tiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile);     // ch15
}  // namespace exercise

// the planted mistakes of the self-tests (tutorial/solutions/1N_*.cpp), each marked WRONG there
namespace planted {
WEAK void numeric_gradient_over_h(float*, float*, int, double (*)(void*), void*, float);
WEAK void numeric_gradient_drifts(float*, float*, int, double (*)(void*), void*, float);
WEAK void adamw_update_l2(float*, const float*, float*, float*, size_t, float, float, float, float, float, float, int);
WEAK void adamw_update_no_bias_correction(float*, const float*, float*, float*, size_t, float, float, float, float, float,
                                          float, int);
WEAK size_t gpt2_num_parameters_matrices_only(int L, int C, int V, int maxT);
WEAK uint16_t fp32_to_bf16_truncates(float x);
WEAK uint16_t fp32_to_bf16_ties_away(float x);
WEAK uint16_t fp32_to_bf16_nan_unaware(float x);
WEAK void attention_forward_tiled_no_rescale(float* out, const float* qkv, int B, int T, int C, int NH, int tile);
WEAK void attention_forward_untiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile);
}  // namespace planted

// ----------------------------------------------------------------------------
// small helpers. tests/test_util.h has their twins; the tutorial keeps its own because its
// checks build without doctest (a learner needs only a compiler), and the numbers its
// chapters record come from these exact seeds.

static double rel_err(const float* a, const float* b, size_t n) {   // ||a - b|| / ||b||, DESIGN.md §6
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

static bool all_finite(const float* a, size_t n) {
    for (size_t i = 0; i < n; i++) if (!std::isfinite(a[i])) return false;
    return true;
}

// random weights around GPT-2's initialisation, moved far enough that every path matters
static std::vector<float> random_params(const GPTConfig& c, uint64_t seed, float noise) {
    std::vector<float> p;
    init_parameters(p, c, seed);
    Rng rng(seed + 1);
    for (float& x : p) x += noise * rng.normal();
    return p;
}

static std::vector<int> random_tokens(int n, int V, uint64_t seed) {
    Rng rng(seed);
    std::vector<int> t(n);
    for (int& x : t) x = (int)(rng.next_u32() % V);
    return t;
}

static GPTConfig make_config(int L, int NH, int C, int maxT, int V) {
    GPTConfig c;
    c.num_layers = L; c.num_heads = NH; c.channels = C; c.max_seq_len = maxT;
    c.vocab_size = c.padded_vocab_size = V;
    return c;
}

// ----------------------------------------------------------------------------
// chapter 10: the whole backward pass against finite differences (fp32)

struct LossContext {
    GPT* model;
    const int *inputs, *targets;
    int B, T;
};

static double model_loss(void* p) {
    LossContext* c = (LossContext*)p;
    gpt_forward(*c->model, c->inputs, c->targets, c->B, c->T);
    return c->model->mean_loss;
}

typedef void (*NumericGradientFn)(float*, float*, int, double (*)(void*), void*, float);

// per parameter tensor: ||numeric - backward|| / ||backward||, the worst of them returned
static double gradcheck_fp32(NumericGradientFn fn, float h, bool verbose) {
    GPTConfig c = make_config(2, 2, 16, 8, 32);
    GPT model;
    gpt_build(model, c, random_params(c, 7, 0.1f));
    int B = 2, T = 8;
    std::vector<int> inputs = random_tokens(B * T, c.vocab_size, 1), targets = random_tokens(B * T, c.vocab_size, 2);
    gpt_zero_grad(model);
    gpt_forward(model, inputs.data(), targets.data(), B, T);
    gpt_backward(model, 1.0f);
    LossContext ctx{&model, inputs.data(), targets.data(), B, T};
    std::vector<float> numeric(model.num_params, 0.0f), before = model.params;
    fn(numeric.data(), model.params.data(), (int)model.num_params, model_loss, &ctx, h);
    double worst = 0, dot = 0, nn = 0;
    for (const ParamTensor& t : param_table(c)) {
        double e = rel_err(numeric.data() + t.offset, model.grads.data() + t.offset, t.numel);
        if (!all_finite(numeric.data() + t.offset, t.numel)) e = INFINITY;
        if (verbose && (t.name.find(".h.0.") != std::string::npos || t.name.find(".h.") == std::string::npos))
            printf("  %-40s relative error %.2e\n", t.name.c_str(), e);
        worst = std::max(worst, e);
    }
    for (size_t i = 0; i < model.num_params; i++) dot += (double)numeric[i] * model.grads[i], nn += (double)model.grads[i] * model.grads[i];
    if (verbose && worst > 1e-2 && std::fabs(dot / nn - 2) < 0.05)
        hint("your gradients are 2x the backward's: the points x - h and x + h are 2h apart");
    // the bold rule of the chapter: every parameter is back to its exact old value, bit for bit
    size_t moved = 0, first = 0;
    for (size_t i = 0; i < model.num_params; i++)
        if (memcmp(&before[i], &model.params[i], sizeof(float)) != 0 && moved++ == 0) first = i;
    if (moved) {
        if (verbose) {
            printf("  %zu of %zu parameters were not restored exactly (the first, index %zu: %.9g before, %.9g after)\n",
                   moved, model.num_params, first, before[first], model.params[first]);
            hint("x[i] must be put back exactly: save it and assign the saved value; x + h - 2h + h need not equal x in fp32");
        }
        worst = INFINITY;
    }
    return worst;
}

static int chapter10(bool self_test, const std::string& mode) {
    if (mode == "--sweep") {   // the error against the step h, for the figure (correct implementation)
        printf("h,worst_rel_error\n");
        for (float h : {3e-1f, 1e-1f, 3e-2f, 1e-2f, 3e-3f, 1e-3f, 3e-4f, 1e-4f, 3e-5f, 1e-5f})
            printf("%g,%.4e\n", h, gradcheck_fp32(exercise::numeric_gradient, h, false));
        return 0;
    }
    const float h = 1e-2f;
    const double tol = 1e-2;
    printf("chapter 10: gpt_backward against your numeric_gradient of gpt_forward's loss, fp32, h = %g\n", h);
    printf("(layer 0 and the embeddings shown; every tensor checked; tolerance %.0e per tensor)\n", tol);
    return run_check<NumericGradientFn>(self_test, "numeric_gradient", exercise::numeric_gradient,
                                        {{planted::numeric_gradient_over_h, "dividing by h instead of 2h", "2h apart"},
                                         {planted::numeric_gradient_drifts, "restoring x[i] by arithmetic", "put back exactly"}},
                                        [&](NumericGradientFn fn) {
        double worst = gradcheck_fp32(fn, h, true);
        printf("  worst tensor: relative error %.2e (tolerance %.0e)\n", worst, tol);
        return worst <= tol;
    });
}

// ----------------------------------------------------------------------------
// chapter 11: AdamW against gpt_update, and the learning-rate schedule

typedef void (*AdamWFn)(float*, const float*, float*, float*, size_t, float, float, float, float, float, float, int);

static bool adamw_matches(AdamWFn fn) {
    GPTConfig c = make_config(2, 4, 32, 16, 64);
    int B = 4, T = 16;
    std::vector<float> init = random_params(c, 3, 0.02f);
    GPT ref;
    gpt_build(ref, c, init);
    size_t n = ref.num_params;
    std::vector<float> p = init, m(n, 0.0f), v(n, 0.0f);
    // random tokens for gpt_step, the trainer's own step: real gradients of three batches
    std::string shard = (fs::temp_directory_path() / ("tutorial_adamw_" + std::to_string(getpid()) + ".bin")).string();
    std::vector<int> tokens = random_tokens(3 * B * T + 1, c.vocab_size, 5);
    write_shard(shard, std::vector<uint32_t>(tokens.begin(), tokens.end()).data(), tokens.size(), c.vocab_size);
    DataLoader loader(shard, B, T, 0, 1, 1, c.vocab_size, false, 0);
    Settings s;   // the trainer's defaults: beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.1
    const float clip = 0.5f;
    bool ok = true;
    for (int t = 1; t <= 3; t++) {
        AdamW opt = {1e-3f * t, s.beta1, s.beta2, s.eps, s.weight_decay};
        std::vector<float> before = p;
        StepStats st = gpt_step(ref, loader, ProcessGroup(), opt, clip, t - 1);
        // gpt_step leaves the step's gradients in ref.grads and the clipping factor in st.grad_scale
        for (const ParamTensor& pt : param_table(c))
            fn(p.data() + pt.offset, ref.grads.data() + pt.offset, m.data() + pt.offset, v.data() + pt.offset, pt.numel,
               opt.lr, opt.beta1, opt.beta2, opt.eps, pt.decay ? opt.weight_decay : 0.0f, st.grad_scale, t);
        // compare the updates (p_new - p_old), not the parameters: an update is a 1e-3 change
        std::vector<float> du(n), dref(n);
        for (size_t i = 0; i < n; i++) { du[i] = p[i] - before[i]; dref[i] = ref.params[i] - before[i]; }
        double em = rel_err(m.data(), ref.m.data(), n), ev = rel_err(v.data(), ref.v.data(), n), eu = rel_err(du.data(), dref.data(), n);
        bool step_ok = em <= 1e-5 && ev <= 1e-5 && eu <= 1e-4 && all_finite(p.data(), n);
        printf("  step %d (norm %.3f, grad scale %.4f): relative error m %.1e, v %.1e, update %.1e (tolerances 1e-5, 1e-5, 1e-4)%s\n",
               t, st.norm, st.grad_scale, em, ev, eu, step_ok ? "" : "  <- mismatch");
        if (ok && !step_ok) {   // the first mismatch only
            if (em > 1e-5 || ev > 1e-5)
                hint("m or v differ: they are running means of g = grad * grad_scale and of g^2, nothing else enters them "
                     "(in AdamW the weight decay acts on the parameter directly)");
            else
                hint("m and v are right, the update is not: the bias corrections (t counts from 1), eps, and the decay "
                     "term lr * weight_decay * param");
        }
        ok = ok && step_ok;
        p = std::vector<float>(ref.params.begin(), ref.params.begin() + n);   // continue both from the reference,
        m = std::vector<float>(ref.m.begin(), ref.m.begin() + n);             // so one error is reported once
        v = std::vector<float>(ref.v.begin(), ref.v.begin() + n);
    }
    fs::remove(shard);
    return ok;
}

static bool lr_schedule_ok() {
    Settings s;   // lr 1e-3, warmup 20, 200 steps, min_lr_frac 0.1
    bool ok = true;
    for (std::string sched : {"cosine", "linear"}) {
        s.lr_schedule = sched;
        float first = lr_at(s, 0), peak = lr_at(s, s.warmup), last = lr_at(s, s.steps - 1);
        bool monotone = true;
        for (int i = s.warmup + 1; i < s.steps; i++) monotone = monotone && lr_at(s, i) <= lr_at(s, i - 1);
        bool this_ok = std::fabs(first - s.lr / s.warmup) < 1e-9f && std::fabs(peak - s.lr) < 1e-9f &&
                       std::fabs(last - s.lr * s.min_lr_frac) < 1e-8f && monotone;
        printf("  lr_at, %-6s: step 0 %.3e (lr/warmup), step %d %.3e (peak), step %d %.3e (lr*min_lr_frac), decreasing %s\n",
               sched.c_str(), first, s.warmup, peak, s.steps - 1, last, monotone ? "yes" : "NO");
        ok = ok && this_ok;
    }
    return ok;
}

static int chapter11(bool self_test, const std::string& mode) {
    if (mode == "--lr-table") {   // for the figure: the three schedules at the trainer's defaults
        Settings s;
        printf("step,cosine,linear,constant\n");
        for (int i = 0; i < s.steps; i++) {
            float lr[3];
            const char* names[3] = {"cosine", "linear", "constant"};
            for (int k = 0; k < 3; k++) { s.lr_schedule = names[k]; lr[k] = lr_at(s, i); }
            printf("%d,%.6e,%.6e,%.6e\n", i, lr[0], lr[1], lr[2]);
        }
        return 0;
    }
    printf("chapter 11: the learning-rate schedule (lr_at in train_common.h)\n");
    if (!lr_schedule_ok()) { printf("lr_at does not keep its contract\n"); return 1; }
    printf("chapter 11: your adamw_update against the update of gpt_step, 3 steps with clipping and weight decay\n");
    return run_check<AdamWFn>(self_test, "adamw_update", exercise::adamw_update,
                              {{planted::adamw_update_l2, "weight decay added to the gradient (L2) instead of decoupled", "m or v differ"},
                               {planted::adamw_update_no_bias_correction, "no bias correction", "bias corrections"}},
                              adamw_matches);
}

// ----------------------------------------------------------------------------
// chapter 12: what a trained model must beat, and the KV cache gives the logits of a full
// forward pass

// Cross-entropy on the validation tokens of two models that need no training loop, only
// counts over the training tokens, with add-one (Laplace) smoothing so that no token has
// probability 0: a unigram model p(v), and a bigram model p(v | previous token).
// Returns false if the numbers are not ordered as they must be (ln V > unigram > bigram).
// add = 1 is the smoothing; the self-test plants add = 0, which gives an unseen bigram of the
// validation text probability 0 (an infinite loss), and must be rejected.
static bool count_baselines(const std::string& dir, int V, double add = 1.0, bool quiet = false) {
    std::vector<uint32_t> train = read_shard(dir + "/train_000000.bin", V), val = read_shard(dir + "/val_000000.bin", V);
    std::vector<double> uni(V, add);
    std::vector<double> bi((size_t)V * V, add), row(V, add * V);
    for (size_t i = 0; i < train.size(); i++) {
        uni[train[i]] += 1;
        if (i > 0) { bi[(size_t)train[i - 1] * V + train[i]] += 1; row[train[i - 1]] += 1; }
    }
    double uni_total = (double)train.size() + add * V, h_uni = 0, h_bi = 0;
    for (size_t i = 1; i < val.size(); i++) {                      // the same predictions for both: tokens 1..n-1
        h_uni -= std::log(uni[val[i]] / uni_total);
        h_bi -= std::log(bi[(size_t)val[i - 1] * V + val[i]] / row[val[i - 1]]);
    }
    size_t n = val.size() - 1;
    h_uni /= n;
    h_bi /= n;
    // bits per byte: the same log-loss spread over the bytes of text, comparable across vocabularies
    Tokenizer tok = Tokenizer::load(dir);
    std::vector<uint32_t> predicted(val.begin() + 1, val.end());
    double bytes = (double)tok.decode(predicted).size(), per_byte = n / bytes / std::log(2.0);
    bool ok = std::isfinite(h_bi) && std::isfinite(h_uni) && 0 < h_bi && h_bi < h_uni && h_uni < std::log((double)V);
    if (quiet) return ok;
    printf("chapter 12: baselines on %s's validation set (%zu tokens, %.0f bytes), from counts over %zu training tokens\n",
           dir.c_str(), n, bytes, train.size());
    printf("  %-36s %6.3f nats/token  %5.3f bits/byte\n", "uniform over the vocabulary (ln V)", std::log((double)V),
           std::log((double)V) * per_byte);
    printf("  %-36s %6.3f nats/token  %5.3f bits/byte\n", "unigram, add-one smoothing", h_uni, h_uni * per_byte);
    printf("  %-36s %6.3f nats/token  %5.3f bits/byte\n", "bigram, add-one smoothing", h_bi, h_bi * per_byte);
    if (!ok) printf("  the baselines are not ordered ln V > unigram > bigram > 0: the counting is broken\n");
    return ok;
}

static int chapter12(bool self_test, const std::string&) {
    const std::string data = "data/tinyshakespeare_bpe1k";
    if (!fs::exists(data + "/val_000000.bin")) fail(data + " is missing: run `make data` first");
    if (!count_baselines(data, 1024)) return 1;
    if (self_test) {
        bool planted = count_baselines(data, 1024, 0.0, true);
        printf("-- self-test: bigram counts without smoothing (a zero probability) must be rejected: %s\n",
               planted ? "ACCEPTED (the check is blind)" : "rejected");
        if (planted) return 1;
    }
    GPTConfig c = make_config(2, 4, 64, 32, 256);
    GPT model;
    gpt_build(model, c, random_params(c, 11, 0.05f));
    int T = c.max_seq_len, V = c.vocab_size;
    std::vector<int> tokens = random_tokens(T, V, 12);
    gpt_forward(model, tokens.data(), nullptr, 1, T);   // logits of every position at once (causality)
    std::vector<float> full(model.a.logits, model.a.logits + (size_t)T * V), cached((size_t)T * V);
    KVCache cache;
    for (int pos = 0; pos < T; pos++) gpt_forward_cached(model, cache, tokens[pos], pos, cached.data() + (size_t)pos * V);
    double e = rel_err(cached.data(), full.data(), full.size());
    bool ok = e <= 1e-5;
    printf("chapter 12: gpt_forward_cached, one position at a time, against gpt_forward's logits at all %d positions:\n"
           "  relative error %.2e (tolerance 1e-5)\n", T, e);

    // greedy generation (temperature 0) through the cache against argmax of full forwards, token by token
    std::vector<int> prompt(tokens.begin(), tokens.begin() + 5);
    Rng rng(1);
    const int NEW = 12;
    std::vector<int> gen = gpt_generate(model, prompt, NEW, 0.0f, 0, rng, nullptr, nullptr);
    std::vector<int> seq = prompt, want;
    for (int i = 0; i < NEW; i++) {
        int n = (int)seq.size();
        gpt_forward(model, seq.data(), nullptr, 1, n);
        const float* last = model.a.logits + (size_t)(n - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++) if (last[v] > last[best]) best = v;
        want.push_back(best);
        seq.push_back(best);
    }
    size_t agree = 0;
    for (size_t i = 0; i < std::min(gen.size(), want.size()); i++) agree += gen[i] == want[i];
    bool same = gen == want;
    printf("  gpt_generate (greedy, KV cache) vs argmax of a full gpt_forward per new token: %zu of %zu tokens agree\n",
           agree, want.size());
    return ok && same ? 0 : 1;
}

// ----------------------------------------------------------------------------
// chapter 13: counting parameters and bytes

typedef size_t (*CountFn)(int, int, int, int);

// floats that gpt_allocate_activations takes for (B,T): the Activations struct, field by field
static size_t activation_floats(const GPTConfig& c, size_t B, size_t T) {
    size_t L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, BT = B * T;
    size_t per_layer = BT * (C + 3 * C + C + C + C + 4 * C + 4 * C + C)   // ln1 qkv atty res2 ln2 fch fch_gelu res3
                       + 4 * BT                                            // ln1, ln2 mean and rstd
                       + B * NH * T * T;                                   // att
    return BT * C + L * per_layer + BT * C + 2 * BT + BT * Vp + 2 * BT;   // encoded, layers, lnf (+stats), logits, lse, losses
}

static int chapter13(bool self_test, const std::string&) {
    // the formula against the code's own allocation on a small model
    GPTConfig small = make_config(2, 2, 16, 8, 40);
    GPT model;
    gpt_build(model, small, std::vector<float>(num_parameters(small), 0.0f));
    std::vector<int> tok(3 * 8, 1);
    gpt_forward(model, tok.data(), nullptr, 3, 8);
    bool act_ok = model.act_memory.size() == activation_floats(small, 3, 8);
    printf("chapter 13: activation formula vs gpt_allocate_activations (L=2, C=16, B=3, T=8): %zu vs %zu floats %s\n",
           activation_floats(small, 3, 8), model.act_memory.size(), act_ok ? "(equal)" : "(DIFFERENT)");
    if (!act_ok) return 1;

    // GPT-2 124M: the memory of each family of tensors
    GPTConfig g = make_config(12, 12, 768, 1024, 50257);
    size_t n = num_parameters(g);
    GPTConfig gp = g;
    gp.padded_vocab_size = 50304;   // the GPU pads V to a multiple of 128
    size_t np = num_parameters(gp);
    const double GiB = 1024.0 * 1024 * 1024;
    printf("GPT-2 124M: %zu parameters (%zu with the vocabulary padded to 50304)\n", n, np);
    printf("  %-44s %10s %10s\n", "family (GiB)", "CPU fp32", "GPU bf16");
    printf("  %-44s %9.2fG %9.2fG\n", "parameters (bf16 on the GPU)", 4.0 * n / GiB, 2.0 * np / GiB);
    printf("  %-44s %9s %9.2fG\n", "fp32 master weights (GPU only)", "-", 4.0 * np / GiB);
    printf("  %-44s %9.2fG %9.2fG\n", "gradients (fp32 on both)", 4.0 * n / GiB, 4.0 * np / GiB);
    printf("  %-44s %9.2fG %9.2fG\n", "AdamW m and v (fp32 everywhere)", 8.0 * n / GiB, 8.0 * np / GiB);
    for (int B : {1, 8}) {
        size_t a = activation_floats(g, B, 1024), ap = activation_floats(gp, B, 1024);
        printf("  %-44s %9.2fG %9.2fG\n", ("activations at B=" + std::to_string(B) + ", T=1024 (GPU: ~bf16)").c_str(),
               4.0 * a / GiB, 2.0 * ap / GiB);
    }
    GPTConfig g1 = g;
    size_t att = (size_t)g1.num_layers * 1 * g1.num_heads * 1024 * 1024, all = activation_floats(g1, 1, 1024);
    printf("  of the activations, the (L,B,NH,T,T) attention weights are %.0f%%; the logits (B,T,V) %.0f%%\n",
           100.0 * att / all, 100.0 * 1024 * 50257 / all);
    printf("chapter 13: your gpt2_num_parameters against num_parameters (the parameter table)\n");
    return run_check<CountFn>(self_test, "gpt2_num_parameters", exercise::gpt2_num_parameters,
                              {{planted::gpt2_num_parameters_matrices_only, "biases and LayerNorms forgotten", "per block"}},
                              [&](CountFn fn) {
        bool ok = true;
        int configs[][4] = {{12, 768, 50257, 1024}, {24, 1024, 50257, 1024}, {2, 16, 40, 8}, {1, 8, 2, 1}, {4, 128, 1024, 64}};
        for (auto& k : configs) {
            GPTConfig cfg = make_config(k[0], 1, k[1], k[3], k[2]);
            size_t want = num_parameters(cfg), got = fn(k[0], k[1], k[2], k[3]);
            printf("  L=%-2d C=%-4d V=%-5d maxT=%-4d: yours %12zu, param_table %12zu%s\n", k[0], k[1], k[2], k[3], got, want,
                   got == want ? "" : "  <- differs");
            if (ok && got != want) {
                long long d = (long long)want - (long long)got;
                long long L = k[0], C = k[1], end = -1;   // is the gap a whole number per channel, per block and at the end?
                for (long long e = 0; e <= 4 && end < 0; e++)
                    if ((d - e * C) % (L * C) == 0 && d - e * C > 0) end = e;
                if (end >= 0)
                    hint("short by %lld = L x %lld x C + %lld x C: per block you miss %lld numbers per channel, and %lld after "
                         "the last block (biases? LayerNorm weights?)", d, (d - end * C) / (L * C), end, (d - end * C) / (L * C), end);
                else
                    hint("off by %lld for L=%d, C=%d: write the count per tensor first, then add up", d, k[0], k[1]);
            }
            ok = ok && got == want;
        }
        return ok;
    });
}

// ----------------------------------------------------------------------------
// chapter 14: bf16

typedef uint16_t (*Bf16Fn)(float);

static float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bf16_to_fp32(uint16_t b) { return bits_to_float((uint32_t)b << 16); }

// the oracle, written from the definition rather than the bit trick: of the two bf16 numbers
// around x (x with its low 16 bits cut, and the next one away from zero), the nearer in
// exact double arithmetic; on a tie the one whose last kept bit is 0. NaN is left to the caller.
static uint16_t bf16_nearest(float x) {
    uint32_t u = float_to_bits(x);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);   // hi: one bf16 step further from zero
    if ((u & 0xffff) == 0) return lo;                             // exactly representable
    double below = std::fabs((double)bf16_to_fp32(lo)), above = (lo & 0x7fff) == 0x7f7f ? std::ldexp(1.0, 128)
                                                                                          : std::fabs((double)bf16_to_fp32(hi));
    double ax = std::fabs((double)x);                             // past the largest bf16: the next step is 2^128 (infinity)
    if (ax - below < above - ax) return lo;
    if (ax - below > above - ax) return hi;
    return (lo & 1) ? hi : lo;                                    // a tie: to even
}

static bool bf16_matches(Bf16Fn fn) {
    // every sign/exponent/top-mantissa pattern (all 65,536 bf16 values) with low halves that probe
    // exact values, just below/at/above the halfway point (ties), and the top of the interval
    const uint32_t lows[] = {0x0000, 0x0001, 0x1234, 0x7fff, 0x8000, 0x8001, 0xc000, 0xffff};
    size_t tested = 0, wrong = 0, toward_zero = 0, ties_wrong = 0, nan_wrong = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (uint32_t lo : lows) {
            uint32_t u = hi << 16 | lo;
            float x = bits_to_float(u);
            uint16_t got = fn(x), want = std::isnan(x) ? 0 : bf16_nearest(x);
            bool ok = std::isnan(x) ? std::isnan(bf16_to_fp32(got)) : got == want;   // any NaN is fine for NaN
            tested++;
            if (ok) continue;
            if (wrong++ < 5) {
                if (std::isnan(x)) printf("  fp32 0x%08" PRIx32 " (NaN): yours 0x%04x (%g), want a NaN\n", u, got, bf16_to_fp32(got));
                else printf("  fp32 0x%08" PRIx32 " (%.9g): yours 0x%04x, want 0x%04x\n", u, x, got, want);
            }
            if (std::isnan(x)) nan_wrong++;
            else if (got == (uint16_t)(u >> 16)) toward_zero++;
            else if (lo == 0x8000) ties_wrong++;
        }
    printf("  %zu fp32 values, %zu rounded differently\n", tested, wrong);
    if (wrong > nan_wrong && toward_zero == wrong - nan_wrong) hint("every difference is yours rounded toward zero (truncated): round to the nearest");
    else if (wrong > nan_wrong && ties_wrong == wrong - nan_wrong) hint("only exact ties differ: a tie goes to the neighbour whose last kept bit is 0 (even)");
    if (nan_wrong) hint("%zu NaN inputs differ: a NaN must stay a NaN (the rounding can carry it into infinity)", nan_wrong);
    return wrong == 0;
}

static float round_bf16(float x) { return std::isnan(x) ? x : bf16_to_fp32(bf16_nearest(x)); }
static void round_buffer(float* x, size_t n) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) x[i] = round_bf16(x[i]);
}

// gpt_forward's layer sequence with every activation rounded to bf16 where a bf16 GPU trainer
// stores it (arithmetic inside a layer stays fp32, as fp32 accumulation does on the GPU).
// With round_acts false it must give exactly gpt_forward's logits: checked below, so this
// copy cannot drift from the real one unnoticed.
static void forward_bf16_emulated(GPT& model, const int* inputs, const int* targets, int B, int T, bool round_acts) {
    gpt_forward(model, inputs, targets, B, T);   // allocates and validates; recomputed below
    const GPTConfig& c = model.config;
    int L = c.num_layers, NH = c.num_heads, C = c.channels, Vp = c.padded_vocab_size, N = B * T;
    Activations& a = model.a;
    ParamViews& p = model.p;
    auto r = [&](real* x, size_t n) { if (round_acts) round_buffer(x, n); };
    encoder_forward(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    r(a.encoded, (size_t)N * C);
    for (int l = 0; l < L; l++) {
        const BlockParams& w = p.h[l];
        real* residual = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * N * C;
        real *ln1 = a.ln1 + (size_t)l * N * C, *qkv = a.qkv + (size_t)l * N * 3 * C, *atty = a.atty + (size_t)l * N * C;
        real *att = a.att + (size_t)l * B * NH * T * T, *residual2 = a.residual2 + (size_t)l * N * C;
        real *ln2 = a.ln2 + (size_t)l * N * C, *fch = a.fch + (size_t)l * N * 4 * C, *fch_gelu = a.fch_gelu + (size_t)l * N * 4 * C;
        real* residual3 = a.residual3 + (size_t)l * N * C;
        layernorm_forward(ln1, a.ln1_mean + l * N, a.ln1_rstd + l * N, residual, w.ln1w, w.ln1b, N, C); r(ln1, (size_t)N * C);
        matmul_forward(qkv, ln1, w.qkvw, w.qkvb, N, C, 3 * C);                   r(qkv, (size_t)N * 3 * C);
        attention_forward(atty, att, qkv, B, T, C, NH);                           r(atty, (size_t)N * C);
        matmul_forward(residual2, atty, w.attprojw, w.attprojb, N, C, C);
        residual_forward(residual2, residual, residual2, (size_t)N * C);          r(residual2, (size_t)N * C);
        layernorm_forward(ln2, a.ln2_mean + l * N, a.ln2_rstd + l * N, residual2, w.ln2w, w.ln2b, N, C); r(ln2, (size_t)N * C);
        matmul_forward(fch, ln2, w.fcw, w.fcb, N, C, 4 * C);                      r(fch, (size_t)N * 4 * C);
        gelu_forward(fch_gelu, fch, (size_t)N * 4 * C);                           r(fch_gelu, (size_t)N * 4 * C);
        matmul_forward(residual3, fch_gelu, w.fcprojw, w.fcprojb, N, 4 * C, C);
        residual_forward(residual3, residual2, residual3, (size_t)N * C);         r(residual3, (size_t)N * C);
    }
    real* last = a.residual3 + (size_t)(L - 1) * N * C;
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, N, C); r(a.lnf, (size_t)N * C);
    gemm(a.logits, a.lnf, p.wte, N, Vp, C, C, 1, 1, C, false);                    r(a.logits, (size_t)N * Vp);
    crossentropy_forward(a.losses, a.lse, a.logits, targets, N, c.vocab_size, Vp);   // the loss in fp32, as the GPU
    double sum = 0;
    for (int i = 0; i < N; i++) sum += a.losses[i];
    model.mean_loss = (real)(sum / N);
}

// a length-K dot product of bf16 numbers summed with an fp32 and with a bf16 accumulator:
// their errors relative to the exact (double) sum
static void dot_product_errors(int K, Rng& rng, double& err32, double& err16) {
    double exact = 0;
    float acc32 = 0, acc16 = 0;
    for (int k = 0; k < K; k++) {
        float a = round_bf16(rng.normal()), b = round_bf16(rng.normal());
        exact += (double)a * b;
        acc32 += a * b;
        acc16 = round_bf16(acc16 + a * b);   // the running sum stored in bf16 after every add
    }
    err32 = std::fabs(acc32 - exact) / std::fabs(exact);
    err16 = std::fabs(acc16 - exact) / std::fabs(exact);
}

static int chapter14(bool self_test, const std::string& mode) {
    if (mode == "--accumulation-table") {   // for the figure: median errors over 101 dot products per K
        Rng rng(7);
        printf("K,fp32_accumulator,bf16_accumulator\n");
        for (int K = 16; K <= 16384; K *= 2) {
            std::vector<double> e32(101), e16(101);
            for (int r = 0; r < 101; r++) dot_product_errors(K, rng, e32[r], e16[r]);
            std::nth_element(e32.begin(), e32.begin() + 50, e32.end());
            std::nth_element(e16.begin(), e16.begin() + 50, e16.end());
            printf("%d,%.4e,%.4e\n", K, e32[50], e16[50]);
        }
        return 0;
    }
    printf("chapter 14: your fp32_to_bf16 against round-to-nearest-even, bit for bit\n");
    int status = run_check<Bf16Fn>(self_test, "fp32_to_bf16", exercise::fp32_to_bf16,
                                   {{planted::fp32_to_bf16_truncates, "truncation instead of rounding", "toward zero"},
                                    {planted::fp32_to_bf16_ties_away, "ties rounded away from zero", "ties"},
                                    {planted::fp32_to_bf16_nan_unaware, "NaN carried into infinity", "NaN"}},
                                   bf16_matches);

    // how far a bf16 forward drifts from fp32: a 4-layer model, B=4, T=64
    GPTConfig c = make_config(4, 4, 128, 64, 1024);
    int B = 4, T = 64, N = B * T, V = c.vocab_size;
    std::vector<float> params = random_params(c, 21, 0.0f);
    std::vector<int> inputs = random_tokens(N, V, 22), targets = random_tokens(N, V, 23);
    GPT fp32, bf16;
    gpt_build(fp32, c, params);
    gpt_forward(fp32, inputs.data(), targets.data(), B, T);
    std::vector<float> logits32(fp32.a.logits, fp32.a.logits + (size_t)N * V);
    float loss32 = fp32.mean_loss;
    forward_bf16_emulated(fp32, inputs.data(), targets.data(), B, T, false);
    bool same = memcmp(logits32.data(), fp32.a.logits, logits32.size() * sizeof(float)) == 0;
    printf("the emulated forward without rounding reproduces gpt_forward bit for bit: %s\n", same ? "yes" : "NO");

    std::vector<float> rounded = params;
    for (float& x : rounded) x = round_bf16(x);
    gpt_build(bf16, c, rounded);
    forward_bf16_emulated(bf16, inputs.data(), targets.data(), B, T, false);
    double e_w = rel_err(bf16.a.logits, logits32.data(), logits32.size());
    float loss_w = bf16.mean_loss;
    forward_bf16_emulated(bf16, inputs.data(), targets.data(), B, T, true);
    double e_all = rel_err(bf16.a.logits, logits32.data(), logits32.size());
    float loss_all = bf16.mean_loss;
    double el_w = std::fabs(loss_w - loss32) / loss32, el_all = std::fabs(loss_all - loss32) / loss32;
    printf("bf16 vs fp32, GPT-2 init, L=4 C=128 V=1024, B=%d T=%d (tolerance for a bf16 GPU build: 1e-2):\n", B, T);
    printf("  weights in bf16:                  logits %.2e, loss %.2e (fp32 loss %.6f)\n", e_w, el_w, loss32);
    printf("  weights and activations in bf16:  logits %.2e, loss %.2e\n", e_all, el_all);

    // gradients with bf16 weights (the backward of the rounded model, in fp32)
    gpt_zero_grad(fp32); gpt_forward(fp32, inputs.data(), targets.data(), B, T); gpt_backward(fp32, 1.0f);
    gpt_zero_grad(bf16); gpt_forward(bf16, inputs.data(), targets.data(), B, T); gpt_backward(bf16, 1.0f);
    double worst = 0;
    std::string worst_name;
    for (const ParamTensor& t : param_table(c)) {
        double e = rel_err(bf16.grads.data() + t.offset, fp32.grads.data() + t.offset, t.numel);
        if (e > worst) { worst = e; worst_name = t.name; }
    }
    printf("  gradients with bf16 weights:      worst tensor %.2e (%s; tolerance 5e-2)\n", worst, worst_name.c_str());

    // why accumulators stay fp32: a dot product of length K summed in bf16 vs in fp32
    Rng rng(31);
    for (int K : {64, 768, 3072}) {
        double e32, e16;
        dot_product_errors(K, rng, e32, e16);
        printf("  dot product, K=%4d: error of an fp32 accumulator %.1e, of a bf16 accumulator %.1e\n", K, e32, e16);
    }
    bool drift_ok = same && e_all > 0 && e_all <= 1e-2 && el_all <= 1e-2 && worst <= 5e-2;
    printf("drift within the bf16 tolerances: %s\n", drift_ok ? "yes" : "NO");
    return status == 0 && drift_ok ? 0 : 1;
}

// ----------------------------------------------------------------------------
// chapter 15: attention with the online softmax over tiles of keys

typedef void (*AttentionFn)(float*, const float*, int, int, int, int, int);

static bool attention_matches(AttentionFn fn) {
    int B = 2, T = 37, C = 32, NH = 4;
    std::vector<float> qkv((size_t)B * T * 3 * C), want((size_t)B * T * C), att((size_t)B * NH * T * T), got(want.size());
    Rng rng(41);
    for (float& x : qkv) x = 2.0f * rng.normal();   // large scores, so the running max really moves
    attention_forward(want.data(), att.data(), qkv.data(), B, T, C, NH);
    bool ok = true, small_tiles_wrong = false;
    for (int tile : {1, 4, 16, 64}) {
        std::fill(got.begin(), got.end(), NAN);
        fn(got.data(), qkv.data(), B, T, C, NH, tile);
        double e = all_finite(got.data(), got.size()) ? rel_err(got.data(), want.data(), want.size()) : INFINITY;
        printf("  tile %2d: relative error against attention_forward %.2e (tolerance 1e-5)\n", tile, e);
        if (e > 1e-5 && tile < T) small_tiles_wrong = true;
        if (e <= 1e-5 && tile >= T && small_tiles_wrong)
            hint("right when one tile holds every key, wrong with smaller tiles: when the running max grows, what "
                 "happens to the l and acc summed under the old max?");
        ok = ok && e <= 1e-5;
    }
    if (!ok || !tutorial_heap_mark) return ok;
    // the bold rule of the chapter: it tiles. One head of a long sequence; the scratch memory
    // allowed does not grow with T: a tile of scores, a few HS-vectors, and some slack
    int T2 = 2048, C2 = 16, tile = 16;
    std::vector<float> q2((size_t)T2 * 3 * C2), o2((size_t)T2 * C2);
    for (float& x : q2) x = rng.normal();
    size_t base = tutorial_heap_mark();
    fn(o2.data(), q2.data(), 1, T2, C2, 1, tile);
    size_t used = tutorial_heap_peak() - base, allowed = 4 * (2 * tile + 8 * C2) + 1024;
    printf("  T=%d, tile %d: %zu bytes of heap scratch at the peak (allowed %zu, independent of T)\n", T2, tile, used, allowed);
    if (used > allowed) {
        hint("the scratch memory grows with T (a row of %d scores is %d bytes): keep only one tile of scores, the running "
             "max, sum and output", T2, 4 * T2);
        return false;
    }
    return ok;
}

static int chapter15(bool self_test, const std::string& mode) {
    if (mode == "--memory-table") {   // for the figure: GPT-2 124M activations at B=1 against T, fp32
        GPTConfig g = make_config(12, 12, 768, 1024, 50257);
        printf("T,attention_weights_bytes,other_activation_bytes,online_softmax_stats_bytes\n");
        for (int T = 128; T <= 16384; T *= 2) {
            g.max_seq_len = T;
            double att = 4.0 * g.num_layers * g.num_heads * T * T, all = 4.0 * activation_floats(g, 1, T);
            printf("%d,%.6g,%.6g,%.6g\n", T, att, all - att, 4.0 * 2 * g.num_layers * g.num_heads * T);
        }
        return 0;
    }
    printf("chapter 15: your attention_forward_tiled against attention_forward (B=2, T=37, C=32, NH=4)\n");
    int status = run_check<AttentionFn>(self_test, "attention_forward_tiled", exercise::attention_forward_tiled,
                                        {{planted::attention_forward_tiled_no_rescale, "no rescaling when the running max changes",
                                          "running max grows"},
                                         {planted::attention_forward_untiled, "a whole row of T scores, no tiling", "grows with T"}},
                                        attention_matches);
    size_t L = 12, NH = 12, T = 1024, HS = 64;
    printf("memory, GPT-2 124M at T=1024 per sequence: the attention weights (L,NH,T,T) fp32 %.0f MiB; "
           "the online softmax keeps 2 numbers per row (L,NH,T) %.2f MiB plus one tile of K and V (2 x tile x %zu)\n",
           4.0 * L * NH * T * T / 1048576, 4.0 * 2 * L * NH * T / 1048576, HS);
    return status;
}

// ----------------------------------------------------------------------------
// chapter 17: FLOPs, the GEMM's speed, a roofline of our layers

// FLOPs per token of one training step (forward + backward), counted from the loops of
// gpt_forward and gpt_backward: every matmul 2*M*N*K forward and twice that backward; the
// causal attention touches t+1 keys at position t (scores and att @ v), backward twice that.
static double exact_matmul_flops_per_token(const GPTConfig& c, int T) {
    double C = c.channels, L = c.num_layers, Vp = c.padded_vocab_size;
    double layer = 2 * (C * 3 * C + C * C + C * 4 * C + 4 * C * C);   // qkv, attproj, fc, fcproj
    double attention = 2 * 2 * C * (T + 1) / 2.0;                     // q.k and att.v, mean over t of (t+1) keys
    double head = 2 * C * Vp;                                         // logits = lnf @ wte.T
    return 3 * (L * (layer + attention) + head);
}

static double time_ms(const std::function<void()>& f, int reps) {
    f();   // warm up
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        f();
        best = std::min(best, now_ms() - t0);
    }
    return best;
}

// peak FLOP/s of this machine's vector FMA units, measured: 8 independent chains of fused
// multiply-adds on vector registers (enough to cover the FMA latency), no memory traffic;
// the best of 20 short runs, so that another process taking the core now and then does not count
static double measured_peak_gflops() {
    const long ITERS = 4000000;
    double best = 0;
    for (int rep = 0; rep < 20; rep++) {
        double t0 = now_ms();
        int threads = 1;
        #pragma omp parallel
        {
#ifdef _OPENMP
            #pragma omp single
            threads = omp_get_num_threads();
#endif
            vec x, y, a0, a1, a2, a3, a4, a5, a6, a7;
            for (int j = 0; j < VL; j++) { x[j] = 0.999999f; y[j] = 1e-7f * j; }
            a0 = y; a1 = y + 1; a2 = y + 2; a3 = y + 3; a4 = y + 4; a5 = y + 5; a6 = y + 6; a7 = y + 7;
            for (long i = 0; i < ITERS; i++) {
                a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y;
                a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y;
            }
            vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
            if (s[0] == 12345.f) printf(" ");   // keeps the loop alive
        }
        double sec = (now_ms() - t0) / 1000;
        best = std::max(best, 2.0 * 8 * VL * (double)ITERS * threads / sec / 1e9);
    }
    return best;
}

// memory bandwidth, measured: out = a + b over arrays far larger than the caches
static double measured_bandwidth_gbs() {
    size_t n = 16 << 20;
    std::vector<float> a(n, 1.0f), b(n, 2.0f), out(n);
    double ms = time_ms([&] { residual_forward(out.data(), a.data(), b.data(), n); }, 5);
    return 12.0 * n / (ms / 1000) / 1e9;
}

static int chapter17(bool, const std::string& mode) {
    if (mode == "--roofline") {   // for the figure: each layer's FLOPs, bytes and measured time
        int B = 4, T = 256, C = 768, NH = 12, V = 8192;
        size_t N = (size_t)B * T;
        Rng rng(1);
        auto randv = [&](size_t n) { std::vector<float> v(n); for (float& x : v) x = 0.1f * rng.normal(); return v; };
        auto x = randv(N * C), w = randv((size_t)C * 4 * C), bias = randv(4 * C), h = randv(N * 4 * C);
        std::vector<float> out(N * 4 * C, 0.f);
        auto qkv = randv(N * 3 * C), att = randv((size_t)B * NH * T * T), stats = randv(2 * N), wte = randv((size_t)V * C);
        auto logits = randv(N * V);
        std::vector<int> targets = random_tokens((int)N, V, 3);
        printf("peak_gflops,%.1f\nbandwidth_gbs,%.1f\n", measured_peak_gflops(), measured_bandwidth_gbs());
        printf("layer,flops,bytes,ms\n");
        auto row = [&](const char* name, double flops, double bytes, const std::function<void()>& f) {
            printf("%s,%.4g,%.4g,%.4f\n", name, flops, bytes, time_ms(f, 5));
            fflush(stdout);
        };
        row("matmul qkv (N,C)x(C,3C)", 2.0 * N * C * 3 * C, 4.0 * (N * C + 3.0 * C * C + N * 3 * C),
            [&] { matmul_forward(out.data(), x.data(), w.data(), bias.data(), N, C, 3 * C); });
        row("matmul fc (N,C)x(C,4C)", 2.0 * N * C * 4 * C, 4.0 * (N * C + 4.0 * C * C + N * 4 * C),
            [&] { matmul_forward(out.data(), x.data(), w.data(), bias.data(), N, C, 4 * C); });
        row("matmul attproj (N,C)x(C,C)", 2.0 * N * C * C, 4.0 * (2.0 * N * C + C * C),
            [&] { matmul_forward(out.data(), x.data(), w.data(), bias.data(), N, C, C); });
        row("lm head (N,C)x(C,V)", 2.0 * N * C * V, 4.0 * (N * C + (double)V * C + N * V),
            [&] { gemm(logits.data(), x.data(), wte.data(), N, V, C, C, 1, 1, C, false); });
        row("attention", 4.0 * B * C * T * (T + 1) / 2.0 + 5.0 * B * NH * T * (T + 1) / 2.0,
            4.0 * (N * 3 * C + (double)B * NH * T * T + N * C),
            [&] { attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH); });
        row("layernorm", 8.0 * N * C, 4.0 * (2.0 * N * C + 2 * N),
            [&] { layernorm_forward(out.data(), stats.data(), stats.data() + N, x.data(), w.data(), bias.data(), N, C); });
        row("gelu", 12.0 * N * 4 * C, 4.0 * 2 * N * 4 * C, [&] { gelu_forward(out.data(), h.data(), N * 4 * C); });
        row("residual", 1.0 * N * C, 4.0 * 3 * N * C, [&] { residual_forward(out.data(), x.data(), x.data(), N * C); });
        row("crossentropy", 3.0 * N * V, 4.0 * N * V,
            [&] { crossentropy_forward(stats.data(), stats.data() + N, logits.data(), targets.data(), N, V, V); });
        return 0;
    }
    GPTConfig g = make_config(12, 12, 768, 1024, 50257);
    int T = 1024;
    double n = num_parameters(g);
    double estimate = 6 * n + 6.0 * g.num_layers * g.channels * T;
    double exact = exact_matmul_flops_per_token(g, T);
    double diff = std::fabs(estimate - exact) / exact;
    printf("chapter 17: FLOPs per token of a training step, GPT-2 124M at T=1024\n");
    printf("  6N + 6LCT = 6 x %.0f + 6 x %d x %d x %d = %.4g\n", n, g.num_layers, g.channels, T, estimate);
    printf("  counted matmul and attention FLOPs of gpt_forward + gpt_backward = %.4g (the estimate is off by %.2f%%)\n",
           exact, 100 * diff);
    printf("  attention's share: %.1f%% at T=1024\n", 100 * 6.0 * g.num_layers * g.channels * T / estimate);

    // the CPU GEMM at the shape of the qkv matmul of a B=4, T=256 GPT-2 layer (printed, not asserted)
    int M = 1024, K = 768, Nn = 2304;
    std::vector<float> A((size_t)M * K, 0.5f), Bm((size_t)K * Nn, 0.25f), Cm((size_t)M * Nn);
    double ms = time_ms([&] { gemm(Cm.data(), A.data(), Bm.data(), M, Nn, K, K, 1, Nn, 1, false); }, 5);
    double gemm_gflops = 2.0 * M * Nn * K / (ms / 1000) / 1e9;
    double peak = measured_peak_gflops();
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("measured on this machine, %d thread (informative, not checked):\n", threads);
    printf("  gemm %dx%dx%d: %.2f ms, %.1f GFLOP/s\n", M, Nn, K, ms, gemm_gflops);
    printf("  peak from a register-only FMA loop: %.1f GFLOP/s, so the GEMM reaches %.0f%% of it\n", peak,
           100 * gemm_gflops / peak);
    bool ok = diff < 0.01 && Cm[0] == 0.5f * 0.25f * K;
    printf("the 6N + 6LCT estimate within 1%% of the counted FLOPs: %s\n", ok ? "yes" : "NO");
    return ok ? 0 : 1;
}

// ----------------------------------------------------------------------------
// main

extern "C" int harness_main(int argc, char** argv) {
    std::string chapter = argc > 1 ? argv[1] : "", mode;
    bool self_test = false;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--self-test") self_test = true;
        else if (a == "--sweep" || a == "--lr-table" || a == "--roofline" || a == "--memory-table" ||
                 a == "--accumulation-table") mode = a;
        else { fprintf(stderr, "error: unknown argument '%s'\n", a.c_str()); return 2; }
    }
#ifdef _OPENMP
    // one thread: the checks use small models, where threads only add overhead (and a shared
    // machine makes OpenMP's barriers slow), and chapter 17's speeds are per core, which is
    // steadier to measure and to reason about (one core's FMA units, its share of memory)
    omp_set_num_threads(1);
#endif
    try {
        if (chapter == "chapter10") return chapter10(self_test, mode);
        if (chapter == "chapter11") return chapter11(self_test, mode);
        if (chapter == "chapter12") return chapter12(self_test, mode);
        if (chapter == "chapter13") return chapter13(self_test, mode);
        if (chapter == "chapter14") return chapter14(self_test, mode);
        if (chapter == "chapter15") return chapter15(self_test, mode);
        if (chapter == "chapter17") return chapter17(self_test, mode);
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    fprintf(stderr, "usage: %s chapter10|chapter11|chapter12|chapter13|chapter14|chapter15|chapter17 "
                    "[--self-test] [--sweep|--lr-table|--roofline|--memory-table|--accumulation-table]\n", argv[0]);
    return 2;
}
