// tokenize.cpp: the command-line face of tokenizer.h.
//
//   ./tokenize encode --vocab DIR FILE      ids of FILE, one per line ("-" reads stdin)
//   ./tokenize decode --vocab DIR FILE      ids (one per line) back to the exact bytes
//   ./tokenize train --vocab-size N --out DIR FILE...   learn a byte-level BPE vocabulary
//
// It is not a data pipeline: token shards for training are made by prepare_data.
// Errors: a message on stderr, exit 1 for bad input or files, exit 2 for bad usage.
#include "tokenizer.h"

#include <cctype>
#include <cstdlib>
#include <iostream>

// ----------------------------------------------------------------------------
// command line: one table, read by the parser and printed by --help

struct Flag {
    const char* name;      // without the leading "--"
    const char* value;     // placeholder of its value, nullptr for a switch
    const char* commands;  // which commands take it
    const char* help;
};
static const Flag kFlags[] = {
    {"vocab", "DIR", "encode decode", "vocabulary directory: encoder.json + vocab.bpe (GPT-2's: data/gpt2)"},
    {"allow-special", nullptr, "encode", "\"<|endoftext|>\" in the text becomes the special id (default: plain text; encodes on one thread)"},
    {"threads", "N", "encode", "threads for encoding (default: all cores)"},
    {"vocab-size", "N", "train", "number of ids to learn: 256 bytes + merges + \"<|endoftext|>\""},
    {"out", "DIR", "train", "where to write encoder.json and vocab.bpe (created if missing)"},
    {"quiet", nullptr, "train", "no progress on stderr"},
    {"help", nullptr, "encode decode train", "print this help"},
};

static void print_help(FILE* f) {
    fprintf(f, "usage: tokenize encode --vocab DIR [--allow-special] [--threads N] FILE\n"
               "       tokenize decode --vocab DIR FILE\n"
               "       tokenize train --vocab-size N --out DIR [--quiet] FILE...\n"
               "FILE \"-\" reads stdin. encode prints one id per line; decode reads one id per line\n"
               "and writes the bytes; train learns a GPT-2-style byte-level BPE vocabulary.\n\nflags:\n");
    for (const Flag& f_ : kFlags) {
        std::string left = std::string("--") + f_.name + (f_.value ? std::string(" ") + f_.value : "");
        fprintf(f, "  %-20s %s [%s]\n", left.c_str(), f_.help, f_.commands);
    }
}

[[noreturn]] static void usage_error(const std::string& msg) {
    fprintf(stderr, "error: %s (see tokenize --help)\n", msg.c_str());
    exit(2);
}

struct Args {
    std::string command;
    std::unordered_map<std::string, std::string> flags;   // name -> value ("1" for switches)
    std::vector<std::string> files;
};

static Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; i++) {
        std::string s = argv[i];
        if (s == "--help" || s == "-h") { print_help(stdout); exit(0); }
        if (s.rfind("--", 0) != 0 || s == "-") {
            if (a.command.empty()) a.command = s; else a.files.push_back(s);
            continue;
        }
        std::string name = s.substr(2);
        const Flag* flag = nullptr;
        for (const Flag& f : kFlags) if (name == f.name) flag = &f;
        if (!flag) usage_error("unknown flag " + s);
        if (!flag->value) { a.flags[name] = "1"; continue; }
        if (i + 1 >= argc) usage_error(s + " needs a value " + flag->value);
        a.flags[name] = argv[++i];
    }
    if (a.command.empty()) usage_error("no command: expected encode, decode or train");
    if (a.command != "encode" && a.command != "decode" && a.command != "train")
        usage_error("unknown command \"" + a.command + "\": expected encode, decode or train");
    for (auto& [name, value] : a.flags)
        for (const Flag& f : kFlags)
            if (name == f.name && !std::strstr(f.commands, a.command.c_str()))
                usage_error("--" + name + " is not a flag of " + a.command);
    return a;
}

static long long int_flag(const Args& a, const std::string& name, long long lo, long long hi) {
    const std::string& v = a.flags.at(name);
    char* end = nullptr;
    long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || x < lo || x > hi)
        usage_error("--" + name + " " + v + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    return x;
}

static std::string read_input(const std::string& path) {
    if (path != "-") return read_whole_file(path);
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
}

// ----------------------------------------------------------------------------
// commands

static void cmd_encode(const Args& a) {
    if (!a.flags.count("vocab")) usage_error("encode needs --vocab DIR");
    if (a.files.size() != 1) usage_error("encode takes one FILE (or - for stdin)");
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (a.flags.count("threads")) threads = (int)int_flag(a, "threads", 1, 4096);
    Tokenizer tok = Tokenizer::load(a.flags.at("vocab"));
    std::string text = read_input(a.files[0]);
    std::vector<uint32_t> ids = a.flags.count("allow-special") ? tok.encode(text, true) : tok.encode_parallel(text, threads);
    std::string out;
    out.reserve(ids.size() * 6);
    for (uint32_t id : ids) { out += std::to_string(id); out += '\n'; }
    fwrite(out.data(), 1, out.size(), stdout);
}

static void cmd_decode(const Args& a) {
    if (!a.flags.count("vocab")) usage_error("decode needs --vocab DIR");
    if (a.files.size() != 1) usage_error("decode takes one FILE of ids (or - for stdin)");
    Tokenizer tok = Tokenizer::load(a.flags.at("vocab"));
    std::vector<uint32_t> ids;
    size_t line = 0;
    for (const std::string& s : split_lines(read_input(a.files[0]))) {
        line++;
        if (s.empty()) continue;
        char* end = nullptr;
        unsigned long long v = strtoull(s.c_str(), &end, 10);
        if (*end != '\0' || !isdigit((unsigned char)s[0]) || v >= tok.vocab_size())
            throw std::runtime_error(a.files[0] + " line " + std::to_string(line) + ": \"" + s + "\" is not a token id 0.." +
                                     std::to_string(tok.vocab_size() - 1) + " (one id per line expected)");
        ids.push_back((uint32_t)v);
    }
    std::string bytes = tok.decode(ids);
    fwrite(bytes.data(), 1, bytes.size(), stdout);
}

static void cmd_train(const Args& a) {
    if (!a.flags.count("vocab-size")) usage_error("train needs --vocab-size N");
    if (!a.flags.count("out")) usage_error("train needs --out DIR");
    if (a.files.empty()) usage_error("train needs at least one FILE of text");
    size_t vocab_size = (size_t)int_flag(a, "vocab-size", 257, 1 << 30);
    std::string text;   // the files joined; a piece that spans two files is rare and harmless
    for (const std::string& f : a.files) text += read_input(f);
    Tokenizer tok = bpe_train(text, vocab_size, !a.flags.count("quiet"));
    tok.save(a.flags.at("out"));
    fprintf(stderr, "wrote %s/encoder.json and %s/vocab.bpe (%zu ids, \"<|endoftext|>\" = %lld)\n",
            a.flags.at("out").c_str(), a.flags.at("out").c_str(), tok.vocab_size(), (long long)tok.eot_id());
}

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    try {
        if (a.command == "encode") cmd_encode(a);
        else if (a.command == "decode") cmd_decode(a);
        else cmd_train(a);
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
