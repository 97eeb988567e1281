// tutorial/solutions/13_param_count.cpp: a solution to chapter 13's exercise, and the planted
// mistake its check must catch. Read it after your own version passes.
#include <cstddef>

namespace exercise {

size_t gpt2_num_parameters(int L, int C, int V, int maxT) {
    size_t c = C;
    size_t block = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c);   // 12C^2 + 13C
    return (size_t)V * c + (size_t)maxT * c + (size_t)L * block + 2 * c;
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: counts the weight matrices and embeddings only, forgetting biases and LayerNorms
size_t gpt2_num_parameters_matrices_only(int L, int C, int V, int maxT) {
    return (size_t)V * C + (size_t)maxT * C + (size_t)L * 12 * (size_t)C * C;
}

}  // namespace planted
