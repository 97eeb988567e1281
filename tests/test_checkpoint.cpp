// tests/test_checkpoint.cpp: what a crash, a full disk, a NaN, a second trainer or a careless
// command line can do to a run's output folder, and what they must not do.
//
// The faults are real where a test can make them real (kill -9, a truncated file, a second
// process holding the lock) and simulated through train_common.h's test hooks where it
// cannot: TRAIN_GPT_TEST_KILL_AT=N kills the process at its Nth file operation, and
// TRAIN_GPT_TEST_FULL_AT=N fails the Nth write and every later one with ENOSPC. Each
// scenario is seeded, so a failure repeats. The trainer runs are tiny (2 layers, 32
// channels, 12 steps): the whole file took 37 seconds on two cores shared with other builds,
// most of it in fsync.
#include <doctest/doctest.h>

#include "train_common.h"   // defines: save_checkpoint, find_latest_checkpoint, the loaders, Logger
#include "tests/test_util.h"

#include <functional>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

static const std::string SMALL_DATA = "data/tinyshakespeare_bpe1k";   // made by `make data`

static GPTConfig tiny_config(int layers = 2, int channels = 16) {
    GPTConfig c;
    c.num_layers = layers; c.num_heads = 2; c.channels = channels; c.max_seq_len = 8;
    c.vocab_size = c.padded_vocab_size = 11;
    return c;
}

// parameters and moments that make a valid checkpoint (v >= 0), different for each seed
struct Weights {
    std::vector<float> p, m, v;
};
static Weights tiny_weights(const GPTConfig& c, uint64_t seed) {
    Weights w;
    init_parameters(w.p, c, seed);
    Rng rng(seed);
    w.m.resize(w.p.size());
    w.v.resize(w.p.size());
    for (size_t i = 0; i < w.p.size(); i++) { w.m[i] = 0.01f * rng.normal(); w.v[i] = 1e-4f * rng.uniform(); }
    return w;
}
static std::string save(const std::string& dir, int step, const GPTConfig& c, const Weights& w) {
    return save_checkpoint(dir, step, c, w.p.data(), w.m.data(), w.v.data(), {{"step", step}});
}

// the message of the runtime_error that f throws ("" and a failed check if it throws none)
template <class F>
static std::string error_of(F f) {
    try { f(); } catch (const std::runtime_error& e) { return e.what(); }
    FAIL_CHECK("no error was raised");
    return "";
}

static bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// names in dir starting with a dot other than .lock: the temporary folders and files of a save
static std::vector<std::string> leftovers(const std::string& dir) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if ((n[0] == '.' && n != ".lock") || contains(n, ".tmp")) found.push_back(n);
    }
    return found;
}

// ---------------------------------------------------------------------------- the trainer

static std::string trainer(const std::string& extra) {
    return "./train_gpt_cpu --train " + data_file(SMALL_DATA + "/train_000000.bin") + " --val " + SMALL_DATA +
           "/val_000000.bin --vocab-size 1024 --n-layer 2 --n-head 2 --n-embd 32 --seq-len 16 --batch 2 --steps 12"
           " --warmup 3 --shuffle --eval-every 4 --eval-batches 2 --sample-tokens 0 --threads 1 " + extra;
}

// log.jsonl without its timings (ms, tok/s): what must equal an uninterrupted run's, line for line
static std::vector<std::string> log_figures(const std::string& dir) {
    std::vector<std::string> lines;
    std::ifstream in(dir + "/log.jsonl");
    for (std::string line; std::getline(in, line);) {
        json j = json::parse(line);
        j.erase("ms");
        j.erase("tok_per_s");
        lines.push_back(j.dump());
    }
    return lines;
}

// the uninterrupted run every interrupted one must end up equal to: checkpoints every 2
// steps and validation every 4, so that resumes land on validation steps too
struct Reference {
    std::string dir, weights;
    std::vector<std::string> log;
    ~Reference() { if (!dir.empty()) fs::remove_all(dir); }
};
static const Reference& reference() {
    static Reference r;
    if (r.dir.empty()) {
        r.dir = make_temp_dir("reference");
        CommandResult run = run_command(trainer("--save-every 2 --out " + r.dir + "/run"));
        REQUIRE_MESSAGE(run.status == 0, run.output);
        r.weights = read_file(r.dir + "/run/step_000012/model.safetensors");
        r.log = log_figures(r.dir + "/run");
        REQUIRE(r.log.size() == 16);   // 12 steps and 4 validations
    }
    return r;
}

// the run in dir finished as the reference did: bitwise the same final weights, the same log
static void check_equals_reference(const std::string& dir) {
    const Reference& ref = reference();
    CHECK_MESSAGE(read_file(dir + "/step_000012/model.safetensors") == ref.weights, "final weights differ in " << dir);
    std::vector<std::string> log = log_figures(dir);
    CHECK_MESSAGE(log == ref.log, "log.jsonl differs from the uninterrupted run's: " << log.size() << " lines vs "
                                                                                        << ref.log.size());
}

// every step_* folder in dir is a complete checkpoint, and nothing temporary is left over
static void check_folder_consistent(const std::string& dir, const std::string& what) {
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (step_of_dir_name(n) >= 0) CHECK_MESSAGE(verify_checkpoint(e.path().string()) == "", what << ": " << n);
    }
}

// ---------------------------------------------------------------------------- durability

TEST_CASE("a checkpoint is complete only when its manifest matches; resume skips the others and says why") {
    GPTConfig c = tiny_config();
    std::string dir = make_temp_dir("manifest");
    Weights a = tiny_weights(c, 1), b = tiny_weights(c, 2);
    std::string s2 = save(dir, 2, c, a), s4 = save(dir, 4, c, b);
    CHECK(verify_checkpoint(s4) == "");
    CHECK(find_latest_checkpoint(dir) == s4);
    // the manifest's checksums are zlib's CRC-32 (the value of the standard check string)
    Crc32 crc;
    crc.update("123456789", 9);
    CHECK(crc.value == 0xCBF43926u);
    // power loss: the files of the newest save never reached the disk (size 0), or hold garbage
    fs::resize_file(s4 + "/model.safetensors", 0);
    std::vector<std::string> skipped;
    CHECK(find_latest_checkpoint(dir, &skipped) == s2);
    REQUIRE(skipped.size() == 1);
    CHECK(contains(skipped[0], "step_000004: model.safetensors has 0 bytes"));
    std::string bytes = read_file(s2 + "/optimizer.safetensors");
    bytes[bytes.size() / 2] ^= 1;
    write_file(s2 + "/optimizer.safetensors", bytes);
    CHECK(contains(verify_checkpoint(s2), "optimizer.safetensors does not match its checksum"));
    CHECK(find_latest_checkpoint(dir) == "");
    fs::remove(s2 + "/manifest.json");
    CHECK(contains(verify_checkpoint(s2), "no manifest.json"));
    fs::remove_all(dir);
}

TEST_CASE("checkpoints past step 999,999 have more digits, and resume finds them") {
    GPTConfig c = tiny_config();
    std::string dir = make_temp_dir("bigstep");
    Weights w = tiny_weights(c, 1);
    save(dir, 999999, c, w);
    std::string big = save(dir, 1000000, c, w);
    CHECK(big == dir + "/step_1000000");
    CHECK(find_latest_checkpoint(dir) == big);
    CHECK(step_of_dir_name("step_12345") == -1);
    CHECK(step_of_dir_name("step_00001x") == -1);
    fs::remove_all(dir);
}

// runs f in a child process that the test hooks kill at its kill_at-th file operation;
// true if the child was killed, false if it finished first
template <class F>
static bool killed_at(long kill_at, F f) {
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        setenv("TRAIN_GPT_TEST_KILL_AT", std::to_string(kill_at).c_str(), 1);
        io_faults(true);
        try { f(); } catch (...) { _exit(3); }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE_MESSAGE((WIFSIGNALED(status) || WEXITSTATUS(status) == 0), "the child failed with status " << status);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST_CASE("a kill at any file operation of a save leaves a complete checkpoint: the old copy or the new one") {
    GPTConfig c = tiny_config(1);
    Weights old_w = tiny_weights(c, 1), new_w = tiny_weights(c, 2);
    std::string scratch = make_temp_dir("scratch");
    std::string new_expected = read_file(save(scratch, 5, c, new_w) + "/model.safetensors");
    fs::remove_all(scratch);
    std::string old_model, new_model;
    int kills = 0;
    for (long k = 1; k < 1000; k++) {
        CAPTURE(k);
        std::string dir = make_temp_dir("resave");
        save(dir, 3, c, old_w);
        std::string s5 = save(dir, 5, c, old_w);
        if (old_model.empty()) old_model = read_file(s5 + "/model.safetensors");
        // a second save of step 5 (as after a crash and a resume from step 3), killed at operation k
        bool killed = killed_at(k, [&] { save(dir, 5, c, new_w); });
        CHECK(find_latest_checkpoint(dir) == s5);   // step_000005 is there and complete at every moment
        std::string model = read_file(s5 + "/model.safetensors");
        if (!killed) new_model = model;
        CHECK((model == old_model || model == new_expected));
        // a first save of step 7 killed at the same operation: step 7 complete, or step 5 the newest
        std::string dir7 = make_temp_dir("firstsave");
        std::string s3 = save(dir7, 3, c, old_w);
        bool killed7 = killed_at(k, [&] { save(dir7, 7, c, new_w); });
        std::string latest = find_latest_checkpoint(dir7);
        CHECK((latest == s3 || (latest == dir7 + "/step_000007" && verify_checkpoint(latest) == "")));
        if (!killed7) CHECK(latest == dir7 + "/step_000007");
        fs::remove_all(dir);
        fs::remove_all(dir7);
        if (!killed) break;
        kills++;
    }
    MESSAGE(kills << " kill points inside a save, each left a complete checkpoint");
    CHECK(kills > 20);       // the loop really went through the save, file by file
    CHECK(new_model == new_expected);   // the save that ran to the end replaced the old copy
    CHECK(new_model != old_model);
}

TEST_CASE("a full disk: the save fails loudly, naming the file; no temporary folder is left; earlier checkpoints stay") {
    GPTConfig c = tiny_config();
    Weights w = tiny_weights(c, 1);
    int failures = 0;
    for (long n = 1; n < 1000; n++) {
        CAPTURE(n);
        std::string dir = make_temp_dir("full");
        std::string s3 = save(dir, 3, c, w);
        std::string before = read_file(s3 + "/model.safetensors");
        setenv("TRAIN_GPT_TEST_FULL_AT", std::to_string(n).c_str(), 1);
        io_faults(true);
        bool failed = false;
        try {
            save(dir, 6, c, w);
        } catch (const std::runtime_error& e) {
            failed = true;
            CHECK(contains(e.what(), "No space left on device"));
            CHECK(contains(e.what(), dir + "/.step_000006.tmp/"));   // the file that could not be written
        }
        unsetenv("TRAIN_GPT_TEST_FULL_AT");
        io_faults(true);
        CHECK(leftovers(dir).empty());
        CHECK(find_latest_checkpoint(dir) == (failed ? s3 : dir + "/step_000006"));
        CHECK(read_file(s3 + "/model.safetensors") == before);
        fs::remove_all(dir);
        if (!failed) break;
        failures++;
    }
    CHECK(failures > 20);
    // log.jsonl: a line that cannot be written stops the run instead of vanishing
    std::string dir = make_temp_dir("fulllog");
    Logger logger;
    logger.open(dir, -1);
    logger.log({{"step", 1}});
    setenv("TRAIN_GPT_TEST_FULL_AT", "1", 1);
    io_faults(true);
    std::string msg = error_of([&] { logger.log({{"step", 2}}); });
    unsetenv("TRAIN_GPT_TEST_FULL_AT");
    io_faults(true);
    CHECK(contains(msg, dir + "/log.jsonl"));
    CHECK(contains(msg, "No space left on device"));
    fs::remove_all(dir);
}

// ---------------------------------------------------------------------------- validation at load

// a checkpoint folder with one file replaced by `text`
static std::string with_file(const std::string& tag, const std::string& file, const std::string& text) {
    GPTConfig c = tiny_config();
    std::string dir = make_temp_dir(tag);
    std::string step = save(dir, 1, c, tiny_weights(c, 1));
    write_file(step + "/" + file, text);
    return step;
}

// a safetensors file whose header is `header` followed by `data_bytes` zero bytes
static std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
    uint64_t n = header.size();
    return std::string((const char*)&n, 8) + header + std::string(data_bytes, '\0');
}

TEST_CASE("malformed safetensors headers are refused with the file and the field named") {
    struct Case { std::string header, expect; size_t data; };
    std::vector<Case> cases = {
        {"[1, 2]", "not a JSON object", 0},
        {R"({"a": 3})", "tensor a: its entry is not a JSON object", 0},
        {R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", "tensor a: field dtype", 4},
        {R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "tensor a: field shape", 4},
        {R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "tensor a: field shape", 4},
        {R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}})", "tensor a: field data_offsets", 4},
        {R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}})", "tensor a: data_offsets", 4},
        {R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}})", "larger than the file", 4},
        {R"({"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}})", "dtype Q4", 4},
        {R"({"__metadata__": [], "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", "__metadata__", 4},
        {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
         "overlap", 8},
    };
    for (const Case& c : cases) {
        CAPTURE(c.header);
        std::string bytes = safetensors_bytes(c.header, c.data);
        std::string msg = error_of([&] { SafeTensors::parse(bytes.data(), bytes.size(), "some/model.safetensors"); });
        CHECK(contains(msg, "some/model.safetensors: "));
        CHECK(contains(msg, c.expect));
    }
    // a directory where the file should be
    std::string step = with_file("dirfile", "config.json", "");
    fs::remove(step + "/model.safetensors");
    fs::create_directory(step + "/model.safetensors");
    std::vector<float> p;
    CHECK(contains(error_of([&] { load_parameters(step, tiny_config(), p); }), step + "/model.safetensors: is a directory"));
    fs::remove_all(fs::path(step).parent_path());
}

TEST_CASE("config.json and trainer_state.json: every bad field is named, with the file") {
    struct Case { std::string text, expect; };
    std::vector<Case> configs = {
        {"[]", "not a JSON object"},
        {"{", "not valid JSON"},
        {R"({"n_head": 2, "n_embd": 16, "n_positions": 8, "vocab_size": 11})", "field n_layer is missing"},
        {R"({"n_layer": "2", "n_head": 2, "n_embd": 16, "n_positions": 8, "vocab_size": 11})", "field n_layer is \"2\""},
        {R"({"n_layer": 2, "n_head": 2, "n_embd": 16, "n_positions": 8, "vocab_size": 1099511627776})", "field vocab_size"},
        {R"({"n_layer": 2, "n_head": 3, "n_embd": 16, "n_positions": 8, "vocab_size": 11})", "not divisible by n_head"},
    };
    for (const Case& c : configs) {
        CAPTURE(c.text);
        std::string msg = error_of([&] { parse_hf_config(c.text, "run/config.json"); });
        CHECK(contains(msg, "run/config.json: "));
        CHECK(contains(msg, c.expect));
    }
    json good = {{"step", 5}, {"world", 1}, {"rng", 42}, {"log_lines", 7}, {"loader", json::object()}};
    TrainerState t = parse_trainer_state(good.dump(), "x");
    CHECK(t.step == 5);
    CHECK(t.log_lines == 7);
    std::vector<std::pair<json, std::string>> states;
    for (const char* key : {"step", "world", "rng", "log_lines", "loader"}) {
        json j = good;
        j.erase(key);
        states.push_back({j, std::string("field ") + key});
    }
    json j = good; j["step"] = 1ll << 40; states.push_back({j, "field step is 1099511627776"});
    j = good; j["step"] = -1; states.push_back({j, "field step"});
    j = good; j["step"] = 2.5; states.push_back({j, "field step"});
    j = good; j["rng"] = 0; states.push_back({j, "field rng"});
    j = good; j["loader"] = "here"; states.push_back({j, "field loader"});
    states.push_back({json::array(), "not a JSON object"});
    for (const auto& [state, expect] : states) {
        CAPTURE(state.dump());
        std::string msg = error_of([&] { parse_trainer_state(state.dump(), "run/trainer_state.json"); });
        CHECK(contains(msg, "run/trainer_state.json: "));
        CHECK(contains(msg, expect));
    }
}

TEST_CASE("inconsistent checkpoints are refused with the file named, never half loaded") {
    GPTConfig c = tiny_config();
    Weights w = tiny_weights(c, 1);
    std::string dir = make_temp_dir("inconsistent");
    std::string step = save(dir, 1, c, w);
    std::vector<float> p, m, v;
    load_parameters(step, c, p);
    load_optimizer(step, c, m, v);
    CHECK(m == w.m);
    CHECK(v == w.v);
    std::string opt = step + "/optimizer.safetensors";
    SafeTensors st = SafeTensors::read(opt);
    auto rewrite = [&](std::function<void(std::vector<NamedTensor>&, std::map<std::string, std::vector<float>>&)> edit) {
        std::map<std::string, std::vector<float>> values;
        for (const std::string& n : st.names()) values[n] = st.get<float>(n);
        std::vector<NamedTensor> tensors;
        for (const std::string& n : st.names()) tensors.push_back({n, "F32", st.shape(n), nullptr});
        edit(tensors, values);
        for (NamedTensor& t : tensors) t.data = values[t.name].data();
        write_safetensors(opt, tensors);
    };
    // one moment tensor of the wrong shape (fewer rows): refused, not loaded with zeros after it
    rewrite([](auto& t, auto&) { t[0].shape[0] -= 1; });
    CHECK(contains(error_of([&] { load_optimizer(step, c, m, v); }), opt + ": tensor " + st.names()[0] + " has shape"));
    // an optimizer file of a larger model (twice the channels): refused before anything is copied
    std::string big_dir = make_temp_dir("bigger");
    GPTConfig big = tiny_config(2, 32);
    std::string big_step = save(big_dir, 1, big, tiny_weights(big, 1));
    fs::copy_file(big_step + "/optimizer.safetensors", opt, fs::copy_options::overwrite_existing);
    CHECK(contains(error_of([&] { load_optimizer(step, c, m, v); }), "the optimizer state belongs to another model"));
    fs::remove_all(big_dir);
    // a negative second moment, a NaN first moment, a missing and an unexpected tensor
    save(dir, 1, c, w);
    st = SafeTensors::read(opt);
    rewrite([](auto&, auto& values) { values["v.transformer.ln_f.bias"][3] = -1; });
    std::string msg = error_of([&] { load_optimizer(step, c, m, v); });
    CHECK(contains(msg, opt + ": tensor v.transformer.ln_f.bias holds -1 at element 3"));
    CHECK(!contains(msg, "--lr"));   // the checkpoint is broken, not the learning rate
    rewrite([](auto&, auto& values) { values["m.transformer.wte.weight"][0] = NAN; });
    CHECK(contains(error_of([&] { load_optimizer(step, c, m, v); }), "m.transformer.wte.weight holds nan"));
    rewrite([](auto& t, auto&) { t.pop_back(); });
    CHECK(contains(error_of([&] { load_optimizer(step, c, m, v); }), "is missing"));
    rewrite([](auto& t, auto& values) { t.push_back({"m.extra", "F32", {1}, nullptr}); values["m.extra"] = {0}; });
    CHECK(contains(error_of([&] { load_optimizer(step, c, m, v); }), "unexpected tensor m.extra"));
    // NaN weights: refused at load, naming the file, and not blamed on --lr
    save(dir, 1, c, w);
    std::string model = step + "/model.safetensors";
    std::string bytes = read_file(model);
    float inf = INFINITY;
    memcpy(&bytes[bytes.size() - 4], &inf, 4);   // the last element of the last tensor
    write_file(model, bytes);
    msg = error_of([&] { load_parameters(step, c, p); });
    CHECK(contains(msg, model + ": tensor"));
    CHECK(contains(msg, "holds inf"));
    CHECK(!contains(msg, "--lr"));
    // config.json that claims 100,000,000 layers for a 2-layer weights file: refused before
    // anything the size of that model is allocated
    save(dir, 1, c, w);
    json cfg = json::parse(read_file(step + "/config.json"));
    cfg["n_layer"] = 100000000;
    write_file(step + "/config.json", cfg.dump());
    msg = error_of([&] { load_parameters(step, read_hf_config(step), p); });
    CHECK(contains(msg, model + ": holds 2 layers but"));
    CHECK(contains(msg, "n_layer 100000000"));
    fs::remove_all(dir);
}

// ---------------------------------------------------------------------------- NaN guards

TEST_CASE("non-finite numbers stop the run before anything non-finite is written") {
    CHECK(contains(error_of([] { check_step_finite(6, 3.0, NAN); }), "step 6: the gradient norm is nan"));
    CHECK(contains(error_of([] { check_step_finite(6, INFINITY, 1.0); }), "step 6: the loss is inf"));
    check_step_finite(6, 3.0, 1.0);
    std::string dir = make_temp_dir("nan");
    Logger logger;
    logger.open(dir, -1);
    CHECK(contains(error_of([&] { report_val(nullptr, logger, 8, NAN); }), "step 8: the validation loss is nan"));
    GPTConfig c = tiny_config();
    Weights w = tiny_weights(c, 1);
    w.p[5] = NAN;
    CHECK(contains(error_of([&] { save(dir, 3, c, w); }), "transformer.wte.weight holds nan at element 5"));
    w = tiny_weights(c, 1);
    w.v[w.v.size() - 1] = -1;
    CHECK(contains(error_of([&] { save(dir, 3, c, w); }), "v.transformer.ln_f.bias holds -1"));
    CHECK(!fs::exists(dir + "/step_000003"));
    CHECK(leftovers(dir).empty());
    // the trainer at a learning rate of 1000: it stops with the step and the cause, exit 1,
    // and every checkpoint it wrote holds finite weights
    CommandResult r = run_command(trainer("--lr 1000 --warmup 0 --save-every 1 --grad-clip 0 --out " + dir + "/run"));
    CAPTURE(r.output);
    CHECK(r.status == 1);
    CHECK((contains(r.output, "stopping before the update") || contains(r.output, "not saving")));
    std::string latest = find_latest_checkpoint(dir + "/run");
    REQUIRE(!latest.empty());
    std::vector<float> p, m, v;
    load_parameters(latest, read_hf_config(latest), p);
    load_optimizer(latest, read_hf_config(latest), m, v);
    fs::remove_all(dir);
}

// ---------------------------------------------------------------------------- the output folder

TEST_CASE("--out: one trainer at a time, no silent overwrite, --steps below the checkpoint refused") {
    std::string dir = make_temp_dir("outdir");
    std::string run = dir + "/run";
    CommandResult first = run_command(trainer("--save-every 4 --out " + run));
    REQUIRE_MESSAGE(first.status == 0, first.output);
    std::string log = read_file(run + "/log.jsonl");
    // forgetting --resume: refused, nothing touched
    CommandResult again = run_command(trainer("--out " + run));
    CHECK(again.status == 2);
    CHECK(contains(again.output, "--out " + run + " is not empty"));
    CHECK(contains(again.output, "--resume"));
    CHECK(contains(again.output, "--overwrite"));
    CHECK(read_file(run + "/log.jsonl") == log);
    // --steps below the newest checkpoint: refused; equal to it: nothing to do, nothing touched
    CommandResult below = run_command(trainer("--resume --steps 8 --out " + run));
    CHECK(below.status == 2);
    CHECK(contains(below.output, "--steps 8 is below the step of the checkpoint"));
    CommandResult done = run_command(trainer("--resume --out " + run));
    CHECK(done.status == 0);
    CHECK(contains(done.output, "nothing to train"));
    CHECK(read_file(run + "/log.jsonl") == log);
    CHECK(find_latest_checkpoint(run) == run + "/step_000012");
    // a second trainer on the same folder: refused, naming the folder and the holder
    int fd = ::open((run + "/.lock").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(flock(fd, LOCK_EX | LOCK_NB) == 0);
    REQUIRE(ftruncate(fd, 0) == 0);
    REQUIRE(pwrite(fd, "pid 4242 on elsewhere\n", 22, 0) == 22);
    CommandResult second = run_command(trainer("--resume --steps 16 --out " + run));
    CHECK(second.status == 1);
    CHECK(contains(second.output, "--out " + run + " is in use by another trainer (pid 4242 on elsewhere)"));
    ::close(fd);
    // --overwrite: the previous run's checkpoints and log go, other files stay
    write_file(run + "/notes.txt", "mine");
    CommandResult over = run_command(trainer("--steps 2 --overwrite --out " + run));
    CHECK(over.status == 0);
    CHECK(!fs::exists(run + "/step_000012"));
    CHECK(fs::exists(run + "/step_000002"));
    CHECK(fs::exists(run + "/notes.txt"));
    CHECK(log_figures(run).size() == 4);   // validation at steps 0 and 2, and steps 1 and 2
    fs::remove_all(dir);
}

// ---------------------------------------------------------------------------- crashes

TEST_CASE("a resume at a validation step: log.jsonl equals the uninterrupted run's, line for line") {
    const Reference& ref = reference();
    std::string dir = make_temp_dir("logresume");
    fs::copy(ref.dir + "/run", dir + "/run", fs::copy_options::recursive);
    for (int s : {6, 8, 10, 12}) fs::remove_all(dir + "/run/" + step_dir_name(s));   // back to step 4, a validation step
    CommandResult r = run_command(trainer("--resume --save-every 2 --out " + dir + "/run"));
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK(contains(r.output, "resuming from " + dir + "/run/step_000004"));
    check_equals_reference(dir + "/run");
    fs::remove_all(dir);
}

TEST_CASE("kill -9 at random moments, inside saves too: the resumed run ends as an uninterrupted one") {
    const Reference& ref = reference();
    Rng rng(2024);
    int kills = 0, fulls = 0;
    for (int trial = 0; trial < 8; trial++) {
        CAPTURE(trial);
        std::string dir = make_temp_dir("crash") + "/run";
        for (int attempt = 0;; attempt++) {
            // a fault at a random file operation (a whole run makes about 650), then a clean run
            long at = 1 + rng.next_u32() % 400;
            bool full = attempt < 3 && trial % 2 == 1;
            std::string env = attempt >= 3 ? "" : (full ? "TRAIN_GPT_TEST_FULL_AT=" : "TRAIN_GPT_TEST_KILL_AT=") + std::to_string(at) + " ";
            CommandResult r = run_command(env + trainer("--resume --save-every 2 --out " + dir));
            CAPTURE(env);
            CAPTURE(r.output);
            if (r.status == 0) break;
            if (full) {
                CHECK(r.status == 1);
                CHECK(contains(r.output, "No space left on device"));
                fulls++;
            } else {
                CHECK(r.status == 128 + SIGKILL);
                kills++;
            }
            check_folder_consistent(dir, env);
            if (full) CHECK(leftovers(dir).empty());
            REQUIRE(attempt < 3);
        }
        check_equals_reference(dir);
        fs::remove_all(fs::path(dir).parent_path());
    }
    MESSAGE(kills << " kills and " << fulls << " full disks, each resumed to the uninterrupted run's weights and log");
    CHECK(kills >= 6);
    CHECK(fulls >= 6);
    // and kill -9 from outside, at random times in the run
    for (int trial = 0; trial < 3; trial++) {
        std::string dir = make_temp_dir("kill9") + "/run";
        for (int attempt = 0; attempt < 2; attempt++) {
            pid_t pid = fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                std::string cmd = "exec " + trainer("--resume --save-every 2 --out " + dir) + " > /dev/null 2>&1";
                execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
                _exit(127);
            }
            usleep(20000 + rng.next_u32() % 200000);
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            check_folder_consistent(dir, "after kill -9");
        }
        CommandResult r = run_command(trainer("--resume --save-every 2 --out " + dir));
        REQUIRE_MESSAGE(r.status == 0, r.output);
        check_equals_reference(dir);
        fs::remove_all(fs::path(dir).parent_path());
    }
    (void)ref;
}

TEST_CASE("a power loss (the newest save's files never reached the disk): resume from the newest complete one") {
    const Reference& ref = reference();
    std::string dir = make_temp_dir("power");
    fs::copy(ref.dir + "/run", dir + "/run", fs::copy_options::recursive);
    // as if the machine lost power after the last save: its files are empty or cut short
    for (const char* f : CHECKPOINT_FILES) fs::resize_file(dir + "/run/step_000012/" + f, 0);
    fs::resize_file(dir + "/run/step_000010/model.safetensors", 1000);
    CommandResult r = run_command(trainer("--resume --save-every 2 --out " + dir + "/run"));
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK(contains(r.output, "skipping " + dir + "/run/step_000012: config.json has 0 bytes"));
    CHECK(contains(r.output, "skipping " + dir + "/run/step_000010: model.safetensors has 1000 bytes"));
    CHECK(contains(r.output, "resuming from " + dir + "/run/step_000008"));
    check_equals_reference(dir + "/run");
    // the only checkpoint lost its trainer_state.json: refused, not a silent start from
    // scratch, and the log stays as it was
    fs::remove_all(dir + "/lone");
    fs::create_directories(dir + "/lone");
    fs::copy(ref.dir + "/run/step_000002", dir + "/lone/step_000002");
    fs::copy_file(ref.dir + "/run/log.jsonl", dir + "/lone/log.jsonl");
    fs::remove(dir + "/lone/step_000002/trainer_state.json");
    CommandResult lone = run_command(trainer("--resume --out " + dir + "/lone"));
    CHECK(lone.status == 1);
    CHECK(contains(lone.output, "skipping " + dir + "/lone/step_000002: trainer_state.json is missing"));
    CHECK(contains(lone.output, "nothing to resume from"));
    CHECK(read_file(dir + "/lone/log.jsonl") == read_file(ref.dir + "/run/log.jsonl"));
    // a log cut short by a kill while it was rewritten at resume is never empty: the old or the new one
    for (long k = 1; k <= 6; k++) {
        fs::remove_all(dir + "/k");
        fs::copy(ref.dir + "/run", dir + "/k", fs::copy_options::recursive);
        fs::remove_all(dir + "/k/step_000012");
        run_command("TRAIN_GPT_TEST_KILL_AT=" + std::to_string(k) + " " + trainer("--resume --out " + dir + "/k"));
        std::vector<std::string> now = log_figures(dir + "/k");
        CHECK(now.size() >= 13);   // at least the lines up to the checkpoint of step 10
        CHECK(std::equal(now.begin(), now.end(), ref.log.begin()));
    }
    fs::remove_all(dir);
}
