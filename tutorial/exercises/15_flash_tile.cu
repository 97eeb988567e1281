// tutorial/exercises/15_flash_tile.cu: chapter 15's kernel exercise, causal attention with the
// online softmax, the keys and values brought into shared memory one tile at a time.
// Checked by `bash tutorial/15-fast-attention/check.sh` through the project's CPU execution
// mode for CUDA (tools/cudacpu/): no GPU needed. Do the C++ exercise of this chapter first;
// this is the same algorithm with threads. Stuck? `make hint CH=15` (hints 4-5).
// Plain CUDA: no project header.

// qkv (B,T,3C) as in chapter 6 (q, k, v side by side; head h uses channels h*HS .. (h+1)*HS - 1
// of each, HS = C / NH, at most 64); out (B,T,C) written.
// Launched with blocks of TILE = 32 threads and a grid of (ceil(T / 32), NH, B): block
// (x, h, b) owns the 32 queries t = 32x .. 32x + 31 of head h of sequence b, one per thread
// (threads past T own nothing, but still help to load). For each tile of 32 keys from
// position 0 up to the block's last query, the block's threads copy the tile's K and V rows
// into shared memory together, then each thread folds those keys into its own running max,
// sum and output (keys after its own query are masked out). Only the tiles and the running
// quantities exist: no row of T scores anywhere.
#define TILE 32
__global__ void flash_attention_kernel(float* out, const float* qkv, int B, int T, int C, int NH) {
    // TODO
}
