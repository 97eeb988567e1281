// tools/cudacpu/mma_ptx.h: the tensor cores' mma.sync instruction, and ldmatrix, which loads
// its operands from shared memory, in the CPU execution mode.
//
// Included by cudacpu.h. A kernel cannot reach mma.sync from C++ except through inline PTX,
// which g++ cannot compile, so a kernel source wraps the instruction in a function of its own
// and compiles that function only where CUDACPU is not defined:
//
//     #ifndef CUDACPU
//     __device__ inline void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
//         asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 ..." ...);
//     }
//     #endif
//
// and this file gives the same call its meaning here (ldmatrix likewise, further down): d (16x8, fp32) += a (16x16, bf16) b
// (16x8, bf16), a warp-wide product. It is a warp collective, checked by the scheduler
// (launch.cpp) like the shuffles: all 32 lanes must reach the same call.
//
// Unlike WMMA's, this instruction's fragment layout is specified (PTX ISA, "Matrix Fragments
// for mma.m16n8k16 with floating point type"), and kernels rely on it, so it is emulated as
// specified. With g = lane / 4 and t = lane % 4, each 32-bit register holding two bf16, the
// low half first:
//     a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]   a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//     b[0] = B[2t, 2t+1][g]     b[1] = B[2t+8, 2t+9][g]
//     d[0], d[1] = D[g][2t, 2t+1]                          d[2], d[3] = D[g+8][2t, 2t+1]
// The sums are the exact products added in k order in fp32, as in wmma.h; the tensor cores'
// own order and rounding differ in the last bits. It does not check that the lanes' a and b
// come from where the kernel meant them to: that is what the kernel's tests against a
// reference check.
#pragma once

namespace cudacpu {
namespace ptx {
// the bf16 in the low (hi = false) or high half of a register, as a float
inline float half_of(uint32_t r, bool hi) {
    uint32_t u = (hi ? r >> 16 : r & 0xFFFFu) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
}  // namespace ptx

// A[m][k] and B[k][n] of the warp's product, read from the lanes that hold them (layout above)
struct MmaFragments { uint32_t a[4], b[2]; };
inline float mma_a(const MmaFragments* all, int m, int k) {
    int lane = (m % 8) * 4 + (k % 8) / 2, reg = (m >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return ptx::half_of(all[lane].a[reg], k % 2);
}
inline float mma_b(const MmaFragments* all, int k, int n) {
    int lane = n * 4 + (k % 8) / 2, reg = k >= 8 ? 1 : 0;
    return ptx::half_of(all[lane].b[reg], k % 2);
}

inline void mma_m16n8k16_at(const char* site, float d[4], const uint32_t a[4], const uint32_t b[2]) {
    alignas(8) MmaFragments mine;
    static_assert(sizeof(MmaFragments) == 24, "the scheduler gathers whole 8-byte words per lane");
    for (int i = 0; i < 4; i++) mine.a[i] = a[i];
    for (int i = 0; i < 2; i++) mine.b[i] = b[i];
    Collective g{PTX_MMA, site, 0xffffffffu, 0, 32, &mine, nullptr, sizeof mine, 0, 0};
    g.fragment = "mma.m16n8k16 bf16";
    warp_collective(g);
    const MmaFragments* all = (const MmaFragments*)g.out;   // all 32 lanes' registers
    int l = lane(), group = l / 4, t = l % 4;
    for (int i = 0; i < 4; i++) {
        int m = group + (i >= 2 ? 8 : 0), n = 2 * t + i % 2;
        float acc = d[i];
        for (int k = 0; k < 16; k++) acc += mma_a(all, m, k) * mma_b(all, k, n);
        d[i] = acc;
    }
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16 (.trans): four 8x8 matrices of 16-bit elements from
// shared memory, lane l giving the address of row l % 8 of matrix l / 8 (16 bytes each). Lane
// l, with g = l / 4 and t = l % 4, receives in r[i] two elements of matrix i, the lower one in
// the low half: row g, columns 2t and 2t + 1; with .trans the matrix transposed: rows 2t and
// 2t + 1 of column g. (So one x4 load gives the four registers of mma's A operand, or the B
// operands of two 8-column tiles.) A warp collective, its rows checked for alignment and place.
void ldmatrix_check(const char* site, const void* row);
inline void ldmatrix_x4_at(const char* site, uint32_t r[4], const void* row, bool trans) {
    ldmatrix_check(site, row);
    alignas(8) const void* mine = row;
    Collective g{PTX_LDMATRIX, site, 0xffffffffu, 0, 32, &mine, nullptr, sizeof mine, 0, 0};
    g.fragment = trans ? "ldmatrix .trans" : "ldmatrix";
    warp_collective(g);
    const void* const* rows = (const void* const*)g.out;   // all 32 lanes' row addresses
    int l = lane(), group = l / 4, t = l % 4;
    for (int i = 0; i < 4; i++) {
        uint16_t lo, hi;
        if (trans) {
            memcpy(&lo, (const char*)rows[8 * i + 2 * t] + 2 * group, 2);
            memcpy(&hi, (const char*)rows[8 * i + 2 * t + 1] + 2 * group, 2);
        } else {
            memcpy(&lo, (const char*)rows[8 * i + group] + 4 * t, 2);
            memcpy(&hi, (const char*)rows[8 * i + group] + 4 * t + 2, 2);
        }
        r[i] = (uint32_t)lo | (uint32_t)hi << 16;
    }
}
}  // namespace cudacpu

#define CUDACPU 1   // kernel sources: use the emulation below, not your inline PTX
#define mma_m16n8k16(...) cudacpu::mma_m16n8k16_at(CUDACPU_SITE, __VA_ARGS__)
#define ldmatrix_x4(r, row) cudacpu::ldmatrix_x4_at(CUDACPU_SITE, r, row, false)
#define ldmatrix_x4_trans(r, row) cudacpu::ldmatrix_x4_at(CUDACPU_SITE, r, row, true)
