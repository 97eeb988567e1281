// tutorial/exercises/13_param_count.cpp: chapter 13's exercise, GPT-2's parameter count in
// closed form. Checked by `bash tutorial/13-cpu-to-gpu/check.sh` against num_parameters
// (gpt_model.h), which adds up the parameter table tensor by tensor. Stuck?
// `make hint CH=13`.
#include <cstddef>

namespace exercise {

// gpt2_num_parameters: the number of parameters of a GPT-2 with L blocks, C channels, a
// vocabulary of V tokens and maxT positions, with the LM head tied to the token embedding.
// The tensors are listed in DESIGN.md §3. Simplify the count of one block to a*C^2 + b*C.
// Mind int overflow: 24 x 1024 x 1024 x 12 does not fit in an int.
size_t gpt2_num_parameters(int L, int C, int V, int maxT) {
    // TODO.
    return 0;
}

}  // namespace exercise
