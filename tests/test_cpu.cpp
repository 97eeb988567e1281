// tests/test_cpu.cpp: the CPU trainer (float, as users run it) against an independent
// PyTorch implementation, and everything around the model: GEMM, gradient accumulation,
// checkpoints (ours and OpenAI's names), the command line, bad input, exact resume, the
// training step reproducing recorded runs bit for bit, and a short training run that must learn.
#include <doctest/doctest.h>
#define TRAIN_GPT_NO_MAIN
#include "train_gpt_cpu.cpp"
#include "tests/test_util.h"

static const char* PYTHON = "/usr/bin/python3";
static const std::string SMALL_DATA = "data/tinyshakespeare_bpe1k";   // made by `make data`

static GPTConfig small_config() {
    GPTConfig c;
    c.num_layers = 2; c.num_heads = 4; c.channels = 32; c.max_seq_len = 16;
    c.vocab_size = c.padded_vocab_size = 97;
    return c;
}

static void write_batch(const std::string& path, const std::vector<int>& inputs, const std::vector<int>& targets, int B, int T) {
    write_safetensors(path, {{"inputs", "I32", {B, T}, inputs.data()}, {"targets", "I32", {B, T}, targets.data()}});
}

TEST_CASE("gemm matches a naive triple loop for every operand layout") {
    Rng rng(5);
    int sizes[][3] = {{1, 1, 1}, {7, 33, 5}, {17, 300, 64}, {64, 50, 257}, {130, 70, 513}};
    for (auto& sz : sizes)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++) {
                    int M = sz[0], N = sz[1], K = sz[2];
                    std::vector<float> A((size_t)M * K), Bm((size_t)K * N), Cm((size_t)M * N);
                    for (float& x : A) x = rng.normal();
                    for (float& x : Bm) x = rng.normal();
                    for (float& x : Cm) x = rng.normal();
                    size_t a_rs = ta ? 1 : K, a_cs = ta ? M : 1, b_rs = tb ? 1 : N, b_cs = tb ? K : 1;
                    std::vector<double> want(Cm.begin(), Cm.end());
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double s = acc ? want[(size_t)i * N + j] : 0;
                            for (int k = 0; k < K; k++) s += (double)A[i * a_rs + k * a_cs] * Bm[k * b_rs + j * b_cs];
                            want[(size_t)i * N + j] = s;
                        }
                    gemm(Cm.data(), A.data(), Bm.data(), M, N, K, a_rs, a_cs, b_rs, b_cs, acc);
                    CAPTURE(M); CAPTURE(N); CAPTURE(K); CAPTURE(ta); CAPTURE(tb); CAPTURE(acc);
                    CHECK(check_close("C", Cm.data(), want.data(), Cm.size(), 1e-6));
                }
}

TEST_CASE("agreement with the PyTorch reference: logits, loss, every gradient, 10 AdamW steps") {
    GPTConfig c = small_config();
    int B = 3, T = 16;
    std::vector<float> params = random_params(c, 42, 0.05f);
    std::string dir = make_temp_dir("torch");
    std::vector<float> zeros(num_parameters(c), 0.0f);
    std::string ckpt = save_checkpoint(dir, 0, c, params.data(), zeros.data(), zeros.data(), json::object());
    // one window of B*T+1 tokens: the loader gives gpt_step the same batch at every step
    std::vector<uint32_t> tokens = write_random_shard(dir + "/batch.bin", (size_t)B * T + 1, c.vocab_size, 9);
    std::vector<int> inputs(tokens.begin(), tokens.end() - 1), targets(tokens.begin() + 1, tokens.end());
    write_batch(dir + "/batch.safetensors", inputs, targets, B, T);

    // our side: forward, backward, then 10 training steps (gpt_step) with clipping and weight decay
    GPT model;
    gpt_build(model, c, params);
    gpt_zero_grad(model);
    gpt_forward(model, inputs.data(), targets.data(), B, T);
    std::vector<float> logits(model.a.logits, model.a.logits + (size_t)B * T * c.vocab_size);
    float loss0 = model.mean_loss;
    gpt_backward(model, 1.0f);
    std::vector<float> grads0 = model.grads;
    float clip = 0.5f * std::sqrt(sum_squares(grads0.data(), grads0.size()));   // so that clipping acts
    AdamW opt = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    std::vector<double> losses, norms;
    gpt_build(model, c, params);
    DataLoader loader(dir + "/batch.bin", B, T, 0, 1, 1, c.vocab_size, false, 0);
    for (int step = 0; step < 10; step++) {
        StepStats st = gpt_step(model, loader, ProcessGroup(), opt, clip, step);
        losses.push_back(st.loss);
        norms.push_back(st.norm);
        if (step == 0) CHECK(st.grad_scale < 1);   // clipping acts
    }

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s tests/reference_gpt2.py --ckpt %s --batch %s/batch.safetensors --out %s/ref.safetensors "
             "--dtype float64 --steps 10 --lr %g --weight-decay %g --grad-clip %.9g --beta1 %g --beta2 %g --eps %g",
             PYTHON, ckpt.c_str(), dir.c_str(), dir.c_str(), opt.lr, opt.weight_decay, clip, opt.beta1, opt.beta2, opt.eps);
    CommandResult r = run_command(cmd);
    REQUIRE_MESSAGE(r.status == 0, "the PyTorch reference failed (Debian's python3-torch installed?):\n" << r.output);
    SafeTensors ref = SafeTensors::read(dir + "/ref.safetensors");

    CHECK(check_close("logits", logits.data(), ref.get<double>("logits").data(), logits.size(), 1e-5));
    CHECK(check_close("loss", &loss0, ref.get<double>("loss").data(), 1, 1e-5));
    for (const ParamTensor& p : param_table(c)) {
        std::vector<double> want = ref.get<double>("grad." + p.name);
        REQUIRE(want.size() <= p.numel);
        CHECK(check_close("grad." + p.name, grads0.data() + p.offset, want.data(), want.size(), 1e-4));
    }
    CHECK(check_close("losses of 10 AdamW steps", losses.data(), ref.get<double>("losses").data(), 10, 1e-5));
    CHECK(check_close("gradient norms of 10 AdamW steps", norms.data(), ref.get<double>("grad_norms").data(), 10, 1e-4));
    CHECK(losses.back() < losses.front());          // the steps did something
    fs::remove_all(dir);
}

TEST_CASE("the KV cache: one position at a time gives the logits of a whole forward pass") {
    GPTConfig c = small_config();
    int T = c.max_seq_len;
    GPT model;
    gpt_build(model, c, random_params(c, 21, 0.05f));
    Rng rng(22);
    std::vector<int> tokens(T);
    for (int& t : tokens) t = rng.next_u32() % c.vocab_size;
    gpt_forward(model, tokens.data(), nullptr, 1, T);
    std::vector<float> full(model.a.logits, model.a.logits + (size_t)T * c.vocab_size), step(c.vocab_size);
    KVCache cache;
    for (int pos = 0; pos < T; pos++) {
        gpt_forward_cached(model, cache, tokens[pos], pos, step.data());
        CAPTURE(pos);
        CHECK(check_close("logits", step.data(), full.data() + (size_t)pos * c.vocab_size, c.vocab_size, 1e-5));
    }
}

TEST_CASE("Hugging Face transformers and we load each other's checkpoints as they are, with the same logits") {
    GPTConfig c = small_config();
    int B = 2, T = c.max_seq_len;
    std::vector<float> params = random_params(c, 31, 0.05f), zeros(num_parameters(c), 0.0f);
    std::string dir = make_temp_dir("hf");
    std::string ckpt = save_checkpoint(dir, 0, c, params.data(), zeros.data(), zeros.data(), json::object());
    Rng rng(32);
    std::vector<int> inputs(B * T);
    for (int& t : inputs) t = rng.next_u32() % c.vocab_size;
    write_batch(dir + "/batch.safetensors", inputs, inputs, B, T);
    CommandResult r = run_command(std::string(PYTHON) + " tests/hf_logits.py --ckpt " + ckpt + " --batch " + dir +
                                  "/batch.safetensors --out " + dir + "/hf.safetensors");
    REQUIRE_MESSAGE(r.status == 0, "transformers could not load the checkpoint:\n" << r.output);
    GPT model;
    gpt_build(model, c, params);
    gpt_forward(model, inputs.data(), nullptr, B, T);
    std::vector<double> hf = SafeTensors::read(dir + "/hf.safetensors").get<double>("logits");
    REQUIRE(hf.size() == (size_t)B * T * c.vocab_size);
    CHECK(check_close("logits, ours vs transformers' GPT2LMHeadModel", model.a.logits, hf.data(), hf.size(), 1e-5));
    // the other direction: a model saved by transformers' save_pretrained starts our run (--init)
    r = run_command(std::string(PYTHON) + " tests/hf_logits.py --ckpt " + ckpt + " --batch " + dir + "/batch.safetensors" +
                    " --out " + dir + "/hf2.safetensors --save-pretrained " + dir + "/saved_by_hf");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    std::vector<float> loaded;
    load_parameters(dir + "/saved_by_hf", read_hf_config(dir + "/saved_by_hf"), loaded);
    gpt_build(model, read_hf_config(dir + "/saved_by_hf"), loaded);
    gpt_forward(model, inputs.data(), nullptr, B, T);
    hf = SafeTensors::read(dir + "/hf2.safetensors").get<double>("logits");
    CHECK(check_close("logits of a save_pretrained model, ours vs transformers'", model.a.logits, hf.data(), hf.size(), 1e-5));
    fs::remove_all(dir);
}

// ZeRO-1's shards, as the GPU trainer asks for them (SHARD_ALIGN) and as the CPU trainer does
// (no alignment): they tile [0, n) in rank order, as evenly as the alignment allows; with
// SHARD_ALIGN every rank's that is not empty starts on a multiple of it (the GPU's AdamW moves
// 16 bytes per access only from there); one rank's shard is the whole buffer, unpadded
TEST_CASE("ZeRO-1 shards tile the parameters exactly; the GPU's start on SHARD_ALIGN boundaries") {
    for (size_t align : {(size_t)1, SHARD_ALIGN})
        for (size_t n : {(size_t)1, (size_t)7, (size_t)8, (size_t)9, (size_t)1000, (size_t)4099, (size_t)124439808})
            for (int world = 1; world <= 9; world++) {
                CAPTURE(align); CAPTURE(n); CAPTURE(world);
                size_t next = 0;
                for (int r = 0; r < world; r++) {
                    Shard s = shard_of(n, world, r, align);
                    CHECK(s.begin == next);
                    CHECK((s.begin % align == 0 || s.begin == s.end));
                    CHECK(s.end <= n);
                    CHECK(s.end - s.begin <= (n + world - 1) / world + align - 1);
                    next = s.end;
                }
                CHECK(next == n);
                CHECK(padded_size(n, world, align) == shard_size(n, world, align) * world);
                CHECK(padded_size(n, world, align) >= n);
                if (world == 1) CHECK(padded_size(n, 1, align) == n);
            }
}

TEST_CASE("gradient accumulation: two half batches give the gradient of the whole batch") {
    GPTConfig c = small_config();
    int B = 4, T = 8;
    std::vector<float> params = random_params(c, 3, 0.05f);
    Rng rng(4);
    std::vector<int> inputs(B * T), targets(B * T);
    for (int i = 0; i < B * T; i++) { inputs[i] = rng.next_u32() % c.vocab_size; targets[i] = rng.next_u32() % c.vocab_size; }
    GPT whole, halves;
    gpt_build(whole, c, params);
    gpt_build(halves, c, params);
    gpt_zero_grad(whole);
    gpt_forward(whole, inputs.data(), targets.data(), B, T);
    gpt_backward(whole, 1.0f);
    gpt_zero_grad(halves);
    for (int k = 0; k < 2; k++) {
        gpt_forward(halves, inputs.data() + k * B / 2 * T, targets.data() + k * B / 2 * T, B / 2, T);
        gpt_backward(halves, 0.5f);
    }
    CHECK(check_close("accumulated gradients", halves.grads.data(), whole.grads.data(), whole.num_params, 1e-5));
}

TEST_CASE("checkpoint round trip: config, weights and AdamW moments come back bitwise") {
    GPTConfig c = small_config();
    std::vector<float> p = random_params(c, 1, 0.1f), m = random_params(c, 2, 0.1f), v = random_params(c, 3, 0.1f);
    for (float& x : v) x = std::fabs(x);   // second moments are never negative
    std::string dir = make_temp_dir("ckpt");
    std::string step_dir = save_checkpoint(dir, 7, c, p.data(), m.data(), v.data(), {{"step", 7}});
    CHECK(step_dir == dir + "/step_000007");
    CHECK(find_latest_checkpoint(dir) == step_dir);
    json j = json::parse(read_file(step_dir + "/config.json"));
    CHECK(j["model_type"] == "gpt2");
    CHECK(j["activation_function"] == "gelu_new");
    CHECK(j["tie_word_embeddings"] == true);
    GPTConfig back = read_hf_config(step_dir);
    CHECK(back.num_layers == c.num_layers);
    CHECK(back.channels == c.channels);
    CHECK(back.vocab_size == c.vocab_size);
    CHECK(back.max_seq_len == c.max_seq_len);
    std::vector<float> p2, m2, v2;
    load_parameters(step_dir, back, p2);
    load_optimizer(step_dir, back, m2, v2);
    CHECK(p2 == p);
    CHECK(m2 == m);
    CHECK(v2 == v);
    // a crash mid-write leaves a temporary directory that resume ignores
    fs::create_directories(dir + "/.step_000009.tmp");
    CHECK(find_latest_checkpoint(dir) == step_dir);
    fs::remove_all(dir);
}

TEST_CASE("OpenAI's unprefixed names and attention mask buffers load") {
    GPTConfig c = small_config();
    std::vector<float> p = random_params(c, 8, 0.1f);
    std::string dir = make_temp_dir("openai");
    write_file(dir + "/config.json", hf_config(c).dump());
    std::vector<NamedTensor> tensors;
    for (const ParamTensor& t : param_table(c))
        tensors.push_back({t.name.substr(strlen("transformer.")), "F32", t.shape, p.data() + t.offset});
    std::vector<float> mask((size_t)c.max_seq_len * c.max_seq_len, 1.0f);
    for (int l = 0; l < c.num_layers; l++) {
        std::string h = "h." + std::to_string(l) + ".attn.";
        tensors.push_back({h + "bias", "F32", {1, 1, c.max_seq_len, c.max_seq_len}, mask.data()});
        tensors.push_back({h + "masked_bias", "F32", {1}, mask.data()});
    }
    write_safetensors(dir + "/model.safetensors", tensors);
    std::vector<float> loaded;
    load_parameters(dir, read_hf_config(dir), loaded);
    CHECK(loaded == p);
    fs::remove_all(dir);
}

TEST_CASE("a checkpoint whose shapes disagree with its config is refused, naming file and tensor") {
    GPTConfig c = small_config();
    std::vector<float> p = random_params(c, 1, 0.1f);
    std::string dir = make_temp_dir("badshape");
    std::vector<float> zeros(p.size(), 0.0f);
    std::string step_dir = save_checkpoint(dir, 1, c, p.data(), zeros.data(), zeros.data(), {{"step", 1}});
    json j = json::parse(read_file(step_dir + "/config.json"));
    j["n_embd"] = 64;   // the tensors are 32 wide
    write_file(step_dir + "/config.json", j.dump());
    std::vector<float> loaded;
    try {
        load_parameters(step_dir, read_hf_config(step_dir), loaded);
        FAIL("load_parameters accepted mismatching shapes");
    } catch (const std::runtime_error& e) {
        std::string msg = e.what();
        CHECK(msg.find("model.safetensors") != std::string::npos);
        CHECK(msg.find("transformer.wte.weight") != std::string::npos);
    }
    CommandResult r = run_command("./train_gpt_cpu --init " + step_dir + " --train " + SMALL_DATA + "/train_000000.bin");
    CHECK(r.status == 1);
    CHECK(r.output.find("model.safetensors") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("--help and the parser read one table: every flag parses") {
    Settings defaults;
    for (const Flag& f : flag_table(defaults)) {
        CAPTURE(f.name);
        Settings s;
        std::string value = f.kind == Flag::STR ? (std::string(f.name) == "--lr-schedule" ? "linear" : "some/path")
                          : f.kind == Flag::FLOAT ? "0.5" : "4";
        if (std::string(f.name) == "--zero" || std::string(f.name) == "--recompute") value = "1";
        std::vector<std::string> args = {"prog", "--out", "dir", f.name};
        if (f.kind != Flag::SWITCH) args.push_back(value);
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        parse_args((int)argv.size(), argv.data(), s);
        const Flag* g = nullptr;
        std::vector<Flag> table = flag_table(s);
        for (const Flag& x : table) if (!strcmp(x.name, f.name)) g = &x;
        REQUIRE(g);
        if (std::string(f.name) != "--out")
            CHECK(flag_value_string(*g) == (f.kind == Flag::SWITCH ? "on" : f.kind == Flag::STR ? "\"" + value + "\"" : value));
    }
    CommandResult help = run_command("./train_gpt_cpu --help");
    CHECK(help.status == 0);
    for (const Flag& f : flag_table(defaults)) CHECK_MESSAGE(help.output.find(f.name) != std::string::npos, f.name);
}

TEST_CASE("bad input: a clear message naming the file or flag, a non-zero exit, no crash") {
    std::string dir = make_temp_dir("bad");
    std::string train = data_file(SMALL_DATA + "/train_000000.bin");
    std::string base = "./train_gpt_cpu --vocab-size 1024 --steps 1 --eval-every 0 --sample-tokens 0 --val '' ";
    struct Case { std::string args, expect; int status; };
    // a wrong-magic, a truncated and a too-small shard
    std::string good = read_file(train);
    std::string magic = good; magic[0] ^= 1;
    write_file(dir + "/magic.bin", magic);
    write_file(dir + "/trunc.bin", good.substr(0, good.size() - 10));
    std::vector<uint32_t> few(100, 5);
    write_shard(dir + "/small.bin", few.data(), few.size(), 1024);
    std::vector<Case> cases = {
        {"--bogus 3 --train " + train, "--bogus", 2},
        {"--lr abc --train " + train, "--lr", 2},
        {"--n-embd 30 --n-head 4 --train " + train, "--n-embd", 2},
        {"--lr-schedule wavy --train " + train, "--lr-schedule", 2},
        {"--recompute 2 --train " + train, "--recompute", 2},
        {"--train " + dir + "/missing.bin", "missing.bin", 1},
        {"--train " + dir + "/magic.bin", "magic.bin", 1},
        {"--train " + dir + "/trunc.bin", "trunc.bin", 1},
        {"--train " + dir + "/small.bin --batch 4 --seq-len 64", "small.bin", 1},
        {"--train " + train + " --vocab-size 100", "train_000000.bin", 1},
    };
    for (const Case& c : cases) {
        CAPTURE(c.args);
        CommandResult r = run_command(base + c.args);
        CAPTURE(r.output);
        CHECK(r.status == c.status);
        CHECK(r.output.find("error: ") != std::string::npos);
        CHECK(r.output.find(c.expect) != std::string::npos);
    }
    fs::remove_all(dir);
}

TEST_CASE("resume is exact: a run restarted from its step-6 checkpoint prints the same losses") {
    std::string dir = make_temp_dir("resume");
    std::string common = "./train_gpt_cpu --train " + data_file(SMALL_DATA + "/train_000000.bin") + " --val " + SMALL_DATA +
                         "/val_000000.bin --vocab-size 1024 --n-layer 2 --n-head 2 --n-embd 32 --seq-len 32 --batch 4"
                         " --grad-accum 2 --shuffle --steps 12 --warmup 3 --eval-every 4 --sample-every 5 --sample-tokens 8 ";
    CommandResult full = run_command(common + "--save-every 6 --out " + dir + "/a");
    REQUIRE_MESSAGE(full.status == 0, full.output);
    CommandResult again = run_command(common + "--out " + dir + "/b");
    std::vector<std::string> lf = step_losses(full.output), la = step_losses(again.output);
    REQUIRE(lf.size() == 12);
    CHECK(la == lf);                                   // the same flags give bitwise the same losses
    fs::create_directories(dir + "/c");
    fs::copy(dir + "/a/step_000006", dir + "/c/step_000006");
    CommandResult resumed = run_command(common + "--resume --out " + dir + "/c");
    REQUIRE_MESSAGE(resumed.status == 0, resumed.output);
    std::vector<std::string> lr = step_losses(resumed.output);
    REQUIRE(lr.size() == 6);
    CHECK(std::vector<std::string>(lf.begin() + 6, lf.end()) == lr);
    // the resumed run ends with the same weights and the same samples
    CHECK(read_file(dir + "/a/step_000012/model.safetensors") == read_file(dir + "/c/step_000012/model.safetensors"));
    auto last_sample = [](const std::string& out) {
        size_t at = out.rfind("sample at step 12");
        return out.substr(at, out.find("checkpoint:", at) - at);
    };
    CHECK(last_sample(full.output) == last_sample(resumed.output));
    // log.jsonl of the resumed run holds each step once
    std::string log = read_file(dir + "/c/log.jsonl");
    CHECK(log.find("\"step\":12") != std::string::npos);
    fs::remove_all(dir);
}

// tests/data/step_losses.json holds the losses of small runs recorded before the step became
// one function (gpt_step); moving code must not move a single bit of them
static json recorded_runs() {
    return json::parse(read_file(data_file("tests/data/step_losses.json")));
}

// runs ./train_gpt_cpu with the recorded common flags plus `flags`; returns its log
static RunLog run_recorded(const json& rec, const std::string& flags, const std::string& dir) {
    data_file(SMALL_DATA + "/train_000000.bin");
    CommandResult r = run_command("./train_gpt_cpu " + rec["common_flags"].get<std::string>() + " " + flags + " --out " + dir);
    REQUIRE_MESSAGE(r.status == 0, r.output);
    return read_run_log(dir + "/log.jsonl");
}

TEST_CASE("the training step reproduces, bit for bit, the runs recorded before it was one function") {
    json rec = recorded_runs();
    std::string dir = make_temp_dir("recorded");
    int i = 0;
    for (const json& run : rec["runs"]) {
        if (run["ranks"] != 1) continue;   // the multi-rank runs are in test_mpi.cpp
        CAPTURE(run["name"].get<std::string>());
        std::string report;
        bool same = same_run_log(run, run_recorded(rec, run["flags"], dir + "/" + std::to_string(i++)), &report);
        CHECK_MESSAGE(same, report);
    }
    // --recompute 1 remakes the GELU output in the backward pass from the same inputs with the
    // same function: the recorded losses, bit for bit (it may change memory, never a number)
    const json& first = rec["runs"][0];
    bool same = same_run_log(first, run_recorded(rec, first["flags"].get<std::string>() + " --recompute 1", dir + "/recompute"));
    CHECK_MESSAGE(same, "--recompute 1 changed the recorded run " << first["name"].get<std::string>());
    // the checker's self-test: a step that clips at 0.5001 instead of 0.5 must not pass
    REQUIRE(first["flags"].get<std::string>().find("--grad-clip 0.5") != std::string::npos);
    std::string flags = first["flags"];
    flags.replace(flags.find("--grad-clip 0.5"), 15, "--grad-clip 0.5001");
    CHECK_FALSE(same_run_log(first, run_recorded(rec, flags, dir + "/planted")));
    fs::remove_all(dir);
}

TEST_CASE("training on tinyshakespeare learns: the validation loss beats the best context-free predictor") {
    // A model that ignores context can do no better on the validation text than the unigram
    // distribution of the training text. We compute that cross-entropy from the data itself
    // and require the trained model to beat it by 0.5 nats: proof that it learned to use
    // the context, in a run of a few seconds.
    std::string train = data_file(SMALL_DATA + "/train_000000.bin"), val = data_file(SMALL_DATA + "/val_000000.bin");
    std::vector<uint32_t> tr = read_shard(train, 1024), va = read_shard(val, 1024);
    std::vector<double> counts(1024, 0.5);
    for (uint32_t t : tr) counts[t] += 1;
    double total = tr.size() + 0.5 * 1024, unigram = 0;
    for (uint32_t t : va) unigram -= std::log(counts[t] / total);
    unigram /= va.size();
    MESSAGE("unigram cross-entropy of the validation text: " << unigram);
    CommandResult r = run_command("./train_gpt_cpu --train " + train + " --val " + val + " --vocab-size 1024 --n-layer 2"
                                  " --n-head 4 --n-embd 64 --seq-len 64 --batch 8 --steps 400 --lr 3e-3 --warmup 20"
                                  " --eval-every 400 --eval-batches 20 --sample-tokens 0");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    size_t at = r.output.rfind("val loss ");
    REQUIRE(at != std::string::npos);
    double val_loss = std::stod(r.output.substr(at + 9));
    MESSAGE("validation loss after 400 steps: " << val_loss);
    CHECK(val_loss < unigram - 0.5);
}
