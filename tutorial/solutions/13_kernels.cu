// tutorial/solutions/13_kernels.cu: a solution to chapter 13's kernel exercises, and the
// planted mistakes of its self-test. Read it after your own kernels pass.
// PLANT selects one classic mistake (0: none); the self-test in tutorial/common.sh builds
// this file once per value and each mistake must fail with the message named in
// tutorial/13-cpu-to-gpu/check.sh.
#ifndef PLANT
#define PLANT 0
#endif

__global__ void gelu_forward_kernel(float* out, const float* inp, int n) {
    // WRONG on purpose when PLANT == 1: the index forgets the block, every block redoes elements 0..255
    int i = PLANT == 1 ? threadIdx.x : blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
    }
}

// the sum over the 32 lanes of a warp, every lane gets it (butterfly: offsets 16, 8, 4, 2, 1)
__device__ float warp_sum(float v) {
    // WRONG on purpose when PLANT == 2: starts at offset 8, so lanes 0-15 and 16-31 never meet
    for (int offset = PLANT == 2 ? 8 : 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffff, v, offset);
    return v;
}
__device__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, offset));
    return v;
}

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C) {
    int lane = threadIdx.x % 32, row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= N) return;                     // a whole warp leaves together: no lane misses a shuffle
    const float* x = inp + (size_t)row * C;
    float s = 0;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = warp_sum(s) / C;
    float v = 0;
    for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
    float r = rsqrtf(warp_sum(v) / C + 1e-5f);
    for (int c = lane; c < C; c += 32) out[(size_t)row * C + c] = (x[c] - m) * r * weight[c] + bias[c];
    if (lane == 0) { mean[row] = m; rstd[row] = r; }
}

// max or sum over the whole block: each warp reduces, lane 0 writes its result to shared
// memory, and after a barrier every thread reduces the warps' results
__device__ float block_reduce(float v, bool is_max) {
    __shared__ float shared[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = is_max ? warp_max(v) : warp_sum(v);
    if (lane == 0) shared[warp] = v;
    // WRONG on purpose when PLANT == 3: no barrier, a warp may read a slot another has not written yet
    if (PLANT != 3) __syncthreads();
    float r = shared[0];
    for (int w = 1; w < warps; w++) r = is_max ? fmaxf(r, shared[w]) : r + shared[w];
    __syncthreads();                         // before the next call overwrites shared
    return r;
}

__global__ void softmax_forward_kernel(float* out, const float* inp, int N, int V) {
    const float* x = inp + (size_t)blockIdx.x * V;
    float* y = out + (size_t)blockIdx.x * V;
    float m = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, x[v]);
    m = block_reduce(m, true);
    float s = 0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) s += expf(x[v] - m);
    s = block_reduce(s, false);
    for (int v = threadIdx.x; v < V; v += blockDim.x) y[v] = expf(x[v] - m) / s;
}
