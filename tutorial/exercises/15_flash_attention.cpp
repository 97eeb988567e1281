// tutorial/exercises/15_flash_attention.cpp: chapter 15's exercise, causal attention's forward
// pass with the online softmax, keys taken a tile at a time.
// Checked by `bash tutorial/15-fast-attention/check.sh` against attention_forward
// (train_gpt_cpu.cpp) for tiles of 1, 4, 16 and 64 keys, and for its memory: the scratch you
// allocate may not grow with T. Derive the update in the chapter first; stuck?
// `make hint CH=15`.
#include <cmath>
#include <vector>

namespace exercise {

// attention_forward_tiled: the same out as attention_forward (chapter 6), without ever holding
// a row of T attention weights: for each (b, h, t), the keys 0..t are visited `tile` at a time,
// and only running quantities survive from one tile to the next.
// qkv (B,T,3C): q, k, v side by side in each row; head h uses channels h*HS .. (h+1)*HS - 1
// of each (HS = C / NH). out (B,T,C) written.
void attention_forward_tiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile) {
    // TODO. Until then the output is zero and the check fails.
    for (long i = 0; i < (long)B * T * C; i++) out[i] = 0.0f;
}

}  // namespace exercise
