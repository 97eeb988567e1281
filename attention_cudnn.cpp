// attention_cudnn.cpp: train_gpt.cu's causal self-attention by cuDNN's fused kernels, linked
// into train_gpt_cudnn (train_gpt.cu built with -DUSE_CUDNN; bf16 only). Optional, as in llm.c: the readable flash attention in
// train_gpt.cu is the one the tests check on every commit and the one to learn from; this file
// only describes the same computation to cuDNN and runs what cuDNN builds.
//
// What it computes is exactly train_gpt.cu's attention_forward and attention_backward: the same
// tensors in the same layouts. cuDNN takes each operand as a 4-D tensor (b, h, t, i) with a
// stride per dimension, so q, k and v are read in place from qkv (B,T,3C), out (B,T,C) and dqkv
// (B,T,3C) are written where the rest of the trainer expects them, and cuDNN's softmax "stats"
// are our lse: (B,NH,T) fp32, the natural-log logsumexp of each row of scaled scores.
//
// Costs and rules:
// - A graph is built once per shape and direction, then cached (like the cuBLASLt plans); the
//   build asks cuDNN's heuristics for a plan and takes a fraction of a second.
// - The backward asks for cuDNN's deterministic algorithm (dq summed without atomics), so that
//   a run repeats bit for bit, as everywhere else in the trainer.
// - Where cuDNN cannot build a graph (an older GPU or library, a head size it does not take),
//   the run says why once on stderr and the caller falls back to its own kernels, for both
//   directions: an lse from one implementation is never read by the other's backward.
// - Compiled by the host compiler on its own: cuDNN's header-only frontend (PyPI
//   nvidia-cudnn-frontend) takes minutes to compile, which the rest of the trainer need not wait for.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn_frontend.h>

#include "attention_cudnn.h"
#include "base.h"   // defines: fail

namespace fe = cudnn_frontend;
using bf16 = __nv_bfloat16;   // train_gpt.cu's floatX in the bf16 build, the only one this file serves

static cudaStream_t cudnn_stream;
static cudnnHandle_t cudnn_handle;
static void* workspace = nullptr;   // the largest any cached graph asked for
static size_t workspace_size = 0;

static void cuda_ok(cudaError_t err, const char* what) {
    if (err != cudaSuccess) fail("CUDA error in cuDNN attention (%s): %s", what, cudaGetErrorString(err));
}
static void cudnn_ok(cudnnStatus_t status, const char* what) {
    if (status != CUDNN_STATUS_SUCCESS) fail("cuDNN error (%s): %s", what, cudnnGetErrorString(status));
}

void cudnn_attention_setup(cudaStream_t stream) {
    cudnn_stream = stream;
    cudnn_ok(cudnnCreate(&cudnn_handle), "cudnnCreate");
    cudnn_ok(cudnnSetStream(cudnn_handle, stream), "cudnnSetStream");
}

// Every tensor the graphs use: its id (how it is bound to memory when a graph runs), the trainer
// buffer it lives in, and which third of a (B,T,3C) row it is (q, k, v: 0, 1, 2), or 0.
enum Uid : int64_t { UID_Q = 1, UID_K, UID_V, UID_O, UID_LSE, UID_DOUT, UID_DQ, UID_DK, UID_DV };
enum Buffer { QKV, OUT, LSE, DOUT, DQKV };
struct Operand { Uid uid; const char* name; Buffer buffer; int third; };
static const Operand OPERANDS[] = {
    {UID_Q, "q", QKV, 0},  {UID_K, "k", QKV, 1},   {UID_V, "v", QKV, 2},   {UID_O, "out", OUT, 0},
    {UID_LSE, "lse", LSE, 0}, {UID_DOUT, "dout", DOUT, 0}, {UID_DQ, "dq", DQKV, 0}, {UID_DK, "dk", DQKV, 1},
    {UID_DV, "dv", DQKV, 2}};
static const char* BUFFER_NAMES[] = {"qkv", "out", "lse", "dout", "dqkv"};

static const Operand& operand(Uid uid) {
    for (const Operand& o : OPERANDS) if (o.uid == uid) return o;
    fail("cuDNN attention: no operand %d", (int)uid);
}

// an operand's dimensions (b, h, t, i) and strides, in elements of its buffer
static std::vector<int64_t> dims_of(const Operand& o, int64_t B, int64_t T, int64_t NH, int64_t HS) {
    if (o.buffer == LSE) return {B, NH, T, 1};
    return {B, NH, T, HS};
}
static std::vector<int64_t> strides_of(const Operand& o, int64_t T, int64_t NH, int64_t HS) {
    int64_t C = NH * HS;
    if (o.buffer == LSE) return {NH * T, T, 1, 1};                          // (B,NH,T)
    if (o.buffer == QKV || o.buffer == DQKV) return {T * 3 * C, HS, 3 * C, 1};   // a third of (B,T,3C)
    return {T * C, HS, C, 1};                                               // (B,T,C)
}
static size_t offset_of(const Operand& o, int NH, int HS) { return (size_t)o.third * NH * HS; }

// One direction's graph for a shape, described but not built: sm_version 0 targets the current
// GPU, 90 an H100 (the tests, which have none).
static std::shared_ptr<fe::graph::Graph> describe(int B, int T, int NH, int HS, bool backward, int sm_version) {
    auto graph = std::make_shared<fe::graph::Graph>();
    graph->set_io_data_type(fe::DataType_t::BFLOAT16)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    if (sm_version) graph->set_sm_version(sm_version);
    auto set = [&](const std::shared_ptr<fe::graph::Tensor_attributes>& t, Uid uid) {
        const Operand& o = operand(uid);
        t->set_name(o.name).set_uid(uid).set_dim(dims_of(o, B, T, NH, HS)).set_stride(strides_of(o, T, NH, HS));
        if (o.buffer == LSE) t->set_data_type(fe::DataType_t::FLOAT);
        return t;
    };
    auto input = [&](Uid uid) { return set(graph->tensor(fe::graph::Tensor_attributes()), uid); };
    auto output = [&](const std::shared_ptr<fe::graph::Tensor_attributes>& t, Uid uid) { set(t, uid)->set_output(true); };
    auto q = input(UID_Q), k = input(UID_K), v = input(UID_V);
    float scale = 1.0f / sqrtf((float)HS);
    // causal: query t sees keys t2 <= t, a band ending on the diagonal that starts top left
    auto causal = fe::DiagonalAlignment_t::TOP_LEFT;
    if (!backward) {
        auto options = fe::graph::SDPA_attributes().set_name("attention_forward").set_generate_stats(true)
                           .set_attn_scale(scale).set_diagonal_alignment(causal).set_diagonal_band_right_bound(0);
        auto [out, lse] = graph->sdpa(q, k, v, options);
        output(out, UID_O);
        output(lse, UID_LSE);
    } else {
        auto options = fe::graph::SDPA_backward_attributes().set_name("attention_backward")
                           .set_attn_scale(scale).set_diagonal_alignment(causal).set_diagonal_band_right_bound(0)
                           .set_deterministic_algorithm(true);
        auto [dq, dk, dv] = graph->sdpa_backward(q, k, v, input(UID_O), input(UID_DOUT), input(UID_LSE), options);
        output(dq, UID_DQ);
        output(dk, UID_DK);
        output(dv, UID_DV);
    }
    return graph;
}

std::string cudnn_attention_describe(int B, int T, int NH, int HS, bool backward, std::vector<CudnnOperand>* operands) {
    auto graph = describe(B, T, NH, HS, backward, 90);
    if (operands) {
        operands->clear();
        for (const Operand& o : OPERANDS) {
            if (!backward && (o.buffer == DOUT || o.buffer == DQKV)) continue;   // the forward's are q, k, v, out, lse
            operands->push_back({o.name, BUFFER_NAMES[o.buffer], dims_of(o, B, T, NH, HS), strides_of(o, T, NH, HS),
                                 offset_of(o, NH, HS)});
        }
    }
    fe::error_t status = graph->validate();
    // with no handle (no GPU), cuDNN's backend still finalizes, and so checks, every operation's descriptors
    if (status.is_good()) status = graph->build_operation_graph((cudnnHandle_t) nullptr);
    return status.is_good() ? "" : status.get_message();
}

// One direction's graph for a shape, built for this GPU and given workspace; null (and `why`)
// where cuDNN declines it.
static std::shared_ptr<fe::graph::Graph> build_graph(int B, int T, int NH, int HS, bool backward, std::string& why) {
    auto graph = describe(B, T, NH, HS, backward, 0);
    fe::error_t status = graph->build(cudnn_handle, {fe::HeurMode_t::A});   // validate, plan, check support
    if (status.is_bad()) { why = status.get_message(); return nullptr; }
    int64_t bytes = 0;
    status = graph->get_workspace_size(bytes);
    if (status.is_bad()) { why = status.get_message(); return nullptr; }
    if ((size_t)bytes > workspace_size) {   // grows at most twice per shape, before its first run
        cuda_ok(cudaStreamSynchronize(cudnn_stream), "cudaStreamSynchronize");
        cuda_ok(cudaFree(workspace), "cudaFree");
        workspace = nullptr;
        workspace_size = 0;
        cudaError_t err = cudaMalloc(&workspace, bytes);
        if (err != cudaSuccess)
            fail("cuDNN attention needs %.2f GiB of workspace at B=%d, T=%d (%s): lower --batch, or use train_gpt, "
                 "whose own attention needs none", bytes / 1073741824.0, B, T, cudaGetErrorString(err));
        workspace_size = bytes;
    }
    // the backward's workspace is the deterministic algorithm's price (see bench/roofline.py)
    fprintf(stderr, "cuDNN %zu attention %s graph: B=%d T=%d NH=%d HS=%d, %.2f GiB of workspace\n", cudnnGetVersion(),
            backward ? "backward" : "forward", B, T, NH, HS, bytes / 1073741824.0);
    return graph;
}

// the graphs of each shape met so far
struct Graphs {
    int B, T, NH, HS;
    std::shared_ptr<fe::graph::Graph> forward, backward;   // both null: cuDNN declined this shape
};
static std::vector<Graphs> cache;

void cudnn_attention_teardown() {
    cache.clear();
    cuda_ok(cudaFree(workspace), "cudaFree");
    workspace = nullptr;
    workspace_size = 0;
    cudnn_ok(cudnnDestroy(cudnn_handle), "cudnnDestroy");
}

// the cached graphs of a shape, built on its first use
static const Graphs& graphs_for(int B, int T, int NH, int HS) {
    for (const Graphs& g : cache)
        if (g.B == B && g.T == T && g.NH == NH && g.HS == HS) return g;
    Graphs g{B, T, NH, HS, nullptr, nullptr};
    std::string why;
    g.forward = build_graph(B, T, NH, HS, false, why);
    if (g.forward) g.backward = build_graph(B, T, NH, HS, true, why);
    if (!g.backward) {
        g.forward = nullptr;   // both directions or neither (see the header)
        fprintf(stderr, "warning: cuDNN attention declined B=%d T=%d NH=%d HS=%d (%s); using train_gpt.cu's own kernels\n",
                B, T, NH, HS, why.c_str());
    }
    cache.push_back(g);
    return cache.back();
}

// Runs a graph on the trainer's buffers, each operand at its offset. cuDNN binds memory as void*,
// inputs included: the casts below drop const, and cuDNN only reads those.
static void run(const fe::graph::Graph& graph, void* const (&buffers)[5], int NH, int HS) {
    std::unordered_map<int64_t, void*> memory;
    for (const Operand& o : OPERANDS) {
        if (!buffers[o.buffer]) continue;   // the forward binds no dout, no dqkv
        size_t bytes = o.buffer == LSE ? sizeof(float) : sizeof(bf16);
        memory[o.uid] = (char*)buffers[o.buffer] + offset_of(o, NH, HS) * bytes;
    }
    fe::error_t status = graph.execute(cudnn_handle, memory, workspace);
    if (status.is_bad()) fail("cuDNN attention failed to run: %s", status.get_message().c_str());
}

bool cudnn_attention_forward(bf16* out, float* lse, const bf16* qkv, int B, int T, int NH, int HS) {
    const Graphs& g = graphs_for(B, T, NH, HS);
    if (!g.forward) return false;
    void* const buffers[5] = {(void*)qkv, out, lse, nullptr, nullptr};   // QKV, OUT, LSE, DOUT, DQKV
    run(*g.forward, buffers, NH, HS);
    return true;
}

bool cudnn_attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse,
                              int B, int T, int NH, int HS) {
    const Graphs& g = graphs_for(B, T, NH, HS);
    if (!g.backward) return false;
    void* const buffers[5] = {(void*)qkv, (void*)out, (void*)lse, (void*)dout, dqkv};
    run(*g.backward, buffers, NH, HS);
    return true;
}
