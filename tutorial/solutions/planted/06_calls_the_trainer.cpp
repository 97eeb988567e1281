// tutorial/solutions/planted/06_calls_the_trainer.cpp: WRONG on purpose, an "exercise" that
// declares the trainer's attention_forward and calls it instead of computing attention. The
// self-test (tutorial/common.sh) builds it as a learner's file: it must not link, because the
// chapter-6 check program does not let an exercise reach the trainer.

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);

namespace exercise {
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
    ::attention_forward(out, att, qkv, B, T, C, NH);
}
}  // namespace exercise
