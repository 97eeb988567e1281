// dataloader.h: token shards on disk -> (B, T) batches of inputs and targets.
//
// What it is: the reader of llm.c's token-shard format (write_shard / read_shard)
// and a DataLoader that cuts the shards into micro-batches for one rank of a
// data-parallel run, with optional seeded shuffling and a JSON state for exact
// resumption. Header-only, C++17, standard library + nlohmann json (+ POSIX
// glob() for --train "data/train_*.bin").
//
// What it is not: a tokenizer (see tokenizer.h), a prefetcher, or a document-
// aware sampler. Windows are cut from the token stream without looking at the
// end-of-text tokens inside it, exactly as llm.c and nanoGPT do.
//
// Shard format (DESIGN.md section 4): a header of 256 little-endian int32
//   [0] magic  [1] version  [2] token count  [3..255] reserved (written as 0, not checked)
// then the tokens, little-endian:
//   magic 20240520 version 1: uint16 tokens (vocabularies up to 65,536)
//   magic 20240801 version 7: uint32 tokens
// and the file size is exactly 1024 + count * token size.
//
// Data order (shuffle off). Dimensions: B rows of T tokens per micro-batch,
// K micro-batches per optimizer step (gradient accumulation), N ranks.
// One optimizer step reads one "step window" of K*N*B*T tokens (+1 for the last
// target). Micro-batch k of step s on rank r starts at token
//     ((s*K + k)*N + r) * B*T          of the current shard,
// and its targets are the same B*T+1 tokens shifted by one. So N ranks x B,
// 1 rank x N*B and K accumulation steps of B (1 rank) read the same tokens.
// Step windows start at multiples of K*N*B*T from the start of a shard; when the
// next window would run past the end of the shard, reading moves to the next
// shard (and to the first one after the last: a new epoch). That decision is
// taken once per optimizer step, so the equivalences above hold at shard ends.
//
// Shuffle on: each epoch (seeded by seed and epoch) permutes the order of the
// shards and, inside each shard, the order of its step windows. Every window is
// still read exactly once per epoch, and the layout of ranks and micro-batches
// inside a window is the same as without shuffling. The permutations use our
// own splitmix64 + Fisher-Yates, not std::shuffle, whose algorithm differs
// between standard libraries: the same seed gives the same data everywhere.
//
// Errors: every problem with a file (missing, no glob match, bad magic or
// version, size disagreeing with the header, a token id >= vocab_size, a shard
// too small for one step) calls fail() (base.h) naming the file, the
// problem and what to do. Nothing here prints or exits.
#pragma once

#include <glob.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base.h"   // defines: fail

// ----------------------------------------------------------------------------
// the shard format

static const int SHARD_HEADER_INTS = 256;
static const size_t SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;  // 1024
static const int32_t SHARD_MAGIC_U16 = 20240520, SHARD_VERSION_U16 = 1;
static const int32_t SHARD_MAGIC_U32 = 20240801, SHARD_VERSION_U32 = 7;

struct ShardInfo {
    size_t ntok = 0;         // number of tokens in the file
    size_t token_bytes = 0;  // 2 (uint16) or 4 (uint32)
};

// little-endian reads and writes, byte by byte, so the format does not depend on the host
inline uint32_t shard_load_le32(const unsigned char* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline void shard_store_le32(unsigned char* p, uint32_t v) {
    p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}

// Checks a shard header. `header` holds the first min(file_size, 1024) bytes of the
// file `name`; file_size is the size of the whole file. Returns the token count and size.
inline ShardInfo shard_check_header(const unsigned char* header, uint64_t file_size, const std::string& name) {
    if (file_size < SHARD_HEADER_BYTES)
        fail("data file '" + name + "' is " + std::to_string(file_size) +
             " bytes, shorter than the 1024-byte header of a token shard; "
             "it is not a token shard (make one with ./prepare_data)");
    int32_t magic = int32_t(shard_load_le32(header));
    int32_t version = int32_t(shard_load_le32(header + 4));
    int32_t count = int32_t(shard_load_le32(header + 8));
    ShardInfo info;
    if (magic == SHARD_MAGIC_U16 && version == SHARD_VERSION_U16) info.token_bytes = 2;
    else if (magic == SHARD_MAGIC_U32 && version == SHARD_VERSION_U32) info.token_bytes = 4;
    else if (magic == SHARD_MAGIC_U16 || magic == SHARD_MAGIC_U32)
        fail("data file '" + name + "' has magic " + std::to_string(magic) +
             " but version " + std::to_string(version) + " (expected " +
             (magic == SHARD_MAGIC_U16 ? "1" : "7") +
             "); the file is damaged or from an unsupported writer, re-create it with ./prepare_data");
    else
        fail("data file '" + name + "' has magic number " + std::to_string(magic) +
             ", not 20240520 (uint16 tokens) or 20240801 (uint32 tokens): it is not a token "
             "shard (raw text must be tokenized first: see data_prep/README.md)");
    if (count < 0)
        fail("data file '" + name + "' has a negative token count (" + std::to_string(count) +
             ") in its header; the file is damaged, re-create it");
    info.ntok = size_t(count);
    uint64_t expected = SHARD_HEADER_BYTES + uint64_t(info.ntok) * info.token_bytes;
    if (file_size != expected)
        fail("data file '" + name + "' is " + std::to_string(file_size) + " bytes, but its header says " +
             std::to_string(info.ntok) + " tokens of " + std::to_string(info.token_bytes) +
             " bytes = " + std::to_string(expected) + " bytes; the file is truncated or damaged "
             "(an interrupted download or copy?), fetch or create it again");
    return info;
}

// Decodes n tokens of `token_bytes` bytes each into dst, checking each against
// vocab_size. `first` is the index of src's first token in the file (for the message).
inline void shard_decode_tokens(uint32_t* dst, const unsigned char* src, size_t n, size_t token_bytes,
                                size_t vocab_size, size_t first, const std::string& name) {
    // decode first, then check: two simple loops the compiler vectorizes (~1 ns a token)
    if (token_bytes == 2)
        for (size_t i = 0; i < n; i++) dst[i] = uint32_t(src[2 * i]) | uint32_t(src[2 * i + 1]) << 8;
    else
        for (size_t i = 0; i < n; i++) dst[i] = shard_load_le32(src + 4 * i);
    uint32_t max = 0;
    for (size_t i = 0; i < n; i++) max = std::max(max, dst[i]);
    if (n == 0 || max < vocab_size) return;
    size_t i = 0;
    while (dst[i] < vocab_size) i++;
    fail("data file '" + name + "': token " + std::to_string(first + i) + " has id " +
         std::to_string(dst[i]) + ", not below the vocabulary size " + std::to_string(vocab_size) +
         "; the file was made with another tokenizer (check --vocab-size, or re-create the data)");
}

// Parses a whole shard held in memory (the fuzz target calls this). `name` is only used in messages.
inline std::vector<uint32_t> parse_shard(const unsigned char* bytes, size_t size, size_t vocab_size,
                                         const std::string& name = "<memory>") {
    ShardInfo info = shard_check_header(bytes, size, name);
    std::vector<uint32_t> tokens(info.ntok);
    shard_decode_tokens(tokens.data(), bytes + SHARD_HEADER_BYTES, info.ntok, info.token_bytes, vocab_size, 0, name);
    return tokens;
}

// Opens `path` and checks its header against the file size, without reading the tokens.
// The DataLoader calls this on every file at construction, so a bad file fails before training.
inline ShardInfo read_shard_header(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        fail("data file '" + path + "' does not exist or is not a regular file; "
             "check the path (prepare data with ./prepare_data or `make data`)");
    uint64_t size = std::filesystem::file_size(path, ec);
    std::ifstream f(path, std::ios::binary);
    if (ec || !f) fail("data file '" + path + "' cannot be opened for reading; check its permissions");
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    f.read(reinterpret_cast<char*>(header), std::streamsize(std::min<uint64_t>(size, SHARD_HEADER_BYTES)));
    if (size >= SHARD_HEADER_BYTES && !f)
        fail("data file '" + path + "': reading its header failed (I/O error)");
    return shard_check_header(header, size, path);
}

// Reads and validates a whole shard: header, size, and every token < vocab_size.
// Cost: one pass over the file; the tokens are held as uint32 (4 bytes each, so a
// 100M-token shard takes 400 MB in every rank's process). It reads in 1M-token chunks,
// so the file's bytes are never held twice.
inline std::vector<uint32_t> read_shard(const std::string& path, size_t vocab_size) {
    ShardInfo info = read_shard_header(path);
    std::ifstream f(path, std::ios::binary);
    f.seekg(std::streamoff(SHARD_HEADER_BYTES));
    std::vector<uint32_t> tokens(info.ntok);
    const size_t chunk = 1 << 20;
    std::vector<unsigned char> buf(std::min(chunk, info.ntok) * info.token_bytes);
    for (size_t done = 0; done < info.ntok; done += chunk) {
        size_t n = std::min(chunk, info.ntok - done);
        if (!f.read(reinterpret_cast<char*>(buf.data()), std::streamsize(n * info.token_bytes)))
            fail("data file '" + path + "': reading tokens failed (I/O error, or the file shrank while being read)");
        shard_decode_tokens(tokens.data() + done, buf.data(), n, info.token_bytes, vocab_size, done, path);
    }
    return tokens;
}

// Writes a shard atomically: to `path.tmp` first, then renamed into place, so a crash
// never leaves a half-written shard under the real name. uint16 tokens when
// vocab_size <= 65536, else uint32. Throws if a token is >= vocab_size.
inline void write_shard(const std::string& path, const uint32_t* tokens, size_t n, size_t vocab_size) {
    if (n > size_t(std::numeric_limits<int32_t>::max()))
        fail("write_shard '" + path + "': " + std::to_string(n) + " tokens do not fit one shard "
             "(the header's count is an int32); split the data into several shards");
    for (size_t i = 0; i < n; i++)
        if (tokens[i] >= vocab_size)
            fail("write_shard '" + path + "': token " + std::to_string(i) + " has id " +
                 std::to_string(tokens[i]) + ", not below the vocabulary size " + std::to_string(vocab_size));
    const bool u16 = vocab_size <= 65536;
    const size_t tb = u16 ? 2 : 4;
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    shard_store_le32(header, uint32_t(u16 ? SHARD_MAGIC_U16 : SHARD_MAGIC_U32));
    shard_store_le32(header + 4, uint32_t(u16 ? SHARD_VERSION_U16 : SHARD_VERSION_U32));
    shard_store_le32(header + 8, uint32_t(n));

    const std::string tmp = path + ".tmp";
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("write_shard: cannot create '" + tmp + "'; check that the folder exists and is writable");
    f.write(reinterpret_cast<const char*>(header), SHARD_HEADER_BYTES);
    std::vector<unsigned char> buf;
    const size_t chunk = 1 << 20;
    for (size_t done = 0; done < n && f; done += chunk) {
        size_t m = std::min(chunk, n - done);
        buf.resize(m * tb);
        for (size_t i = 0; i < m; i++) {
            uint32_t t = tokens[done + i];
            if (u16) { buf[2 * i] = t & 0xff; buf[2 * i + 1] = (t >> 8) & 0xff; }
            else shard_store_le32(&buf[4 * i], t);
        }
        f.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
    }
    f.close();
    if (!f) {
        std::remove(tmp.c_str());
        fail("write_shard: writing '" + tmp + "' failed (disk full?)");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail("write_shard: cannot rename '" + tmp + "' to '" + path + "'");
    }
}

// Expands a file name or a glob pattern ("data/train_*.bin") into a sorted list of files.
// Throws if nothing matches or a match is a folder.
inline std::vector<std::string> expand_glob(const std::string& pattern) {
    glob_t g{};
    int rc = glob(pattern.c_str(), 0, nullptr, &g);
    std::vector<std::string> files;
    if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) files.push_back(g.gl_pathv[i]);
    globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH)
        fail("cannot expand the file pattern '" + pattern + "' (a folder could not be read)");
    if (files.empty())
        fail("no file matches '" + pattern + "'; check the path or pattern "
             "(prepare data with ./prepare_data, or `make data` for the test data)");
    std::sort(files.begin(), files.end());  // plain byte order, independent of the locale
    for (const std::string& f : files)
        if (std::filesystem::is_directory(f))
            fail("'" + f + "' (from '" + pattern + "') is a folder; give a shard file or a "
                 "pattern such as '" + f + "/train_*.bin'");
    return files;
}

// ----------------------------------------------------------------------------
// seeded permutations (the same on every platform and standard library)

inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// the permutation of 0..n-1 for a given (seed, a, b): Fisher-Yates driven by splitmix64.
// The modulo's bias is below n / 2^64, far too small to matter for data order.
inline std::vector<uint32_t> seeded_permutation(size_t n, uint64_t seed, uint64_t a, uint64_t b) {
    std::vector<uint32_t> p(n);
    for (size_t i = 0; i < n; i++) p[i] = uint32_t(i);
    uint64_t s = seed;
    s = splitmix64(s) ^ a;
    s = splitmix64(s) ^ b;
    for (size_t i = n; i > 1; i--) std::swap(p[i - 1], p[splitmix64(s) % i]);
    return p;
}

// ----------------------------------------------------------------------------
// the data loader

struct DataLoader {
    // pattern: file or glob. B rows of T tokens per micro-batch; this process is `rank` of `world`;
    // grad_accum = K micro-batches per optimizer step. shuffle=false gives the fixed data order of
    // the header comment; shuffle=true a seeded per-epoch order.
    DataLoader(const std::string& pattern, int B, int T, int rank, int world, int grad_accum,
               size_t vocab_size, bool shuffle, uint64_t seed)
        : B_(B), T_(T), rank_(rank), world_(world), K_(grad_accum), vocab_size_(vocab_size), shuffle_(shuffle), seed_(seed) {
        if (B < 1 || T < 1 || grad_accum < 1)
            fail("data loader: --batch (" + std::to_string(B) + "), --seq-len (" + std::to_string(T) +
                 ") and --grad-accum (" + std::to_string(grad_accum) + ") must all be at least 1");
        if (world < 1 || rank < 0 || rank >= world)
            fail("data loader: rank " + std::to_string(rank) + " of " + std::to_string(world) +
                 " ranks is not a valid rank (0 <= rank < ranks)");
        if (vocab_size < 1 || vocab_size > size_t(std::numeric_limits<int>::max()))
            fail("data loader: vocabulary size " + std::to_string(vocab_size) + " is out of range");
        // one step window: K*N*B*T tokens, +1 for the last target. Computed in double first to catch overflow.
        if (double(K_) * world_ * B_ * T_ > 1e15)
            fail("data loader: --batch x --seq-len x --grad-accum x ranks is absurdly large");
        step_tokens_ = size_t(K_) * world_ * B_ * T_;
        files_ = expand_glob(pattern);
        for (const std::string& f : files_) {
            ShardInfo info = read_shard_header(f);
            if (info.ntok < step_tokens_ + 1)
                fail(
                    "data file '" + f + "' has " + std::to_string(info.ntok) + " tokens, but one optimizer step reads " +
                    std::to_string(step_tokens_ + 1) + " (--batch " + std::to_string(B_) + " x --seq-len " + std::to_string(T_) +
                    " x --grad-accum " + std::to_string(K_) + " x " + std::to_string(world_) + " ranks, +1 for the last target); "
                    "use a smaller --batch, --seq-len or --grad-accum, or a larger file");
            ntok_.push_back(info.ntok);
            total_tokens_ += info.ntok;
        }
        reset();
    }

    // Fills inputs (B,T) and targets (B,T) with this rank's next micro-batch; targets are
    // the inputs shifted by one token. Loads (and fully validates) a shard when reading reaches it.
    void next_batch(int* inputs, int* targets) {
        load_current_shard();
        size_t window = window_at(window_pos_);
        size_t start = window * step_tokens_ + (size_t(micro_step_) * world_ + rank_) * size_t(B_) * T_;
        const uint32_t* src = tokens_.data() + start;
        const size_t BT = size_t(B_) * T_;
        for (size_t i = 0; i < BT; i++) {
            inputs[i] = int(src[i]);
            targets[i] = int(src[i + 1]);
        }
        // advance: next micro-batch; after K of them the next step window; after the
        // shard's last window the next shard; after the last shard a new epoch.
        if (++micro_step_ < K_) return;
        micro_step_ = 0;
        if (++window_pos_ < windows_in(current_file())) return;
        window_pos_ = 0;
        if (++shard_pos_ < files_.size()) return;
        set_position(epoch_ + 1, 0, 0, 0);
    }

    // Back to the very start: epoch 0, first shard, first window (used before every validation pass).
    // The loaded shard is kept when it is still the first one, so a one-file validation set is read once.
    void reset() { set_position(0, 0, 0, 0); }

    // Everything needed to continue exactly. The same for every rank (the rank itself is not in it),
    // so the state saved by rank 0 restores every rank.
    nlohmann::json state() const {
        nlohmann::json names = nlohmann::json::array(), counts = nlohmann::json::array();
        for (size_t i = 0; i < files_.size(); i++) {
            names.push_back(std::filesystem::path(files_[i]).filename().string());
            counts.push_back(ntok_[i]);
        }
        return {{"files", names}, {"file_tokens", counts}, {"batch", B_}, {"seq_len", T_}, {"world", world_},
                {"grad_accum", K_}, {"shuffle", shuffle_}, {"seed", seed_}, {"epoch", epoch_},
                {"shard_pos", shard_pos_}, {"window_pos", window_pos_}, {"micro_step", micro_step_}};
    }

    // Continues from a state(). Throws if the state does not fit this loader: other files (by name
    // and token count, so a moved data folder still fits), seq_len, shuffle, seed, or rows per step.
    void restore(const nlohmann::json& s) {
        auto misfit = [](const std::string& what) {
            fail("data loader state (from a checkpoint) does not fit: " + what +
                                     "; resume with the same --train files, --seq-len, --shuffle, --seed and "
                                     "rows per step (--batch x ranks x --grad-accum)");
        };
        try {
            nlohmann::json mine = state();
            for (const char* key : {"seq_len", "shuffle", "seed"})
                if (s.at(key) != mine.at(key))
                    misfit(std::string(key) + " was " + s.at(key).dump() + ", is now " + mine.at(key).dump());
            // The position counts whole steps, so a state taken between steps fits any split of the same
            // rows per step over ranks, micro-batches and batch size: a run may resume on another number
            // of ranks. Inside a step (micro_step > 0) the split itself must match.
            int64_t rows_then = s.at("batch").get<int64_t>() * s.at("world").get<int64_t>() * s.at("grad_accum").get<int64_t>();
            if (rows_then != int64_t(B_) * world_ * K_)
                misfit("rows per step (batch x ranks x grad_accum) were " + std::to_string(rows_then) + ", are now " +
                     std::to_string(int64_t(B_) * world_ * K_));
            if (s.at("micro_step").get<int64_t>() != 0)
                for (const char* key : {"batch", "world", "grad_accum"})
                    if (s.at(key) != mine.at(key))
                        misfit(std::string(key) + " was " + s.at(key).dump() + ", is now " + mine.at(key).dump() +
                             " (a state taken inside a step)");
            const nlohmann::json &names = s.at("files"), &counts = s.at("file_tokens");
            if (names.size() != files_.size() || counts.size() != files_.size())
                misfit("it lists " + std::to_string(names.size()) + " data files, this run has " + std::to_string(files_.size()));
            for (size_t i = 0; i < files_.size(); i++)
                if (names[i] != mine["files"][i] || counts[i] != mine["file_tokens"][i])
                    misfit("data file " + std::to_string(i) + " was '" + names[i].get<std::string>() + "' (" + counts[i].dump() +
                         " tokens), is now '" + files_[i] + "' (" + std::to_string(ntok_[i]) + " tokens)");
            int64_t epoch = s.at("epoch").get<int64_t>();
            int64_t shard_pos = s.at("shard_pos").get<int64_t>(), window_pos = s.at("window_pos").get<int64_t>();
            int64_t micro = s.at("micro_step").get<int64_t>();
            if (epoch < 0 || shard_pos < 0 || size_t(shard_pos) >= files_.size() || micro < 0 || micro >= K_ || window_pos < 0)
                misfit("its position (epoch " + std::to_string(epoch) + ", shard " + std::to_string(shard_pos) +
                     ", micro-step " + std::to_string(micro) + ") is out of range");
            set_position(uint64_t(epoch), size_t(shard_pos), size_t(window_pos), int(micro));
            if (window_pos_ >= windows_in(current_file())) {
                reset();
                misfit("its window " + std::to_string(window_pos) + " is past the end of its shard");
            }
        } catch (const nlohmann::json::exception& e) {
            misfit(std::string("it is malformed (") + e.what() + ")");
        }
    }

    int batch() const { return B_; }          // B rows per micro-batch
    int seq_len() const { return T_; }        // T tokens per row
    int grad_accum() const { return K_; }     // K micro-batches per optimizer step
    size_t total_tokens() const { return total_tokens_; }
    const std::vector<std::string>& files() const { return files_; }
    uint64_t epoch() const { return epoch_; }
    // optimizer steps in one pass over all the files
    size_t steps_per_epoch() const {
        size_t n = 0;
        for (size_t i = 0; i < files_.size(); i++) n += windows_in(i);
        return n;
    }

private:
    int B_, T_, rank_, world_, K_;
    size_t vocab_size_;
    bool shuffle_;
    uint64_t seed_;
    size_t step_tokens_ = 0;            // K*N*B*T: tokens of one optimizer step over all ranks
    std::vector<std::string> files_;    // sorted
    std::vector<size_t> ntok_;          // tokens per file (from the headers)
    size_t total_tokens_ = 0;
    // position: the next micro-batch is micro_step_ of window window_pos_ of the shard_pos_-th
    // shard (in this epoch's order) of epoch epoch_
    uint64_t epoch_ = 0;
    size_t shard_pos_ = 0, window_pos_ = 0;
    int micro_step_ = 0;
    std::vector<uint32_t> shard_order_;   // this epoch's shard permutation (empty: identity)
    std::vector<uint32_t> window_order_;  // the loaded shard's window permutation (empty: identity)
    long loaded_file_ = -1;               // index into files_ of the shard in tokens_, -1: none
    uint64_t window_order_epoch_ = 0;     // the epoch window_order_ was drawn for
    std::vector<uint32_t> tokens_;        // the loaded shard

    // step windows that fit in file i: window j reads tokens [j*S, (j+1)*S] (S+1 tokens)
    size_t windows_in(size_t i) const { return (ntok_[i] - 1) / step_tokens_; }
    size_t current_file() const { return shard_order_.empty() ? shard_pos_ : shard_order_[shard_pos_]; }
    size_t window_at(size_t pos) const { return window_order_.empty() ? pos : window_order_[pos]; }

    void set_position(uint64_t epoch, size_t shard_pos, size_t window_pos, int micro) {
        epoch_ = epoch; shard_pos_ = shard_pos; window_pos_ = window_pos; micro_step_ = micro;
        shard_order_ = shuffle_ ? seeded_permutation(files_.size(), seed_, epoch_, ~0ull) : std::vector<uint32_t>();
    }

    void load_current_shard() {
        size_t f = current_file();
        if (loaded_file_ != long(f)) {
            tokens_.clear();
            tokens_.shrink_to_fit();  // free the old shard before reading the next one
            tokens_ = read_shard(files_[f], vocab_size_);
            if (tokens_.size() != ntok_[f])
                fail("data file '" + files_[f] + "' changed on disk during training (" +
                     std::to_string(ntok_[f]) + " tokens at start, " + std::to_string(tokens_.size()) + " now)");
            loaded_file_ = long(f);
            window_order_.clear();
        }
        // shuffle: this shard's window order for this epoch (drawn again when a one-file set starts a new epoch)
        if (shuffle_ && (window_order_.empty() || window_order_epoch_ != epoch_)) {
            window_order_ = seeded_permutation(windows_in(f), seed_, epoch_, f);
            window_order_epoch_ = epoch_;
        }
    }
};
