// tutorial/solutions/planted/15_calls_the_trainer.cpp: WRONG on purpose, an "exercise" that
// declares the trainer's attention_forward and calls it instead of tiling. The self-test
// (tutorial/common.sh) builds it as a learner's file: it must not link, because the chapter-15
// check program does not let an exercise reach the trainer.
#include <cstddef>
#include <vector>

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);

namespace exercise {
void attention_forward_tiled(float* out, const float* qkv, int B, int T, int C, int NH, int tile) {
    std::vector<float> att((size_t)B * NH * T * T);
    ::attention_forward(out, att.data(), qkv, B, T, C, NH);
}
}  // namespace exercise
