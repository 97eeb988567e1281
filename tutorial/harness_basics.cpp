// tutorial/harness_basics.cpp: the checks of tutorial chapters 1-9, one subcommand each.
//
//   build/tutorial/chapterNN chapterNN                  checks your exercise (bash tutorial/NN-*/check.sh)
//   build/tutorial/harness_basics chapterNN --self-test  checks the checker: the solution must
//                                                        pass and every planted mistake fail
//
// What it is: a test bench. It includes the CPU trainer (in fp32, as it ships) and compares
// each exercise in tutorial/exercises/ (separate files with plain float*/int signatures, in
// namespace exercise) with the trainer's own function of the same name, tensor by tensor,
// and says which common mistake a failure looks like. tutorial/common.sh builds it into a
// shared library that hides the trainer from the exercise (see tutorial/check_main.cpp).
// What it is not: a second implementation of the model, or a place for answers: the
// solutions and the planted wrong versions live in tutorial/solutions/. The only code here
// besides the comparisons is what an exercise needs to be checked (a naive BPE trainer that
// calls the learner's merge step).
//
// Conventions: every subcommand prints what it compared and the relative error
// ||got - want|| / ||want||, and exits 0 when the check passes, 1 when it fails. The chapter's
// check.sh turns that into its PASS or FAIL line.
#define TRAIN_GPT_NO_MAIN
#include "train_gpt_cpu.cpp"

#include <functional>
#include <map>
#include <unistd.h>

#include "tutorial/check.h"   // defines: WEAK, hint, Planted, run_check, tutorial_heap_mark

// ----------------------------------------------------------------------------
// the learner's functions (tutorial/exercises/0N_*.cpp)

// (weak: a chapter's check program links that chapter's file only; the others are null)

namespace exercise {
WEAK int bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id);
WEAK size_t batch_start(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens);
WEAK void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C);
WEAK void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C);
WEAK void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const float* mean, const float* rstd, int N, int C);
WEAK void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, int N, int C, int OC);
WEAK void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
WEAK void gelu_backward(float* dinp, const float* inp, const float* dout, int n);
WEAK void block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH);
WEAK void crossentropy_backward(float* dlogits, const float* logits, const int* targets, float dloss, int N, int V);
}  // namespace exercise

// the planted mistakes of the self-tests (tutorial/solutions/0N_*.cpp), each marked WRONG there
namespace planted {
WEAK int bpe_merge_first_only(int* out, const int* ids, int n, int a, int b, int new_id);
WEAK size_t batch_start_rank_major(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens);
WEAK size_t batch_start_no_wrap(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens);
WEAK void encoder_backward_assigns(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C);
WEAK void layernorm_backward_no_mean(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                     const float* weight, const float* mean, const float* rstd, int N, int C);
WEAK void layernorm_backward_assigns(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                     const float* weight, const float* mean, const float* rstd, int N, int C);
WEAK void matmul_backward_no_bias(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int N, int C, int OC);
WEAK void matmul_backward_assigns(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int N, int C, int OC);
WEAK void attention_forward_no_mask(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
WEAK void gelu_backward_one_term(float* dinp, const float* inp, const float* dout, int n);
WEAK void block_forward_mlp_reads_input(float* out, const float* x, const float* const* w, int B, int T, int C, int NH);
WEAK void crossentropy_backward_no_onehot(float* dlogits, const float* logits, const int* targets, float dloss, int N,
                                          int V);
}  // namespace planted

// ----------------------------------------------------------------------------
// comparing

static std::vector<float> random_vector(size_t n, Rng& rng, float scale = 1.0f, float shift = 0.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = shift + scale * rng.normal();
    return v;
}

static bool all_finite_f(const float* a, size_t n) {
    for (size_t i = 0; i < n; i++) if (!std::isfinite(a[i])) return false;
    return true;
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

static std::string need_file(const std::string& path) {
    if (!fs::exists(path)) fail(path + " is missing: run `make data` first");
    return path;
}

// ----------------------------------------------------------------------------
// chapter 1: text to tokens. The learner writes one BPE merge; a naive trainer built on it
// must learn exactly the merges of tokenizer.h's bpe_train on the same text.

typedef int (*MergeFn)(int*, const int*, int, int, int, int);

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
            bool pair_left = false;
            for (int i = 0; i + 1 < std::min(m, (int)out.size()); i++) pair_left = pair_left || (out[i] == c.a && out[i + 1] == c.b);
            if (pair_left) hint("the pair (%d, %d) still occurs after your merge: replace every occurrence, left to right", c.a, c.b);
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
    std::string text = read_file(need_file("data/tinyshakespeare/input.txt")).substr(0, 20000);
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
    std::string text = read_file(need_file("data/tinyshakespeare/input.txt"));
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

static bool check_chapter02(StartFn start) {
    const size_t ntok = 3001, vocab = 1 << 20;                    // uint32 tokens: token i is i
    std::vector<uint32_t> tokens(ntok);
    for (size_t i = 0; i < ntok; i++) tokens[i] = (uint32_t)i;
    std::string path = (fs::temp_directory_path() / ("tutorial_ch02_" + std::to_string(getpid()) + ".bin")).string();
    write_shard(path, tokens.data(), ntok, vocab);
    struct Layout { int K, N, B, T; };
    bool ok = true;
    int checked = 0;
    bool wrong_first_pass = false, wrong_later = false, wrong_single = false, wrong_both = false;
    for (Layout l : {Layout{1, 1, 4, 8}, Layout{2, 1, 3, 5}, Layout{1, 4, 2, 16}, Layout{3, 2, 2, 7}, Layout{4, 3, 1, 50}}) {
        bool layout_ok = true;   // every layout is tried, so that the pattern of failures can give a hint
        for (int r = 0; r < l.N && layout_ok; r++) {
            DataLoader loader(path, l.B, l.T, r, l.N, l.K, vocab, false, 0);
            std::vector<int> in((size_t)l.B * l.T), tg((size_t)l.B * l.T);
            long per_pass = (long)loader.steps_per_epoch(), steps = 2 * per_pass + 1;   // past the end of the shard twice
            for (long s = 0; s < steps && layout_ok; s++)
                for (int k = 0; k < l.K && layout_ok; k++) {
                    loader.next_batch(in.data(), tg.data());
                    size_t want = (size_t)in[0], got = start(s, k, r, l.K, l.N, l.B, l.T, ntok);
                    checked++;
                    if (got != want) {
                        printf("  K=%d N=%d B=%d T=%d: step %ld, micro-batch %d, rank %d starts at token %zu, "
                               "yours says %zu\n", l.K, l.N, l.B, l.T, s, k, r, want, got);
                        ok = layout_ok = false;
                        (s < per_pass ? wrong_first_pass : wrong_later) = true;
                        (l.K > 1 && l.N > 1 ? wrong_both : wrong_single) = true;
                    }
                    if (tg[0] != in[0] + 1 || tg[l.B * l.T - 1] != in[l.B * l.T - 1] + 1) {
                        printf("  the DataLoader's targets are not the inputs shifted by one\n");
                        ok = false;
                    }
                }
        }
    }
    fs::remove(path);
    if (wrong_later && !wrong_first_pass)
        hint("right on the first pass over the shard, wrong after it: only whole steps fit, and then reading starts again at the front");
    else if (wrong_both && !wrong_single)
        hint("right whenever K = 1 or N = 1, wrong when both are larger: inside one step, which comes first, the ranks or the micro-batches?");
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
static bool missing(const EncoderFns& f) { return !f.fwd || !f.bwd; }

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
    bool dwte_ok = compare("dwte", dwte.data(), want_dwte.data(), dwte.size());
    ok = compare("dwpe", dwpe.data(), want_dwpe.data(), dwpe.size()) && dwte_ok && ok;
    if (!dwte_ok) {   // a second batch in which every token occurs once tells two mistakes apart
        std::vector<int> once(V);
        for (int v = 0; v < V; v++) once[v] = v;
        std::vector<float> d1 = random_vector((size_t)V * C, rng), w1 = random_vector((size_t)V * C, rng);
        std::vector<float> p1((size_t)V * C, 0.0f), want1 = w1, got1 = w1, wpe1((size_t)V * C, 0.0f), wpe2 = wpe1;
        encoder_backward(want1.data(), wpe1.data(), d1.data(), once.data(), 1, V, C);
        f.bwd(got1.data(), wpe2.data(), d1.data(), once.data(), 1, V, C);
        double e_add = 0, e_assign = 0, n2 = 0;
        for (size_t i = 0; i < got1.size(); i++) {
            e_add += (got1[i] - want1[i]) * (got1[i] - want1[i]);
            e_assign += (got1[i] - d1[i]) * (got1[i] - d1[i]);
            n2 += want1[i] * want1[i];
        }
        if (e_assign <= 1e-10 * n2) hint("dwte looks assigned, not added: the gradient of a parameter accumulates with +=");
        else if (e_add <= 1e-10 * n2)
            hint("right when every token occurs once, wrong when a token repeats: each occurrence adds its gradient to the same row");
    }
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 4: LayerNorm backward against layernorm_backward

typedef void (*LayerNormBwd)(float*, float*, float*, const float*, const float*, const float*, const float*,
                             const float*, int, int);

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
    std::vector<float> before = dinp;
    bwd(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), mean.data(), rstd.data(), N, C);
    bool dinp_ok = compare("dinp", dinp.data(), want_dinp.data(), dinp.size());
    bool ok = compare("dweight", dw.data(), want_dw.data(), C) && dinp_ok;
    ok = compare("dbias", db.data(), want_db.data(), C) && ok;
    if (!dinp_ok) {
        // what this layer adds to dinp, row by row: its mean over channels and its component
        // along xhat are both zero (LayerNorm's output ignores shifting and scaling x)
        double assigned = 0, wnorm = 0, row_sum = 0, along = 0, scale = 0;
        for (int n = 0; n < N; n++) {
            double s = 0, sx = 0;
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)n * C + c;
                double mine = dinp[i] - before[i], xhat = (inp[i] - mean[n]) * rstd[n];
                assigned += std::pow(dinp[i] - (want_dinp[i] - before[i]), 2);
                wnorm += std::pow(want_dinp[i] - before[i], 2);
                s += mine; sx += mine * xhat; scale += std::fabs(mine);
            }
            row_sum = std::max(row_sum, std::fabs(s)); along = std::max(along, std::fabs(sx));
        }
        scale /= N;
        if (assigned <= 1e-10 * wnorm) hint("dinp looks assigned, not added: add (+=) this layer's gradient to what dinp holds");
        else if (row_sum > 1e-3 * scale)
            hint("what you add to a row of dinp should sum to 0 over the channels (the output ignores a shift of x): is the mean(g) term missing?");
        else if (along > 1e-3 * scale)
            hint("what you add to a row of dinp should be orthogonal to xhat (the output ignores a scaling of x): is the xhat * mean(g * xhat) term missing?");
    }
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 5: matmul backward against matmul_backward, and what the blocked gemm buys

typedef void (*MatmulBwd)(float*, float*, float*, const float*, const float*, const float*, int, int, int);

static bool check_chapter05(MatmulBwd bwd) {
    const int N = 12, C = 24, OC = 40;                                   // C != OC: a layout mix-up shows
    Rng rng(5);
    std::vector<float> inp = random_vector((size_t)N * C, rng), weight = random_vector((size_t)C * OC, rng, 0.2f);
    std::vector<float> dout = random_vector((size_t)N * OC, rng);
    std::vector<float> dinp((size_t)N * C, 7.0f), dw = random_vector((size_t)C * OC, rng), db = random_vector(OC, rng);
    std::vector<float> want_dinp((size_t)N * C), want_dw = dw, want_db = db;   // dinp written, the others +=
    matmul_backward(want_dinp.data(), want_dw.data(), want_db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
    std::vector<float> dw0 = dw, db0 = db;
    bwd(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
    bool ok = compare("dinp", dinp.data(), want_dinp.data(), dinp.size());
    bool dw_ok = compare("dweight", dw.data(), want_dw.data(), dw.size());
    bool db_ok = compare("dbias", db.data(), want_db.data(), OC);
    double added = 0, assigned = 0, norm = 0;   // was dinp's old content (7) kept? was dweight's dropped?
    for (size_t i = 0; i < dinp.size(); i++) added += std::pow(dinp[i] - 7.0f - want_dinp[i], 2), norm += want_dinp[i] * want_dinp[i];
    if (!ok && added <= 1e-10 * norm) hint("dinp looks added to, but it is written (=): it held 7 before the call");
    norm = 0;
    for (size_t i = 0; i < dw.size(); i++) assigned += std::pow(dw[i] - (want_dw[i] - dw0[i]), 2), norm += want_dw[i] * want_dw[i];
    if (!dw_ok && assigned <= 1e-10 * norm) hint("dweight looks assigned, not added: parameter gradients accumulate with +=");
    if (!db_ok && db == db0) hint("dbias is unchanged: the bias was added to every row, so its gradient is a sum over the rows");
    return ok && dw_ok && db_ok;
}

// GFLOP/s of the blocked gemm against the plain triple loop, for the chapter's numbers. One
// thread, as chapter 17 measures the same gemm: per-core figures compare across chapters and
// machines, and a shared machine's second core comes and goes.
static void report_chapter05() {
#ifdef _OPENMP
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
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
    double gemm_ms = 1e30;                                              // the best of 5, as chapter 17 times it
    for (int r = 0; r < 5; r++) {
        t0 = now_ms();
        gemm(C2.data(), A.data(), Bm.data(), M, N, K, K, 1, N, 1, false);
        gemm_ms = std::min(gemm_ms, now_ms() - t0);
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("  (%d x %d) @ (%d x %d), %d thread(s): naive loop %.1f GFLOP/s, blocked gemm %.1f GFLOP/s\n", M, K, K, N,
           threads, flops / naive_ms / 1e6, flops / gemm_ms / 1e6);
    compare("gemm", C2.data(), C1.data(), C1.size());
#ifdef _OPENMP
    omp_set_num_threads(saved_threads);
#endif
}

// ----------------------------------------------------------------------------
// chapter 6: causal self-attention forward against attention_forward

typedef void (*AttentionFwd)(float*, float*, const float*, int, int, int, int);

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
    double above = 0, row_err = 0;
    for (int bh = 0; bh < B * NH; bh++)
        for (int t = 0; t < T; t++) {
            double sum = 0;
            for (int t2 = 0; t2 < T; t2++) {
                float a = att[((size_t)bh * T + t) * T + t2];
                if (t2 > t) above = std::max(above, (double)std::fabs(a));
                sum += a;
            }
            row_err = std::max(row_err, std::fabs(sum - 1));
        }
    if (!ok && above > 0) hint("att has weight above the diagonal (position t attends to t2 > t): the causal mask is missing");
    else if (!ok && row_err > 1e-4) hint("a row of att does not sum to 1: normalise by the sum of exp over the allowed positions");
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 7: GELU backward against gelu_backward

typedef void (*GeluBwd)(float*, const float*, const float*, int);

static bool check_chapter07(GeluBwd bwd) {
    const int n = 2001;
    std::vector<float> inp(n), dout(n), dinp(n), want(n);
    Rng rng(7);
    for (int i = 0; i < n; i++) { inp[i] = -6.0f + 12.0f * i / (n - 1); dout[i] = rng.normal(); }
    gelu_backward(want.data(), inp.data(), dout.data(), n);
    bwd(dinp.data(), inp.data(), dout.data(), n);
    bool ok = compare("dinp", dinp.data(), want.data(), n);
    if (!ok) {   // the slope of gelu_forward by central differences, where yours is furthest from it
        int worst = 0;
        double worst_err = -1, worst_slope = 0;
        for (int i = 0; i < n; i++) {
            double x = inp[i], h = 1e-3, y[2];
            for (int k = 0; k < 2; k++) {
                float xf = (float)(x + (k ? h : -h)), yf;
                gelu_forward(&yf, &xf, 1);
                y[k] = yf;
            }
            double slope = (y[1] - y[0]) / (2 * h), mine = dout[i] != 0 ? dinp[i] / dout[i] : slope;
            if (std::fabs(mine - slope) > worst_err) { worst_err = std::fabs(mine - slope); worst = i; worst_slope = slope; }
        }
        hint("at x = %.3f your derivative is %.4f, the slope of gelu_forward measured there is %.4f", inp[worst],
             dinp[worst] / dout[worst], worst_slope);
    }
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 8: one transformer block forward, checked inside gpt_forward of a 2-layer model

typedef void (*BlockFwd)(float*, const float*, const float* const*, int, int, int, int);

static void block_pointers(const BlockParams& w, const float* p[12]) {   // in checkpoint order
    const float* all[12] = {w.ln1w, w.ln1b, w.qkvw, w.qkvb, w.attprojw, w.attprojb,
                            w.ln2w, w.ln2b, w.fcw, w.fcb, w.fcprojw, w.fcprojb};
    std::copy(all, all + 12, p);
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
        bool layer_ok = compare(name.c_str(), out.data(), model.a.residual3 + (size_t)l * N * C, out.size());
        if (!layer_ok) {   // the stream after the attention half is inside gpt_forward too: which half is wrong?
            const float* mid = model.a.residual2 + (size_t)l * N * C;
            double e = 0, d = 0;
            for (size_t i = 0; i < out.size(); i++) e += std::pow(out[i] - mid[i], 2), d += mid[i] * mid[i];
            if (e <= 1e-10 * d) hint("your output equals the stream after the attention half: the MLP half is missing");
        }
        ok = layer_ok && ok;
    }
    return ok;
}

// ----------------------------------------------------------------------------
// chapter 9: softmax + cross-entropy backward against the fused crossentropy_forward/backward

typedef void (*CrossEntropyBwd)(float*, const float*, const int*, float, int, int);

static bool check_chapter09(CrossEntropyBwd bwd) {
    const int N = 6, V = 37;
    Rng rng(9);
    std::vector<float> logits = random_vector((size_t)N * V, rng, 3.0f);
    logits[5] = 80.0f;                                  // a large logit: exp() must not overflow
    std::vector<int> targets(N);
    for (int& t : targets) t = rng.next_u32() % V;
    float dloss = 1.0f / N;                             // the gradient of the mean loss
    std::vector<float> got((size_t)N * V, 7.0f), want((size_t)N * V);
    {   // the trainer's fused pair: the loss's forward leaves logsumexp per row, the backward works in place
        std::vector<float> losses(N), lse(N);
        crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V, V);
        want = logits;
        crossentropy_backward(want.data(), lse.data(), targets.data(), dloss, N, V, V);
    }
    bwd(got.data(), logits.data(), targets.data(), dloss, N, V);
    bool ok = compare("dlogits", got.data(), want.data(), got.size());
    double worst = 0;                                   // each row of softmax - onehot sums to zero
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += got[(size_t)n * V + v];
        worst = std::max(worst, std::fabs(s));
    }
    printf("  largest |row sum| of your dlogits: %.1e (softmax - onehot sums to 0)\n", worst);
    if (!ok && std::fabs(worst - dloss) < 1e-3 * dloss) hint("each row of your dlogits sums to dloss, not 0: is the one-hot of the target missing?");
    else if (!ok && !all_finite_f(got.data(), got.size())) hint("not finite: subtract the row's largest logit before exp()");
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

extern "C" int harness_main(int argc, char** argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--self-test") != 0)) {
        fprintf(stderr, "usage: %s chapterNN [--self-test]   (NN = 01..09)\n", argv[0]);
        return 2;
    }
    std::string ch = argv[1];
    bool self = argc == 3;
    try {
        if (ch == "chapter01") {
            report_chapter01();
            return run_check<MergeFn>(self, "bpe_merge", exercise::bpe_merge,
                                      {{planted::bpe_merge_first_only, "merges only the first occurrence", "still occurs"}},
                                      check_chapter01);
        }
        if (ch == "chapter02")
            return run_check<StartFn>(self, "batch_start", exercise::batch_start,
                                      {{planted::batch_start_rank_major, "rank-major order inside a step", "which comes first"},
                                       {planted::batch_start_no_wrap, "never back to the front of the shard", "first pass"}},
                                      check_chapter02);
        if (ch == "chapter03")
            return run_check<EncoderFns>(self, "encoder_forward and exercise::encoder_backward",
                                         {exercise::encoder_forward, exercise::encoder_backward},
                                         {{{exercise::encoder_forward, planted::encoder_backward_assigns},
                                           "the backward writes dwte instead of adding to it", "assigned, not added"}},
                                         check_chapter03);
        if (ch == "chapter04")
            return run_check<LayerNormBwd>(self, "layernorm_backward", exercise::layernorm_backward,
                                           {{planted::layernorm_backward_no_mean, "no mean(g) subtraction", "mean(g) term"},
                                            {planted::layernorm_backward_assigns, "dinp written, not added", "assigned, not added"}},
                                           check_chapter04);
        if (ch == "chapter05") {
            report_chapter05();
            return run_check<MatmulBwd>(self, "matmul_backward", exercise::matmul_backward,
                                        {{planted::matmul_backward_no_bias, "no bias gradient", "dbias is unchanged"},
                                         {planted::matmul_backward_assigns, "dweight written, not added", "assigned, not added"}},
                                        check_chapter05);
        }
        if (ch == "chapter06")
            return run_check<AttentionFwd>(self, "attention_forward", exercise::attention_forward,
                                           {{planted::attention_forward_no_mask, "no causal mask", "causal mask"}}, check_chapter06);
        if (ch == "chapter07")
            return run_check<GeluBwd>(self, "gelu_backward", exercise::gelu_backward,
                                      {{planted::gelu_backward_one_term, "forgets the x * dtanh/dx term", "slope of gelu_forward"}},
                                      check_chapter07);
        if (ch == "chapter08")
            return run_check<BlockFwd>(self, "block_forward", exercise::block_forward,
                                       {{planted::block_forward_mlp_reads_input, "the MLP reads the block input, not the stream", ""}},
                                       check_chapter08);
        if (ch == "chapter09") {
            report_chapter09();
            return run_check<CrossEntropyBwd>(self, "crossentropy_backward", exercise::crossentropy_backward,
                                              {{planted::crossentropy_backward_no_onehot, "forgets the one-hot", "one-hot"}},
                                              check_chapter09);
        }
    } catch (const std::exception& e) {
        printf("error: %s\n", e.what());
        return 1;
    }
    fprintf(stderr, "unknown chapter '%s': use chapter01 .. chapter09\n", ch.c_str());
    return 2;
}
