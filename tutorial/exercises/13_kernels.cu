// tutorial/exercises/13_kernels.cu: chapter 13's kernel exercises, three CUDA kernels.
// Checked by `bash tutorial/13-cpu-to-gpu/check.sh` through the project's CPU execution mode
// for CUDA (tools/cudacpu/): your kernels run on the CPU, every GPU thread a fiber, with the
// checks a GPU would not give you (a barrier some threads skip, a shuffle some lanes never
// reach, memory read before it was written: fresh device memory is filled with NaN).
// No GPU needed. The math is chapters 4, 7 and 9's; chapter 13 says how to split it over
// threads. Stuck? `make hint CH=13`.
// Plain CUDA: no project header; the check launches each kernel as said above it.

// GELU (tanh approximation, chapter 7), one thread per element: out[i] = gelu(inp[i]), i < n.
// Launched with 256 threads per block and ceil(n / 256) blocks: the last block has threads
// past the end, which must not touch memory.
__global__ void gelu_forward_kernel(float* out, const float* inp, int n) {
    // TODO
}

// LayerNorm forward (chapter 4), ONE WARP PER ROW: inp (N,C), weight and bias (C);
// out (N,C), mean (N), rstd (N) written (rstd = 1 / sqrt(var + 1e-5), var the biased
// variance). Launched with blocks of 128 threads (4 warps, so 4 rows per block) and
// ceil(N / 4) blocks; C is any size (often more than 32), so each lane walks several
// channels, and the 32 lanes then combine their partial sums with warp shuffles
// (__shfl_xor_sync or __shfl_down_sync), no shared memory.
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C) {
    // TODO
}

// Softmax of each row (the first half of chapter 9's loss), ONE BLOCK PER ROW: inp (N,V),
// out (N,V) written, out[n, v] = exp(inp[n, v] - max_n) / sum_v' exp(inp[n, v'] - max_n).
// Launched with N blocks of 256 threads (8 warps). The max and the sum need all 256 threads:
// reduce within each warp with shuffles, then across the 8 warps through shared memory,
// with __syncthreads where one warp reads what another wrote.
__global__ void softmax_forward_kernel(float* out, const float* inp, int N, int V) {
    // TODO
}
