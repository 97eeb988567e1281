// tests/test_cudnn_attention.cpp: train_gpt_cudnn's attention graphs, checked without a GPU.
// What a machine without one can check of attention_cudnn.cpp: that cuDNN accepts the graphs it
// describes (the frontend's checks, then cuDNN's backend descriptors, for an H100), and that
// every operand cuDNN is told about is exactly where train_gpt.cu keeps that tensor, index by
// index. What it cannot: that cuDNN's results match the CPU reference (build/test_gpu_cudnn,
// on a GPU: bench/gpu_session.sh's cudnn stage). Links attention_cudnn.o and libcudnn.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "attention_cudnn.h"

// where train_gpt.cu keeps element (b, h, t, i) of a tensor, in elements of its buffer:
// q, k, v and their gradients are thirds of each (B,T,3C) row (q | k | v, each NH heads of HS),
// out and dout are (B,T,C), lse is (B,NH,T)
static size_t trainer_index(const std::string& name, int64_t b, int64_t h, int64_t t, int64_t i,
                            int64_t T, int64_t NH, int64_t HS) {
    int64_t C = NH * HS;
    std::map<std::string, int64_t> third = {{"q", 0}, {"k", 1}, {"v", 2}, {"dq", 0}, {"dk", 1}, {"dv", 2}};
    if (name == "lse") return (b * NH + h) * T + t;
    if (name == "out" || name == "dout") return (b * T + t) * C + h * HS + i;
    return (b * T + t) * 3 * C + third.at(name) * C + h * HS + i;
}

// "" where every index of the operand lands where the trainer keeps it, else the first that does not
static std::string layout_mismatch(const CudnnOperand& o, int B, int T, int NH, int HS) {
    if (o.dims.size() != 4 || o.strides.size() != 4) return o.name + ": not 4-D";
    int64_t hs = o.name == "lse" ? 1 : HS;
    if (o.dims != std::vector<int64_t>{B, NH, T, hs}) return o.name + ": dimensions are not (B, NH, T, HS)";
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t i = 0; i < hs; i++) {
                    size_t at = o.offset + b * o.strides[0] + h * o.strides[1] + t * o.strides[2] + i * o.strides[3];
                    if (at != trainer_index(o.name, b, h, t, i, T, NH, HS))
                        return o.name + ": (" + std::to_string(b) + "," + std::to_string(h) + "," + std::to_string(t) +
                               "," + std::to_string(i) + ") at " + std::to_string(at) + ", the trainer keeps it at " +
                               std::to_string(trainer_index(o.name, b, h, t, i, T, NH, HS));
                }
    return "";
}

TEST_CASE("cuDNN accepts the forward and backward graphs at GPT-2's shapes") {
    struct Shape { int B, T, NH, HS; };
    for (Shape s : {Shape{64, 1024, 12, 64}, Shape{16, 1024, 16, 64}, Shape{4, 256, 25, 64}, Shape{2, 64, 8, 128}})
        for (bool backward : {false, true}) {
            CAPTURE(s.B); CAPTURE(s.T); CAPTURE(s.NH); CAPTURE(s.HS); CAPTURE(backward);
            CHECK(cudnn_attention_describe(s.B, s.T, s.NH, s.HS, backward, nullptr) == "");
        }
}

TEST_CASE("cuDNN's checks can fail: a head size its kernels do not take is refused") {
    // the same checks that accept the shapes above refuse this one (so they are not a formality)
    CHECK(cudnn_attention_describe(2, 64, 2, 7, false, nullptr) != "");
}

TEST_CASE("every operand is where train_gpt.cu keeps it, index by index") {
    int B = 2, T = 5, NH = 3, HS = 8;
    for (bool backward : {false, true}) {
        std::vector<CudnnOperand> ops;
        REQUIRE(cudnn_attention_describe(B, T, NH, HS, backward, &ops) == "");
        std::set<std::string> names;
        for (const CudnnOperand& o : ops) {
            CAPTURE(o.name);
            CHECK(layout_mismatch(o, B, T, NH, HS) == "");
            names.insert(o.name);
        }
        std::set<std::string> want = {"q", "k", "v", "out", "lse"};
        if (backward) want.insert({"dout", "dq", "dk", "dv"});
        CHECK(names == want);
    }
}

TEST_CASE("the layout check catches an operand out of place") {
    int B = 2, T = 5, NH = 3, HS = 8;
    std::vector<CudnnOperand> ops;
    REQUIRE(cudnn_attention_describe(B, T, NH, HS, true, &ops) == "");
    for (const CudnnOperand& o : ops) {
        CudnnOperand heads_time_swapped = o, wrong_third = o, packed_rows = o;
        std::swap(heads_time_swapped.strides[1], heads_time_swapped.strides[2]);
        wrong_third.offset += (size_t)NH * HS;
        packed_rows.strides[2] = NH * HS;   // rows of C, as if q were (B,T,C) on its own
        CHECK(layout_mismatch(heads_time_swapped, B, T, NH, HS) != "");
        if (o.name != "lse") CHECK(layout_mismatch(wrong_third, B, T, NH, HS) != "");
        if (o.buffer == "qkv" || o.buffer == "dqkv") CHECK(layout_mismatch(packed_rows, B, T, NH, HS) != "");
    }
}
