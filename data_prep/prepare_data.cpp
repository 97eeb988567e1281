// data_prep/prepare_data.cpp: public datasets, or your own text, to token shards.
//
//   ./prepare_data tinyshakespeare --out DIR (--vocab DIR | --train-vocab N)
//   ./prepare_data tinystories     --out DIR (--vocab DIR | --train-vocab N) [--source FILE_OR_DIR]
//   ./prepare_data fineweb-edu     --out DIR --shards N [--source DIR] [--vocab DIR]
//   ./prepare_data text            --out DIR (--vocab DIR | --train-vocab N) [--val-frac F] PATH...
//   ./prepare_data SUBCOMMAND --help
//
// What it is: the one program that downloads (curl, resumable) or copies (from
// $DATA_MIRROR or --source) a dataset, tokenizes it with tokenizer.h on all
// cores, and writes llm.c-format shards with dataloader.h's write_shard:
// DIR/val_000000.bin, DIR/train_000000.bin, ... plus the vocabulary used
// (encoder.json, vocab.bpe), so a prepared folder describes itself.
// What it is not: a general download manager or a text cleaner. Documents are
// taken as they come; each is prefixed with the end-of-text token, the way
// GPT-2 and llm.c separate documents. See data_prep/README.md for each dataset.
// Errors: fail() (base.h) is printed as "error: ..." with exit status 1;
// a bad command line prints the subcommand's flags with exit status 2.
#include "base.h"         // defines: fail, UsageError, Flag, parse_flags, print_flags, read_file
#include "tokenizer.h"    // defines: Tokenizer, bpe_train
#include "dataloader.h"   // defines: write_shard

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sys/wait.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fs = std::filesystem;

static const size_t SHARD_TOKENS = 100000000;  // 100M tokens per shard, as llm.c and FineWeb-Edu's shards
static const size_t VOCAB_SAMPLE_BYTES = 20u << 20;  // --train-vocab learns from the first 20 MB of text

// ----------------------------------------------------------------------------
// command line: one table of flags per subcommand; --help prints it, the parser reads it

struct Subcommand { const char* name; const char* args; const char* what; std::vector<Flag> flags; };

static const Flag FLAG_OUT = {"--out", Flag::STR, nullptr, "folder for the shards and the vocabulary (created)", "DIR"};
static const Flag FLAG_VOCAB = {"--vocab", Flag::STR, nullptr, "use the tokenizer in DIR (encoder.json, vocab.bpe), e.g. GPT-2's from data_prep/fetch_gpt2_vocab.sh", "DIR"};
static const Flag FLAG_TRAIN_VOCAB = {"--train-vocab", Flag::STR, nullptr, "or train a new BPE vocabulary of N ids (>= 257) on the first 20 MB of the training text", "N"};

static const std::vector<Subcommand> SUBCOMMANDS = {
    {"tinyshakespeare", "", "Tiny Shakespeare (1.1 MB): first 10% of the tokens -> val_000000.bin, the rest -> train_000000.bin",
     {FLAG_OUT, FLAG_VOCAB, FLAG_TRAIN_VOCAB}},
    {"tinystories", "", "TinyStories (~470M words): data00.json -> val_000000.bin, data01..49.json -> train_NNNNNN.bin (100M tokens each)",
     {FLAG_OUT, FLAG_VOCAB, FLAG_TRAIN_VOCAB,
      {"--source", Flag::STR, nullptr, "a local TinyStories_all_data.tar.gz, or a folder of its data*.json (else downloaded)", "FILE_OR_DIR"}}},
    {"fineweb-edu", "", "FineWeb-Edu 10B, already GPT-2 tokenized (kjj0/finewebedu10B-gpt2 on Hugging Face): val_000000.bin + train_000001..N.bin",
     {FLAG_OUT,
      {"--shards", Flag::STR, nullptr, "how many train shards of 100M tokens (1..99)", "N"},
      {"--source", Flag::STR, nullptr, "a local folder holding finewebedu_val_000000.bin, finewebedu_train_000001.bin, ... (else downloaded)", "DIR"},
      {"--vocab", Flag::STR, nullptr, "GPT-2's tokenizer folder, copied beside the shards (optional)", "DIR"}}},
    {"text", "PATH...", "your own .txt files (one document each) and .jsonl files (one document per line, its \"text\" field), or folders of them",
     {FLAG_OUT, FLAG_VOCAB, FLAG_TRAIN_VOCAB,
      {"--val-frac", Flag::STR, nullptr, "the first fraction F of the tokens goes to val_000000.bin (0: no validation file)", "F"}}},
};

// the subcommand's flag table, each flag bound to its entry in `values` (preset to its default)
static std::vector<Flag> bind_flags(const Subcommand& sc, std::map<std::string, std::string>& values) {
    std::vector<Flag> table = sc.flags;
    for (Flag& f : table) {
        f.ptr = &values[f.name];
        if (f.name == std::string("--val-frac")) values[f.name] = "0.1";
    }
    return table;
}

static void print_usage(FILE* out, const Subcommand* sc) {
    if (!sc) {
        std::fprintf(out, "usage: ./prepare_data SUBCOMMAND [flags]    (./prepare_data SUBCOMMAND --help for its flags)\n\n");
        for (const Subcommand& c : SUBCOMMANDS) std::fprintf(out, "  %-17s %s\n", c.name, c.what);
        std::fprintf(out, "\nDownloads use curl (resumable); set DATA_MIRROR to a folder of local copies to work offline (see data_prep/README.md).\n");
        return;
    }
    std::fprintf(out, "usage: ./prepare_data %s [flags] %s\n%s\n\n", sc->name, sc->args, sc->what);
    std::map<std::string, std::string> defaults;
    print_flags(out, bind_flags(*sc, defaults));
}

// parses "--flag value" pairs of the subcommand's table; everything else is a positional argument.
// The result holds the flags given (or defaulted) with a value: v.count("--vocab") asks "was it given?"
static std::map<std::string, std::string> parse_args(const Subcommand& sc, int argc, char** argv, std::vector<std::string>& positional) {
    std::map<std::string, std::string> values, v;
    parse_flags(bind_flags(sc, values), argc, argv, 2, &positional);
    for (const auto& [name, value] : values) if (!value.empty()) v[name] = value;
    return v;
}

static long parse_int(const std::map<std::string, std::string>& v, const std::string& flag, long lo, long hi) {
    const std::string& s = v.at(flag);
    char* end = nullptr;
    long x = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || x < lo || x > hi)
        throw UsageError(flag + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not '" + s + "'");
    return x;
}

// ----------------------------------------------------------------------------
// files: mirror, download, copy

static void copy_writable(const fs::path& src, const fs::path& dest);

static std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Puts the file `rel` (a path inside the mirror, e.g. "tinyshakespeare/input.txt") at dest:
// kept if dest already exists, copied from $DATA_MIRROR/rel when that exists, else downloaded
// from url with curl: resumable (-C -, into dest.part), retried, with a progress bar.
static void fetch(const std::string& rel, const std::string& url, const std::string& dest) {
    if (fs::exists(dest)) { std::printf("using %s (already there)\n", dest.c_str()); return; }
    const char* mirror = std::getenv("DATA_MIRROR");
    if (mirror && *mirror) {
        fs::path src = fs::path(mirror) / rel;
        if (fs::exists(src)) {
            std::printf("copying %s -> %s\n", src.c_str(), dest.c_str());
            copy_writable(src, dest);
            return;
        }
        std::printf("note: DATA_MIRROR is set but has no %s; downloading instead\n", rel.c_str());
    }
    std::printf("downloading %s -> %s\n", url.c_str(), dest.c_str());
    std::fflush(stdout);
    std::string cmd = "curl -fL --retry 5 --retry-delay 3 -C - --progress-bar -o " + shell_quote(dest + ".part") + " " + shell_quote(url);
    int rc = std::system(cmd.c_str());
    if (rc != 0)
        fail("downloading " + url + " failed (curl exit status " + std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : rc) + "); check the "
             "connection and run again (it resumes), or set DATA_MIRROR to a folder holding " + rel);
    fs::rename(dest + ".part", dest);
}

static int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return int(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

// ----------------------------------------------------------------------------
// the vocabulary: GPT-2's (or any) from --vocab, or a new one trained with --train-vocab

// checked before anything is downloaded
static void check_vocab_flags(const std::map<std::string, std::string>& v) {
    if (v.count("--vocab") == v.count("--train-vocab"))
        throw UsageError("give exactly one of --vocab DIR (e.g. data/gpt2, from data_prep/fetch_gpt2_vocab.sh) or --train-vocab N");
    if (v.count("--train-vocab")) parse_int(v, "--train-vocab", 257, 1 << 24);
    if (v.count("--vocab"))
        for (const char* name : {"encoder.json", "vocab.bpe"})
            if (!fs::exists(fs::path(v.at("--vocab")) / name))
                fail("--vocab: '" + (fs::path(v.at("--vocab")) / name).string() + "' does not exist; "
                     "get GPT-2's with `bash data_prep/fetch_gpt2_vocab.sh " + v.at("--vocab") + "`");
}

// copies a file so that the copy is writable (sources in a mirror may be read-only)
static void copy_writable(const fs::path& src, const fs::path& dest) {
    if (fs::exists(dest) && fs::equivalent(src, dest)) return;
    fs::copy_file(src, dest.string() + ".part", fs::copy_options::overwrite_existing);
    fs::permissions(dest.string() + ".part", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
    fs::rename(dest.string() + ".part", dest);
}

static Tokenizer get_tokenizer(const std::map<std::string, std::string>& v, std::string_view sample, const std::string& out) {
    check_vocab_flags(v);
    if (v.count("--vocab")) {
        const std::string dir = v.at("--vocab");
        Tokenizer tok = Tokenizer::load(dir);
        // copy the files byte for byte, so the dataset carries exactly the vocabulary that made it
        for (const char* name : {"encoder.json", "vocab.bpe"}) copy_writable(fs::path(dir) / name, fs::path(out) / name);
        std::printf("vocabulary: %s (%zu ids), copied to %s\n", dir.c_str(), tok.vocab_size(), out.c_str());
        return tok;
    }
    long n = parse_int(v, "--train-vocab", 257, 1 << 24);
    sample = sample.substr(0, std::min(sample.size(), VOCAB_SAMPLE_BYTES));
    std::printf("training a BPE vocabulary of %ld ids on the first %.1f MB of the text\n", n, sample.size() / 1e6);
    Tokenizer tok = bpe_train(sample, size_t(n), true);
    tok.save(out);
    std::printf("vocabulary: %zu ids, saved to %s\n", tok.vocab_size(), out.c_str());
    return tok;
}

// ----------------------------------------------------------------------------
// encoding: documents -> one token stream, each document prefixed with <|endoftext|>

// Encodes all documents on all cores (one document per task; a single big document is
// cut at safe points by encode_parallel) and appends them, in order, to out.
// Prints progress every second when the input is large.
static void encode_documents(const Tokenizer& tok, const std::vector<std::string>& docs, std::vector<uint32_t>& out) {
    size_t total_bytes = 0;
    for (const std::string& d : docs) total_bytes += d.size();
    const int64_t eot = tok.eot_id();
    auto t0 = std::chrono::steady_clock::now();
    if (docs.size() == 1) {
        if (eot >= 0) out.push_back(uint32_t(eot));
        std::vector<uint32_t> ids = tok.encode_parallel(docs[0], num_threads());
        out.insert(out.end(), ids.begin(), ids.end());
    } else {
        std::vector<std::vector<uint32_t>> parts(docs.size());
        std::atomic<size_t> done_bytes{0};
        const bool show = total_bytes > (64u << 20);
        double last = 0;
#pragma omp parallel for schedule(dynamic, 64)
        for (long i = 0; i < long(docs.size()); i++) {
            if (eot >= 0) parts[i].push_back(uint32_t(eot));
            tok.encode_ordinary(docs[i], parts[i]);
            size_t d = done_bytes += docs[i].size();
#ifdef _OPENMP
            if (show && omp_get_thread_num() == 0) {
#else
            if (show) {
#endif
                double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (s - last >= 1.0) {
                    last = s;
                    std::printf("\r  encoding: %.0f / %.0f MB (%.1f MB/s)   ", d / 1e6, total_bytes / 1e6, d / 1e6 / s);
                    std::fflush(stdout);
                }
            }
        }
        if (show) std::printf("\n");
        for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    }
    if (eot < 0 && docs.size() > 1)
        std::printf("note: the vocabulary has no <|endoftext|> token; documents are joined with no separator\n");
}

// Collects tokens and writes PREFIX_NNNNNN.bin every SHARD_TOKENS tokens.
struct ShardWriter {
    std::string out, prefix;
    size_t vocab, index = 0, written = 0;
    std::vector<uint32_t> buf;
    ShardWriter(const std::string& out, const std::string& prefix, size_t vocab) : out(out), prefix(prefix), vocab(vocab) {}
    void add(const std::vector<uint32_t>& t) {
        buf.insert(buf.end(), t.begin(), t.end());
        while (buf.size() >= SHARD_TOKENS) flush(SHARD_TOKENS);
    }
    void flush(size_t n) {
        char name[64];
        std::snprintf(name, sizeof name, "%s_%06zu.bin", prefix.c_str(), index);
        std::string path = (fs::path(out) / name).string();
        write_shard(path, buf.data(), n, vocab);
        std::printf("wrote %s: %zu tokens\n", path.c_str(), n);
        buf.erase(buf.begin(), buf.begin() + long(n));
        written += n;
        index++;
    }
    void finish() { if (!buf.empty() || index == 0) flush(buf.size()); }
};

// the shared ending of tinyshakespeare and text: split one token stream into val and train
static void write_split(const std::string& out, const std::vector<uint32_t>& tokens, double val_frac, size_t vocab) {
    size_t nval = size_t(double(tokens.size()) * val_frac);
    if (nval > 0) {
        ShardWriter val{out, "val", vocab};
        val.add(std::vector<uint32_t>(tokens.begin(), tokens.begin() + long(nval)));
        val.finish();
    }
    ShardWriter train{out, "train", vocab};
    train.add(std::vector<uint32_t>(tokens.begin() + long(nval), tokens.end()));
    train.finish();
    std::printf("done: %zu tokens, %zu val + %zu train, in %s\n", tokens.size(), nval, tokens.size() - nval, out.c_str());
}

// ----------------------------------------------------------------------------
// the subcommands

static void prepare_tinyshakespeare(const std::map<std::string, std::string>& v) {
    const std::string out = v.at("--out");
    check_vocab_flags(v);
    const std::string input = (fs::path(out) / "input.txt").string();
    fetch("tinyshakespeare/input.txt", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt", input);
    std::string text = read_file(input);
    std::printf("input.txt: %zu bytes\n", text.size());
    Tokenizer tok = get_tokenizer(v, text, out);
    std::vector<uint32_t> tokens;
    encode_documents(tok, {text}, tokens);  // the whole play text is one document
    write_split(out, tokens, 0.1, tok.vocab_size());
}

// the stories of one TinyStories json file (a list of objects with a "story" field)
static std::vector<std::string> read_stories(const std::string& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        fail("'" + path + "' is not valid JSON (" + e.what() + "); the download may be damaged: delete it and run again");
    }
    std::vector<std::string> stories;
    for (const auto& item : j) {
        if (!item.is_object() || !item.contains("story") || !item["story"].is_string())
            fail("'" + path + "': an entry has no \"story\" text; is this TinyStories_all_data?");
        std::string s = item["story"].get<std::string>();
        size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
        stories.push_back(a == std::string::npos ? "" : s.substr(a, b - a + 1));
    }
    return stories;
}

static void prepare_tinystories(const std::map<std::string, std::string>& v) {
    const std::string out = v.at("--out");
    check_vocab_flags(v);
    fs::path dir = fs::path(out) / "TinyStories_all_data";
    std::string archive = (fs::path(out) / "TinyStories_all_data.tar.gz").string();
    if (v.count("--source") && fs::is_directory(v.at("--source"))) {
        dir = v.at("--source");
    } else if (!fs::exists(dir / "data00.json")) {
        if (v.count("--source")) archive = v.at("--source");
        else fetch("tinystories/TinyStories_all_data.tar.gz",
                   "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStories_all_data.tar.gz", archive);
        fs::create_directories(dir);
        std::printf("unpacking %s\n", archive.c_str());
        std::string cmd = "tar -xzf " + shell_quote(archive) + " -C " + shell_quote(dir.string());
        if (std::system(cmd.c_str()) != 0)
            fail("unpacking '" + archive + "' failed; the archive may be incomplete: delete it and run again");
    }
    std::vector<std::string> files = expand_glob((dir / "data*.json").string());
    if (files.size() < 2) fail("'" + dir.string() + "' holds " + std::to_string(files.size()) + " data*.json file(s); TinyStories has 50");
    std::printf("%zu json files in %s; val = %s\n", files.size(), dir.c_str(), files[0].c_str());
    std::vector<std::string> first = read_stories(files[1]);
    std::string sample;
    for (const std::string& s : first) { if (sample.size() > VOCAB_SAMPLE_BYTES) break; sample += s + "\n"; }
    Tokenizer tok = get_tokenizer(v, sample, out);
    ShardWriter val{out, "val", tok.vocab_size()}, train{out, "train", tok.vocab_size()};
    for (size_t i = 0; i < files.size(); i++) {
        std::vector<std::string> stories = read_stories(files[i]);
        std::vector<uint32_t> tokens;
        encode_documents(tok, stories, tokens);
        std::printf("%s: %zu stories, %zu tokens\n", files[i].c_str(), stories.size(), tokens.size());
        std::fflush(stdout);
        (i == 0 ? val : train).add(tokens);
    }
    val.finish();
    train.finish();
    std::printf("done: %zu val + %zu train tokens in %s\n", val.written, train.written, out.c_str());
}

static void prepare_fineweb_edu(const std::map<std::string, std::string>& v) {
    const std::string out = v.at("--out");
    if (!v.count("--shards")) throw UsageError("--shards N is required (1..99 train shards of 100M tokens, ~200 MB each)");
    long n = parse_int(v, "--shards", 1, 99);
    const std::string base = "https://huggingface.co/datasets/kjj0/finewebedu10B-gpt2/resolve/main/";
    for (long i = 0; i <= n; i++) {
        char remote[64], local[64];
        std::snprintf(remote, sizeof remote, "finewebedu_%s_%06ld.bin", i == 0 ? "val" : "train", i);
        std::snprintf(local, sizeof local, "%s_%06ld.bin", i == 0 ? "val" : "train", i);
        std::string dest = (fs::path(out) / local).string();
        if (v.count("--source")) {
            fs::path src = fs::path(v.at("--source")) / remote;
            if (!fs::exists(src)) fail("--source: '" + src.string() + "' does not exist");
            if (!fs::exists(dest)) {
                std::printf("copying %s -> %s\n", src.c_str(), dest.c_str());
                copy_writable(src, dest);
            }
        } else {
            fetch(std::string("fineweb-edu/") + remote, base + remote, dest);
        }
        std::vector<uint32_t> t = read_shard(dest, 50257);  // every token checked against GPT-2's vocabulary
        std::printf("%s: %zu tokens, valid\n", dest.c_str(), t.size());
    }
    if (v.count("--vocab")) {
        for (const char* name : {"encoder.json", "vocab.bpe"}) copy_writable(fs::path(v.at("--vocab")) / name, fs::path(out) / name);
    } else {
        std::printf("note: these shards use GPT-2's vocabulary; add --vocab data/gpt2 to copy it beside them\n");
    }
}

// the documents of the files under `path`: a .txt file is one document, a .jsonl line's "text" another
static void collect_documents(const fs::path& path, std::vector<std::string>& docs) {
    if (fs::is_directory(path)) {
        std::vector<fs::path> entries;
        for (const auto& e : fs::recursive_directory_iterator(path))
            if (e.is_regular_file() && (e.path().extension() == ".txt" || e.path().extension() == ".jsonl")) entries.push_back(e.path());
        std::sort(entries.begin(), entries.end());
        for (const fs::path& e : entries) collect_documents(e, docs);
        return;
    }
    if (!fs::exists(path)) fail("'" + path.string() + "' does not exist");
    if (path.extension() == ".jsonl") {
        std::ifstream f(path);
        std::string line;
        for (size_t lineno = 1; std::getline(f, line); lineno++) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            try {
                nlohmann::json j = nlohmann::json::parse(line);
                docs.push_back(j.at("text").get<std::string>());
            } catch (const nlohmann::json::exception& e) {
                fail("'" + path.string() + "' line " + std::to_string(lineno) +
                     ": not a JSON object with a \"text\" string (" + e.what() + ")");
            }
        }
    } else {
        docs.push_back(read_file(path.string()));
    }
}

static void prepare_text(const std::map<std::string, std::string>& v, const std::vector<std::string>& paths) {
    const std::string out = v.at("--out");
    if (paths.empty()) throw UsageError("give at least one .txt/.jsonl file or folder");
    check_vocab_flags(v);
    const std::string f = v.count("--val-frac") ? v.at("--val-frac") : "";
    char* end = nullptr;
    double val_frac = std::strtod(f.c_str(), &end);
    if (f.empty() || *end || !(val_frac >= 0 && val_frac < 1)) throw UsageError("--val-frac must be a number in [0, 1), not '" + f + "'");
    std::vector<std::string> docs;
    for (const std::string& p : paths) collect_documents(p, docs);
    size_t bytes = 0;
    std::string sample;
    for (const std::string& d : docs) { bytes += d.size(); if (sample.size() < VOCAB_SAMPLE_BYTES) sample += d + "\n"; }
    std::printf("%zu documents, %.1f MB of text\n", docs.size(), bytes / 1e6);
    if (docs.empty()) fail("no .txt or .jsonl documents found in the given paths");
    Tokenizer tok = get_tokenizer(v, sample, out);
    std::vector<uint32_t> tokens;
    encode_documents(tok, docs, tokens);
    write_split(out, tokens, val_frac, tok.vocab_size());
}

// ----------------------------------------------------------------------------

#ifndef PREPARE_DATA_NO_MAIN
int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        print_usage(argc < 2 ? stderr : stdout, nullptr);
        return argc < 2 ? 2 : 0;
    }
    const Subcommand* sc = nullptr;
    for (const Subcommand& c : SUBCOMMANDS) if (argv[1] == std::string(c.name)) sc = &c;
    if (!sc) {
        std::fprintf(stderr, "error: unknown subcommand '%s'\n\n", argv[1]);
        print_usage(stderr, nullptr);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") { print_usage(stdout, sc); return 0; }
    try {
        std::vector<std::string> positional;
        std::map<std::string, std::string> v = parse_args(*sc, argc, argv, positional);
        if (!v.count("--out")) throw UsageError("--out DIR is required");
        if (!positional.empty() && std::string(sc->name) != "text") throw UsageError("unexpected argument '" + positional[0] + "'");
        fs::create_directories(v.at("--out"));
        std::string name = sc->name;
        if (name == "tinyshakespeare") prepare_tinyshakespeare(v);
        else if (name == "tinystories") prepare_tinystories(v);
        else if (name == "fineweb-edu") prepare_fineweb_edu(v);
        else prepare_text(v, positional);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "error: %s\n\n", e.what());
        print_usage(stderr, sc);
        return 2;
    } catch (const std::exception& e) {  // Error from fail(), filesystem_error from std::filesystem
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
#endif
