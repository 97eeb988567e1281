// attention_cudnn.h: what attention_cudnn.cpp offers train_gpt.cu (built with -DUSE_CUDNN) and
// its test. bf16 only: __nv_bfloat16 is train_gpt.cu's floatX in its default build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

// a cuDNN handle on the trainer's stream; the cached graphs, their workspace and the handle freed
void cudnn_attention_setup(cudaStream_t stream);
void cudnn_attention_teardown();

// train_gpt.cu's attention_forward and attention_backward, the same tensors in the same layouts:
// qkv (B,T,3C), out and dout (B,T,C), lse (B,NH,T) fp32, dqkv (B,T,3C) written. False where
// cuDNN declined the shape (said once on stderr): the caller runs its own kernels instead.
bool cudnn_attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, int B, int T, int NH, int HS);
bool cudnn_attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                              const __nv_bfloat16* out, const float* lse, int B, int T, int NH, int HS);

// For tests, no GPU needed. One tensor of a graph as cuDNN sees it: (b, h, t, i) dimensions and
// strides, and where in which trainer buffer ("qkv", "out", "lse", "dout", "dqkv") it starts,
// in elements of that buffer.
struct CudnnOperand {
    std::string name, buffer;
    std::vector<int64_t> dims, strides;
    size_t offset;
};
// the graph of one direction described for an H100 (sm_90): its operands in `operands` (if not
// null), and "" where both the frontend and cuDNN's backend descriptors accept it, else what they said
std::string cudnn_attention_describe(int B, int T, int NH, int HS, bool backward, std::vector<CudnnOperand>* operands);
