// tests/test_limits.cpp: the CPU trainer at the edges of its input: sizes too large for
// any machine, thread counts past reason, a prompt from a larger tokenizer, many layers.
// Each must end in a message naming the flag (or file) and what to change, never in a
// crash, std::bad_alloc or an integer overflow. Runs ./train_gpt_cpu (built by `make`)
// and needs data/tinyshakespeare_bpe1k and data/gpt2 (`make data`); a few seconds in all.
#include <doctest/doctest.h>
#define TRAIN_GPT_NO_MAIN
#include "train_gpt_cpu.cpp"
#include "tests/test_util.h"

static const std::string SMALL_DATA = "data/tinyshakespeare_bpe1k";   // made by `make data`

// a one-step run on the small shards, without validation or samples unless args ask
static std::string tiny_run(const std::string& args) {
    return "./train_gpt_cpu --train " + data_file(SMALL_DATA + "/train_000000.bin") + " --val '' --vocab-size 1024"
           " --n-layer 1 --n-head 2 --n-embd 16 --seq-len 8 --batch 2 --steps 1 --eval-every 0 --sample-tokens 0 " + args;
}

TEST_CASE("many layers: the parameter count is right and a 96-layer run trains") {
    GPTConfig c;
    c.num_layers = 96; c.num_heads = 2; c.channels = 16; c.max_seq_len = 8;
    c.vocab_size = c.padded_vocab_size = 1024;
    CHECK(num_parameters(c) == size_t(1024 * 16 + 8 * 16 + 96 * (12 * 16 * 16 + 13 * 16) + 2 * 16));
    CommandResult r = run_command(tiny_run("--n-layer 96"));
    CHECK_MESSAGE(r.status == 0, r.output);
    CHECK(step_losses(r.output).size() == 1);
}

TEST_CASE("the memory estimate is what the trainer allocates") {
    GPTConfig c;
    c.num_layers = 3; c.num_heads = 2; c.channels = 12; c.max_seq_len = 9;
    c.vocab_size = c.padded_vocab_size = 37;
    std::vector<float> params;
    init_parameters(params, c, 1);
    GPT model;
    gpt_build(model, c, params);
    std::vector<int> tokens(5 * 7, 3);
    gpt_forward(model, tokens.data(), tokens.data(), 5, 7);   // allocates the activations for B=5, T=7
    MemoryEstimate m = gpt_memory(c, 5, 7);
    size_t n = num_parameters(c);
    CHECK(m.params == double(n * (sizeof(float) + sizeof(real))));
    CHECK(m.grads == double(model.grads.size() * sizeof(real)));
    CHECK(m.moments == double((model.m.size() + model.v.size()) * sizeof(real)));
    CHECK(m.activations == double((model.act_memory.size() + model.scratch_memory.size()) * sizeof(real)));
    model.recompute = 1;   // --recompute 1: one layer's GELU output instead of one per layer
    gpt_forward(model, tokens.data(), tokens.data(), 5, 7);
    MemoryEstimate r = gpt_memory(c, 5, 7, 1);
    CHECK(r.activations == double((model.act_memory.size() + model.scratch_memory.size()) * sizeof(real)));
    CHECK(r.activations < m.activations);
    // and the check refuses only what does not fit, naming the flags of the largest part
    CHECK_NOTHROW(check_memory(m, m.total(), ""));
    CHECK_THROWS_WITH_AS(check_memory(m, m.total() - 1, ""), doctest::Contains("--n-layer, --n-embd"), UsageError);
    MemoryEstimate acts = m;
    acts.activations = 10 * m.total();
    CHECK_THROWS_WITH_AS(check_memory(acts, m.total(), ""), doctest::Contains("lower --batch or --seq-len"), UsageError);
    CHECK_THROWS_WITH_AS(check_memory(m, 1, "ckpt/step_000010"), doctest::Contains("ckpt/step_000010"), UsageError);
}

TEST_CASE("sizes no machine can hold are refused before anything is allocated, naming the flag") {
    struct Case { std::string args, expect; };
    std::vector<Case> cases = {
        {"--n-embd 1000000 --n-head 1", "lower --n-layer, --n-embd"},
        {"--n-layer 2147483647", "lower --n-layer, --n-embd"},
        {"--seq-len 200000", "lower --batch or --seq-len"},
        {"--batch 2147483647", "lower --batch or --seq-len"},
        {"--vocab-size 2147483647", "lower --n-layer, --n-embd, --vocab-size"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.args);
        CommandResult r = run_command(tiny_run(c.args));
        CAPTURE(r.output);
        CHECK(r.status == 2);
        CHECK(r.output.find("error: the run needs ") != std::string::npos);
        CHECK(r.output.find(c.expect) != std::string::npos);
        CHECK(r.output.find("bad_alloc") == std::string::npos);
    }
    // the same for a checkpoint whose config.json asks for 2^31-1 positions: refused before
    // its weights are read, naming the checkpoint
    std::string dir = make_temp_dir("limits_init");
    GPTConfig huge;
    huge.num_layers = 1; huge.num_heads = 2; huge.channels = 16; huge.max_seq_len = 2147483647;
    huge.vocab_size = huge.padded_vocab_size = 1024;
    write_file(dir + "/config.json", hf_config(huge).dump(2));
    CommandResult r = run_command(tiny_run("--init " + dir));
    CAPTURE(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find("this model (" + dir + ") is too large") != std::string::npos);
    fs::remove_all(dir);
    // padding the vocabulary must not overflow an int (the GPU trainer pads to a multiple of 128)
    Settings s;
    s.vocab_size = 2147483647;
    CHECK_THROWS_WITH_AS(start_run(s, 128, nullptr), doctest::Contains("--vocab-size 2147483647 is too large"), UsageError);
}

TEST_CASE("--threads: absurd counts are refused, more than the cores are capped with a note") {
    CommandResult r = run_command(tiny_run("--threads 100000"));
    CHECK(r.status == 2);
    CHECK_MESSAGE(r.output.find("error: --threads must be in 0..1024") != std::string::npos, r.output);
    CHECK(run_command(tiny_run("--threads -1")).status == 2);
#ifdef _OPENMP
    r = run_command(tiny_run("--threads 1000"));
    CHECK_MESSAGE(r.status == 0, r.output);
    if (omp_get_num_procs() < 1000)
        CHECK(r.output.find("--threads 1000 is more than the " + std::to_string(omp_get_num_procs()) + " cores here") !=
              std::string::npos);
#endif
}

TEST_CASE("a prompt from a larger tokenizer than the model is refused, naming --prompt, --vocab and the sizes") {
    // GPT-2's tokenizer (50257 ids) on a 1024-id model: "Hello" is id 15496
    for (int layers : {1, 2}) {
        CommandResult r = run_command(tiny_run("--n-layer " + std::to_string(layers) +
                                               " --vocab data/gpt2 --prompt 'Hello world' --sample-every 1 --sample-tokens 4"));
        CAPTURE(r.output);
        CHECK(r.status == 1);
        CHECK(r.output.find("error: --prompt encodes to token id 15496, outside the model's vocabulary of 1024 ids") !=
              std::string::npos);
        CHECK(r.output.find("data/gpt2 has 50257 ids") != std::string::npos);
        CHECK(r.output.find("--vocab") != std::string::npos);
    }
    // the sampling loop itself refuses such ids too (the GPU trainer shares it)
    Rng rng(1);
    auto never = [](int, int) -> const float* { FAIL("the model must not run"); return nullptr; };
    CHECK_THROWS_WITH_AS(generate_tokens(8, 10, {3, 10}, 2, 1.0f, 0, rng, nullptr, nullptr, never),
                         doctest::Contains("prompt token id 10 is outside"), std::runtime_error);
    // the tokenizer the model was trained with works
    CommandResult ok = run_command(tiny_run("--prompt 'Hello world' --sample-every 1 --sample-tokens 4"));
    CHECK_MESSAGE(ok.status == 0, ok.output);
}
