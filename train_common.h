// train_common.h: the host code that both trainers share.
//
// What is here: the command-line table and its parser, the learning-rate schedule, the
// random number generator used for initialisation and sampling, safetensors I/O,
// checkpoints in Hugging Face GPT-2 layout, the parameter table (names, shapes, offsets),
// data-parallel partitioning, log.jsonl, and the parts of a run that do not depend on
// where the model lives: where it starts, its data, its output lines, and sampling. train_gpt_cpu.cpp and train_gpt.cu both
// include this file, so neither carries a copy of the other's host code.
//
// What is not here: anything that touches a model tensor's values in a hot loop. Layers,
// forward, backward and the optimizer live in the trainers themselves.
//
// Conventions: bad input (a file, a flag) throws std::runtime_error with a message that
// names the file or flag, says what was wrong and what to do; main() prints it and exits.
// Parameters are one contiguous buffer; param_table() gives every tensor's offset in it.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include "dataloader.h"
#include "tokenizer.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

// ----------------------------------------------------------------------------
// utilities

template <class... Args>
[[noreturn]] inline void fail(const char* fmt, Args... args) {
    char buf[2048];
    if constexpr (sizeof...(Args) == 0) snprintf(buf, sizeof buf, "%s", fmt);
    else snprintf(buf, sizeof buf, fmt, args...);
    throw std::runtime_error(buf);
}

inline double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

inline std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open %s: %s", path.c_str(), strerror(errno));
    return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_text_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f) fail("cannot write %s: %s (is the disk full?)", path.c_str(), strerror(errno));
}

// ----------------------------------------------------------------------------
// random numbers: xorshift64*, the same stream on every machine, so that the CPU and
// the GPU trainer start from bitwise the same weights and sample the same text.

struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed = 1337) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t next_u32() {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
        return (uint32_t)((state * 0x2545F4914F6CDD1Dull) >> 32);
    }
    float uniform() { return (next_u32() >> 8) / 16777216.0f; }   // [0, 1)
    float normal() {                                                 // Box-Muller, one value per call
        float u1 = 1.0f - uniform(), u2 = uniform();
        return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864f * u2);
    }
};

// ----------------------------------------------------------------------------
// command line: one table of flags. --help prints it, the parser reads it, and a test
// checks that every flag in it parses. Defaults are the initial values of Settings.

struct Settings {
    std::string train = "data/tinyshakespeare/train_*.bin", val = "data/tinyshakespeare/val_*.bin";
    std::string init, out, vocab, prompt = "\n", lr_schedule = "cosine";
    bool resume = false, shuffle = false;
    int n_layer = 4, n_head = 4, n_embd = 128, seq_len = 64, vocab_size = 50257;
    int batch = 8, grad_accum = 1, steps = 200, warmup = 20;
    int eval_every = 50, eval_batches = 10, sample_every = 0, sample_tokens = 64, top_k = 40;
    int save_every = 0, threads = 0, zero = 0;
    float lr = 1e-3f, min_lr_frac = 0.1f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
    float weight_decay = 0.1f, grad_clip = 1.0f, temperature = 1.0f;
    long long seed = 1337;
};

struct Flag {
    const char* name;
    enum Kind { STR, INT, I64, FLOAT, SWITCH } kind;
    void* ptr;
    const char* help;
};

inline std::vector<Flag> flag_table(Settings& s) {
    return {
        {"--train", Flag::STR, &s.train, "training token shards: a file or a glob"},
        {"--val", Flag::STR, &s.val, "validation token shards: a file or a glob (empty: no validation)"},
        {"--init", Flag::STR, &s.init, "start from this checkpoint's weights (ours or a Hugging Face GPT-2 dir)"},
        {"--out", Flag::STR, &s.out, "write checkpoints DIR/step_NNNNNN/ and DIR/log.jsonl here"},
        {"--resume", Flag::SWITCH, &s.resume, "continue from the newest checkpoint in --out"},
        {"--vocab", Flag::STR, &s.vocab, "tokenizer dir (encoder.json, vocab.bpe); default: beside the --train shards"},
        {"--n-layer", Flag::INT, &s.n_layer, "transformer blocks (from scratch)"},
        {"--n-head", Flag::INT, &s.n_head, "attention heads (from scratch)"},
        {"--n-embd", Flag::INT, &s.n_embd, "channels, divisible by --n-head (from scratch)"},
        {"--seq-len", Flag::INT, &s.seq_len, "tokens per row T"},
        {"--vocab-size", Flag::INT, &s.vocab_size, "vocabulary size V (from scratch)"},
        {"--batch", Flag::INT, &s.batch, "rows per micro-batch B (per rank)"},
        {"--grad-accum", Flag::INT, &s.grad_accum, "micro-batches per optimizer step"},
        {"--steps", Flag::INT, &s.steps, "optimizer steps in all"},
        {"--lr", Flag::FLOAT, &s.lr, "peak learning rate"},
        {"--warmup", Flag::INT, &s.warmup, "linear warmup steps"},
        {"--lr-schedule", Flag::STR, &s.lr_schedule, "decay after warmup: cosine | linear | constant"},
        {"--min-lr-frac", Flag::FLOAT, &s.min_lr_frac, "final learning rate as a fraction of --lr"},
        {"--beta1", Flag::FLOAT, &s.beta1, "AdamW beta1"},
        {"--beta2", Flag::FLOAT, &s.beta2, "AdamW beta2"},
        {"--eps", Flag::FLOAT, &s.eps, "AdamW epsilon"},
        {"--weight-decay", Flag::FLOAT, &s.weight_decay, "decoupled weight decay (2-D tensors only)"},
        {"--grad-clip", Flag::FLOAT, &s.grad_clip, "clip the global gradient norm to this (0 = off)"},
        {"--eval-every", Flag::INT, &s.eval_every, "validation loss every N steps and at the end (0 = off)"},
        {"--eval-batches", Flag::INT, &s.eval_batches, "batches per validation pass"},
        {"--sample-every", Flag::INT, &s.sample_every, "print generated text every N steps and at the end (0 = off)"},
        {"--sample-tokens", Flag::INT, &s.sample_tokens, "tokens to generate per sample (0 = no sampling)"},
        {"--prompt", Flag::STR, &s.prompt, "text the samples start from"},
        {"--temperature", Flag::FLOAT, &s.temperature, "sampling temperature (0 = greedy)"},
        {"--top-k", Flag::INT, &s.top_k, "sample among the k most likely tokens (0 = all)"},
        {"--save-every", Flag::INT, &s.save_every, "checkpoint every N steps (0 = off; the last is always saved)"},
        {"--seed", Flag::I64, &s.seed, "seed for initialisation, shuffling and sampling"},
        {"--shuffle", Flag::SWITCH, &s.shuffle, "seeded shuffle of shards and windows, per epoch"},
        {"--zero", Flag::INT, &s.zero, "ZeRO stage: 0 = replicate optimizer state, 1 = shard it across ranks"},
        {"--threads", Flag::INT, &s.threads, "CPU threads (0 = all cores)"},
    };
}

inline std::string flag_value_string(const Flag& f) {
    char buf[64];
    switch (f.kind) {
    case Flag::STR: {   // shown escaped, so that a prompt of "\n" stays on one line
        std::string out = "\"";
        for (char c : *(std::string*)f.ptr) out += c == '\n' ? std::string("\\n") : std::string(1, c);
        return out + "\"";
    }
    case Flag::INT: return std::to_string(*(int*)f.ptr);
    case Flag::I64: return std::to_string(*(long long*)f.ptr);
    case Flag::FLOAT: snprintf(buf, sizeof buf, "%g", *(float*)f.ptr); return buf;
    case Flag::SWITCH: return *(bool*)f.ptr ? "on" : "off";
    }
    return "";
}

inline void print_help(const char* program) {
    Settings defaults;
    printf("usage: %s [--flag value]...\n\nTrains a GPT-2 model on token shards (see README.md).\n\n", program);
    for (const Flag& f : flag_table(defaults)) {
        std::string v = f.kind == Flag::SWITCH ? "" : flag_value_string(f);
        printf("  %-16s %-44s %s\n", f.name, f.help, v.empty() ? "" : ("[" + v + "]").c_str());
    }
}

struct UsageError : std::runtime_error { using std::runtime_error::runtime_error; };

// parse argv into s; throws UsageError (main exits with status 2) on anything it does not understand
inline void parse_args(int argc, char** argv, Settings& s) {
    std::vector<Flag> table = flag_table(s);
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        const Flag* f = nullptr;
        for (const Flag& g : table) if (arg == g.name) f = &g;
        if (!f) throw UsageError("unknown flag '" + arg + "' (see --help)");
        if (f->kind == Flag::SWITCH) { *(bool*)f->ptr = true; continue; }
        if (i + 1 >= argc) throw UsageError(arg + " needs a value");
        std::string v = argv[++i];
        char* end = nullptr;
        errno = 0;
        if (f->kind == Flag::STR) {
            *(std::string*)f->ptr = v;
        } else if (f->kind == Flag::FLOAT) {
            float x = strtof(v.c_str(), &end);
            if (v.empty() || *end || errno || !std::isfinite(x))
                throw UsageError(arg + " expects a number, got '" + v + "'");
            *(float*)f->ptr = x;
        } else {
            long long x = strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end || errno || (f->kind == Flag::INT && (x < -2147483647ll || x > 2147483647ll)))
                throw UsageError(arg + " expects an integer, got '" + v + "'");
            if (f->kind == Flag::INT) *(int*)f->ptr = (int)x;
            else *(long long*)f->ptr = x;
        }
    }
    auto need = [](bool ok, const std::string& msg) { if (!ok) throw UsageError(msg); };
    need(s.n_layer >= 1 && s.n_head >= 1 && s.n_embd >= 1, "--n-layer, --n-head and --n-embd must be positive");
    need(s.n_embd % s.n_head == 0, "--n-embd (" + std::to_string(s.n_embd) + ") must be divisible by --n-head (" + std::to_string(s.n_head) + ")");
    need(s.seq_len >= 1 && s.batch >= 1 && s.grad_accum >= 1, "--seq-len, --batch and --grad-accum must be positive");
    need(s.vocab_size >= 2, "--vocab-size must be at least 2");
    need(s.steps >= 0 && s.warmup >= 0, "--steps and --warmup must not be negative");
    need(s.eval_every >= 0 && s.sample_every >= 0 && s.save_every >= 0 && s.eval_batches >= 1,
         "--eval-every, --sample-every, --save-every must be >= 0 and --eval-batches >= 1");
    need(s.sample_tokens >= 0 && s.top_k >= 0 && s.temperature >= 0, "--sample-tokens, --top-k, --temperature must be >= 0");
    need(s.lr >= 0 && s.min_lr_frac >= 0 && s.min_lr_frac <= 1, "--lr must be >= 0 and --min-lr-frac in [0, 1]");
    need(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1 && s.eps > 0, "--beta1, --beta2 must be in [0, 1) and --eps > 0");
    need(s.weight_decay >= 0 && s.grad_clip >= 0, "--weight-decay and --grad-clip must be >= 0");
    need(s.lr_schedule == "cosine" || s.lr_schedule == "linear" || s.lr_schedule == "constant",
         "--lr-schedule must be cosine, linear or constant, got '" + s.lr_schedule + "'");
    need(s.zero == 0 || s.zero == 1, "--zero must be 0 or 1");
    need(s.threads >= 0, "--threads must be >= 0");
    need(!s.resume || !s.out.empty(), "--resume needs --out DIR (the run to continue)");
}

inline void print_settings(const Settings& s_in) {
    Settings s = s_in;
    printf("+------------------+------------------------------------------+\n");
    for (const Flag& f : flag_table(s)) printf("| %-16s | %-40s |\n", f.name, flag_value_string(f).c_str());
    printf("+------------------+------------------------------------------+\n");
}

// ----------------------------------------------------------------------------
// learning-rate schedule: linear warmup over `warmup` steps, then decay from lr to
// lr * min_lr_frac by the last step (cosine, linear) or none (constant). step counts from 0.

inline float lr_at(const Settings& s, int step) {
    if (step < s.warmup) return s.lr * (step + 1) / s.warmup;
    if (s.lr_schedule == "constant" || s.steps <= s.warmup + 1) return s.lr;
    float progress = (float)(step - s.warmup) / (s.steps - 1 - s.warmup);    // 0 .. 1
    float min_lr = s.lr * s.min_lr_frac;
    if (s.lr_schedule == "linear") return s.lr - (s.lr - min_lr) * progress;
    return min_lr + 0.5f * (s.lr - min_lr) * (1.0f + std::cos(3.14159265358979f * progress));
}

// ----------------------------------------------------------------------------
// the model's shape and its parameter table.
// All parameters live in one buffer, layer after layer, so that a layer's tensors are one
// contiguous range (a bucket for data-parallel all-reduce) and a checkpoint is one loop:
//   wte (Vp,C), wpe (maxT,C), then per layer ln_1 w,b (C), c_attn w (C,3C) b (3C),
//   attn.c_proj w (C,C) b (C), ln_2 w,b (C), c_fc w (C,4C) b (4C), mlp.c_proj w (4C,C) b (C),
//   then ln_f w,b (C). Weights are [in, out]: y = x @ W + b, GPT-2's Conv1D layout.

struct GPTConfig {
    int max_seq_len = 0;        // n_positions: rows of wpe
    int vocab_size = 0;         // V, as in the checkpoint
    int padded_vocab_size = 0;  // Vp >= V, rows of wte in memory (padding rows are zero)
    int num_layers = 0, num_heads = 0, channels = 0;
};

// the vocabulary rounded up to a multiple of `multiple`: the rows of wte in memory
inline int padded_vocab_size(int vocab_size, int multiple) { return (vocab_size + multiple - 1) / multiple * multiple; }

struct ParamTensor {
    std::string name;            // Hugging Face name, e.g. "transformer.h.3.attn.c_attn.weight"
    std::vector<int64_t> shape;  // shape in the checkpoint
    size_t offset = 0, numel = 0;  // in the parameter buffer (numel includes vocab padding)
    bool decay = false;          // weight decay applies (2-D tensors)
};

constexpr int NUM_LAYER_TENSORS = 12;   // tensors per transformer block

inline std::vector<ParamTensor> param_table(const GPTConfig& c) {
    std::vector<ParamTensor> t;
    size_t offset = 0;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, size_t numel) {
        t.push_back({name, shape, offset, numel, shape.size() == 2});
        offset += numel;
    };
    int64_t C = c.channels;
    add("transformer.wte.weight", {c.vocab_size, C}, (size_t)c.padded_vocab_size * C);
    add("transformer.wpe.weight", {c.max_seq_len, C}, (size_t)c.max_seq_len * C);
    for (int l = 0; l < c.num_layers; l++) {
        std::string p = "transformer.h." + std::to_string(l) + ".";
        add(p + "ln_1.weight", {C}, C);            add(p + "ln_1.bias", {C}, C);
        add(p + "attn.c_attn.weight", {C, 3 * C}, 3 * C * C); add(p + "attn.c_attn.bias", {3 * C}, 3 * C);
        add(p + "attn.c_proj.weight", {C, C}, C * C);         add(p + "attn.c_proj.bias", {C}, C);
        add(p + "ln_2.weight", {C}, C);            add(p + "ln_2.bias", {C}, C);
        add(p + "mlp.c_fc.weight", {C, 4 * C}, 4 * C * C);    add(p + "mlp.c_fc.bias", {4 * C}, 4 * C);
        add(p + "mlp.c_proj.weight", {4 * C, C}, 4 * C * C);  add(p + "mlp.c_proj.bias", {C}, C);
    }
    add("transformer.ln_f.weight", {C}, C);
    add("transformer.ln_f.bias", {C}, C);
    return t;
}

inline size_t num_parameters(const GPTConfig& c) {
    const ParamTensor& last = param_table(c).back();
    return last.offset + last.numel;
}

// GPT-2 initialisation (seeded, identical on CPU and GPU): N(0, 0.02) for weights, residual
// projections (attn.c_proj, mlp.c_proj) scaled by 1/sqrt(2 * n_layer), LayerNorm weights 1,
// all biases 0, vocabulary padding rows 0.
inline void init_parameters(std::vector<float>& params, const GPTConfig& c, uint64_t seed) {
    params.assign(num_parameters(c), 0.0f);
    Rng rng(seed);
    for (const ParamTensor& p : param_table(c)) {
        bool is_ln = p.name.find("ln_") != std::string::npos;
        bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        float* w = params.data() + p.offset;
        if (is_ln && !is_bias) { std::fill(w, w + p.numel, 1.0f); continue; }
        if (is_bias) continue;
        float std = 0.02f;
        if (p.name.find("c_proj.weight") != std::string::npos) std /= std::sqrt(2.0f * c.num_layers);
        size_t n = (size_t)p.shape[0] * p.shape[1];   // padding rows of wte stay zero
        for (size_t i = 0; i < n; i++) w[i] = std * rng.normal();
    }
}

// ----------------------------------------------------------------------------
// safetensors: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then raw data.

struct NamedTensor {
    std::string name, dtype;        // dtype "F32", "F64", "I32"
    std::vector<int64_t> shape;
    const void* data;
};

inline size_t dtype_size(const std::string& d) {
    if (d == "F64" || d == "I64") return 8;
    if (d == "F32" || d == "I32") return 4;
    if (d == "BF16" || d == "F16") return 2;
    return 0;
}

inline void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors) {
    json header = json::object();
    header["__metadata__"] = {{"format", "pt"}};
    size_t offset = 0;
    for (const NamedTensor& t : tensors) {
        size_t n = dtype_size(t.dtype);
        for (int64_t d : t.shape) n *= d;
        header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    while ((h.size() + 8) % 8) h += ' ';   // the data starts 8-byte aligned
    FILE* f = fopen(path.c_str(), "wb");
    if (!f) fail("cannot write %s: %s", path.c_str(), strerror(errno));
    uint64_t hlen = h.size();
    bool ok = fwrite(&hlen, 8, 1, f) == 1 && fwrite(h.data(), 1, h.size(), f) == h.size();
    for (const NamedTensor& t : tensors) {
        size_t n = dtype_size(t.dtype);
        for (int64_t d : t.shape) n *= d;
        ok = ok && fwrite(t.data, 1, n, f) == n;
    }
    ok = (fclose(f) == 0) && ok;
    if (!ok) fail("writing %s failed (is the disk full?)", path.c_str());
}

struct SafeTensors {
    std::string path;
    json header;
    std::vector<char> data;

    static SafeTensors read(const std::string& path) {
        SafeTensors st;
        st.path = path;
        std::string bytes = read_text_file(path);
        uint64_t hlen = 0;
        if (bytes.size() < 8) fail("%s: not a safetensors file (%zu bytes)", path.c_str(), bytes.size());
        memcpy(&hlen, bytes.data(), 8);
        if (hlen > bytes.size() - 8) fail("%s: header length %llu exceeds the file size", path.c_str(), (unsigned long long)hlen);
        try { st.header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + hlen); }
        catch (const std::exception& e) { fail("%s: the safetensors header is not valid JSON (%s)", path.c_str(), e.what()); }
        st.data.assign(bytes.begin() + 8 + hlen, bytes.end());
        for (auto& [name, t] : st.header.items()) {
            if (name == "__metadata__") continue;
            size_t n = dtype_size(t.value("dtype", ""));
            if (!n) fail("%s: tensor %s has unsupported dtype %s", path.c_str(), name.c_str(), t.value("dtype", "?").c_str());
            for (int64_t d : t["shape"].get<std::vector<int64_t>>()) n *= d;
            size_t b = t["data_offsets"][0], e = t["data_offsets"][1];
            if (e < b || e > st.data.size() || e - b != n)
                fail("%s: tensor %s has data offsets [%zu, %zu) that disagree with its shape or the file size",
                     path.c_str(), name.c_str(), b, e);
        }
        return st;
    }
    bool has(const std::string& name) const { return name != "__metadata__" && header.contains(name); }
    std::vector<int64_t> shape(const std::string& name) const { return header.at(name)["shape"].get<std::vector<int64_t>>(); }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (auto& [k, v] : header.items()) if (k != "__metadata__") n.push_back(k);
        return n;
    }
    // the tensor's values converted to T (from F32, F64, BF16, I32 or I64)
    template <class T>
    std::vector<T> get(const std::string& name) const {
        if (!has(name)) fail("%s: has no tensor named %s", path.c_str(), name.c_str());
        const json& t = header.at(name);
        std::string dt = t["dtype"];
        size_t b = t["data_offsets"][0], e = t["data_offsets"][1];
        size_t n = (e - b) / dtype_size(dt);
        std::vector<T> out(n);
        const char* p = data.data() + b;
        for (size_t i = 0; i < n; i++) {
            if (dt == "F32") { float x; memcpy(&x, p + 4 * i, 4); out[i] = (T)x; }
            else if (dt == "F64") { double x; memcpy(&x, p + 8 * i, 8); out[i] = (T)x; }
            else if (dt == "I32") { int32_t x; memcpy(&x, p + 4 * i, 4); out[i] = (T)x; }
            else if (dt == "I64") { int64_t x; memcpy(&x, p + 8 * i, 8); out[i] = (T)x; }
            else if (dt == "BF16") { uint32_t x = 0; memcpy((char*)&x + 2, p + 2 * i, 2); float f; memcpy(&f, &x, 4); out[i] = (T)f; }
            else fail("%s: tensor %s has dtype %s, which is not supported here", path.c_str(), name.c_str(), dt.c_str());
        }
        return out;
    }
};

// ----------------------------------------------------------------------------
// checkpoints: a directory that Hugging Face loads as it is (config.json, model.safetensors)
// plus optimizer.safetensors (AdamW moments) and trainer_state.json (step, data position,
// RNG). Written to a temporary name and renamed into place, so a crash leaves the previous
// checkpoint whole.

inline json hf_config(const GPTConfig& c) {
    return {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}},
            {"n_layer", c.num_layers}, {"n_head", c.num_heads}, {"n_embd", c.channels},
            {"n_positions", c.max_seq_len}, {"n_ctx", c.max_seq_len}, {"vocab_size", c.vocab_size},
            {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5}, {"tie_word_embeddings", true},
            {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}, {"n_inner", nullptr},
            {"bos_token_id", c.vocab_size - 1}, {"eos_token_id", c.vocab_size - 1},
            {"initializer_range", 0.02}, {"torch_dtype", "float32"}};
}

// reads DIR/config.json into a GPTConfig (padded_vocab_size = vocab_size; the caller may pad)
inline GPTConfig read_hf_config(const std::string& dir) {
    std::string path = dir + "/config.json";
    if (!fs::exists(path)) fail("%s: not found; a checkpoint directory holds config.json and model.safetensors", path.c_str());
    json j;
    try { j = json::parse(read_text_file(path)); }
    catch (const json::exception& e) { fail("%s: not valid JSON (%s)", path.c_str(), e.what()); }
    GPTConfig c;
    try {
        c.num_layers = j.at("n_layer"); c.num_heads = j.at("n_head"); c.channels = j.at("n_embd");
        c.max_seq_len = j.contains("n_positions") ? j["n_positions"].get<int>() : j.at("n_ctx").get<int>();
        c.vocab_size = j.at("vocab_size");
    } catch (const json::exception& e) { fail("%s: missing or bad GPT-2 key (%s)", path.c_str(), e.what()); }
    if (c.num_layers < 1 || c.num_heads < 1 || c.channels < 1 || c.channels % c.num_heads || c.max_seq_len < 1 || c.vocab_size < 2)
        fail("%s: impossible model shape (n_layer %d, n_head %d, n_embd %d, n_positions %d, vocab_size %d)", path.c_str(),
             c.num_layers, c.num_heads, c.channels, c.max_seq_len, c.vocab_size);
    if (j.contains("activation_function") && j["activation_function"] != "gelu_new")
        fail("%s: activation_function is %s; only gelu_new (GPT-2's tanh GELU) is implemented", path.c_str(),
             j["activation_function"].dump().c_str());
    c.padded_vocab_size = c.vocab_size;
    return c;
}

// loads model.safetensors of DIR into params (laid out by param_table(c)). Accepts the
// "transformer."-prefixed names of save_pretrained and OpenAI's unprefixed ones, ignores the
// attention mask buffers, and checks every shape against config.json.
inline void load_parameters(const std::string& dir, const GPTConfig& c, std::vector<float>& params) {
    std::string path = dir + "/model.safetensors";
    if (!fs::exists(path)) fail("%s: not found; a checkpoint directory holds config.json and model.safetensors", path.c_str());
    SafeTensors st = SafeTensors::read(path);
    params.assign(num_parameters(c), 0.0f);
    std::vector<ParamTensor> table = param_table(c);
    size_t used = 0;
    for (const ParamTensor& p : table) {
        std::string name = p.name;
        if (!st.has(name)) name = p.name.substr(strlen("transformer."));
        if (!st.has(name)) fail("%s: tensor %s is missing", path.c_str(), p.name.c_str());
        if (st.shape(name) != p.shape) {
            std::string want, got;
            for (int64_t d : p.shape) want += std::to_string(d) + ",";
            for (int64_t d : st.shape(name)) got += std::to_string(d) + ",";
            fail("%s: tensor %s has shape (%s) but config.json implies (%s); the checkpoint does not match its config",
                 path.c_str(), name.c_str(), got.c_str(), want.c_str());
        }
        std::vector<float> v = st.get<float>(name);
        std::copy(v.begin(), v.end(), params.begin() + p.offset);
        used++;
    }
    for (const std::string& n : st.names()) {
        bool buffer = n.find("attn.bias") != std::string::npos || n.find("attn.masked_bias") != std::string::npos;
        bool head = n == "lm_head.weight";   // tied to wte; written by some exporters
        if (!buffer && !head && !st.has("transformer." + n) && std::none_of(table.begin(), table.end(),
            [&](const ParamTensor& p) { return p.name == n || p.name == "transformer." + n; }))
            fail("%s: unexpected tensor %s (not part of a GPT-2 model)", path.c_str(), n.c_str());
    }
}

inline std::string step_dir_name(int step) {
    char buf[32];
    snprintf(buf, sizeof buf, "step_%06d", step);
    return buf;
}

// the newest complete checkpoint in out_dir ("" if none); temporary directories are ignored
inline std::string find_latest_checkpoint(const std::string& out_dir) {
    std::string best;
    if (!fs::is_directory(out_dir)) return best;
    for (const auto& e : fs::directory_iterator(out_dir)) {
        std::string n = e.path().filename().string();
        if (n.size() == 11 && n.rfind("step_", 0) == 0 && fs::exists(e.path() / "trainer_state.json") && n > best) best = n;
    }
    return best.empty() ? best : out_dir + "/" + best;
}

// writes one checkpoint atomically: DIR/.step_NNNNNN.tmp, then renamed to DIR/step_NNNNNN
inline std::string save_checkpoint(const std::string& out_dir, int step, const GPTConfig& c,
                                   const float* params, const float* m, const float* v, const json& state) {
    std::string final_dir = out_dir + "/" + step_dir_name(step);
    std::string tmp = out_dir + "/." + step_dir_name(step) + ".tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    std::vector<ParamTensor> table = param_table(c);
    std::vector<NamedTensor> model, opt;
    for (const ParamTensor& p : table) {
        model.push_back({p.name, "F32", p.shape, params + p.offset});
        opt.push_back({"m." + p.name, "F32", p.shape, m + p.offset});
        opt.push_back({"v." + p.name, "F32", p.shape, v + p.offset});
    }
    write_text_file(tmp + "/config.json", hf_config(c).dump(2) + "\n");
    write_safetensors(tmp + "/model.safetensors", model);
    write_safetensors(tmp + "/optimizer.safetensors", opt);
    write_text_file(tmp + "/trainer_state.json", state.dump(2) + "\n");
    std::string old = out_dir + "/." + step_dir_name(step) + ".old";
    fs::remove_all(old);
    if (fs::exists(final_dir)) fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old);
    return final_dir;
}

// loads the AdamW moments of a checkpoint (laid out by param_table(c))
inline void load_optimizer(const std::string& dir, const GPTConfig& c, std::vector<float>& m, std::vector<float>& v) {
    SafeTensors st = SafeTensors::read(dir + "/optimizer.safetensors");
    m.assign(num_parameters(c), 0.0f);
    v.assign(num_parameters(c), 0.0f);
    for (const ParamTensor& p : param_table(c)) {
        std::vector<float> a = st.get<float>("m." + p.name), b = st.get<float>("v." + p.name);
        std::copy(a.begin(), a.end(), m.begin() + p.offset);
        std::copy(b.begin(), b.end(), v.begin() + p.offset);
    }
}

// ----------------------------------------------------------------------------
// data-parallel partitioning, shared by the CPU (MPI) and GPU (NCCL) trainers.
// ZeRO-1 gives each of `world` ranks one contiguous shard of the parameter buffer for its
// optimizer state. Shards are padded to equal length, so any number of ranks works: the
// buffers are allocated with padded_size(), and the padding is zero and never updated.

struct Shard { size_t begin, end; };   // [begin, end) of the unpadded buffer owned by a rank

inline size_t shard_size(size_t n, int world) { return (n + world - 1) / world; }
inline size_t padded_size(size_t n, int world) { return shard_size(n, world) * world; }
inline Shard shard_of(size_t n, int world, int rank) {
    size_t s = shard_size(n, world);
    return {std::min(n, rank * s), std::min(n, (rank + 1) * s)};
}

// ----------------------------------------------------------------------------
// log.jsonl: one JSON object per line, the same figures as the step lines

struct Logger {
    std::string path;
    // resume_step >= 0: keep only the lines up to that step (a resumed run rewrites the rest)
    void open(const std::string& out_dir, int resume_step) {
        if (out_dir.empty()) return;
        fs::create_directories(out_dir);
        path = out_dir + "/log.jsonl";
        std::string kept;
        if (resume_step >= 0 && fs::exists(path)) {
            std::ifstream in(path);
            for (std::string line; std::getline(in, line);) {
                try { if (json::parse(line).value("step", 0) <= resume_step) kept += line + "\n"; } catch (...) {}
            }
        }
        write_text_file(path, kept);
    }
    void log(const json& j) {
        if (path.empty()) return;
        std::ofstream f(path, std::ios::app);
        f << j.dump() << "\n";
    }
};

// ----------------------------------------------------------------------------
// the run: what both trainers' train() share, around their own model code

inline std::string format_bytes(size_t n) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f MiB", n / 1048576.0);
    return buf;
}

// where a run starts: from the newest checkpoint in --out (--resume), from --init, or from
// scratch. vocab_multiple: the trainer pads the vocabulary to a multiple of this in memory.
struct RunStart {
    GPTConfig config;
    std::vector<float> params;   // laid out by param_table(config)
    std::string resume_dir;      // "" unless resuming; then also:
    std::vector<float> m, v;     // the AdamW moments
    json state;                  // trainer_state.json: step, data position, RNG
    int step = 0;
};

inline RunStart start_run(const Settings& s, int vocab_multiple, FILE* out) {
    RunStart r;
    r.resume_dir = s.resume ? find_latest_checkpoint(s.out) : "";
    if (s.resume && r.resume_dir.empty() && out) fprintf(out, "no checkpoint in %s yet: starting from scratch\n", s.out.c_str());
    std::string source = !r.resume_dir.empty() ? r.resume_dir : s.init;
    GPTConfig& c = r.config;
    if (!source.empty()) {
        c = read_hf_config(source);
    } else {
        c.num_layers = s.n_layer; c.num_heads = s.n_head; c.channels = s.n_embd;
        c.max_seq_len = s.seq_len; c.vocab_size = s.vocab_size;
    }
    c.padded_vocab_size = padded_vocab_size(c.vocab_size, vocab_multiple);
    if (!source.empty()) load_parameters(source, c, r.params);
    else init_parameters(r.params, c, s.seed);
    if (s.seq_len > c.max_seq_len)
        throw UsageError("--seq-len " + std::to_string(s.seq_len) + " exceeds the model's " +
                         std::to_string(c.max_seq_len) + " positions (n_positions of " + source + ")");
    if (!r.resume_dir.empty()) {
        load_optimizer(r.resume_dir, c, r.m, r.v);
        r.state = json::parse(read_text_file(r.resume_dir + "/trainer_state.json"));
        r.step = r.state.at("step");
    }
    return r;
}

// the run's data: training and validation loaders for this rank, the tokenizer that made the
// data (--vocab, else the folder of the first training shard; none: samples print ids), the
// encoded prompt, and the RNG of sampling, all restored from the checkpoint when resuming
struct RunData {
    std::unique_ptr<DataLoader> train, val;
    std::unique_ptr<Tokenizer> tok;
    std::vector<int> prompt;
    Rng rng;
};

inline RunData open_data(const Settings& s, const RunStart& start, int rank, int world) {
    RunData d;
    size_t V = start.config.vocab_size;
    d.train = std::make_unique<DataLoader>(s.train, s.batch, s.seq_len, rank, world, s.grad_accum, V, s.shuffle, s.seed);
    if (!s.val.empty()) d.val = std::make_unique<DataLoader>(s.val, s.batch, s.seq_len, rank, world, 1, V, false, 0);
    d.rng = Rng(s.seed);
    if (!start.resume_dir.empty()) {
        d.train->restore(start.state.at("loader"));
        d.rng.state = start.state.at("rng");
    }
    std::string dir = !s.vocab.empty() ? s.vocab : fs::path(d.train->files()[0]).parent_path().string();
    if (dir.empty()) dir = ".";
    if (fs::exists(dir + "/encoder.json")) d.tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
    else if (!s.vocab.empty()) fail("--vocab %s: no encoder.json there", s.vocab.c_str());
    if (d.tok) for (uint32_t id : d.tok->encode(s.prompt)) d.prompt.push_back((int)id);
    return d;
}

// what a checkpoint records besides the weights and moments
inline json trainer_state(int step, const RunData& d, int world) {
    return {{"step", step}, {"loader", d.train->state()}, {"rng", d.rng.state}, {"world", world}};
}

// the step line (DESIGN.md section 5) and its twin in log.jsonl; out is null on ranks > 0
inline void report_step(FILE* out, Logger& logger, int step, int steps, double loss, float lr, double norm,
                        double ms, double tok_s) {
    if (out) {
        fprintf(out, "step %d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step, steps, loss, lr, norm, ms, tok_s);
        fflush(out);
    }
    logger.log({{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm}, {"ms", ms}, {"tok_per_s", tok_s}});
    if (!std::isfinite(loss)) fail("the loss is not finite at step %d: lower --lr or check the data", step);
}

inline void report_val(FILE* out, Logger& logger, int step, double loss) {
    if (out) { fprintf(out, "val loss %.6f | step %d\n", loss, step); fflush(out); }
    logger.log({{"step", step}, {"val_loss", loss}});
}

// draws the next token from logits (V): greedy at temperature 0, else softmax(logits / temperature)
// restricted to the top_k most likely tokens (top_k 0: all of them)
template <class T>
int sample_token(const T* logits, int V, float temperature, int top_k, Rng& rng) {
    std::vector<int> idx(V);
    for (int i = 0; i < V; i++) idx[i] = i;
    auto by_logit = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    if (temperature == 0) return *std::min_element(idx.begin(), idx.end(), by_logit);
    int k = top_k > 0 && top_k < V ? top_k : V;
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), by_logit);
    std::vector<double> prob(k);
    double sum = 0;
    for (int i = 0; i < k; i++) sum += prob[i] = std::exp(((double)logits[idx[i]] - logits[idx[0]]) / temperature);
    double r = rng.uniform() * sum;
    for (int i = 0; i < k; i++) if ((r -= prob[i]) < 0) return idx[i];
    return idx[k - 1];
}

// the sampling loop around a model: forward_one(token, pos) runs one position (with the
// model's KV cache) and returns the logits of the next token. Feeds the prompt, then draws
// n tokens (fewer if the model's positions run out); tok (may be null) decodes them to echo.
template <class ForwardOne>
std::vector<int> generate_tokens(int max_seq_len, int V, const std::vector<int>& prompt, int n, float temperature,
                                 int top_k, Rng& rng, const Tokenizer* tok, FILE* echo, ForwardOne forward_one) {
    std::vector<int> out;
    int token = prompt.empty() ? V - 1 : prompt[0];   // no prompt: start from the last id (end of text)
    for (int pos = 0, i = 1; pos < max_seq_len && (int)out.size() < n; pos++) {
        auto logits = forward_one(token, pos);
        if (i < (int)prompt.size()) { token = prompt[i++]; continue; }     // still reading the prompt
        token = sample_token(logits, V, temperature, top_k, rng);
        out.push_back(token);
        if (echo) {
            if (tok && (size_t)token < tok->vocab_size()) fputs(tok->token_bytes(token).c_str(), echo);
            else fprintf(echo, "<%d>", token);
            fflush(echo);
        }
    }
    return out;
}
