// base.h: the ground floor that every program of this project stands on.
//
// What is here: the one way to report an error (fail() throws Error; UsageError for a bad
// command line), reading and writing a whole file, a flag table with its parser and its
// --help printer, a millisecond clock, and the random number generator. Nothing else.
//
// What is not here: anything about tokens, shards, models or runs. tokenizer.h and
// dataloader.h stand on this file; train_common.h stands on them; base.h includes no
// header of the project, so nothing here can reach upward.
//
// Conventions:
// - Bad input throws, it never prints or exits here. The message names the file or flag,
//   says what was wrong and what to do. main() prints "error: ..." and exits with status 2
//   for a UsageError (the command line), 1 for any other error.
// - Error and UsageError are std::runtime_errors, so code that catches those still works.
#pragma once

#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

// ----------------------------------------------------------------------------
// errors: fail("...") for bad files, data and state; throw UsageError for a bad command line

struct Error : std::runtime_error { using std::runtime_error::runtime_error; };
struct UsageError : Error { using Error::Error; };

// printf-style: fail("%s: %zu bytes, expected %zu", path.c_str(), n, want)
template <class... Args>
[[noreturn]] inline void fail(const char* fmt, Args... args) {
    char buf[2048];
    if constexpr (sizeof...(Args) == 0) snprintf(buf, sizeof buf, "%s", fmt);
    else snprintf(buf, sizeof buf, fmt, args...);
    throw Error(buf);
}

// a message already built as a string (no length limit): fail(path + ": " + what)
[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

// ----------------------------------------------------------------------------
// whole files

// The bytes of `path`. `hint` ends the message when the file cannot be opened: what to do.
inline std::string read_file(const std::string& path, const char* hint = "check that it exists and is readable") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail("%s: is a directory, not a file", path.c_str());
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("%s: cannot open (%s); %s", path.c_str(), strerror(errno), hint);
    std::string text(std::istreambuf_iterator<char>(f), {});
    if (f.bad()) fail("%s: cannot read (%s)", path.c_str(), strerror(errno));
    return text;
}

// Replaces `path` with `text`. Not crash-safe: checkpoints use train_common.h's DurableFile.
inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) fail("%s: cannot write (%s; is the disk full, or the folder missing or read-only?)", path.c_str(), strerror(errno));
}

// ----------------------------------------------------------------------------
// command line: one table of flags. The parser reads it and --help prints it, so the two
// cannot drift apart. Each flag points at the variable it sets; its value before parsing
// is the default that --help shows.

struct Flag {
    const char* name;                               // "--out"
    enum Kind { STR, INT, I64, FLOAT, SWITCH } kind;
    void* ptr;                                      // std::string, int, long long, float or bool
    const char* help;
    const char* meta = "";                          // the value's placeholder in --help ("DIR", "N")
};

// the value a flag holds now, as --help and the table of settings show it
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

// one line per flag: name and placeholder, help, and the default unless it is empty or a switch
inline void print_flags(FILE* out, const std::vector<Flag>& table) {
    for (const Flag& f : table) {
        std::string left = std::string(f.name) + (*f.meta ? std::string(" ") + f.meta : "");
        bool show = f.kind != Flag::SWITCH && !(f.kind == Flag::STR && ((std::string*)f.ptr)->empty());
        std::string def = show ? " [" + flag_value_string(f) + "]" : "";
        fprintf(out, "  %-20s %s%s\n", left.c_str(), f.help, def.c_str());
    }
}

// Reads argv[first..argc) into the table's variables. An argument that does not start with
// "--" goes to *positional, or is an unknown flag where positional is null. Throws
// UsageError naming the flag; ranges and combinations are the caller's to check.
inline void parse_flags(const std::vector<Flag>& table, int argc, char** argv, int first = 1,
                        std::vector<std::string>* positional = nullptr) {
    for (int i = first; i < argc; i++) {
        std::string arg = argv[i];
        if (positional && arg.rfind("--", 0) != 0) { positional->push_back(arg); continue; }
        const Flag* f = nullptr;
        for (const Flag& g : table) if (arg == g.name) f = &g;
        if (!f) throw UsageError("unknown flag '" + arg + "' (see --help)");
        if (f->kind == Flag::SWITCH) { *(bool*)f->ptr = true; continue; }
        if (i + 1 >= argc) throw UsageError(arg + " needs a value" + (*f->meta ? std::string(" (") + f->meta + ")" : ""));
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
}

// ----------------------------------------------------------------------------
// time

inline double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
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
