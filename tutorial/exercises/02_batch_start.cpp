// tutorial/exercises/02_batch_start.cpp: chapter 2's exercise, where a micro-batch starts.
// Checked by `bash tutorial/02-batches/check.sh` against dataloader.h's DataLoader, on five
// layouts of K, N, B, T and two passes over a shard. Derive the formula from the chapter's
// section "The data order"; stuck? `make hint CH=02`.
#include <cstddef>

namespace exercise {

// The index of the first token of micro-batch k (0 <= k < K) of optimizer step `step`
// (counted from 0, and running on past the end of the shard) on rank `rank` (0 <= rank < N),
// each micro-batch B rows of T tokens, in a shard of shard_tokens tokens, shuffling off.
size_t batch_start(long step, int k, int rank, int K, int N, int B, int T, size_t shard_tokens) {
    // TODO. This stub says 0, so the check fails.
    return 0;
}

}  // namespace exercise
