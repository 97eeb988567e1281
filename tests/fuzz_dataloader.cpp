// tests/fuzz_dataloader.cpp: libFuzzer target for the shard reader of dataloader.h.
//
// Feeds arbitrary bytes to the shard parser, both from memory (parse_shard) and
// through a file (read_shard, then a DataLoader reading batches). It checks that
// bad input only ever throws std::runtime_error (never crashes, reads out of
// bounds or throws anything else, which libFuzzer + AddressSanitizer report),
// and that the two paths agree: both throw, or both return the same tokens.
// Not a doctest test: tests/run_fuzz.sh builds it with clang++ -fsanitize=fuzzer,address
// and runs it for a bounded time.
#include "dataloader.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

// one temporary file per fuzzing process, rewritten for every input and removed at exit
// (libFuzzer exits normally when -max_total_time is reached). A plain char array, so that
// no destructor can run before the exit handler that still needs the name.
static char temp_file[4096];
static void remove_temp_file() { std::remove(temp_file); }
static const char* temp_path() {
    if (!temp_file[0]) {
        std::string dir = std::filesystem::temp_directory_path().string();
        std::snprintf(temp_file, sizeof temp_file, "%s/fuzz_dataloader_%d.bin", dir.c_str(), int(getpid()));
        std::atexit(remove_temp_file);
    }
    return temp_file;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // the vocabulary size comes from the last input byte, so the fuzzer explores
    // both "token too large" and "all tokens fine", with uint16 and uint32 files
    size_t vocab = size ? 1 + size_t(data[size - 1]) * 1031 : 50257;

    bool mem_ok = false;
    std::vector<uint32_t> mem;
    try {
        mem = parse_shard(data, size, vocab, "<fuzz input>");
        mem_ok = true;
    } catch (const std::runtime_error&) {
    }

    const std::string path = temp_path();
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);

    bool file_ok = false;
    std::vector<uint32_t> disk;
    try {
        disk = read_shard(path, vocab);
        file_ok = true;
    } catch (const std::runtime_error&) {
    }
    if (mem_ok != file_ok || (mem_ok && mem != disk)) {
        std::fprintf(stderr, "parse_shard and read_shard disagree (memory %s, file %s)\n", mem_ok ? "ok" : "threw",
                     file_ok ? "ok" : "threw");
        std::abort();
    }

    // a loader over the file: B=1, T=2 needs 3 tokens; read a few batches across an epoch end
    try {
        DataLoader dl(path, 1, 2, 0, 1, 1, vocab, size % 2 == 1, 7);
        int x[2], y[2];
        for (int i = 0; i < 5; i++) {
            dl.next_batch(x, y);
            if (x[1] != y[0] || size_t(x[0]) >= vocab || size_t(y[1]) >= vocab) std::abort();
        }
    } catch (const std::runtime_error&) {
    }
    return 0;
}
