// tests/test_mpi.cpp: data parallelism without a GPU. The CPU trainer built with MPI
// (train_gpt_cpu_mpi) runs the same partitioning and averaging code as the GPU trainer's
// NCCL path (the shard arithmetic lives in train_common.h); here it runs under mpirun with
// 1, 2 and 3 ranks, and reproduces bit for bit the multi-rank runs recorded in
// tests/data/step_losses.json. Skipped, and counted as skipped, where mpirun or the binary is missing.
#include <doctest/doctest.h>
#include "train_common.h"
#include "tests/test_util.h"

static bool mpi_available() {
    return fs::exists("train_gpt_cpu_mpi") && system("command -v mpirun > /dev/null 2>&1") == 0;
}

static const std::string DATA = "data/tinyshakespeare_bpe1k";

// runs the trainer on `ranks` processes; returns its output (the test fails on a non-zero exit)
static std::string run_ranks(int ranks, const std::string& flags) {
    std::string cmd = "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) +
                      " ./train_gpt_cpu_mpi --train " + data_file(DATA + "/train_000000.bin") + " --val " + DATA +
                      "/val_000000.bin --vocab-size 1024 --n-layer 2 --n-head 2 --n-embd 32 --seq-len 32"
                      " --eval-every 0 --sample-tokens 0 --threads 1 --warmup 2 " + flags;
    CommandResult r = run_command(cmd);
    REQUIRE_MESSAGE(r.status == 0, cmd << "\n" << r.output);
    return r.output;
}

// the loss and gradient norm of every step line
struct Curve { std::vector<double> loss, norm; };
static Curve curve(const std::string& out) {
    Curve c;
    for (const std::string& line : step_losses(out)) c.loss.push_back(std::stod(line.substr(line.find("| loss ") + 7)));
    size_t pos = 0;
    while ((pos = out.find(" | norm ", pos)) != std::string::npos) c.norm.push_back(std::stod(out.substr(pos += 8)));
    return c;
}

TEST_CASE("N ranks x batch B = 1 rank x batch N*B = N-step accumulation of batch B" * doctest::skip(!mpi_available())) {
    for (int N : {1, 2, 3}) {
        CAPTURE(N);
        std::string steps = "--steps 6 ";
        Curve ranks = curve(run_ranks(N, steps + "--batch 2"));
        Curve wide = curve(run_ranks(1, steps + "--batch " + std::to_string(2 * N)));
        Curve accum = curve(run_ranks(1, steps + "--batch 2 --grad-accum " + std::to_string(N)));
        REQUIRE(ranks.loss.size() == 6);
        REQUIRE(wide.loss.size() == 6);
        REQUIRE(accum.loss.size() == 6);
        CHECK(check_close("losses, N ranks vs 1 rank x N*B", ranks.loss.data(), wide.loss.data(), 6, 1e-5));
        CHECK(check_close("losses, N ranks vs N-step accumulation", ranks.loss.data(), accum.loss.data(), 6, 1e-5));
        CHECK(check_close("grad norms, N ranks vs 1 rank x N*B", ranks.norm.data(), wide.norm.data(), 6, 1e-4));
    }
}

TEST_CASE("ZeRO-1 on and off give bitwise the same run" * doctest::skip(!mpi_available())) {
    std::string dir = make_temp_dir("zero");
    std::string off = run_ranks(3, "--steps 5 --batch 2 --out " + dir + "/off");
    std::string on = run_ranks(3, "--steps 5 --batch 2 --zero 1 --out " + dir + "/on");
    std::vector<std::string> a = step_losses(off), b = step_losses(on);
    REQUIRE(a.size() == 5);
    CHECK(a == b);
    CHECK(curve(off).norm == curve(on).norm);
    for (const char* f : {"model.safetensors", "optimizer.safetensors"})
        CHECK_MESSAGE(read_file(dir + "/off/step_000005/" + f) == read_file(dir + "/on/step_000005/" + f), f);
    fs::remove_all(dir);
}

TEST_CASE("a run resumed on a different number of ranks continues the same loss curve" * doctest::skip(!mpi_available())) {
    std::string dir = make_temp_dir("reshard");
    Curve full = curve(run_ranks(2, "--steps 8 --batch 3 --zero 1 --save-every 4 --out " + dir + "/a"));
    fs::create_directories(dir + "/b");
    fs::copy(dir + "/a/step_000004", dir + "/b/step_000004");
    Curve resumed = curve(run_ranks(3, "--steps 8 --batch 2 --zero 1 --resume --out " + dir + "/b"));
    REQUIRE(full.loss.size() == 8);
    REQUIRE(resumed.loss.size() == 4);
    CHECK(check_close("losses after resuming on 3 ranks", resumed.loss.data(), full.loss.data() + 4, 4, 1e-5));
    fs::remove_all(dir);
}

TEST_CASE("multi-rank runs reproduce, bit for bit, the runs recorded before the step was one function" *
          doctest::skip(!mpi_available())) {
    json rec = json::parse(read_file(data_file("tests/data/step_losses.json")));
    std::string dir = make_temp_dir("recorded_mpi");
    int i = 0;
    for (const json& run : rec["runs"]) {
        if (run["ranks"] == 1) continue;   // the one-rank runs are in test_cpu.cpp, with the checker's self-test
        CAPTURE(run["name"].get<std::string>());
        std::string out = dir + "/" + std::to_string(i++);
        std::string cmd = "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(run["ranks"].get<int>()) +
                          " ./train_gpt_cpu_mpi " + rec["common_flags"].get<std::string>() + " " +
                          run["flags"].get<std::string>() + " --out " + out;
        CommandResult r = run_command(cmd);
        REQUIRE_MESSAGE(r.status == 0, cmd << "\n" << r.output);
        std::string report;
        CHECK_MESSAGE(same_run_log(run, read_run_log(out + "/log.jsonl"), &report), report);
    }
    fs::remove_all(dir);
}
