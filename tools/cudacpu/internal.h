// tools/cudacpu/internal.h: what the pieces of the CPU execution mode share with each other.
//
// The CPU execution mode runs train_gpt.cu's kernels, and the cuBLAS, cuBLASLt and NCCL calls
// it makes, on the host. "Device memory" is host memory handed out by the emulated cudaMalloc,
// so a device pointer can be dereferenced directly; these functions let the emulated libraries
// check that the pointers they are given really are device memory, and fail the way a launch
// failure would, naming what went wrong. Not for use by train_gpt.cu itself.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cudacpu {

// prints "cudacpu: <message>" to stderr and aborts the process: the CPU mode's launch failure
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// [p, p + bytes) must lie inside one live allocation made by cudaMalloc; `what` names the
// operand in the message (for example "cublasLtMatmul: A")
void check_device_range(const void* p, size_t bytes, const char* what);
// the same without failing: false, with *why saying what is wrong (the kernels' WMMA tiles)
bool find_device_range(const void* p, size_t bytes, char* why, size_t why_size);

// CUDACPU_DRY_RUN=1: allocations are reserved but never touched, and kernels and library
// calls are checked (launch limits, shapes, ranges) but not executed
bool dry_run();

// the scheduling of the launches that follow (the environment's CUDACPU_SCHEDULE,
// CUDACPU_BLOCK_ORDER and CUDACPU_SEED set it at start): warps last to first, blocks in a
// seeded random order. For the runtime's self-test.
void set_schedule(bool reverse_warps, bool shuffled_blocks, uint64_t seed);

}  // namespace cudacpu
