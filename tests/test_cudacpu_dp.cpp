// tests/test_cudacpu_dp.cpp: the GPU trainer's data-parallel path with several emulated GPUs.
// build/train_gpt_cpumode is train_gpt.cu in the CPU execution mode (tools/cudacpu); here N
// copies of it run as the N ranks of a torchrun-style launch (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR=127.0.0.1, MASTER_PORT), talking through the emulated NCCL: agreement with one
// rank, a rank failing alone, the port torchrun holds, checkpoints across rank counts. Skipped, and
// counted as skipped, where that binary was not built (no CUDA headers). CUDACPU_TRAINER=path
// runs another build instead (one without a fix, say, to see its test fail).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/test_util.h"

static const char* BIN = getenv("CUDACPU_TRAINER") ? getenv("CUDACPU_TRAINER") : "build/train_gpt_cpumode";
static bool cpumode_available() { return std::filesystem::exists(BIN); }
static const std::string DATA = "data/tinyshakespeare_bpe1k";

static double wall() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// a port of our own per test process (the trainer uses it and the next one)
static int base_port() { return 20000 + (getpid() * 2) % 20000; }

struct Rank {
    int status = -1;     // exit status, 128 + signal, or -1 if it had to be killed
    double seconds = 0;  // from the launch until it exited
    std::string output;
};

// runs `world` ranks of the trainer; rank r gets flags(r) and the environment variables env(r)
// besides the launch's own; each must be done within `limit` seconds
static std::vector<Rank> launch(int world, const std::function<std::string(int)>& flags,
                                const std::function<std::vector<std::string>(int)>& env = nullptr, double limit = 240,
                                int port = base_port()) {
    std::vector<Rank> ranks(world);
    std::vector<pid_t> pids(world);
    std::vector<std::string> logs(world);
    double start = wall();
    for (int r = 0; r < world; r++) {
        logs[r] = make_temp_dir("dp_rank") + "/out.log";
        std::vector<std::string> vars = {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(world), "LOCAL_RANK=0",
                                         "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port),
                                         "CUDACPU_NCCL_TIMEOUT=120"};   // far longer than any test waits: a rank stuck waiting shows
        if (env) for (const std::string& v : env(r)) vars.push_back(v);
        std::string cmd = "exec env";
        for (const std::string& v : vars) cmd += " " + v;
        cmd += std::string(" ") + BIN + " " + flags(r) + " > " + logs[r] + " 2>&1";
        pids[r] = fork();
        REQUIRE(pids[r] >= 0);
        if (pids[r] == 0) {
            setpgid(0, 0);
            execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
            _exit(127);
        }
    }
    for (int left = world; left > 0;) {
        for (int r = 0; r < world; r++) {
            int st;
            if (ranks[r].seconds == 0 && waitpid(pids[r], &st, WNOHANG) == pids[r]) {
                ranks[r].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                ranks[r].seconds = wall() - start;
                left--;
            }
        }
        if (left > 0 && wall() - start > limit)
            for (int r = 0; r < world; r++)
                if (ranks[r].seconds == 0) {
                    kill(-pids[r], SIGKILL);
                    waitpid(pids[r], nullptr, 0);
                    ranks[r].seconds = wall() - start;
                    left--;
                }
        usleep(20000);
    }
    for (int r = 0; r < world; r++) {
        std::ifstream f(logs[r]);
        ranks[r].output.assign(std::istreambuf_iterator<char>(f), {});
        std::filesystem::remove_all(std::filesystem::path(logs[r]).parent_path());
    }
    return ranks;
}

static std::string describe(const std::vector<Rank>& ranks) {
    std::string s;
    for (size_t r = 0; r < ranks.size(); r++) {
        std::string out = ranks[r].output;
        if (out.size() > 1500) out = "..." + out.substr(out.size() - 1500);
        s += "rank " + std::to_string(r) + ": exit " + std::to_string(ranks[r].status) + " after " +
             std::to_string(ranks[r].seconds) + " s:\n" + out + "\n";
    }
    return s;
}

// a tiny model, a few steps: the CPU execution mode runs every GPU thread as a fiber
static std::string model_flags(int batch, int steps = 3) {
    return "--train " + data_file(DATA + "/train_000000.bin") + " --val " + DATA + "/val_000000.bin --vocab-size 1024"
           " --n-layer 1 --n-head 2 --n-embd 32 --seq-len 16 --eval-every 0 --sample-tokens 0 --warmup 1 --lr 1e-2"
           " --batch " + std::to_string(batch) + " --steps " + std::to_string(steps);
}

static std::vector<double> losses(const std::string& out) {
    std::vector<double> l;
    for (const std::string& line : step_losses(out)) l.push_back(std::stod(line.substr(line.find("| loss ") + 7)));
    return l;
}

// the bf16 build's agreement on losses (DESIGN.md section 6)
static void check_losses_agree(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
    REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " step lines, want " << want.size());
    REQUIRE(!want.empty());
    for (size_t i = 0; i < want.size(); i++)
        CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= 1e-2 * std::fabs(want[i]),
                      what << ": step " << i + 1 << " loss " << got[i] << ", want " << want[i] << " (tolerance 1e-2)");
}

TEST_CASE("N emulated GPUs agree with one GPU at N times the batch, ZeRO-1 on and off" * doctest::skip(!cpumode_available())) {
    auto one = launch(1, [](int) { return model_flags(6); });
    REQUIRE_MESSAGE(one[0].status == 0, describe(one));
    std::vector<double> want = losses(one[0].output);
    for (int n : {2, 3}) {
        for (int zero : {0, 1}) {
            if (n == 3 && zero == 0) continue;   // 2 ranks cover ZeRO off; keeps the test short
            CAPTURE(n);
            CAPTURE(zero);
            auto ranks = launch(n, [&](int) { return model_flags(6 / n) + " --zero " + std::to_string(zero); });
            for (const Rank& r : ranks) REQUIRE_MESSAGE(r.status == 0, describe(ranks));
            check_losses_agree(losses(ranks[0].output), want, std::to_string(n) + " ranks, zero " + std::to_string(zero));
        }
    }
}

// a rank that fails alone must bring every rank down with an error, soon: without the
// trainer's ncclCommAbort the others would wait in a collective (here for the 120 s NCCL
// timeout, on GPUs forever)
static void check_all_stop(const std::vector<Rank>& ranks, int failing, const std::string& its_error) {
    for (size_t r = 0; r < ranks.size(); r++) {
        CHECK_MESSAGE(ranks[r].status != 0, describe(ranks));
        CHECK_MESSAGE(ranks[r].status != -1, describe(ranks));   // not killed by the test
        CHECK_MESSAGE(ranks[r].seconds < 60, describe(ranks));
    }
    CHECK_MESSAGE(ranks[failing].output.find(its_error) != std::string::npos, describe(ranks));
    for (size_t r = 0; r < ranks.size(); r++)
        if ((int)r != failing)
            CHECK_MESSAGE(ranks[r].output.find("rank " + std::to_string(failing) + " called ncclCommAbort") != std::string::npos,
                          describe(ranks));
}

TEST_CASE("a rank that fails alone stops every rank with the error" * doctest::skip(!cpumode_available())) {
    SUBCASE("a shard missing on that rank") {
        auto ranks = launch(3, [](int r) {
            std::string f = model_flags(2);
            if (r == 1) f.replace(f.find(DATA + "/train_000000.bin"), (DATA + "/train_000000.bin").size(), "/nonexistent/shard.bin");
            return f;
        }, nullptr, 100);
        check_all_stop(ranks, 1, "/nonexistent/shard.bin");
    }
    SUBCASE("too little memory on that rank's GPU (the emulated one has 100 MiB)") {
        auto ranks = launch(3, [](int) { return model_flags(2); },
                            [](int r) { return r == 2 ? std::vector<std::string>{"CUDACPU_MEMORY_GB=0.1"} : std::vector<std::string>{}; },
                            100);
        check_all_stop(ranks, 2, "of GPU memory is free");
    }
}

TEST_CASE("under torchrun, whose rendezvous holds MASTER_PORT, the ranks meet on MASTER_PORT + 1" * doctest::skip(!cpumode_available())) {
    int port = base_port() + 7;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;   // torchrun's store, as far as the trainer can tell
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons(port);
    REQUIRE(bind(s, (sockaddr*)&sa, sizeof sa) == 0);
    REQUIRE(listen(s, 8) == 0);
    auto ranks = launch(2, [](int) { return model_flags(2, 1); }, nullptr, 100, port);
    close(s);
    for (const Rank& r : ranks) CHECK_MESSAGE(r.status == 0, describe(ranks));
}

// checkpoints: the full optimizer state is gathered from the shards, so a run continues on any
// number of ranks, and on the CPU trainer. The learning rate is constant after one warmup step,
// so a run of 2 steps and one of 4 share their schedule; the global batch is 6 throughout.
static std::string ckpt_flags(int batch, int steps, const std::string& out) {
    return model_flags(batch, steps) + " --lr-schedule constant --out " + out;
}

TEST_CASE("checkpoints of several emulated GPUs: 2 ranks resumed on 3, a 3-rank ZeRO-1 run resumed on 1 and on the CPU trainer"
          * doctest::skip(!cpumode_available())) {
    std::string dir = make_temp_dir("dp_ckpt");
    auto one = launch(1, [&](int) { return ckpt_flags(6, 4, dir + "/one"); });
    REQUIRE_MESSAGE(one[0].status == 0, describe(one));
    std::vector<double> want = losses(one[0].output);
    REQUIRE(want.size() == 4);
    std::vector<double> tail(want.begin() + 2, want.end());   // steps 3 and 4
    // the curve moves by more than the tolerance, so a resume that started over would fail
    REQUIRE_MESSAGE(std::fabs(want[2] - want[0]) > 1e-2 * want[0], "the loss hardly moves: the checks below could not fail");

    SUBCASE("2 ranks, then 3") {
        auto first = launch(2, [&](int) { return ckpt_flags(3, 2, dir + "/a"); });
        for (const Rank& r : first) REQUIRE_MESSAGE(r.status == 0, describe(first));
        check_losses_agree(losses(first[0].output), {want[0], want[1]}, "2 ranks, steps 1-2");
        auto rest = launch(3, [&](int) { return ckpt_flags(2, 4, dir + "/a") + " --resume"; });
        for (const Rank& r : rest) REQUIRE_MESSAGE(r.status == 0, describe(rest));
        check_losses_agree(losses(rest[0].output), tail, "resumed on 3 ranks, steps 3-4");
    }
    SUBCASE("3 ranks with ZeRO-1, then 1 rank, then the CPU trainer") {
        auto first = launch(3, [&](int) { return ckpt_flags(2, 2, dir + "/z") + " --zero 1"; });
        for (const Rank& r : first) REQUIRE_MESSAGE(r.status == 0, describe(first));
        std::filesystem::copy(dir + "/z", dir + "/z_cpu", std::filesystem::copy_options::recursive);
        auto rest = launch(1, [&](int) { return ckpt_flags(6, 4, dir + "/z") + " --resume"; });
        REQUIRE_MESSAGE(rest[0].status == 0, describe(rest));
        check_losses_agree(losses(rest[0].output), tail, "resumed on 1 rank, steps 3-4");
        if (std::filesystem::exists("train_gpt_cpu")) {
            CommandResult cpu = run_command("./train_gpt_cpu --threads 1 " + ckpt_flags(6, 4, dir + "/z_cpu") + " --resume");
            REQUIRE_MESSAGE(cpu.status == 0, cpu.output);
            check_losses_agree(losses(cpu.output), tail, "resumed on the CPU trainer, steps 3-4");
        } else {
            MESSAGE("train_gpt_cpu not built: the CPU trainer's resume was not checked");
        }
    }
    std::filesystem::remove_all(dir);
}

// ----------------------------------------------------------------------------
// the same under mpirun: build/train_gpt_cpumode_mpi, with one emulated device per local rank

static const char* MPI_BIN = "build/train_gpt_cpumode_mpi";
static bool mpi_available() {
    return std::filesystem::exists(MPI_BIN) && system("command -v mpirun > /dev/null 2>&1") == 0;
}

// mpirun of one command line per rank (MPMD: "-np 1 A : -np 1 B ..."), bounded by `limit` seconds
static CommandResult run_mpi(int world, const std::function<std::string(int)>& flags, int limit = 240, int devices = 0) {
    std::string cmd = "timeout -s KILL " + std::to_string(limit) + " mpirun --allow-run-as-root --oversubscribe";
    for (int r = 0; r < world; r++)   // -x applies to its own app context only
        cmd += std::string(r ? " :" : "") + " -np 1 -x CUDACPU_DEVICES=" + std::to_string(devices ? devices : world) +
               " -x CUDACPU_NCCL_TIMEOUT=120 " + MPI_BIN + " " + flags(r);
    return run_command(cmd);
}

TEST_CASE("mpirun: N emulated GPUs agree with one; a rank that fails alone stops them all" * doctest::skip(!mpi_available())) {
    auto one = launch(1, [](int) { return model_flags(6); });
    REQUIRE_MESSAGE(one[0].status == 0, describe(one));
    std::vector<double> want = losses(one[0].output);
    for (int n : {1, 2, 3}) {
        CAPTURE(n);
        CommandResult r = run_mpi(n, [&](int) { return model_flags(6 / n) + (n == 3 ? " --zero 1" : ""); });
        REQUIRE_MESSAGE(r.status == 0, r.output);
        check_losses_agree(losses(r.output), want, std::to_string(n) + " ranks under mpirun");
    }
    double t = wall();
    CommandResult r = run_mpi(3, [](int rank) {
        std::string f = model_flags(2);
        if (rank == 1) f.replace(f.find(DATA + "/train_000000.bin"), (DATA + "/train_000000.bin").size(), "/nonexistent/shard.bin");
        return f;
    }, 100);
    CHECK_MESSAGE(r.status != 0, r.output);
    CHECK_MESSAGE(r.status != 128 + SIGKILL, r.output);   // not stopped by the time limit
    CHECK_MESSAGE(wall() - t < 60, r.output);
    CHECK_MESSAGE(r.output.find("/nonexistent/shard.bin") != std::string::npos, r.output);
    // and a failure before NCCL is up: rank 1 finds no device 1 (the machine has one)
    t = wall();
    r = run_mpi(2, [](int) { return model_flags(2); }, 100, 1);
    CHECK_MESSAGE(r.status != 0, r.output);
    CHECK_MESSAGE(r.status != 128 + SIGKILL, r.output);
    CHECK_MESSAGE(wall() - t < 60, r.output);
    CHECK_MESSAGE(r.output.find("wants GPU 1 but only 1 are visible") != std::string::npos, r.output);
}
