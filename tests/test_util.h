// tests/test_util.h: small helpers shared by the test files: comparing tensors against an
// oracle (printing the first mismatches and the tolerance), temporary directories, and
// running a program to look at its output and exit status.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
