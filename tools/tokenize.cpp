// tools/tokenize.cpp: the command-line face of tokenizer.h, built as ./tokenize.
//
//   ./tokenize encode --vocab DIR FILE      ids of FILE, one per line ("-" reads stdin)
//   ./tokenize decode --vocab DIR FILE      ids (one per line) back to the exact bytes
//   ./tokenize train --vocab-size N --out DIR FILE...   learn a byte-level BPE vocabulary
//
// It is not a data pipeline: token shards for training are made by prepare_data.
// Errors: a message on stderr, exit 1 for bad input or files, exit 2 for bad usage.
#include "base.h"        // defines: fail, UsageError, Flag, parse_flags, print_flags, read_file
#include "tokenizer.h"   // defines: Tokenizer, bpe_train, split_lines

#include <cctype>
#include <cstdlib>
#include <iostream>

// ----------------------------------------------------------------------------
// command line: one table per command, read by the parser and printed by --help

struct Args {
    std::string command;
    std::string vocab, out;
    int threads = 0, vocab_size = 0;   // 0: not given (--threads: all cores)
    bool allow_special = false, quiet = false;
    std::vector<std::string> files;
};

static std::vector<Flag> flag_table(const std::string& command, Args& a) {
    const Flag vocab = {"--vocab", Flag::STR, &a.vocab, "vocabulary directory: encoder.json + vocab.bpe (GPT-2's: data/gpt2)", "DIR"};
    if (command == "encode")
        return {vocab,
                {"--allow-special", Flag::SWITCH, &a.allow_special, "\"<|endoftext|>\" in the text becomes the special id (default: plain text; encodes on one thread)"},
                {"--threads", Flag::INT, &a.threads, "threads for encoding (0: all cores)", "N"}};
    if (command == "decode") return {vocab};
    return {{"--vocab-size", Flag::INT, &a.vocab_size, "number of ids to learn: 256 bytes + merges + \"<|endoftext|>\"", "N"},
            {"--out", Flag::STR, &a.out, "where to write encoder.json and vocab.bpe (created if missing)", "DIR"},
            {"--quiet", Flag::SWITCH, &a.quiet, "no progress on stderr"}};
}

static void print_help(FILE* f) {
    fprintf(f, "usage: tokenize encode --vocab DIR [--allow-special] [--threads N] FILE\n"
               "       tokenize decode --vocab DIR FILE\n"
               "       tokenize train --vocab-size N --out DIR [--quiet] FILE...\n"
               "FILE \"-\" reads stdin. encode prints one id per line; decode reads one id per line\n"
               "and writes the bytes; train learns a GPT-2-style byte-level BPE vocabulary.\n");
    for (const char* command : {"encode", "decode", "train"}) {
        Args defaults;
        fprintf(f, "\n%s flags:\n", command);
        print_flags(f, flag_table(command, defaults));
    }
}

static Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { print_help(stdout); exit(0); }
    if (argc < 2 || !strncmp(argv[1], "--", 2)) throw UsageError("no command: expected encode, decode or train");
    a.command = argv[1];
    if (a.command != "encode" && a.command != "decode" && a.command != "train")
        throw UsageError("unknown command \"" + a.command + "\": expected encode, decode or train");
    parse_flags(flag_table(a.command, a), argc, argv, 2, &a.files);
    return a;
}

static std::string read_input(const std::string& path) {
    if (path != "-") return read_file(path);
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
}

// ----------------------------------------------------------------------------
// commands

static void cmd_encode(const Args& a) {
    if (a.vocab.empty()) throw UsageError("encode needs --vocab DIR");
    if (a.files.size() != 1) throw UsageError("encode takes one FILE (or - for stdin)");
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (a.threads < 0 || a.threads > 4096) throw UsageError("--threads " + std::to_string(a.threads) + ": expected 0 (all cores) to 4096");
    if (a.threads > 0) threads = a.threads;
    Tokenizer tok = Tokenizer::load(a.vocab);
    std::string text = read_input(a.files[0]);
    std::vector<uint32_t> ids = a.allow_special ? tok.encode(text, true) : tok.encode_parallel(text, threads);
    std::string out;
    out.reserve(ids.size() * 6);
    for (uint32_t id : ids) { out += std::to_string(id); out += '\n'; }
    fwrite(out.data(), 1, out.size(), stdout);
}

static void cmd_decode(const Args& a) {
    if (a.vocab.empty()) throw UsageError("decode needs --vocab DIR");
    if (a.files.size() != 1) throw UsageError("decode takes one FILE of ids (or - for stdin)");
    Tokenizer tok = Tokenizer::load(a.vocab);
    std::vector<uint32_t> ids;
    size_t line = 0;
    for (const std::string& s : split_lines(read_input(a.files[0]))) {
        line++;
        if (s.empty()) continue;
        char* end = nullptr;
        unsigned long long v = strtoull(s.c_str(), &end, 10);
        if (*end != '\0' || !isdigit((unsigned char)s[0]) || v >= tok.vocab_size())
            fail(a.files[0] + " line " + std::to_string(line) + ": \"" + s + "\" is not a token id 0.." +
                 std::to_string(tok.vocab_size() - 1) + " (one id per line expected)");
        ids.push_back((uint32_t)v);
    }
    std::string bytes = tok.decode(ids);
    fwrite(bytes.data(), 1, bytes.size(), stdout);
}

static void cmd_train(const Args& a) {
    if (a.vocab_size == 0) throw UsageError("train needs --vocab-size N");
    if (a.out.empty()) throw UsageError("train needs --out DIR");
    if (a.files.empty()) throw UsageError("train needs at least one FILE of text");
    if (a.vocab_size < 257 || a.vocab_size > (1 << 30))
        throw UsageError("--vocab-size " + std::to_string(a.vocab_size) + ": expected an integer in 257.." + std::to_string(1 << 30));
    size_t vocab_size = (size_t)a.vocab_size;
    std::string text;   // the files joined; a piece that spans two files is rare and harmless
    for (const std::string& f : a.files) text += read_input(f);
    Tokenizer tok = bpe_train(text, vocab_size, !a.quiet);
    tok.save(a.out);
    fprintf(stderr, "wrote %s/encoder.json and %s/vocab.bpe (%zu ids, \"<|endoftext|>\" = %lld)\n",
            a.out.c_str(), a.out.c_str(), tok.vocab_size(), (long long)tok.eot_id());
}

int main(int argc, char** argv) {
    try {
        Args a = parse_args(argc, argv);
        if (a.command == "encode") cmd_encode(a);
        else if (a.command == "decode") cmd_decode(a);
        else cmd_train(a);
    } catch (const UsageError& e) {
        fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
