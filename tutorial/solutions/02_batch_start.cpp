// tutorial/solutions/02_batch_start.cpp: a solution to chapter 2's exercise, and the planted
// mistakes its check must catch. Read it after your own version passes.
#include <cstddef>

namespace exercise {

size_t batch_start(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens) {
    size_t step_tokens = (size_t)K * N * B * T;
    size_t windows = (shard_tokens - 1) / step_tokens;             // whole steps that fit (+1 target)
    return (size_t)(step % windows) * step_tokens + ((size_t)k * N + rank) * B * T;
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: lays out a step rank-major (all K micro-batches of rank 0 first)
size_t batch_start_rank_major(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens) {
    size_t step_tokens = (size_t)K * N * B * T;
    size_t windows = (shard_tokens - 1) / step_tokens;
    return (size_t)(step % windows) * step_tokens + ((size_t)rank * K + k) * B * T;
}

// WRONG on purpose: never goes back to the front of the shard
size_t batch_start_no_wrap(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens) {
    return (size_t)step * K * N * B * T + ((size_t)k * N + rank) * B * T;
}

}  // namespace planted
