// tutorial/solutions/planted/08_calls_the_trainer.cpp: WRONG on purpose, a block "built" by
// calling the trainer's gpt_forward-level code. Chapter 8's check exports the five layers a
// block is made of, nothing else: built as a learner's file, this must not link.
#include <cstddef>

struct GPT;
void gpt_forward(GPT& model, const int* inputs, const int* targets, int B, int T);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C);

namespace exercise {
void block_forward(float* out, const float* x, const float* const* w, int B, int T, int C, int NH) {
    GPT* model = nullptr;
    if (B < 0) gpt_forward(*model, nullptr, nullptr, B, T);   // never runs; the link must refuse it anyway
    float mean[1], rstd[1];
    layernorm_forward(out, mean, rstd, x, w[0], w[1], 1, C);  // an exported layer: allowed
}
}  // namespace exercise
