// tests/test_util.h: small helpers shared by the test files: comparing tensors against an
// oracle (printing the first mismatches and the tolerance), random weights and token shards,
// temporary directories, running a program to look at its output and exit status, and
// reading a run's log.jsonl.
#pragma once
#include <doctest/doctest.h>

#include "train_common.h"   // defines: json; GPTConfig, param_table, init_parameters (gpt_model.h); Rng (base.h); write_shard (dataloader.h)

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <vector>

// ||a - b|| / ||b||, the agreement measure of DESIGN.md section 6
template <class A, class B>
double rel_error(const A* a, const B* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return std::sqrt(num);
    return std::sqrt(num / den);
}

// checks rel_error(got, want) <= tol for one named tensor; on failure prints the first few
// elements that differ most from the oracle, with the tolerance
template <class A, class B>
bool check_close(const std::string& name, const A* got, const B* want, size_t n, double tol) {
    double err = rel_error(got, want, n);
    bool finite = true;
    for (size_t i = 0; i < n; i++) finite = finite && std::isfinite((double)got[i]);
    bool ok = finite && err <= tol;
    if (!ok) {
        std::string msg = name + ": relative error " + std::to_string(err) + " > tolerance " + std::to_string(tol) +
                          (finite ? "" : " (non-finite values)") + "; first mismatches (index: got / want):";
        int shown = 0;
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = std::max(scale, std::fabs((double)want[i]));
        for (size_t i = 0; i < n && shown < 5; i++)
            if (!(std::fabs((double)got[i] - (double)want[i]) <= tol * scale)) {
                msg += " [" + std::to_string(i) + "]: " + std::to_string((double)got[i]) + " / " + std::to_string((double)want[i]);
                shown++;
            }
        FAIL_CHECK(msg);
    }
    return ok;
}

inline std::string make_temp_dir(const std::string& tag) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("gpt_test_" + tag + "_XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back(0);
    if (!mkdtemp(buf.data())) FAIL("cannot create a temporary directory");
    return buf.data();
}

struct CommandResult {
    int status;          // exit status (or 128 + signal)
    std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& cmd) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE_MESSAGE(p, "popen failed for: " << cmd);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return {code, out};
}

// the losses printed by the trainer's step lines ("step 3/10 | loss 4.123456 | ..."), in order
inline std::vector<std::string> step_losses(const std::string& output) {
    std::vector<std::string> losses;
    size_t pos = 0;
    while ((pos = output.find("step ", pos)) != std::string::npos) {
        bool line_start = pos == 0 || output[pos - 1] == '\n';
        size_t l = output.find(" | loss ", pos), eol = output.find('\n', pos);
        if (line_start && l != std::string::npos && l < eol) losses.push_back(output.substr(pos, output.find(" | lr", l) - pos));
        pos += 5;
    }
    return losses;
}

// a file the tests need that `make data` creates
inline std::string data_file(const std::string& path) {
    REQUIRE_MESSAGE(std::filesystem::exists(path), path << " is missing: run `make data` first");
    return path;
}

// random weights around GPT-2's initialisation, every tensor moved by std * N(0, 1) so that
// every path of the model matters; the vocabulary padding rows of wte stay zero
inline std::vector<float> random_params(const GPTConfig& c, uint64_t seed, float std) {
    std::vector<float> p;
    init_parameters(p, c, seed);
    Rng rng(seed + 100);
    for (const ParamTensor& t : param_table(c)) {
        size_t n = (size_t)t.shape[0] * (t.shape.size() > 1 ? t.shape[1] : 1);
        for (size_t i = 0; i < n; i++) p[t.offset + i] += std * rng.normal();
    }
    return p;
}

// a token shard of n random tokens below V; with n = B*T + 1 a DataLoader of batch B, T
// returns the same batch at every step. Returns the tokens.
inline std::vector<uint32_t> write_random_shard(const std::string& path, size_t n, int V, uint64_t seed) {
    Rng rng(seed);
    std::vector<uint32_t> tokens(n);
    for (uint32_t& t : tokens) t = rng.next_u32() % V;
    write_shard(path, tokens.data(), n, V);
    return tokens;
}

// the figures of a run's log.jsonl, in order: per step loss and gradient norm, validation losses
struct RunLog {
    std::vector<double> loss, grad_norm, val_loss;
};
inline RunLog read_run_log(const std::string& path) {
    REQUIRE_MESSAGE(std::filesystem::exists(path), path << " is missing: did the run fail?");
    RunLog r;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        json j = json::parse(line);
        if (j.contains("loss")) { r.loss.push_back(j["loss"]); r.grad_norm.push_back(j["grad_norm"]); }
        if (j.contains("val_loss")) r.val_loss.push_back(j["val_loss"]);
    }
    return r;
}

// the numbers recorded in tests/data/step_losses.json for `run`, against a run made now: true
// when they are bitwise the same; otherwise `report` (if set) gets the first difference
inline bool same_run_log(const json& run, const RunLog& got, std::string* report = nullptr) {
    for (const char* key : {"loss", "grad_norm", "val_loss"}) {
        std::vector<double> want = run.at(key).get<std::vector<double>>();
        const std::vector<double>& have = std::string(key) == "loss" ? got.loss : std::string(key) == "grad_norm" ? got.grad_norm : got.val_loss;
        for (size_t i = 0; i < std::max(want.size(), have.size()); i++)
            if (i >= want.size() || i >= have.size() || want[i] != have[i]) {
                if (report) {
                    char buf[256];
                    snprintf(buf, sizeof buf, "%s[%zu]: got %.17g, recorded %.17g (%zu vs %zu values)", key, i,
                             i < have.size() ? have[i] : NAN, i < want.size() ? want[i] : NAN, have.size(), want.size());
                    *report = buf;
                }
                return false;
            }
    }
    return true;
}
