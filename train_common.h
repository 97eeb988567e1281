// train_common.h: the host code that both trainers share, in the order a run uses it.
//
// What is here, section by section: the command line (the flag table, the parser, the table
// of settings) and the learning-rate schedule; files written durably (checked, fsynced,
// checksummed); safetensors I/O; checkpoints in Hugging Face GPT-2 layout with their
// manifest; data-parallel partitioning; log.jsonl; the run itself (the lock on the output
// folder, where a run starts, its data, its output lines) and sampling. train_gpt_cpu.cpp
// and train_gpt.cu both include this file, so neither carries a copy of the other's host code.
//
// What is not here: the model's definition (gpt_model.h), errors, whole files, the flag
// parser, the clock and the RNG (base.h), and anything that touches a model tensor's values
// in a hot loop: layers, forward, backward and the optimizer live in the trainers themselves.
//
// Conventions: bad input goes through base.h's fail() (UsageError for a flag), with a message
// that names the file or flag, says what was wrong and what to do; main() prints it and exits.
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
#include <functional>
#include <map>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include "base.h"         // defines: fail, UsageError, read_file, Flag, parse_flags, print_flags, Rng
#include "tokenizer.h"    // defines: Tokenizer (the prompt and the samples)
#include "dataloader.h"   // defines: DataLoader (a run's data and its position in checkpoints)
#include "gpt_model.h"    // defines: GPTConfig, ParamTensor, param_table, num_parameters, init_parameters

namespace fs = std::filesystem;
using json = nlohmann::json;

// ----------------------------------------------------------------------------
// command line: one table of flags. --help prints it, the parser reads it, and a test
// checks that every flag in it parses. Defaults are the initial values of Settings.

struct Settings {
    std::string train = "data/tinyshakespeare/train_*.bin", val = "data/tinyshakespeare/val_*.bin";
    std::string init, out, vocab, prompt = "\n", lr_schedule = "cosine";
    bool resume = false, overwrite = false, shuffle = false;
    int n_layer = 4, n_head = 4, n_embd = 128, seq_len = 64, vocab_size = 50257;
    int batch = 8, grad_accum = 1, steps = 200, warmup = 20;
    int eval_every = 50, eval_batches = 10, sample_every = 0, sample_tokens = 64, top_k = 40;
    int save_every = 0, threads = 0, zero = 0, recompute = 0;
    float lr = 1e-3f, min_lr_frac = 0.1f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
    float weight_decay = 0.1f, grad_clip = 1.0f, temperature = 1.0f;
    long long seed = 1337;
};

inline std::vector<Flag> flag_table(Settings& s) {
    return {
        {"--train", Flag::STR, &s.train, "training token shards: a file or a glob"},
        {"--val", Flag::STR, &s.val, "validation token shards: a file or a glob (empty: no validation)"},
        {"--init", Flag::STR, &s.init, "start from this checkpoint's weights (ours or a Hugging Face GPT-2 dir)"},
        {"--out", Flag::STR, &s.out, "write checkpoints DIR/step_NNNNNN/ and DIR/log.jsonl here"},
        {"--resume", Flag::SWITCH, &s.resume, "continue from the newest complete checkpoint in --out"},
        {"--overwrite", Flag::SWITCH, &s.overwrite, "delete the checkpoints and log already in --out, then start over"},
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
        {"--recompute", Flag::INT, &s.recompute, "0 = keep every activation, 1 = keep the GELU input only, remake its output in the backward"},
        {"--threads", Flag::INT, &s.threads, "CPU threads (0 = all cores)"},
    };
}

inline void print_help(const char* program) {
    Settings defaults;
    printf("usage: %s [--flag value]...\n\nTrains a GPT-2 model on token shards (see README.md).\n\n", program);
    print_flags(stdout, flag_table(defaults));
}

constexpr int MAX_THREADS = 1024;   // --threads above this is refused as a typo

// parse argv into s; throws UsageError (main exits with status 2) on anything it does not understand
inline void parse_args(int argc, char** argv, Settings& s) {
    parse_flags(flag_table(s), argc, argv);
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
    need(s.recompute == 0 || s.recompute == 1, "--recompute must be 0 (keep every activation) or 1 (remake the GELU "
         "output in the backward pass), got " + std::to_string(s.recompute) + "; recomputing the LayerNorms is not built");
    // libgomp crashes on absurd thread counts; train() also caps it at the machine's cores
    need(s.threads >= 0 && s.threads <= MAX_THREADS,
         "--threads must be in 0.." + std::to_string(MAX_THREADS) + " (0 = all cores), got " + std::to_string(s.threads));
    need(!s.resume || !s.out.empty(), "--resume needs --out DIR (the run to continue)");
    need(!s.overwrite || !s.out.empty(), "--overwrite needs --out DIR (the folder to start over in)");
    need(!s.resume || !s.overwrite, "--resume continues the run in --out and --overwrite deletes it: give one of them");
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
// files that survive a crash. Checkpoints and log.jsonl are written through these: every
// write, fsync and close is checked (a full disk stops the run with the file named, it
// never leaves a short file behind silently), and DurableFile checksums what it writes so
// that a checkpoint's manifest can prove later that its files are whole. Cost: one fsync
// per file and a CRC-32 at a few GB/s, paid only when a checkpoint is saved.
//
// Two test hooks, environment variables that only the tests set, simulate what a test
// cannot otherwise produce on demand:
//   TRAIN_GPT_TEST_KILL_AT=N  the process kills itself (SIGKILL) at its Nth file operation
//                             (a write, fsync, rename or removal): a crash at any moment;
//   TRAIN_GPT_TEST_FULL_AT=N  the Nth write and every later one fail with ENOSPC: a full disk.

// The counters start at the first file operation; a test that sets the variables inside its
// own process calls io_faults(true) to read them again and restart the counts.
struct IoFaults { long kill_at = 0, full_at = 0, ops = 0, writes = 0; };

inline IoFaults& io_faults(bool reread = false) {
    static IoFaults f;
    static bool read = false;
    if (!read || reread) {
        auto env = [](const char* name) { const char* v = getenv(name); return v ? atol(v) : 0L; };
        f = {env("TRAIN_GPT_TEST_KILL_AT"), env("TRAIN_GPT_TEST_FULL_AT"), 0, 0};
        read = true;
    }
    return f;
}

// called before every file operation; true: this write must fail as on a full disk
inline bool io_fault(bool is_write) {
    IoFaults& f = io_faults();
    if (f.kill_at > 0 && ++f.ops == f.kill_at) kill(getpid(), SIGKILL);
    return is_write && f.full_at > 0 && ++f.writes >= f.full_at;
}

// CRC-32 (the polynomial of zlib, gzip and PNG: Python's zlib.crc32 gives the same numbers),
// eight bytes at a time ("slicing-by-8") so that checksumming keeps up with the disk
struct Crc32 {
    uint32_t value = 0;
    void update(const void* data, size_t n) {
        static const auto table = [] {
            std::vector<uint32_t> t(8 * 256);
            for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            for (int s = 1; s < 8; s++)
                for (int i = 0; i < 256; i++) t[s * 256 + i] = (t[(s - 1) * 256 + i] >> 8) ^ t[t[(s - 1) * 256 + i] & 255];
            return t;
        }();
        const uint32_t* t = table.data();
        const unsigned char* p = (const unsigned char*)data;
        uint32_t c = ~value;
        for (; n >= 8; n -= 8, p += 8) {
            uint32_t lo = c ^ (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
            c = t[7 * 256 + (lo & 255)] ^ t[6 * 256 + ((lo >> 8) & 255)] ^ t[5 * 256 + ((lo >> 16) & 255)] ^
                t[4 * 256 + (lo >> 24)] ^ t[3 * 256 + p[4]] ^ t[2 * 256 + p[5]] ^ t[256 + p[6]] ^ t[p[7]];
        }
        for (; n; n--, p++) c = t[(c ^ *p) & 255] ^ (c >> 8);
        value = ~c;
    }
};

// one file written start to end: write() as often as needed, then close() flushes it to
// the disk (fsync) before it counts as written. bytes and crc describe what was written.
struct DurableFile {
    std::string path;
    int fd = -1;
    size_t bytes = 0;
    Crc32 crc;

    explicit DurableFile(const std::string& p) : path(p) {
        io_fault(false);
        fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) fail("cannot create %s: %s", p.c_str(), strerror(errno));
    }
    DurableFile(const DurableFile&) = delete;
    DurableFile& operator=(const DurableFile&) = delete;
    ~DurableFile() { if (fd >= 0) ::close(fd); }

    void write(const void* data, size_t n) {
        crc.update(data, n);
        bytes += n;
        const char* p = (const char*)data;
        while (n > 0) {
            if (io_fault(true)) { errno = ENOSPC; fail_write(); }
            ssize_t k = ::write(fd, p, std::min(n, (size_t)1 << 30));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) fail_write();
            p += k; n -= (size_t)k;
        }
    }
    void write(const std::string& s) { write(s.data(), s.size()); }
    void close() {
        io_fault(false);
        int synced = ::fsync(fd), closed = ::close(fd);
        fd = -1;
        if (synced != 0 || closed != 0) fail_write();
    }
    [[noreturn]] void fail_write() const {
        fail("writing %s failed: %s%s", path.c_str(), strerror(errno), errno == ENOSPC ? " (the disk is full: free some space)" : "");
    }
};

// makes a rename or a new file in directory `dir` itself durable (the entry, not the data)
inline void fsync_dir(const std::string& dir) {
    io_fault(false);
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("cannot open the directory %s: %s", dir.c_str(), strerror(errno));
    int synced = ::fsync(fd);
    ::close(fd);
    if (synced != 0) fail("cannot flush the directory %s to disk: %s", dir.c_str(), strerror(errno));
}

// writes `text` to path atomically: a temporary file beside it, fsynced, renamed over it,
// the directory fsynced. A crash at any moment leaves the old file or the new one, whole.
inline void replace_file_durably(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    try {
        DurableFile f(tmp);
        f.write(text);
        f.close();
        io_fault(false);
        if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename %s to %s: %s", tmp.c_str(), path.c_str(), strerror(errno));
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    fsync_dir(fs::path(path).parent_path().string().empty() ? "." : fs::path(path).parent_path().string());
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

// what was written to one file: its size and CRC-32, as a checkpoint's manifest lists them
struct FileRecord {
    size_t bytes = 0;
    uint32_t crc32 = 0;
};

inline FileRecord write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors) {
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
    DurableFile f(path);
    uint64_t hlen = h.size();
    f.write(&hlen, 8);
    f.write(h);
    for (const NamedTensor& t : tensors) {
        size_t n = dtype_size(t.dtype);
        for (int64_t d : t.shape) n *= d;
        f.write(t.data, n);
    }
    f.close();
    return {f.bytes, f.crc.value};
}

// a safetensors file, read and checked whole before anything trusts it: the header is a
// JSON object of {dtype, shape, data_offsets} entries, every size fits, every tensor lies
// inside the data and no two overlap. Every complaint names the file and the tensor.
struct SafeTensors {
    struct Entry { std::string dtype; std::vector<int64_t> shape; size_t begin = 0, end = 0; };
    std::string path;
    std::map<std::string, Entry> tensors;
    std::vector<char> data;

    static SafeTensors read(const std::string& path) {
        std::string bytes = read_file(path);
        return parse(bytes.data(), bytes.size(), path);
    }
    // bytes: the whole file; path: the name used in messages
    static SafeTensors parse(const char* bytes, size_t size, const std::string& path) {
        SafeTensors st;
        st.path = path;
        const char* p = path.c_str();
        uint64_t hlen = 0;
        if (size < 8) fail("%s: not a safetensors file (%zu bytes; at least 8 expected)", p, size);
        memcpy(&hlen, bytes, 8);
        if (hlen > size - 8) fail("%s: header length %llu exceeds the file size", p, (unsigned long long)hlen);
        json header;
        try { header = json::parse(bytes + 8, bytes + 8 + hlen); }
        catch (const std::exception& e) { fail("%s: the safetensors header is not valid JSON (%s)", p, e.what()); }
        if (!header.is_object()) fail("%s: the safetensors header is not a JSON object", p);
        size_t data_size = size - 8 - hlen;
        std::vector<std::pair<size_t, size_t>> ranges;
        for (auto& [name, t] : header.items()) {
            const char* n = name.c_str();
            if (name == "__metadata__") {
                if (!t.is_object()) fail("%s: __metadata__ is not a JSON object", p);
                continue;
            }
            if (!t.is_object()) fail("%s: tensor %s: its entry is not a JSON object", p, n);
            Entry e;
            if (!t.contains("dtype") || !t["dtype"].is_string()) fail("%s: tensor %s: field dtype is missing or not a string", p, n);
            e.dtype = t["dtype"].get<std::string>();
            size_t bytes_needed = dtype_size(e.dtype);
            if (!bytes_needed) fail("%s: tensor %s: dtype %s is not supported (F32, F64, BF16, F16, I32, I64)", p, n, e.dtype.c_str());
            if (!t.contains("shape") || !t["shape"].is_array()) fail("%s: tensor %s: field shape is missing or not an array", p, n);
            for (const json& d : t["shape"]) {
                if (!d.is_number_integer() || d.get<int64_t>() < 0)
                    fail("%s: tensor %s: field shape holds %s, not a non-negative integer", p, n, d.dump().c_str());
                int64_t x = d.get<int64_t>();
                if (x > 0 && bytes_needed > data_size / (size_t)x)
                    fail("%s: tensor %s: field shape %s is larger than the file", p, n, t["shape"].dump().c_str());
                bytes_needed *= (size_t)x;
                e.shape.push_back(x);
            }
            const json& o = t.contains("data_offsets") ? t["data_offsets"] : json();
            if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
                fail("%s: tensor %s: field data_offsets is missing or not two non-negative integers", p, n);
            e.begin = o[0].get<size_t>(); e.end = o[1].get<size_t>();
            if (e.end < e.begin || e.end > data_size || e.end - e.begin != bytes_needed)
                fail("%s: tensor %s: data_offsets [%zu, %zu) disagree with its shape (%zu bytes) or the data size (%zu bytes)",
                     p, n, e.begin, e.end, bytes_needed, data_size);
            if (e.end > e.begin) ranges.push_back({e.begin, e.end});
            st.tensors[name] = e;
        }
        std::sort(ranges.begin(), ranges.end());
        for (size_t i = 1; i < ranges.size(); i++)
            if (ranges[i].first < ranges[i - 1].second)
                fail("%s: two tensors overlap in the data (bytes [%zu, %zu) and [%zu, %zu)): the file is corrupt", p,
                     ranges[i - 1].first, ranges[i - 1].second, ranges[i].first, ranges[i].second);
        st.data.assign(bytes + 8 + hlen, bytes + size);
        return st;
    }
    bool has(const std::string& name) const { return tensors.count(name) > 0; }
    const Entry& entry(const std::string& name) const {
        auto it = tensors.find(name);
        if (it == tensors.end()) fail("%s: has no tensor named %s", path.c_str(), name.c_str());
        return it->second;
    }
    std::vector<int64_t> shape(const std::string& name) const { return entry(name).shape; }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (auto& [k, v] : tensors) n.push_back(k);
        return n;
    }
    // the tensor's values converted to T (from F32, F64, BF16, I32 or I64)
    template <class T>
    std::vector<T> get(const std::string& name) const {
        const Entry& t = entry(name);
        const std::string& dt = t.dtype;
        size_t n = (t.end - t.begin) / dtype_size(dt);
        std::vector<T> out(n);
        const char* p = data.data() + t.begin;
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
// plus optimizer.safetensors (AdamW moments), trainer_state.json (step, data position, RNG,
// length of log.jsonl) and manifest.json (every file's size and CRC-32). Durability, in this
// order: each file is written into DIR/.step_NNNNNN.tmp and fsynced, the manifest last; the
// folder is renamed into place and DIR fsynced. A checkpoint is complete only when its
// manifest is there and matches its files, so a crash or a power loss at any moment leaves
// the previous complete checkpoint whole, and --resume can tell which ones are complete.
// Loading checks everything (names, dtypes, shapes, values, every state field) and names
// the file at fault: a broken checkpoint is refused, never half loaded.

inline json hf_config(const GPTConfig& c) {
    return {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}},
            {"n_layer", c.num_layers}, {"n_head", c.num_heads}, {"n_embd", c.channels},
            {"n_positions", c.max_seq_len}, {"n_ctx", c.max_seq_len}, {"vocab_size", c.vocab_size},
            {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5}, {"tie_word_embeddings", true},
            {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}, {"n_inner", nullptr},
            {"bos_token_id", c.vocab_size - 1}, {"eos_token_id", c.vocab_size - 1},
            {"initializer_range", 0.02}, {"torch_dtype", "float32"}};
}

// an integer field of a JSON object, in [lo, hi] (hi >= 0); the message names the file and the field
inline int64_t json_int(const json& j, const char* key, int64_t lo, int64_t hi, const std::string& path) {
    if (!j.contains(key)) fail("%s: field %s is missing", path.c_str(), key);
    const json& v = j.at(key);
    bool ok = v.is_number_unsigned() ? v.get<uint64_t>() <= (uint64_t)hi && (int64_t)v.get<uint64_t>() >= lo
                                     : v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    if (!ok) fail("%s: field %s is %.40s, not an integer in [%lld, %lld]", path.c_str(), key, v.dump().c_str(),
                  (long long)lo, (long long)hi);
    return v.get<int64_t>();
}

// config.json's text into a GPTConfig (padded_vocab_size = vocab_size; the caller may pad);
// path names the file in messages
inline GPTConfig parse_hf_config(const std::string& text, const std::string& path) {
    json j;
    try { j = json::parse(text); }
    catch (const json::exception& e) { fail("%s: not valid JSON (%s)", path.c_str(), e.what()); }
    if (!j.is_object()) fail("%s: not a JSON object of GPT-2 settings", path.c_str());
    GPTConfig c;
    c.num_layers = (int)json_int(j, "n_layer", 1, INT32_MAX, path);
    c.num_heads = (int)json_int(j, "n_head", 1, INT32_MAX, path);
    c.channels = (int)json_int(j, "n_embd", 1, INT32_MAX, path);
    c.max_seq_len = (int)json_int(j, j.contains("n_positions") ? "n_positions" : "n_ctx", 1, INT32_MAX, path);
    c.vocab_size = (int)json_int(j, "vocab_size", 2, INT32_MAX, path);
    if (c.channels % c.num_heads)
        fail("%s: n_embd %d is not divisible by n_head %d", path.c_str(), c.channels, c.num_heads);
    if (j.contains("activation_function") && j["activation_function"] != "gelu_new")
        fail("%s: activation_function is %.40s; only gelu_new (GPT-2's tanh GELU) is implemented", path.c_str(),
             j["activation_function"].dump().c_str());
    c.padded_vocab_size = c.vocab_size;
    return c;
}

// reads DIR/config.json into a GPTConfig
inline GPTConfig read_hf_config(const std::string& dir) {
    std::string path = dir + "/config.json";
    if (!fs::exists(path)) fail("%s: not found; a checkpoint directory holds config.json and model.safetensors", path.c_str());
    return parse_hf_config(read_file(path), path);
}

inline std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

// the first element of x[0, n) that is not finite, or (nonnegative: AdamW's second moments)
// negative; n if there is none
inline size_t first_bad_value(const float* x, size_t n, bool nonnegative) {
    for (size_t i = 0; i < n; i++)
        if (!std::isfinite(x[i]) || (nonnegative && x[i] < 0)) return i;
    return n;
}

// loads model.safetensors of DIR into params (laid out by param_table(c)). Accepts the
// "transformer."-prefixed names of save_pretrained and OpenAI's unprefixed ones, ignores the
// attention mask buffers, and checks every shape against config.json before it allocates
// anything: a config.json that claims a far larger model than its weights fails here, not
// in the allocator. Weights that are not finite are refused with the file named.
inline void load_parameters(const std::string& dir, const GPTConfig& c, std::vector<float>& params) {
    std::string path = dir + "/model.safetensors";
    if (!fs::exists(path)) fail("%s: not found; a checkpoint directory holds config.json and model.safetensors", path.c_str());
    SafeTensors st = SafeTensors::read(path);
    // the number of layers first: param_table(c) itself grows with n_layer
    long layers = 0;
    for (const auto& [full, e] : st.tensors) {
        std::string n = full.rfind("transformer.", 0) == 0 ? full.substr(strlen("transformer.")) : full;
        if (n.rfind("h.", 0) == 0 && isdigit((unsigned char)n[2])) layers = std::max(layers, std::min(strtol(n.c_str() + 2, nullptr, 10), 1L << 31) + 1);
    }
    if (layers != c.num_layers)
        fail("%s: holds %ld layers but %s/config.json says n_layer %d; the checkpoint does not match its config",
             path.c_str(), layers, dir.c_str(), c.num_layers);
    std::vector<ParamTensor> table = param_table(c);
    std::vector<std::string> names;
    for (const ParamTensor& p : table) {
        std::string name = p.name;
        if (!st.has(name)) name = p.name.substr(strlen("transformer."));
        if (!st.has(name)) fail("%s: tensor %s is missing", path.c_str(), p.name.c_str());
        if (st.shape(name) != p.shape)
            fail("%s: tensor %s has shape %s but config.json implies %s; the checkpoint does not match its config",
                 path.c_str(), name.c_str(), shape_string(st.shape(name)).c_str(), shape_string(p.shape).c_str());
        names.push_back(name);
    }
    for (const std::string& n : st.names()) {
        bool buffer = n.find("attn.bias") != std::string::npos || n.find("attn.masked_bias") != std::string::npos;
        bool head = n == "lm_head.weight";   // tied to wte; written by some exporters
        if (!buffer && !head && std::find(names.begin(), names.end(), n) == names.end())
            fail("%s: unexpected tensor %s (not part of a GPT-2 model of this config)", path.c_str(), n.c_str());
    }
    params.assign(table.back().offset + table.back().numel, 0.0f);
    for (size_t k = 0; k < table.size(); k++) {
        std::vector<float> v = st.get<float>(names[k]);
        size_t bad = first_bad_value(v.data(), v.size(), false);
        if (bad < v.size())
            fail("%s: tensor %s holds %g at element %zu: the checkpoint is corrupt (this is not a learning-rate "
                 "problem); use an earlier checkpoint", path.c_str(), names[k].c_str(), v[bad], bad);
        std::copy(v.begin(), v.end(), params.begin() + table[k].offset);
    }
}

// loads the AdamW moments of a checkpoint (laid out by param_table(c), already checked
// against model.safetensors by load_parameters): exactly the tensors m.NAME and v.NAME of
// every parameter, F32, of the parameter's shape, finite, and v never negative
inline void load_optimizer(const std::string& dir, const GPTConfig& c, std::vector<float>& m, std::vector<float>& v) {
    std::string path = dir + "/optimizer.safetensors";
    SafeTensors st = SafeTensors::read(path);
    std::vector<ParamTensor> table = param_table(c);
    for (const ParamTensor& p : table)
        for (const char* moment : {"m.", "v."}) {
            std::string name = moment + p.name;
            if (!st.has(name)) fail("%s: tensor %s is missing", path.c_str(), name.c_str());
            if (st.entry(name).dtype != "F32")
                fail("%s: tensor %s has dtype %s; AdamW moments are F32", path.c_str(), name.c_str(), st.entry(name).dtype.c_str());
            if (st.shape(name) != p.shape)
                fail("%s: tensor %s has shape %s but the model's %s is %s; the optimizer state belongs to another model",
                     path.c_str(), name.c_str(), shape_string(st.shape(name)).c_str(), p.name.c_str(), shape_string(p.shape).c_str());
        }
    if (st.tensors.size() != 2 * table.size())
        for (const std::string& n : st.names())
            if (n.size() < 2 || (n.compare(0, 2, "m.") && n.compare(0, 2, "v.")) ||
                std::none_of(table.begin(), table.end(), [&](const ParamTensor& p) { return p.name == n.substr(2); }))
                fail("%s: unexpected tensor %s (not a moment of this model's parameters)", path.c_str(), n.c_str());
    m.assign(table.back().offset + table.back().numel, 0.0f);
    v.assign(m.size(), 0.0f);
    for (const ParamTensor& p : table)
        for (int k = 0; k < 2; k++) {
            std::string name = (k ? "v." : "m.") + p.name;
            std::vector<float> x = st.get<float>(name);
            size_t bad = first_bad_value(x.data(), x.size(), k == 1);
            if (bad < x.size())
                fail("%s: tensor %s holds %g at element %zu%s: the checkpoint is corrupt (this is not a learning-rate "
                     "problem); use an earlier checkpoint", path.c_str(), name.c_str(), x[bad], bad,
                     k == 1 && std::isfinite(x[bad]) ? " (AdamW's second moments are never negative)" : "");
            std::copy(x.begin(), x.end(), (k ? v : m).begin() + p.offset);
        }
}

// trainer_state.json: what a checkpoint records besides the weights and moments, checked
// field by field (a step of 2^40 must not become 0); the data position (loader) is checked
// by DataLoader::restore against the run's data
struct TrainerState {
    int step = 0, world = 1;
    uint64_t rng = 0;        // the sampler's RNG state
    int64_t log_lines = 0;   // lines of log.jsonl when the checkpoint was saved
    json loader;
};

inline TrainerState parse_trainer_state(const std::string& text, const std::string& path) {
    json j;
    try { j = json::parse(text); }
    catch (const json::exception& e) { fail("%s: not valid JSON (%s)", path.c_str(), e.what()); }
    if (!j.is_object()) fail("%s: not a JSON object", path.c_str());
    TrainerState t;
    t.step = (int)json_int(j, "step", 0, INT32_MAX, path);
    t.world = (int)json_int(j, "world", 1, INT32_MAX, path);
    t.log_lines = json_int(j, "log_lines", 0, INT64_MAX, path);
    if (!j.contains("rng") || !j["rng"].is_number_unsigned() || j["rng"].get<uint64_t>() == 0)
        fail("%s: field rng is missing or not a positive integer (the sampler's random state)", path.c_str());
    t.rng = j["rng"].get<uint64_t>();
    if (!j.contains("loader") || !j["loader"].is_object())
        fail("%s: field loader is missing or not a JSON object (the position in the training data)", path.c_str());
    t.loader = j["loader"];
    return t;
}

inline std::string step_dir_name(int step) {
    char buf[32];
    snprintf(buf, sizeof buf, "step_%06d", step);
    return buf;
}

// the step of a checkpoint folder's name step_NNNNNN (six digits or more), or -1
inline long step_of_dir_name(const std::string& n) {
    if (n.size() < 11 || n.size() > 15 || n.compare(0, 5, "step_") ||
        !std::all_of(n.begin() + 5, n.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return -1;
    long step = atol(n.c_str() + 5);
    return step <= INT32_MAX ? step : -1;
}

inline const char* const CHECKPOINT_FILES[] = {"config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"};

// "" if dir is a complete checkpoint: its manifest.json is there and every file it lists has
// the size and CRC-32 recorded; otherwise what is wrong. Reads every file once.
inline std::string verify_checkpoint(const std::string& dir) {
    std::string mpath = dir + "/manifest.json";
    std::error_code ec;
    if (!fs::is_regular_file(mpath, ec)) return "no manifest.json (the save did not finish)";
    json man;
    try { man = json::parse(read_file(mpath)); }
    catch (const std::exception&) { return "manifest.json is not valid JSON (a torn write)"; }
    if (!man.is_object() || !man.contains("files") || !man["files"].is_object()) return "manifest.json lists no files";
    for (const char* f : CHECKPOINT_FILES)
        if (!man["files"].contains(f)) return std::string("manifest.json does not list ") + f;
    for (const auto& [name, rec] : man["files"].items()) {
        if (!rec.is_object() || !rec.contains("bytes") || !rec["bytes"].is_number_unsigned() || !rec.contains("crc32") ||
            !rec["crc32"].is_number_unsigned() || name.find('/') != std::string::npos || name == "..")
            return "manifest.json: the entry of " + name + " is malformed";
        std::string path = dir + "/" + name;
        if (!fs::is_regular_file(path, ec)) return name + " is missing";
        uint64_t size = fs::file_size(path, ec), want = rec["bytes"];
        if (ec || size != want) return name + " has " + std::to_string(size) + " bytes, the manifest says " + std::to_string(want);
        FILE* f = fopen(path.c_str(), "rb");
        if (!f) return name + " cannot be read: " + strerror(errno);
        Crc32 crc;
        std::vector<char> buf(1 << 20);
        for (size_t n; (n = fread(buf.data(), 1, buf.size(), f)) > 0;) crc.update(buf.data(), n);
        bool read_error = ferror(f);
        fclose(f);
        if (read_error || crc.value != rec["crc32"].get<uint64_t>()) return name + " does not match its checksum (corrupt)";
    }
    return "";
}

// the newest complete checkpoint in out_dir ("" if none). Folders that do not verify are
// skipped; skipped (may be null) gets one line for each, newest first: its name and why.
inline std::string find_latest_checkpoint(const std::string& out_dir, std::vector<std::string>* skipped = nullptr) {
    std::vector<std::pair<long, std::string>> found;
    std::error_code ec;
    if (!fs::is_directory(out_dir, ec)) return "";
    for (const auto& e : fs::directory_iterator(out_dir, ec)) {
        std::string n = e.path().filename().string();
        if (step_of_dir_name(n) >= 0 && e.is_directory(ec)) found.push_back({step_of_dir_name(n), n});
    }
    std::sort(found.rbegin(), found.rend());
    for (const auto& [step, name] : found) {
        std::string why = verify_checkpoint(out_dir + "/" + name);
        if (why.empty()) return out_dir + "/" + name;
        if (skipped) skipped->push_back(name + ": " + why);
    }
    return "";
}

// writes one checkpoint, durably (see the top of this section), and returns its folder.
// Refuses weights or moments that are not finite: a checkpoint is always one to resume from.
// A failed save removes its temporary folder and leaves every earlier checkpoint as it was.
inline std::string save_checkpoint(const std::string& out_dir, int step, const GPTConfig& c,
                                   const float* params, const float* m, const float* v, const json& state) {
    std::string name = step_dir_name(step), final_dir = out_dir + "/" + name, tmp = out_dir + "/." + name + ".tmp";
    std::vector<ParamTensor> table = param_table(c);
    std::vector<NamedTensor> model, opt;
    for (const ParamTensor& p : table) {
        for (int k = 0; k < 3; k++) {
            const float* x = (k == 0 ? params : k == 1 ? m : v) + p.offset;
            size_t bad = first_bad_value(x, p.numel, k == 2);
            if (bad < p.numel)
                fail("step %d: not saving %s: %s%s holds %g at element %zu; training diverged (lower --lr or raise "
                     "--warmup); the earlier checkpoints are untouched", step, final_dir.c_str(),
                     k == 0 ? "" : k == 1 ? "m." : "v.", p.name.c_str(), x[bad], bad);
        }
        model.push_back({p.name, "F32", p.shape, params + p.offset});
        opt.push_back({"m." + p.name, "F32", p.shape, m + p.offset});
        opt.push_back({"v." + p.name, "F32", p.shape, v + p.offset});
    }
    std::error_code ec;
    fs::remove_all(tmp, ec);   // what a crash during an earlier save of this step left behind
    try {
        fs::create_directories(tmp);
        json files = json::object();
        auto record = [&](const char* file, FileRecord r) { files[file] = {{"bytes", r.bytes}, {"crc32", r.crc32}}; };
        auto write_text = [&](const char* file, const std::string& text) {
            DurableFile f(tmp + "/" + file);
            f.write(text);
            f.close();
            record(file, {f.bytes, f.crc.value});
        };
        write_text("config.json", hf_config(c).dump(2) + "\n");
        record("model.safetensors", write_safetensors(tmp + "/model.safetensors", model));
        record("optimizer.safetensors", write_safetensors(tmp + "/optimizer.safetensors", opt));
        write_text("trainer_state.json", state.dump(2) + "\n");
        // the manifest last: its presence is what makes the checkpoint complete
        DurableFile manifest(tmp + "/manifest.json");
        manifest.write(json{{"step", step}, {"files", files}}.dump(2) + "\n");
        manifest.close();
        fsync_dir(tmp);
        // into place. An older copy of the same step (from before a crash) is swapped with
        // the new one in one atomic rename (RENAME_EXCHANGE), so step_N exists, whole, at
        // every moment; then the old copy, now in tmp, is removed.
        io_fault(false);
        if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
            if ((errno != EEXIST && errno != ENOTEMPTY) ||
                renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0)
                fail("cannot rename %s to %s: %s", tmp.c_str(), final_dir.c_str(), strerror(errno));
        }
        fsync_dir(out_dir);
    } catch (const std::exception& e) {
        fs::remove_all(tmp, ec);
        fail("checkpoint %s not saved: %s; the earlier checkpoints are untouched", final_dir.c_str(), e.what());
    }
    io_fault(false);
    fs::remove_all(tmp, ec);
    return final_dir;
}

// ----------------------------------------------------------------------------
// data-parallel partitioning, shared by the CPU (MPI) and GPU (NCCL) trainers.
// ZeRO-1 gives each of `world` ranks one contiguous shard of the parameter buffer for its
// optimizer state. Shards are padded to equal length, so any number of ranks works: the
// buffers are allocated with padded_size(), and the padding is zero and never updated. With
// several ranks a shard's length is a multiple of `align` values: the GPU trainer asks for
// SHARD_ALIGN, so that every shard starts on a 32-byte boundary of the fp32 buffers and a
// 16-byte one of bf16 weights, and its AdamW and norm kernels move 16 bytes per access on
// every rank's shard, not only on rank 0's. The CPU trainer needs no alignment (1).

struct Shard { size_t begin, end; };   // [begin, end) of the unpadded buffer owned by a rank

static const size_t SHARD_ALIGN = 8;
inline size_t shard_size(size_t n, int world, size_t align = 1) {
    if (world == 1) return n;
    size_t s = (n + world - 1) / world;
    return (s + align - 1) / align * align;
}
inline size_t padded_size(size_t n, int world, size_t align = 1) { return shard_size(n, world, align) * world; }
inline Shard shard_of(size_t n, int world, int rank, size_t align = 1) {
    size_t s = shard_size(n, world, align);
    return {std::min(n, rank * s), std::min(n, (rank + 1) * s)};
}

// ----------------------------------------------------------------------------
// log.jsonl: one JSON object per line, the same figures as the step lines. Every line is
// one checked write (a full disk stops the run instead of dropping lines). Each checkpoint
// records how many lines the log had (trainer_state.json's log_lines) after fsyncing it, so
// a resumed run cuts the log back to exactly that point and its log equals an
// uninterrupted run's, line for line.

struct Logger {
    std::string path;
    int fd = -1;
    int64_t lines = 0;   // lines in the file

    Logger() = default;
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;
    ~Logger() { if (fd >= 0) ::close(fd); }

    // keep_lines < 0: a new, empty log; else keep the first keep_lines lines of the existing
    // one (those before the checkpoint we resume from). The cut is written to a temporary
    // file and renamed over the log, so a crash here leaves the old log or the new one.
    void open(const std::string& out_dir, int64_t keep_lines) {
        if (out_dir.empty()) return;
        fs::create_directories(out_dir);
        path = out_dir + "/log.jsonl";
        std::string kept;
        lines = 0;
        if (keep_lines > 0) {
            std::error_code ec;
            std::string old = fs::exists(path, ec) ? read_file(path) : "";
            size_t end = 0;
            while (lines < keep_lines && old.find('\n', end) != std::string::npos) end = old.find('\n', end) + 1, lines++;
            kept = old.substr(0, end);
            if (lines < keep_lines)
                fprintf(stderr, "warning: %s holds %lld lines but the checkpoint was saved after %lld; the log will have a gap\n",
                        path.c_str(), (long long)lines, (long long)keep_lines);
        }
        replace_file_durably(path, kept);
        fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0) fail("cannot open %s: %s", path.c_str(), strerror(errno));
    }
    void log(const json& j) {
        if (fd < 0) return;
        std::string line = j.dump() + "\n";
        errno = ENOSPC;
        ssize_t n = io_fault(true) ? -1 : ::write(fd, line.data(), line.size());
        if (n != (ssize_t)line.size())
            fail("writing %s failed: %s; the run stops rather than lose a line (free some space, then --resume)",
                 path.c_str(), n < 0 ? strerror(errno) : "short write");
        lines++;
    }
    // makes every line so far durable; done before each checkpoint, which records `lines`
    void sync() {
        if (fd < 0) return;
        io_fault(false);
        if (::fsync(fd) != 0) fail("cannot flush %s to disk: %s", path.c_str(), strerror(errno));
    }
};

// ----------------------------------------------------------------------------
// the run: what both trainers' train() share, around their own model code

inline std::string format_bytes(size_t n) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f MiB", n / 1048576.0);
    return buf;
}

// --out belongs to one trainer at a time: an exclusive flock on DIR/.lock, held until the
// process ends (the kernel drops it even after kill -9). The file holds the owner's pid so
// that a second trainer can say who has the folder.
struct OutDirLock {
    int fd = -1;
    OutDirLock() = default;
    OutDirLock(const OutDirLock&) = delete;
    OutDirLock& operator=(const OutDirLock&) = delete;
    ~OutDirLock() { if (fd >= 0) ::close(fd); }
};

inline std::unique_ptr<OutDirLock> lock_out_dir(const std::string& dir) {
    auto lock = std::make_unique<OutDirLock>();
    std::string path = dir + "/.lock";
    lock->fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock->fd < 0) fail("--out %s: cannot create %s: %s", dir.c_str(), path.c_str(), strerror(errno));
    if (flock(lock->fd, LOCK_EX | LOCK_NB) != 0) {
        std::string holder = read_file(path);
        while (!holder.empty() && isspace((unsigned char)holder.back())) holder.pop_back();
        fail("--out %s is in use by another trainer (%s): wait for it to finish, or give this run another --out",
             dir.c_str(), holder.empty() ? "pid unknown" : holder.c_str());
    }
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    std::string me = "pid " + std::to_string(getpid()) + " on " + host + "\n";
    if (ftruncate(lock->fd, 0) != 0 || pwrite(lock->fd, me.data(), me.size(), 0) != (ssize_t)me.size())
        fail("--out %s: cannot write %s: %s", dir.c_str(), path.c_str(), strerror(errno));
    return lock;
}

// what a run in --out wrote: checkpoints, their temporary folders, the log
inline bool is_run_file(const std::string& n) {
    return step_of_dir_name(n) >= 0 || (n.rfind(".step_", 0) == 0) || n == "log.jsonl" || n == "log.jsonl.tmp";
}

// takes --out for this run (rank 0 only): creates and locks it; a folder that already holds
// something needs --resume (continue that run) or --overwrite (delete the previous run's
// checkpoints and log, then start over), so that forgetting --resume never destroys a run
inline std::unique_ptr<OutDirLock> claim_out_dir(const Settings& s, FILE* out) {
    std::error_code ec;
    if (fs::exists(s.out, ec) && !fs::is_directory(s.out, ec))
        throw UsageError("--out " + s.out + " is a file, not a folder: choose another --out");
    fs::create_directories(s.out, ec);
    if (ec) fail("--out %s: cannot create the folder: %s", s.out.c_str(), ec.message().c_str());
    std::unique_ptr<OutDirLock> lock = lock_out_dir(s.out);
    std::vector<std::string> present;
    for (const auto& e : fs::directory_iterator(s.out))
        if (e.path().filename() != ".lock") present.push_back(e.path().filename().string());
    std::sort(present.begin(), present.end());
    if (present.empty() || s.resume) return lock;
    if (!s.overwrite) {
        std::string list;
        for (size_t i = 0; i < present.size() && i < 4; i++) list += (i ? ", " : "") + present[i];
        if (present.size() > 4) list += ", ...";
        throw UsageError("--out " + s.out + " is not empty (" + list + "): add --resume to continue the run there, "
                         "--overwrite to delete its checkpoints and log and start over, or choose another --out");
    }
    int removed = 0;
    for (const std::string& n : present)
        if (is_run_file(n)) {
            fs::remove_all(s.out + "/" + n, ec);
            if (ec) fail("--overwrite: cannot remove %s/%s: %s", s.out.c_str(), n.c_str(), ec.message().c_str());
            removed++;
        }
    if (out) fprintf(out, "--overwrite: removed %d checkpoint(s) and log(s) of the previous run in %s\n", removed, s.out.c_str());
    return lock;
}

// What a run needs in memory, worked out before anything is allocated, so that an impossible
// size (--n-embd 1000000, --seq-len 200000, a vocabulary of 2^31) is refused with the
// figure and the flag to change instead of ending in std::bad_alloc. Bytes as double: a
// product of huge sizes must not wrap around the way size_t or int would.
struct MemoryEstimate {
    double params = 0, grads = 0, moments = 0, activations = 0;   // bytes
    int B = 0, T = 0;                                             // activations at this batch
    double total() const { return params + grads + moments + activations; }
};

inline std::string format_gib(double bytes) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

// the machine's physical memory in bytes (0 if unknown)
inline double physical_memory_bytes() {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * page : 0;
}

// refuses a run that cannot fit in `limit` bytes, naming the flags that make the largest part
inline void check_memory(const MemoryEstimate& m, double limit, const std::string& model_source) {
    if (limit <= 0 || m.total() <= limit) return;
    bool model_too_big = m.params + m.grads + m.moments > m.activations;
    std::string fix = !model_too_big ? "lower --batch or --seq-len"
                    : model_source.empty() ? "lower --n-layer, --n-embd, --vocab-size or --seq-len"
                    : "this model (" + model_source + ") is too large for this machine";
    char buf[512];
    snprintf(buf, sizeof buf, "the run needs %s of memory (parameters %s, gradients %s, AdamW moments %s, "
             "activations at --batch %d --seq-len %d %s) but this machine has %s: %s",
             format_gib(m.total()).c_str(), format_gib(m.params).c_str(), format_gib(m.grads).c_str(),
             format_gib(m.moments).c_str(), m.B, m.T, format_gib(m.activations).c_str(), format_gib(limit).c_str(), fix.c_str());
    throw UsageError(buf);
}

// where a run starts: from the newest checkpoint in --out (--resume), from --init, or from
// scratch. vocab_multiple: the trainer pads the vocabulary to a multiple of this in memory.
// out: where to report, null on ranks > 0, which neither print nor write files.
// estimate (may be empty): the trainer's memory estimate for a config, checked against the
// machine's memory before the parameters are allocated.
struct RunStart {
    GPTConfig config;
    std::vector<float> params;   // laid out by param_table(config)
    std::string resume_dir;      // "" unless resuming; then also:
    std::vector<float> m, v;     // the AdamW moments
    TrainerState state;          // trainer_state.json: step, data position, RNG, log length
    int step = 0;
    int64_t log_lines = -1;      // lines of log.jsonl to keep (-1: a new log)
    bool finished = false;       // --resume found the run already at --steps: nothing to do
    std::unique_ptr<OutDirLock> lock;   // rank 0 owns --out while this lives
};

inline RunStart start_run(const Settings& s, int vocab_multiple, FILE* out,
                          const std::function<MemoryEstimate(const GPTConfig&)>& estimate = nullptr) {
    RunStart r;
    if (out && !s.out.empty()) r.lock = claim_out_dir(s, out);
    if (s.resume) {
        std::vector<std::string> skipped;
        r.resume_dir = find_latest_checkpoint(s.out, &skipped);
        for (const std::string& why : skipped)
            if (out) fprintf(out, "--resume: skipping %s/%s\n", s.out.c_str(), why.c_str());
        if (r.resume_dir.empty() && !skipped.empty())
            fail("--resume: no checkpoint in %s is complete (see above), so there is nothing to resume from; "
                 "move the broken ones away, or start over with --overwrite", s.out.c_str());
        if (r.resume_dir.empty() && out) fprintf(out, "no checkpoint in %s yet: starting from scratch\n", s.out.c_str());
    }
    std::string source = !r.resume_dir.empty() ? r.resume_dir : s.init;
    GPTConfig& c = r.config;
    if (!source.empty()) {
        c = read_hf_config(source);
    } else {
        c.num_layers = s.n_layer; c.num_heads = s.n_head; c.channels = s.n_embd;
        c.max_seq_len = s.seq_len; c.vocab_size = s.vocab_size;
    }
    if ((int64_t)c.vocab_size + vocab_multiple - 1 > INT32_MAX)   // the padding must not overflow an int
        throw UsageError((source.empty() ? "--vocab-size " : "vocab_size in " + source + "/config.json: ") +
                         std::to_string(c.vocab_size) + " is too large: at most " +
                         std::to_string(INT32_MAX / vocab_multiple * vocab_multiple) + " ids");
    c.padded_vocab_size = padded_vocab_size(c.vocab_size, vocab_multiple);
    if (!r.resume_dir.empty()) {   // the state first: it decides whether there is anything to do
        std::string path = r.resume_dir + "/trainer_state.json";
        r.state = parse_trainer_state(read_file(path), path);
        r.step = r.state.step;
        if (r.step != step_of_dir_name(fs::path(r.resume_dir).filename().string()))
            fail("%s: field step is %d but the folder is %s: the checkpoint is inconsistent", path.c_str(), r.step,
                 fs::path(r.resume_dir).filename().c_str());
        if (s.steps < r.step)
            throw UsageError("--steps " + std::to_string(s.steps) + " is below the step of the checkpoint to resume, " +
                             r.resume_dir + " (" + std::to_string(r.step) + "): give --steps " + std::to_string(r.step) +
                             " or more to continue that run, or use another --out");
        if (s.steps == r.step) {
            if (out) fprintf(out, "%s is already at --steps %d: nothing to train (raise --steps to continue)\n",
                             r.resume_dir.c_str(), s.steps);
            r.finished = true;
            return r;
        }
        r.log_lines = r.state.log_lines;
    }
    if (estimate) check_memory(estimate(c), physical_memory_bytes(), source);
    if (!source.empty()) load_parameters(source, c, r.params);
    else init_parameters(r.params, c, s.seed);
    if (s.seq_len > c.max_seq_len)
        throw UsageError("--seq-len " + std::to_string(s.seq_len) + " exceeds the model's " +
                         std::to_string(c.max_seq_len) + " positions (n_positions of " + source + ")");
    if (!r.resume_dir.empty()) load_optimizer(r.resume_dir, c, r.m, r.v);
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
        try { d.train->restore(start.state.loader); }
        catch (const std::runtime_error& e) { fail("%s/trainer_state.json: field loader: %s", start.resume_dir.c_str(), e.what()); }
        d.rng.state = start.state.rng;
    }
    std::string dir = !s.vocab.empty() ? s.vocab : fs::path(d.train->files()[0]).parent_path().string();
    if (dir.empty()) dir = ".";
    if (fs::exists(dir + "/encoder.json")) d.tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
    else if (!s.vocab.empty()) fail("--vocab %s: no encoder.json there", s.vocab.c_str());
    if (d.tok) for (uint32_t id : d.tok->encode(s.prompt)) d.prompt.push_back((int)id);
    bool sampling = s.sample_every > 0 && s.sample_tokens > 0;
    for (int id : d.prompt)   // a tokenizer larger than the model would index past its embedding table
        if (sampling && id >= start.config.vocab_size)
            fail("--prompt encodes to token id %d, outside the model's vocabulary of %d ids; the tokenizer in %s has %zu "
                 "ids: point --vocab at the tokenizer the model was trained with", id, start.config.vocab_size,
                 dir.c_str(), d.tok->vocab_size());
    return d;
}

// what a checkpoint records besides the weights and moments. The log is fsynced first: the
// checkpoint records its length, which a resumed run cuts it back to.
inline json trainer_state(int step, const RunData& d, int world, Logger& logger) {
    logger.sync();
    return {{"step", step}, {"loader", d.train->state()}, {"rng", d.rng.state}, {"world", world}, {"log_lines", logger.lines}};
}

// called between backward and the update: a loss or gradient norm that is not finite stops
// the run before the update could write NaN into the weights (and from there into a
// checkpoint). The weights stay those of the step before; the last checkpoint is intact.
inline void check_step_finite(int step, double loss, double norm) {
    if (std::isfinite(loss) && std::isfinite(norm)) return;
    fail("step %d: the %s is %g (loss %g, gradient norm %g); stopping before the update, so nothing non-finite "
         "is written (the last checkpoint is intact). Training diverged: lower --lr or raise --warmup, then --resume",
         step, std::isfinite(loss) ? "gradient norm" : "loss", std::isfinite(loss) ? norm : loss, loss, norm);
}

// the step line (DESIGN.md section 5) and its twin in log.jsonl; out is null on ranks > 0
inline void report_step(FILE* out, Logger& logger, int step, int steps, double loss, float lr, double norm,
                        double ms, double tok_s) {
    if (out) {
        fprintf(out, "step %d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step, steps, loss, lr, norm, ms, tok_s);
        fflush(out);
    }
    logger.log({{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm}, {"ms", ms}, {"tok_per_s", tok_s}});
}

// the validation line; a validation loss that is not finite stops the run (the weights
// it measured have diverged, and the next checkpoint would hold them)
inline void report_val(FILE* out, Logger& logger, int step, double loss) {
    if (out) { fprintf(out, "val loss %.6f | step %d\n", loss, step); fflush(out); }
    if (!std::isfinite(loss))
        fail("step %d: the validation loss is %g: training diverged; stopping before anything non-finite is written "
             "(the last checkpoint is intact): lower --lr or raise --warmup, then --resume", step, loss);
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
    for (int id : prompt)
        if (id < 0 || id >= V) fail("prompt token id %d is outside the model's vocabulary [0, %d)", id, V);
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
