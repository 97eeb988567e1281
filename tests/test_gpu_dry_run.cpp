// tests/test_gpu_dry_run.cpp: the GPU trainer at full size, on a machine without a GPU. The
// CPU-mode build of train_gpt.cu runs with CUDACPU_DRY_RUN=1 (tools/cudacpu/README.md): every
// kernel launch is checked against the device's limits and every cuBLAS/cuBLASLt call's
// operands against their allocations, the memory is counted against 80 GB, and nothing is
// computed, so a GPT-2 124M step costs the host seconds. Also the start-up memory check: a
// batch whose activations fit but whose later allocations (a ZeRO-1 save, the KV cache of
// sampling) would not must be refused before training starts.
//
// What it is not: a test of the numbers (test_gpu.cu compares them with the CPU reference),
// nor of speed. Needs build/train_gpt_cpumode and build/train_gpt_cpumode_planted (the
// Makefile's "dry runs" block) and `make data`.
#include <doctest/doctest.h>

#include <regex>
#include <unistd.h>

#include "tests/test_util.h"   // defines: run_command, make_temp_dir, data_file, step_losses

static const char* TRAINER = "build/train_gpt_cpumode";
// the same trainer with two faults planted by the Makefile, each switched on by a variable:
// PLANTED_BLOCK: bias_backward launches add_bias_parts_kernel in blocks of 2,048 threads (the limit is 1,024);
// PLANTED_GEMM: every cuBLASLt output's leading dimension one row short (columns overlap)
static const char* PLANTED = "build/train_gpt_cpumode_planted";
static const std::string GPT2_DATA = "data/tinyshakespeare";         // GPT-2 tokens, made by `make data`
static const std::string SMALL_DATA = "data/tinyshakespeare_bpe1k";  // a 1,024-token vocabulary

static std::string binary(const char* path) {
    REQUIRE_MESSAGE(fs::exists(path), path << " is missing: build it with `make`");
    return path;
}

// GPT-2's shapes with one step, one validation batch and a short sample. The validation pass
// reads the training shard: tinyshakespeare's validation shard is shorter than one batch of
// 64 x 1,024 tokens. No --out: saving is not what this checks, and it would write the weights.
static std::string gpt2_flags(int layers, int heads, int channels, int batch) {
    std::string train = data_file(GPT2_DATA + "/train_000000.bin");
    return " --train " + train + " --val " + train + " --vocab-size 50257 --seq-len 1024 --n-layer " +
           std::to_string(layers) + " --n-head " + std::to_string(heads) + " --n-embd " + std::to_string(channels) +
           " --batch " + std::to_string(batch) + " --steps 1 --eval-every 1 --eval-batches 1 --sample-every 1 --sample-tokens 4";
}

static CommandResult dry_run(const std::string& program, const std::string& flags, const std::string& env = "") {
    return run_command("env CUDACPU_DRY_RUN=1 OMP_NUM_THREADS=1 " + env + " " + program + flags);
}

// a whole run: the memory plan printed, a validation pass, one step, a sample
static void check_whole_run(const CommandResult& r) {
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK_MESSAGE(r.output.find("memory: parameters") != std::string::npos, r.output);
    CHECK_MESSAGE(r.output.find("memory later in the run:") != std::string::npos, r.output);
    CHECK_MESSAGE(step_losses(r.output).size() == 1, r.output);
    CHECK_MESSAGE(r.output.find("val loss") != std::string::npos, r.output);
    CHECK_MESSAGE(r.output.find("sample at step 1:") != std::string::npos, r.output);
    std::smatch m;
    if (std::regex_search(r.output, m, std::regex("memory: [^\n]*"))) MESSAGE(m.str());
}

TEST_CASE("dry run: GPT-2 124M (12 layers, 768 channels, T 1,024, V 50,257) at --batch 64, one step, validation, a sample") {
    check_whole_run(dry_run(binary(TRAINER), gpt2_flags(12, 12, 768, 64)));
}

// GPT-2 1.5B itself needs 12 GB of host memory and about 40 s of one core before its first
// launch, all of it initialising 1.56 billion weights that a dry run never reads (the host
// keeps them twice while it uploads them). So `make test` checks its layers (every launch
// and matmul shape is the same in each of the 48) with 4 of them, at the batch that the
// trainer's own fit check names for all 48 on 80 GB (--batch 21, found by the full run
// below); DRY_RUN_GPT2_XL=1 runs the full model.
TEST_CASE("dry run: GPT-2 1.5B's layers (1,600 channels, 25 heads, T 1,024, V 50,257), 4 of 48, at --batch 21") {
    check_whole_run(dry_run(binary(TRAINER), gpt2_flags(4, 25, 1600, 21)));
}

TEST_CASE("dry run: GPT-2 1.5B, all 48 layers: the fit check names the largest batch for 80 GB, and that batch runs" *
          doctest::skip(!getenv("DRY_RUN_GPT2_XL"))) {
    CommandResult refused = dry_run(binary(TRAINER), gpt2_flags(48, 25, 1600, 64));
    CHECK(refused.status == 1);
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_search(refused.output, m, std::regex("the largest batch that fits is --batch ([0-9]+)")),
                    refused.output);
    int batch = std::stoi(m[1]);
    MESSAGE("GPT-2 1.5B on 80 GB: --batch " << batch);
    CHECK(batch == 21);   // the figure the 4-layer case above uses
    check_whole_run(dry_run(binary(TRAINER), gpt2_flags(48, 25, 1600, batch)));
}

TEST_CASE("dry run: planted faults fail it (a block of 2,048 threads; a matmul output's leading dimension too small)") {
    std::string planted = binary(PLANTED), flags = gpt2_flags(2, 12, 768, 4);
    check_whole_run(dry_run(planted, flags));   // with neither switched on, the planted build is the trainer
    CommandResult block = dry_run(planted, flags, "PLANTED_BLOCK=1");
    CHECK(block.status != 0);
    CHECK_MESSAGE(block.output.find("add_bias_parts_kernel") != std::string::npos, block.output);
    CHECK_MESSAGE(block.output.find("step 1/1") == std::string::npos, block.output);
    CommandResult gemm = dry_run(planted, flags, "PLANTED_GEMM=1");
    CHECK(gemm.status != 0);
    CHECK_MESSAGE(gemm.output.find("cublasLtMatrixLayoutCreate: ld") != std::string::npos, gemm.output);
    CHECK_MESSAGE(gemm.output.find("step 1/1") == std::string::npos, gemm.output);
}

// ---------------------------------------------------------------- the start-up memory check

// the "memory:" lines of a run, in MiB: parameters, gradients, master weights + moments,
// activations, and what the run allocates later
struct MemoryPlan {
    double params = 0, grads = 0, opt = 0, activations = 0, zero_gather = 0, nccl = 0, kv_cache = 0;
};
static MemoryPlan memory_plan(const std::string& output) {
    std::smatch a, b;
    REQUIRE_MESSAGE(std::regex_search(output, a, std::regex("memory: parameters ([0-9.]+) MiB, gradients ([0-9.]+) MiB, "
                                                             "master weights \\+ AdamW moments ([0-9.]+) MiB, activations "
                                                             "\\([^)]*\\) ([0-9.]+) MiB")), output);
    REQUIRE_MESSAGE(std::regex_search(output, b, std::regex("memory later in the run: ZeRO checkpoint gather ([0-9.]+) MiB, "
                                                             "NCCL buffers ([0-9.]+) MiB \\(estimate\\), KV cache for "
                                                             "sampling ([0-9.]+) MiB")), output);
    return {std::stod(a[1]), std::stod(a[2]), std::stod(a[3]), std::stod(a[4]), std::stod(b[1]), std::stod(b[2]), std::stod(b[3])};
}

// CUDACPU_MEMORY_GB for a device on which the weights, their state, cuBLASLt's workspace
// (32 MiB), the activations, the check's margin (256 MiB) and the later allocations fit,
// `short_by` MiB of what the later allocations need excepted
static std::string memory_gb(const MemoryPlan& p, double short_by) {
    double mib = p.params + p.grads + p.opt + 32 + p.activations + 256 + p.zero_gather + p.nccl + p.kv_cache - short_by;
    return "CUDACPU_MEMORY_GB=" + std::to_string(mib / 1024);
}

// two ranks of the trainer on this machine (torchrun-style variables); rank 0's output and status
static CommandResult two_ranks(const std::string& flags, const std::string& env, const std::string& dir) {
    std::string port = std::to_string(20000 + getpid() % 20000 + rand() % 1000);
    std::string common = "env CUDACPU_DRY_RUN=1 OMP_NUM_THREADS=1 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_PORT=" + port + " " + env + " ";
    return run_command("(" + common + "RANK=1 " + TRAINER + flags + " > " + dir + "/rank1.log 2>&1 & " + common + "RANK=0 " +
                       TRAINER + flags + " 2>&1; s=$?; wait $!; exit $s)");
}

TEST_CASE("the start-up check counts a ZeRO-1 save's gather buffer: a batch whose save would not fit is refused at once") {
    binary(TRAINER);
    std::string dir = make_temp_dir("dry_run_zero");
    // 7.6 M parameters: a save gathers the fp32 master weights and moments, 29 MiB at a time
    std::string flags = " --train " + data_file(SMALL_DATA + "/train_000000.bin") + " --val '' --vocab-size 1024"
                        " --n-layer 4 --n-head 12 --n-embd 384 --seq-len 256 --batch 4 --steps 2 --zero 1 --sample-every 0";
    CommandResult probe = two_ranks(flags, "", dir);
    REQUIRE_MESSAGE(probe.status == 0, probe.output);
    MemoryPlan p = memory_plan(probe.output);
    REQUIRE(p.zero_gather == 0);   // no --out: no save
    REQUIRE(p.nccl > 0);
    p.zero_gather = p.grads;       // the gather buffer is as large as the fp32 gradients: (buffer_size)
    REQUIRE(p.zero_gather > 20);
    // a device with room for everything but half of that buffer
    std::string env = memory_gb(p, p.zero_gather / 2);
    CommandResult refused = two_ranks(flags + " --out " + dir + "/out2", env, dir);
    CHECK(refused.status == 1);
    CHECK_MESSAGE(refused.output.find("ZeRO checkpoint gather") != std::string::npos, refused.output);
    CHECK_MESSAGE(refused.output.find("the largest batch that fits is") != std::string::npos, refused.output);
    CHECK_MESSAGE(step_losses(refused.output).empty(), refused.output);   // before any training
    // the same device without --out: nothing to gather, and the run goes through
    CommandResult no_save = two_ranks(flags, env, dir);
    CHECK_MESSAGE(no_save.status == 0, no_save.output);
    CHECK(step_losses(no_save.output).size() == 2);
    fs::remove_all(dir);
}

TEST_CASE("the start-up check counts the KV cache of sampling: a batch that leaves no room for it is refused at once") {
    std::string flags = " --train " + data_file(SMALL_DATA + "/train_000000.bin") + " --val '' --vocab-size 1024"
                        " --n-layer 4 --n-head 12 --n-embd 768 --seq-len 1024 --batch 2 --steps 2 --sample-tokens 2";
    CommandResult probe = dry_run(binary(TRAINER), flags + " --sample-every 1");
    REQUIRE_MESSAGE(probe.status == 0, probe.output);
    MemoryPlan p = memory_plan(probe.output);
    REQUIRE(p.kv_cache > 10);   // 4 layers x 1,024 positions x 768 channels, keys and values in bf16
    std::string env = memory_gb(p, p.kv_cache / 2);
    CommandResult refused = dry_run(TRAINER, flags + " --sample-every 1", env);
    CHECK(refused.status == 1);
    CHECK_MESSAGE(refused.output.find("KV cache for sampling") != std::string::npos, refused.output);
    CHECK_MESSAGE(step_losses(refused.output).empty(), refused.output);
    CommandResult no_samples = dry_run(TRAINER, flags + " --sample-every 0", env);
    CHECK_MESSAGE(no_samples.status == 0, no_samples.output);
}
