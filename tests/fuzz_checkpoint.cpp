// tests/fuzz_checkpoint.cpp: libFuzzer target for the checkpoint readers of train_common.h.
//
// The first input byte picks a reader, the rest is its input:
//   0: a safetensors file (SafeTensors::parse), then every tensor read as floats;
//   1: config.json (parse_hf_config);
//   2: trainer_state.json (parse_trainer_state);
//   3: a whole checkpoint folder: config.json, a NUL byte, then model.safetensors, loaded
//      with load_parameters (config.json against the weights, then the values).
// Bad input may only throw std::runtime_error, and its message must name the file; anything
// else (a crash, an out-of-bounds read, another exception, an allocation beyond
// -rss_limit_mb) is a failure that libFuzzer + AddressSanitizer report. What a reader
// accepts must hold its promises (shapes within the data, fields in range).
// Not a doctest test: tests/run_fuzz.sh builds it with clang++ -fsanitize=fuzzer,address
// and runs it for a bounded time.
#include "train_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

static void check(bool ok, const char* what) {
    if (!ok) { fprintf(stderr, "broken promise: %s\n", what); abort(); }
}

// one temporary folder per fuzzing process, removed at exit (libFuzzer exits normally at
// -max_total_time); a plain char array, so no destructor runs before the exit handler
static char temp_dir[4096];
static void remove_temp_dir() { std::error_code ec; fs::remove_all(temp_dir, ec); }
static std::string checkpoint_dir() {
    if (!temp_dir[0]) {
        std::string dir = fs::temp_directory_path().string();
        snprintf(temp_dir, sizeof temp_dir, "%s/fuzz_checkpoint_%d", dir.c_str(), int(getpid()));
        fs::create_directories(temp_dir);
        atexit(remove_temp_dir);
    }
    return temp_dir;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    int reader = data[0] % 4;
    const char* bytes = (const char*)data + 1;
    std::string text(bytes, size - 1);
    std::string name = "<fuzz input>";
    try {
        if (reader == 0) {
            SafeTensors st = SafeTensors::parse(bytes, size - 1, name);
            for (const std::string& n : st.names()) {
                const SafeTensors::Entry& e = st.entry(n);
                check(e.begin <= e.end && e.end <= st.data.size(), "a tensor lies inside the data");
                if (e.dtype != "F16") st.get<float>(n);
            }
        } else if (reader == 1) {
            GPTConfig c = parse_hf_config(text, name);
            check(c.num_layers >= 1 && c.num_heads >= 1 && c.channels % c.num_heads == 0 && c.vocab_size >= 2 &&
                  c.max_seq_len >= 1, "config fields in range");
        } else if (reader == 2) {
            TrainerState t = parse_trainer_state(text, name);
            check(t.step >= 0 && t.world >= 1 && t.log_lines >= 0 && t.rng != 0 && t.loader.is_object(),
                  "trainer state fields in range");
        } else {
            std::string dir = checkpoint_dir();
            size_t split = text.find('\0');
            if (split == std::string::npos) return 0;
            write_file(dir + "/config.json", text.substr(0, split));
            write_file(dir + "/model.safetensors", text.substr(split + 1));
            name = dir;
            GPTConfig c = read_hf_config(dir);
            std::vector<float> params;
            load_parameters(dir, c, params);
            check(params.size() == param_table(c).back().offset + param_table(c).back().numel, "the parameters fill the model");
            for (float x : params) check(std::isfinite(x), "loaded weights are finite");
        }
    } catch (const std::runtime_error& e) {
        if (!strstr(e.what(), name.c_str())) {
            fprintf(stderr, "an error message that does not name the file: %s\n", e.what());
            abort();
        }
    }
    return 0;
}
