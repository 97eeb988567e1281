// gpt_model.h: what a GPT-2 model is, before any code runs it: its shape (GPTConfig), the
// table of its parameter tensors (names, shapes, offsets in one buffer), their count and
// their initialisation.
//
// Why a header of its own: this is the first thing a reader of the model looks up, and both
// trainers, the checkpoint code in train_common.h, the tests and the tutorial need it. Here
// it reads without the command line, files and run set-up around it. What is not here: the
// layers, forward, backward and the optimizer, which live in the trainers themselves.
//
// Conventions: the Hugging Face GPT-2 tensor names, weights stored [in, out]; the vocabulary
// may be padded in memory (Vp >= V rows of wte), never in a checkpoint.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base.h"   // defines: fail, Rng

// ----------------------------------------------------------------------------
// the model's shape and its parameter table.
// All parameters live in one buffer, layer after layer, so that a layer's tensors are one
// contiguous range (a bucket for data-parallel all-reduce) and a checkpoint is one loop:
//   wte (Vp,C), wpe (maxT,C), then per layer ln_1 w,b (C), c_attn w (C,3C) b (3C),
//   attn.c_proj w (C,C) b (C), ln_2 w,b (C), c_fc w (C,4C) b (4C), mlp.c_proj w (4C,C) b (C),
//   then ln_f w,b (C). Weights are [in, out]: y = x @ W + b, GPT-2's Conv1D layout.

struct GPTConfig {
    int max_seq_len = 0;        // n_positions: rows of wpe
    int vocab_size = 0;         // V, as in the checkpoint
    int padded_vocab_size = 0;  // Vp >= V, rows of wte in memory (padding rows are zero)
    int num_layers = 0, num_heads = 0, channels = 0;
};

// the vocabulary rounded up to a multiple of `multiple`: the rows of wte in memory
// in 64 bits: V + multiple - 1 overflows an int for V near 2^31 (start_run refuses a V whose padding does not fit)
inline int padded_vocab_size(int vocab_size, int multiple) { return (int)(((int64_t)vocab_size + multiple - 1) / multiple * multiple); }

struct ParamTensor {
    std::string name;            // Hugging Face name, e.g. "transformer.h.3.attn.c_attn.weight"
    std::vector<int64_t> shape;  // shape in the checkpoint
    size_t offset = 0, numel = 0;  // in the parameter buffer (numel includes vocab padding)
    bool decay = false;          // weight decay applies (2-D tensors)
};

// the tensors of one transformer block, in the order of the parameter buffer. BlockParams in
// each trainer has one field per entry, in this order, and checks that at compile time.
enum LayerTensor { LN1_W, LN1_B, QKV_W, QKV_B, ATTPROJ_W, ATTPROJ_B, LN2_W, LN2_B, FC_W, FC_B, FCPROJ_W, FCPROJ_B,
                   NUM_LAYER_TENSORS };

// a block tensor's name after "transformer.h.{l}." and its shape, for C channels
inline std::pair<std::string, std::vector<int64_t>> layer_tensor(LayerTensor i, int64_t C) {
    switch (i) {
    case LN1_W: return {"ln_1.weight", {C}};
    case LN1_B: return {"ln_1.bias", {C}};
    case QKV_W: return {"attn.c_attn.weight", {C, 3 * C}};
    case QKV_B: return {"attn.c_attn.bias", {3 * C}};
    case ATTPROJ_W: return {"attn.c_proj.weight", {C, C}};
    case ATTPROJ_B: return {"attn.c_proj.bias", {C}};
    case LN2_W: return {"ln_2.weight", {C}};
    case LN2_B: return {"ln_2.bias", {C}};
    case FC_W: return {"mlp.c_fc.weight", {C, 4 * C}};
    case FC_B: return {"mlp.c_fc.bias", {4 * C}};
    case FCPROJ_W: return {"mlp.c_proj.weight", {4 * C, C}};
    case FCPROJ_B: return {"mlp.c_proj.bias", {C}};
    case NUM_LAYER_TENSORS: break;
    }
    fail("layer_tensor: no tensor %d in a block", (int)i);
}

inline std::vector<ParamTensor> param_table(const GPTConfig& c) {
    std::vector<ParamTensor> t;
    size_t offset = 0;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, size_t numel) {
        t.push_back({name, shape, offset, numel, shape.size() == 2});
        offset += numel;
    };
    int64_t C = c.channels;
    add("transformer.wte.weight", {c.vocab_size, C}, (size_t)c.padded_vocab_size * C);
    add("transformer.wpe.weight", {c.max_seq_len, C}, (size_t)c.max_seq_len * C);
    for (int l = 0; l < c.num_layers; l++) {
        std::string p = "transformer.h." + std::to_string(l) + ".";
        for (int i = 0; i < NUM_LAYER_TENSORS; i++) {   // ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj
            auto [name, shape] = layer_tensor((LayerTensor)i, C);
            size_t numel = 1;
            for (int64_t d : shape) numel *= d;
            add(p + name, shape, numel);
        }
    }
    add("transformer.ln_f.weight", {C}, C);
    add("transformer.ln_f.bias", {C}, C);
    return t;
}

inline size_t num_parameters(const GPTConfig& c) {
    std::vector<ParamTensor> table = param_table(c);   // (a reference into the temporary would dangle)
    return table.back().offset + table.back().numel;
}

// GPT-2 initialisation (seeded, identical on CPU and GPU): N(0, 0.02) for weights, residual
// projections (attn.c_proj, mlp.c_proj) scaled by 1/sqrt(2 * n_layer), LayerNorm weights 1,
// all biases 0, vocabulary padding rows 0.
inline void init_parameters(std::vector<float>& params, const GPTConfig& c, uint64_t seed) {
    params.assign(num_parameters(c), 0.0f);
    Rng rng(seed);
    for (const ParamTensor& p : param_table(c)) {
        bool is_ln = p.name.find("ln_") != std::string::npos;
        bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        float* w = params.data() + p.offset;
        if (is_ln && !is_bias) { std::fill(w, w + p.numel, 1.0f); continue; }
        if (is_bias) continue;
        float std = 0.02f;
        if (p.name.find("c_proj.weight") != std::string::npos) std /= std::sqrt(2.0f * c.num_layers);
        size_t n = (size_t)p.shape[0] * p.shape[1];   // padding rows of wte stay zero
        for (size_t i = 0; i < n; i++) w[i] = std * rng.normal();
    }
}
