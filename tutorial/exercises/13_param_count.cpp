// tutorial/exercises/13_param_count.cpp: chapter 13's exercise, GPT-2's parameter count in
// closed form. Checked by `bash tutorial/13-cpu-to-gpu/check.sh` against num_parameters
// (train_common.h), which adds up the parameter table tensor by tensor.
// Plain C++, no project headers: the checker links this file in.
#include <cstddef>

namespace exercise {

// gpt2_num_parameters: the parameters of a GPT-2 with L blocks, C channels, a vocabulary of
// V tokens and maxT positions (tied LM head: the output layer reuses the token embedding).
// Count them from DESIGN.md's tensor list:
//   token embedding (V,C), position embedding (maxT,C);
//   per block: ln_1 weight and bias (C each), c_attn (C,3C) + bias (3C),
//              attn.c_proj (C,C) + bias (C), ln_2 (C each), c_fc (C,4C) + bias (4C),
//              mlp.c_proj (4C,C) + bias (C);
//   final ln_f weight and bias (C each).
// Then simplify the per-block sum to a*C^2 + b*C. Watch for int overflow: use size_t.
size_t gpt2_num_parameters(int L, int C, int V, int maxT) {
    // TODO: the sum above.
    return 0;
}

}  // namespace exercise
