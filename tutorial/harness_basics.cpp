// tutorial/harness_basics.cpp: the checks of tutorial chapters 1-9, one subcommand each.
//
//   build/tutorial/harness_basics chapterNN               checks the learner's exercise
//   build/tutorial/harness_basics chapterNN --self-test   checks the checker: the reference
//                                                          must pass and a deliberately wrong
//                                                          version must fail
//
// What it is: a test bench. It includes the CPU trainer (in fp32, as it ships) and compares
// each exercise in tutorial/exercises/ (separate files with plain float*/int signatures, in
// namespace exercise) with the trainer's own function of the same name, tensor by tensor.
// What it is not: a second implementation of the model. The only code written here besides
// the comparisons is what an exercise needs to be checked (a naive BPE trainer that calls the
// learner's merge step) and the deliberately wrong versions, each marked as such.
//
// Conventions: every subcommand prints what it compared and the relative error
// ||got - want|| / ||want||, and exits 0 when the check passes, 1 when it fails. The chapter's
// check.sh turns that into its PASS or FAIL line.
#define TRAIN_GPT_NO_MAIN
#include "train_gpt_cpu.cpp"

#include <functional>
#include <map>
#include <unistd.h>

// ----------------------------------------------------------------------------
// the learner's functions (tutorial/exercises/0N_*.cpp)

namespace exercise {
int bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id);
size_t batch_start(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens);
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC);
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
void gelu_backward(float* dinp, const float* inp, const float* dout, int n);
void block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH);
void crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss, int N, int V);
}  // namespace exercise

// ----------------------------------------------------------------------------
// comparing

static std::vector<float> random_vector(size_t n, Rng& rng, float scale = 1.0f, float shift = 0.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = shift + scale * rng.normal();
    return v;
}

// ||got - want|| / ||want||, printed with the name; false (and the first mismatches) if above tol
static bool compare(const char* name, const float* got, const float* want, size_t n, double tol = 1e-5) {
    double num = 0, den = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
        finite = finite && std::isfinite(got[i]);
    }
    double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    bool ok = finite && err <= tol;
    printf("  %-10s relative error %.2e (tolerance %.0e)%s\n", name, err, tol, ok ? "" : "  <-- too large");
    if (!ok) {                                          // the four elements that differ most
        std::vector<size_t> idx(n);
        for (size_t i = 0; i < n; i++) idx[i] = i;
        auto diff = [&](size_t i) { return std::isfinite(got[i]) ? std::fabs((double)got[i] - want[i]) : INFINITY; };
        size_t shown = std::min<size_t>(4, n);
        std::partial_sort(idx.begin(), idx.begin() + shown, idx.end(), [&](size_t a, size_t b) { return diff(a) > diff(b); });
        for (size_t j = 0; j < shown; j++) printf("    [%zu] got %.6f, want %.6f\n", idx[j], got[idx[j]], want[idx[j]]);
    }
    return ok;
}

// runs a checker on the learner's version, or (self-test) on the reference and on a wrong one
template <class Fn>
static int run_check(bool self_test, const std::function<bool(Fn)>& check, Fn learner, Fn reference, Fn wrong,
                     const char* wrong_what) {
    if (!self_test) {
        printf("checking your tutorial/exercises version\n");
        return check(learner) ? 0 : 1;
    }
    printf("self-test 1/2: the reference implementation must pass\n");
    bool ref_ok = check(reference);
    printf("self-test 2/2: a wrong implementation (%s) must fail\n", wrong_what);
    bool wrong_ok = check(wrong);
    if (!ref_ok) printf("the checker rejects the reference implementation\n");
    if (wrong_ok) printf("the checker accepts a wrong implementation\n");
    return ref_ok && !wrong_ok ? 0 : 1;
}

static std::string need_file(const std::string& path) {
    if (!fs::exists(path)) throw std::runtime_error(path + " is missing: run `make data` first");
    return path;
}

// ----------------------------------------------------------------------------
// chapter 1: text to tokens. The learner writes one BPE merge; a naive trainer built on it
// must learn exactly the merges of tokenizer.h's bpe_train on the same text.

typedef int (*MergeFn)(int*, const int*, int, int, int, int);

static int reference_bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && ids[i] == a && ids[i + 1] == b) { out[m++] = new_id; i++; }
        else out[m++] = ids[i];
    }
    return m;
}

// WRONG on purpose: merges only the first occurrence of the pair
static int wrong_bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id) {
    int m = 0;
    bool done = false;
    for (int i = 0; i < n; i++) {
        if (!done && i + 1 < n && ids[i] == a && ids[i + 1] == b) { out[m++] = new_id; i++; done = true; }
        else out[m++] = ids[i];
    }
    return m;
}

// BPE training the slow, obvious way: the whole text as one sequence of ids (pieces separated
// by -1 so that no pair spans two pieces), count every adjacent pair, merge the most frequent
// (ties: the smallest (a, b)), repeat. bpe_train does the same, incrementally.
static std::vector<std::pair<uint32_t, uint32_t>> naive_bpe_train(const std::string& text, int merges, MergeFn merge,
                                                                  size_t* final_len) {
    std::vector<std::string> toks;
    std::map<std::string, int> id_of;
    int byte_id[256];
    for (int r = 0; r < 256; r++) {
        uint8_t b = byte_alphabet().byte_at_rank[r];
        toks.push_back(std::string(1, char(b)));
        id_of[toks.back()] = r;
        byte_id[b] = r;
    }
    std::vector<int> ids, next;
    for (size_t pos = 0; pos < text.size();) {                    // GPT-2's pre-split
        size_t end = gpt2_piece_end(text, pos);
        for (size_t i = pos; i < end; i++) ids.push_back(byte_id[(unsigned char)text[i]]);
        ids.push_back(-1);
        pos = end;
    }
    std::vector<std::pair<uint32_t, uint32_t>> learned;
    while ((int)learned.size() < merges) {
        std::map<std::pair<int, int>, long> count;                 // ordered: ties go to the smallest pair
        for (size_t i = 0; i + 1 < ids.size(); i++)
            if (ids[i] >= 0 && ids[i + 1] >= 0) count[{ids[i], ids[i + 1]}]++;
        if (count.empty()) break;
        auto best = count.begin();
        for (auto it = count.begin(); it != count.end(); ++it) if (it->second > best->second) best = it;
        int a = best->first.first, b = best->first.second;
        std::string bytes = toks[a] + toks[b];
        int new_id;
        if (id_of.count(bytes)) new_id = id_of[bytes];             // already a token (another split)
        else {
            new_id = (int)toks.size();
            toks.push_back(bytes);
            id_of[bytes] = new_id;
            learned.push_back({(uint32_t)a, (uint32_t)b});
        }
        next.resize(ids.size());
        int m = merge(next.data(), ids.data(), (int)ids.size(), a, b, new_id);
        if (m < 0 || m >= (int)ids.size()) {   // the pair occurs, so the sequence must get shorter
            printf("  bpe_merge returned length %d for %zu ids holding the pair (%d, %d) %ld times\n", m, ids.size(), a, b,
                   best->second);
            break;
        }
        next.resize(m);
        ids.swap(next);
    }
    *final_len = 0;
    for (int id : ids) *final_len += id >= 0;
    return learned;
}

static bool check_chapter01(MergeFn merge) {
    bool ok = true;
    struct Case { std::vector<int> in; int a, b, id; std::vector<int> want; };
    std::vector<Case> cases = {{{1, 2, 1, 2, 3}, 1, 2, 9, {9, 9, 3}},
                               {{5, 5, 5}, 5, 5, 7, {7, 5}},          // left to right, no overlaps
                               {{5, 5, 5, 5}, 5, 5, 7, {7, 7}},
                               {{4, 1, 2}, 2, 1, 9, {4, 1, 2}},       // order matters
                               {{1}, 1, 2, 9, {1}}};
    for (const Case& c : cases) {
        std::vector<int> out(c.in.size() + 1, -99);
        int m = merge(out.data(), c.in.data(), (int)c.in.size(), c.a, c.b, c.id);
        bool same = m == (int)c.want.size() && std::equal(c.want.begin(), c.want.end(), out.begin());
        if (!same) {
            printf("  merging (%d, %d) -> %d in {", c.a, c.b, c.id);
            for (int x : c.in) printf(" %d", x);
            printf(" } should give {");
            for (int x : c.want) printf(" %d", x);
            printf(" }, got {");
            for (int i = 0; i < std::max(0, std::min(m, (int)out.size())); i++) printf(" %d", out[i]);
            printf(" } (length %d)\n", m);
            ok = false;
        }
    }
    printf("  5 small merge cases: %s\n", ok ? "all right" : "some wrong");
    std::string text = read_text_file(need_file("data/tinyshakespeare/input.txt")).substr(0, 20000);
    const int merges = 100;
    size_t len = 0;
    std::vector<std::pair<uint32_t, uint32_t>> mine = naive_bpe_train(text, merges, merge, &len);
    Tokenizer ref = bpe_train(text, 256 + merges + 1);
    size_t same = 0;
    while (same < mine.size() && same < ref.merges.size() && mine[same] == ref.merges[same]) same++;
    printf("  naive BPE on the first %zu bytes: %zu of %d merges equal bpe_train's; %zu bytes -> %zu tokens\n",
           text.size(), same, merges, text.size(), len);
    if (same < ref.merges.size()) {
        const auto& r = ref.merges[same];
        printf("    first difference at merge %zu: bpe_train merges \"%s\" + \"%s\"", same,
               bytes_to_alphabet(ref.tokens[r.first]).c_str(), bytes_to_alphabet(ref.tokens[r.second]).c_str());
        if (same < mine.size()) printf(", yours (%u, %u)\n", mine[same].first, mine[same].second);
        else printf(", yours stopped\n");
        ok = false;
    }
    size_t ref_len = ref.encode(text).size();
    printf("  bpe_train's tokenizer encodes the same text to %zu tokens\n", ref_len);
    if (ok && ref_len != len) { printf("  but the naive trainer's text has %zu\n", len); ok = false; }
    return ok;
}

// tokens per byte of tinyshakespeare with GPT-2's and the 1k vocabulary (the chapter's numbers)
static void report_chapter01() {
    std::string text = read_text_file(need_file("data/tinyshakespeare/input.txt"));
    for (const char* dir : {"data/gpt2", "data/tinyshakespeare_bpe1k"}) {
        need_file(std::string(dir) + "/encoder.json");
        Tokenizer tok = Tokenizer::load(dir);
        std::vector<uint32_t> ids = tok.encode_parallel(text, 2);
        bool round_trip = tok.decode(ids) == text;
        printf("  %-27s vocabulary %6zu: %zu bytes -> %zu tokens, %.3f tokens per byte, decode %s\n", dir,
               tok.vocab_size(), text.size(), ids.size(), (double)ids.size() / text.size(),
               round_trip ? "gives the text back" : "DIFFERS");
    }
}

// ----------------------------------------------------------------------------
// chapter 2: tokens to batches. The learner computes where micro-batch k of step s on rank r
// starts; the DataLoader, reading a shard whose token i is the number i, says where it does.

typedef size_t (*StartFn)(long, int, int, int, int, int, int, size_t);

static size_t reference_batch_start(long s, int k, int r, int K, int N, int B, int T, size_t shard_tokens) {
    size_t step_tokens = (size_t)K * N * B * T;
    size_t windows = (shard_tokens - 1) / step_tokens;             // whole steps that fit (+1 target)
    return (size_t)(s % windows) * step_tokens + ((size_t)k * N + r) * B * T;
}

// WRONG on purpose: lays out a step rank-major (all K micro-batches of rank 0 first)
static size_t wrong_batch_start(long s, int k, int r, int K, int N, int B, int T, size_t shard_tokens) {
    size_t step_tokens = (size_t)K * N * B * T;
    size_t windows = (shard_tokens - 1) / step_tokens;
    return (size_t)(s % windows) * step_tokens + ((size_t)r * K + k) * B * T;
}

static bool check_chapter02(StartFn start) {
    const size_t ntok = 3001, vocab = 1 << 20;                    // uint32 tokens: token i is i
    std::vector<uint32_t> tokens(ntok);
    for (size_t i = 0; i < ntok; i++) tokens[i] = (uint32_t)i;
    std::string path = (fs::temp_directory_path() / ("tutorial_ch02_" + std::to_string(getpid()) + ".bin")).string();
    write_shard(path, tokens.data(), ntok, vocab);
    struct Layout { int K, N, B, T; };
    bool ok = true;
    int checked = 0;
    for (Layout l : {Layout{1, 1, 4, 8}, Layout{2, 1, 3, 5}, Layout{1, 4, 2, 16}, Layout{3, 2, 2, 7}, Layout{4, 3, 1, 50}}) {
        for (int r = 0; r < l.N && ok; r++) {
            DataLoader loader(path, l.B, l.T, r, l.N, l.K, vocab, false, 0);
            std::vector<int> in((size_t)l.B * l.T), tg((size_t)l.B * l.T);
            long steps = 2 * (long)loader.steps_per_epoch() + 1;  // run past the end of the shard twice
            for (long s = 0; s < steps && ok; s++)
                for (int k = 0; k < l.K && ok; k++) {
                    loader.next_batch(in.data(), tg.data());
                    size_t want = (size_t)in[0], got = start(s, k, r, l.K, l.N, l.B, l.T, ntok);
                    checked++;
                    if (got != want) {
                        printf("  K=%d N=%d B=%d T=%d: step %ld, micro-batch %d, rank %d starts at token %zu, "
                               "yours says %zu\n", l.K, l.N, l.B, l.T, s, k, r, want, got);
                        ok = false;
                    }
                    if (tg[0] != in[0] + 1 || tg[l.B * l.T - 1] != in[l.B * l.T - 1] + 1) {
                        printf("  the DataLoader's targets are not the inputs shifted by one\n");
                        ok = false;
                    }
                }
        }
    }
    fs::remove(path);
    printf("  %d micro-batch positions compared with the DataLoader (5 layouts of K, N, B, T; every rank; "
           "two passes over a %zu-token shard): %s\n", checked, ntok, ok ? "all equal" : "a difference");
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 3: embeddings. Forward and backward against encoder_forward / encoder_backward.

struct EncoderFns {
    void (*fwd)(float*, const int*, const float*, const float*, int, int, int);
    void (*bwd)(float*, float*, const float*, const int*, int, int, int);
};

// WRONG on purpose: writes the embedding gradients instead of adding them, so a token that
// appears twice keeps only its last gradient
static void wrong_encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                dwte[inp[b * T + t] * C + c] = dout[(b * T + t) * C + c];
                dwpe[t * C + c] += dout[(b * T + t) * C + c];
            }
}

static bool check_chapter03(EncoderFns f) {
    const int B = 3, T = 6, C = 16, V = 11;
    Rng rng(3);
    std::vector<int> inp(B * T);
    for (int& x : inp) x = rng.next_u32() % V;
    inp[1] = inp[0]; inp[T] = inp[0];                                  // repeated tokens
    std::vector<float> wte = random_vector((size_t)V * C, rng), wpe = random_vector((size_t)T * C, rng);
    std::vector<float> out((size_t)B * T * C), want((size_t)B * T * C);
    encoder_forward(want.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    f.fwd(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    bool ok = compare("out", out.data(), want.data(), out.size());
    // the parameter gradients start non-zero: the backward must add (+=) to them
    std::vector<float> dout = random_vector((size_t)B * T * C, rng);
    std::vector<float> dwte = random_vector((size_t)V * C, rng), dwpe = random_vector((size_t)T * C, rng);
    std::vector<float> want_dwte = dwte, want_dwpe = dwpe;
    encoder_backward(want_dwte.data(), want_dwpe.data(), dout.data(), inp.data(), B, T, C);
    f.bwd(dwte.data(), dwpe.data(), dout.data(), inp.data(), B, T, C);
    ok = compare("dwte", dwte.data(), want_dwte.data(), dwte.size()) && ok;
    ok = compare("dwpe", dwpe.data(), want_dwpe.data(), dwpe.size()) && ok;
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 4: LayerNorm backward against layernorm_backward

typedef void (*LayerNormBwd)(float*, float*, float*, const float*, const float*, const float*, const float*,
                             const float*, int, int);

// WRONG on purpose: forgets to subtract mean(g), the term that comes from the mean's dependence on x
static void wrong_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                     const float* weight, const float* mean, const float* rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float gx_mean = 0;
        for (int c = 0; c < C; c++) gx_mean += d[c] * weight[c] * (x[c] - mean[n]) * rstd[n];
        gx_mean /= C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mean[n]) * rstd[n];
            dinp[n * C + c] += rstd[n] * (d[c] * weight[c] - xhat * gx_mean);
            dweight[c] += d[c] * xhat;
            dbias[c] += d[c];
        }
    }
}

static bool check_chapter04(LayerNormBwd bwd) {
    const int N = 7, C = 32;
    Rng rng(4);
    std::vector<float> inp = random_vector((size_t)N * C, rng, 2.0f, 0.5f);   // mean 0.5, std 2: not normalised yet
    std::vector<float> weight = random_vector(C, rng, 0.3f, 1.0f), bias = random_vector(C, rng, 0.3f);
    std::vector<float> out((size_t)N * C), mean(N), rstd(N);
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C);
    std::vector<float> dout = random_vector((size_t)N * C, rng);
    // all three gradients start non-zero: dinp is added into the residual stream's gradient
    std::vector<float> dinp = random_vector((size_t)N * C, rng), dw = random_vector(C, rng), db = random_vector(C, rng);
    std::vector<float> want_dinp = dinp, want_dw = dw, want_db = db;
    layernorm_backward(want_dinp.data(), want_dw.data(), want_db.data(), dout.data(), inp.data(), weight.data(),
                       mean.data(), rstd.data(), N, C);
    bwd(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), mean.data(), rstd.data(), N, C);
    bool ok = compare("dinp", dinp.data(), want_dinp.data(), dinp.size());
    ok = compare("dweight", dw.data(), want_dw.data(), C) && ok;
    ok = compare("dbias", db.data(), want_db.data(), C) && ok;
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 5: matmul backward against matmul_backward, and what the blocked gemm buys

typedef void (*MatmulBwd)(float*, float*, float*, const float*, const float*, const float*, int, int, int);

// WRONG on purpose: forgets the bias gradient
static void wrong_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int N, int C, int OC) {
    matmul_backward(dinp, dweight, nullptr, dout, inp, weight, N, C, OC);
}

static bool check_chapter05(MatmulBwd bwd) {
    const int N = 12, C = 24, OC = 40;                                   // C != OC: a layout mix-up shows
    Rng rng(5);
    std::vector<float> inp = random_vector((size_t)N * C, rng), weight = random_vector((size_t)C * OC, rng, 0.2f);
    std::vector<float> dout = random_vector((size_t)N * OC, rng);
    std::vector<float> dinp((size_t)N * C, 7.0f), dw = random_vector((size_t)C * OC, rng), db = random_vector(OC, rng);
    std::vector<float> want_dinp((size_t)N * C), want_dw = dw, want_db = db;   // dinp written, the others +=
    matmul_backward(want_dinp.data(), want_dw.data(), want_db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
    bwd(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
    bool ok = compare("dinp", dinp.data(), want_dinp.data(), dinp.size());
    ok = compare("dweight", dw.data(), want_dw.data(), dw.size()) && ok;
    ok = compare("dbias", db.data(), want_db.data(), OC) && ok;
    return ok;
}

// GFLOP/s of the blocked gemm against the plain triple loop, for the chapter's numbers
static void report_chapter05() {
    const int M = 512, N = 768, K = 768;
    Rng rng(55);
    std::vector<float> A = random_vector((size_t)M * K, rng), Bm = random_vector((size_t)K * N, rng);
    std::vector<float> C1((size_t)M * N), C2((size_t)M * N);
    double flops = 2.0 * M * N * K;
    double t0 = now_ms();
    // deliberately naive: the i-k-j order at least walks B and C along rows
    for (int i = 0; i < M; i++) {
        float* c = C1.data() + (size_t)i * N;
        for (int j = 0; j < N; j++) c[j] = 0;
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)i * K + k];
            const float* b = Bm.data() + (size_t)k * N;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
    double naive_ms = now_ms() - t0;
    gemm(C2.data(), A.data(), Bm.data(), M, N, K, K, 1, N, 1, false);   // warm up
    t0 = now_ms();
    const int reps = 5;
    for (int r = 0; r < reps; r++) gemm(C2.data(), A.data(), Bm.data(), M, N, K, K, 1, N, 1, false);
    double gemm_ms = (now_ms() - t0) / reps;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("  (%d x %d) @ (%d x %d), %d thread(s): naive loop %.1f GFLOP/s, blocked gemm %.1f GFLOP/s\n", M, K, K, N,
           threads, flops / naive_ms / 1e6, flops / gemm_ms / 1e6);
    compare("gemm", C2.data(), C1.data(), C1.size());
}

// ----------------------------------------------------------------------------
// chapter 6: causal self-attention forward against attention_forward

typedef void (*AttentionFwd)(float*, float*, const float*, int, int, int, int);

// WRONG on purpose: no causal mask, every position also attends to the future
static void wrong_attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    int HS = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float* q = qkv + (b * T + t) * 3 * C + h * HS;
                float* a = att + ((b * NH + h) * T + t) * T;
                float maxv = -INFINITY, sum = 0;
                for (int t2 = 0; t2 < T; t2++) {
                    const float* k = qkv + (b * T + t2) * 3 * C + C + h * HS;
                    float s = 0;
                    for (int i = 0; i < HS; i++) s += q[i] * k[i];
                    a[t2] = s / std::sqrt((float)HS);
                    maxv = std::max(maxv, a[t2]);
                }
                for (int t2 = 0; t2 < T; t2++) { a[t2] = std::exp(a[t2] - maxv); sum += a[t2]; }
                for (int t2 = 0; t2 < T; t2++) a[t2] /= sum;
                float* o = out + (b * T + t) * C + h * HS;
                for (int i = 0; i < HS; i++) o[i] = 0;
                for (int t2 = 0; t2 < T; t2++)
                    for (int i = 0; i < HS; i++) o[i] += a[t2] * qkv[(b * T + t2) * 3 * C + 2 * C + h * HS + i];
            }
}

static bool check_chapter06(AttentionFwd fwd) {
    const int B = 2, T = 9, C = 24, NH = 3;
    Rng rng(6);
    std::vector<float> qkv = random_vector((size_t)B * T * 3 * C, rng);
    std::vector<float> out((size_t)B * T * C, 7.0f), att((size_t)B * NH * T * T, 7.0f);   // garbage to overwrite
    std::vector<float> want_out(out.size()), want_att(att.size());
    attention_forward(want_out.data(), want_att.data(), qkv.data(), B, T, C, NH);
    fwd(out.data(), att.data(), qkv.data(), B, T, C, NH);
    bool ok = compare("out", out.data(), want_out.data(), out.size());
    ok = compare("att", att.data(), want_att.data(), att.size()) && ok;
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 7: GELU backward against gelu_backward

typedef void (*GeluBwd)(float*, const float*, const float*, int);

static void reference_gelu_backward(float* dinp, const float* inp, const float* dout, int n) {
    gelu_backward(dinp, inp, dout, (size_t)n);
}

// WRONG on purpose: differentiates only the 0.5 (1 + tanh(...)) factor and forgets x * d tanh/dx
static void wrong_gelu_backward(float* dinp, const float* inp, const float* dout, int n) {
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        dinp[i] = dout[i] * 0.5f * (1 + std::tanh(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

static bool check_chapter07(GeluBwd bwd) {
    const int n = 2001;
    std::vector<float> inp(n), dout(n), dinp(n), want(n);
    Rng rng(7);
    for (int i = 0; i < n; i++) { inp[i] = -6.0f + 12.0f * i / (n - 1); dout[i] = rng.normal(); }
    gelu_backward(want.data(), inp.data(), dout.data(), n);
    bwd(dinp.data(), inp.data(), dout.data(), n);
    return compare("dinp", dinp.data(), want.data(), n);
}

// ----------------------------------------------------------------------------
// chapter 8: one transformer block forward, checked inside gpt_forward of a 2-layer model

typedef void (*BlockFwd)(float*, const float*, const float* const*, int, int, int, int);

static void block_pointers(const BlockParams& w, const float* p[12]) {
    const float* all[12] = {w.ln1w, w.ln1b, w.qkvw, w.qkvb, w.attprojw, w.attprojb,
                            w.ln2w, w.ln2b, w.fcw, w.fcb, w.fcprojw, w.fcprojb};
    std::copy(all, all + 12, p);
}

// one block, the same layer calls as gpt_forward's loop body. mlp_reads_input is the
// deliberately wrong version: its MLP branch normalises the block's input x instead of the
// stream after attention.
static void block_forward_calls(float* out, const float* x, const float* const* w, int B, int T, int C, int NH,
                                bool mlp_reads_input) {
    int N = B * T;
    std::vector<float> ln((size_t)N * C), mean(N), rstd(N), qkv((size_t)N * 3 * C), atty((size_t)N * C);
    std::vector<float> att((size_t)B * NH * T * T), res2((size_t)N * C), fch((size_t)N * 4 * C), gel((size_t)N * 4 * C);
    layernorm_forward(ln.data(), mean.data(), rstd.data(), x, w[0], w[1], N, C);
    matmul_forward(qkv.data(), ln.data(), w[2], w[3], N, C, 3 * C);
    attention_forward(atty.data(), att.data(), qkv.data(), B, T, C, NH);
    matmul_forward(res2.data(), atty.data(), w[4], w[5], N, C, C);
    residual_forward(res2.data(), x, res2.data(), (size_t)N * C);
    layernorm_forward(ln.data(), mean.data(), rstd.data(), mlp_reads_input ? x : res2.data(), w[6], w[7], N, C);
    matmul_forward(fch.data(), ln.data(), w[8], w[9], N, C, 4 * C);
    gelu_forward(gel.data(), fch.data(), (size_t)N * 4 * C);
    matmul_forward(out, gel.data(), w[10], w[11], N, 4 * C, C);
    residual_forward(out, res2.data(), out, (size_t)N * C);
}

static void reference_block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH) {
    block_forward_calls(out, x, w, B, T, C, NH, false);
}

// WRONG on purpose (see block_forward_calls)
static void wrong_block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH) {
    block_forward_calls(out, x, w, B, T, C, NH, true);
}

static bool check_chapter08(BlockFwd fwd) {
    GPTConfig c;
    c.num_layers = 2; c.num_heads = 4; c.channels = 32; c.max_seq_len = 10; c.vocab_size = c.padded_vocab_size = 50;
    std::vector<float> params(num_parameters(c));
    Rng rng(8);
    for (float& x : params) x = 0.2f * rng.normal();   // random everywhere, so every bias and scale matters
    GPT model;
    gpt_build(model, c, params);
    const int B = 2, T = 10, N = B * T, C = c.channels;
    std::vector<int> inputs(N);
    for (int& x : inputs) x = rng.next_u32() % c.vocab_size;
    gpt_forward(model, inputs.data(), nullptr, B, T);
    bool ok = true;
    for (int l = 0; l < c.num_layers; l++) {
        const float* x = l == 0 ? model.a.encoded : model.a.residual3 + (size_t)(l - 1) * N * C;
        const float* w[12];
        block_pointers(model.p.h[l], w);
        std::vector<float> out((size_t)N * C, 7.0f);
        fwd(out.data(), x, w, B, T, C, c.num_heads);
        std::string name = "layer " + std::to_string(l);
        ok = compare(name.c_str(), out.data(), model.a.residual3 + (size_t)l * N * C, out.size()) && ok;
    }
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 9: softmax + cross-entropy backward against the fused crossentropy_forward/backward

typedef void (*CrossEntropyBwd)(float*, const float*, const int*, float, int, int);

static void reference_crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss,
                                            int N, int V) {
    std::vector<float> losses(N), lse(N);
    crossentropy_forward(losses.data(), lse.data(), logits, targets, N, V, V);
    std::copy(logits, logits + (size_t)N * V, dlogits);
    crossentropy_backward(dlogits, lse.data(), targets, dloss, N, V, V);   // in place: logits -> dlogits
}

// WRONG on purpose: the softmax alone, without subtracting the one-hot of the target
static void wrong_crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss,
                                        int N, int V) {
    reference_crossentropy_backward(dlogits, logits, targets, dloss, N, V);
    for (int n = 0; n < N; n++) dlogits[(size_t)n * V + targets[n]] += dloss;
}

static bool check_chapter09(CrossEntropyBwd bwd) {
    const int N = 6, V = 37;
    Rng rng(9);
    std::vector<float> logits = random_vector((size_t)N * V, rng, 3.0f);
    logits[5] = 80.0f;                                  // a large logit: exp() must not overflow
    std::vector<int> targets(N);
    for (int& t : targets) t = rng.next_u32() % V;
    float dloss = 1.0f / N;                             // the gradient of the mean loss
    std::vector<float> got((size_t)N * V, 7.0f), want((size_t)N * V);
    reference_crossentropy_backward(want.data(), logits.data(), targets.data(), dloss, N, V);
    bwd(got.data(), logits.data(), targets.data(), dloss, N, V);
    bool ok = compare("dlogits", got.data(), want.data(), got.size());
    double worst = 0;                                   // each row of softmax - onehot sums to zero
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += got[(size_t)n * V + v];
        worst = std::max(worst, std::fabs(s));
    }
    printf("  largest |row sum| of your dlogits: %.1e (softmax - onehot sums to 0)\n", worst);
    return ok;
}

// the loss of an untrained model against ln(V), for the chapter's numbers
static void report_chapter09() {
    std::string shard = need_file("data/tinyshakespeare_bpe1k/val_000000.bin");
    GPTConfig c;
    c.num_layers = 2; c.num_heads = 4; c.channels = 64; c.max_seq_len = 64; c.vocab_size = c.padded_vocab_size = 1024;
    std::vector<float> params;
    init_parameters(params, c, 1337);
    GPT model;
    gpt_build(model, c, params);
    const int B = 4, T = 64;
    DataLoader loader(shard, B, T, 0, 1, 1, c.vocab_size, false, 0);
    std::vector<int> in(B * T), tg(B * T);
    loader.next_batch(in.data(), tg.data());
    gpt_forward(model, in.data(), tg.data(), B, T);
    printf("  untrained model (2 layers, 64 channels, V = 1024) on %d validation tokens: loss %.4f, ln(V) = %.4f\n",
           B * T, model.mean_loss, std::log(1024.0));
}

// ----------------------------------------------------------------------------
// main

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--self-test") != 0)) {
        fprintf(stderr, "usage: %s chapterNN [--self-test]   (NN = 01..09)\n", argv[0]);
        return 2;
    }
    std::string ch = argv[1];
    bool self = argc == 3;
    try {
        if (ch == "chapter01") {
            report_chapter01();
            return run_check<MergeFn>(self, check_chapter01, exercise::bpe_merge, reference_bpe_merge, wrong_bpe_merge,
                                      "merges only the first occurrence");
        }
        if (ch == "chapter02")
            return run_check<StartFn>(self, check_chapter02, exercise::batch_start, reference_batch_start,
                                      wrong_batch_start, "rank-major order inside a step");
        if (ch == "chapter03")
            return run_check<EncoderFns>(self, check_chapter03, {exercise::encoder_forward, exercise::encoder_backward},
                                         {encoder_forward, encoder_backward}, {encoder_forward, wrong_encoder_backward},
                                         "the backward writes dwte instead of adding to it");
        if (ch == "chapter04")
            return run_check<LayerNormBwd>(self, check_chapter04, exercise::layernorm_backward, layernorm_backward,
                                           wrong_layernorm_backward, "no mean(g) subtraction");
        if (ch == "chapter05") {
            report_chapter05();
            return run_check<MatmulBwd>(self, check_chapter05, exercise::matmul_backward, matmul_backward,
                                        wrong_matmul_backward, "no bias gradient");
        }
        if (ch == "chapter06")
            return run_check<AttentionFwd>(self, check_chapter06, exercise::attention_forward, attention_forward,
                                           wrong_attention_forward, "no causal mask");
        if (ch == "chapter07")
            return run_check<GeluBwd>(self, check_chapter07, exercise::gelu_backward, reference_gelu_backward,
                                      wrong_gelu_backward, "forgets the x * dtanh/dx term");
        if (ch == "chapter08")
            return run_check<BlockFwd>(self, check_chapter08, exercise::block_forward, reference_block_forward,
                                       wrong_block_forward, "the MLP reads the block input, not the stream");
        if (ch == "chapter09") {
            report_chapter09();
            return run_check<CrossEntropyBwd>(self, check_chapter09, exercise::crossentropy_backward,
                                              reference_crossentropy_backward, wrong_crossentropy_backward,
                                              "forgets the one-hot");
        }
    } catch (const std::exception& e) {
        printf("error: %s\n", e.what());
        return 1;
    }
    fprintf(stderr, "unknown chapter '%s': use chapter01 .. chapter09\n", ch.c_str());
    return 2;
}
