// tutorial/exercises/02_batch_start.cpp: chapter 2's exercise, where a micro-batch starts.
// Checked by `bash tutorial/02-batches/check.sh` against dataloader.h's DataLoader.
#include <cstddef>

namespace exercise {

// The index of the first token of micro-batch k (0 <= k < K) of optimizer step `step` on
// rank `rank` (0 <= rank < N), in a shard of shard_tokens tokens, shuffling off.
// One step reads a window of S = K*N*B*T tokens (+1 for the last target). Windows start at
// multiples of S; only whole windows that fit are used, W = (shard_tokens - 1) / S of them,
// and after the last one reading starts again at the front. Inside a window the
// micro-batches are laid out micro-batch-major: ((k * N) + rank) * B*T.
// So:  start = (step mod W) * S + (k*N + rank) * B*T
size_t batch_start(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens) {
    // TODO: compute the start. This stub says 0, so the check fails.
    return 0;
}

}  // namespace exercise
