// tutorial/solutions/15_flash_tile.cu: a solution to chapter 15's kernel exercise, and the
// planted mistakes of its self-test (PLANT = k selects one; 0: none). Read it after your own
// kernel passes.
#ifndef PLANT
#define PLANT 0
#endif
#define TILE 32
#define MAX_HS 64

__global__ void flash_attention_kernel(float* out, const float* qkv, int B, int T, int C, int NH) {
    __shared__ float k_tile[TILE][MAX_HS];
    __shared__ float v_tile[TILE][MAX_HS];
    int HS = C / NH, h = blockIdx.y, b = blockIdx.z;
    int t = blockIdx.x * TILE + threadIdx.x;              // this thread's query
    int last = min(T - 1, (int)(blockIdx.x * TILE + TILE - 1));   // the block's last query: keys beyond it are never needed
    float scale = rsqrtf((float)HS);
    float q[MAX_HS], acc[MAX_HS], m = -INFINITY, l = 0;
    for (int i = 0; i < HS; i++) { q[i] = t < T ? qkv[((size_t)b * T + t) * 3 * C + h * HS + i] : 0; acc[i] = 0; }
    for (int t0 = 0; t0 <= last; t0 += TILE) {
        // the block loads the tile together: thread j copies key and value row t0 + j
        int j = t0 + threadIdx.x;
        for (int i = 0; i < HS; i++) {
            k_tile[threadIdx.x][i] = j < T ? qkv[((size_t)b * T + j) * 3 * C + C + h * HS + i] : 0;
            v_tile[threadIdx.x][i] = j < T ? qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * HS + i] : 0;
        }
        __syncthreads();                                  // the whole tile is loaded before anyone reads it
        if (t < T) {
            // WRONG on purpose when PLANT == 3: no causal mask, a query also sees the later keys of its tile
            int end = PLANT == 3 ? min(t0 + TILE, last + 1) : min(t0 + TILE, t + 1);
            float tile_max = -INFINITY, s[TILE];
            for (int k = t0; k < end; k++) {
                float d = 0;
                for (int i = 0; i < HS; i++) d += q[i] * k_tile[k - t0][i];
                s[k - t0] = d * scale;
                tile_max = fmaxf(tile_max, s[k - t0]);
            }
            if (end > t0) {
                float m_new = fmaxf(m, tile_max);
                // WRONG on purpose when PLANT == 1: the old sums are not rescaled to the new max
                float correction = PLANT == 1 ? 1.0f : expf(m - m_new);
                l *= correction;
                for (int i = 0; i < HS; i++) acc[i] *= correction;
                for (int k = t0; k < end; k++) {
                    float p = expf(s[k - t0] - m_new);
                    l += p;
                    for (int i = 0; i < HS; i++) acc[i] += p * v_tile[k - t0][i];
                }
                m = m_new;
            }
        }
        // WRONG on purpose when PLANT == 2: no barrier, a thread may load the next tile over
        // keys another thread is still reading
        if (PLANT != 2) __syncthreads();
    }
    if (t < T)
        for (int i = 0; i < HS; i++) out[((size_t)b * T + t) * C + h * HS + i] = acc[i] / l;
}
