// tools/cudacpu/wmma.h: the CUDA WMMA API (nvcuda::wmma, <mma.h>) in the CPU execution mode.
//
// Included by cudacpu.h. It defines the real header's include guard (__CUDA_MMA_H__), so a
// kernel's own `#include <mma.h>` finds the guard set and adds nothing, and this file is the
// API the kernel sees. Emulated: fragments of the shapes 16x16x16, 32x8x16 and 8x32x16 with
// __nv_bfloat16 or __half for matrix_a and matrix_b (row_major or col_major) and float for
// the accumulator; fill_fragment, load_matrix_sync, store_matrix_sync, mma_sync. What it is
// not: tensor cores. The results are the exact products summed in fp32 in a fixed order (see
// mma_sync), not the hardware's internal rounding, and nothing here says how fast it is.
//
// load_matrix_sync, store_matrix_sync and mma_sync are warp collectives, checked by the
// scheduler (launch.cpp) like the shuffles: every lane of the warp must reach the same call
// with the same pointer, ldm and layout; the pointer must be 32-byte (256-bit) aligned, ldm a
// multiple of 8 elements (16-bit types) or 4 (float), and the tile must lie inside one device
// allocation, the dynamic shared memory, or one __shared__ variable. They do not order
// memory: a lane reading what another lane stored needs __syncwarp or __syncthreads between.
//
// Which lane holds which matrix element in x[] is unspecified by CUDA, and here it is
// deliberately scrambled (a fixed permutation, different for matrix_a, matrix_b and the
// accumulator, unlike the hardware's): a kernel that reads or moves fragment elements as if it
// knew their positions gets wrong results here. Element-wise work on x[] (scaling an
// accumulator, converting one accumulator into another of the same shape) is fine.
// A fragment starts out NaN, like fresh memory, so a forgotten fill_fragment shows.
#pragma once
#define __CUDA_MMA_H__   // the real header's guard: <mma.h> adds nothing after this

namespace nvcuda {
namespace wmma {

// the tags of the real header; a and b fragments take row_major or col_major, accumulators
// take a layout_t when they are loaded or stored
struct row_major;
struct col_major;
struct matrix_a;
struct matrix_b;
struct accumulator;
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class T> struct same { typedef T type; };   // keeps a parameter out of template deduction

// the logical matrix a fragment holds: a is m x k, b is k x n, the accumulator m x n
template <class Use, int M, int N, int K> struct dims;
template <int M, int N, int K> struct dims<matrix_a, M, N, K> { enum { rows = M, cols = K, mult = 37, offset = 101 }; };
template <int M, int N, int K> struct dims<matrix_b, M, N, K> { enum { rows = K, cols = N, mult = 13, offset = 7 }; };
template <int M, int N, int K> struct dims<accumulator, M, N, K> { enum { rows = M, cols = N, mult = 89, offset = 45 }; };

template <class Use, int M, int N, int K, class T, class Layout> struct supported {
    static const bool shape = (M == 16 && N == 16 && K == 16) || (M == 32 && N == 8 && K == 16) || (M == 8 && N == 32 && K == 16);
    static const bool type = std::is_same<Use, accumulator>::value
                                 ? std::is_same<T, float>::value && std::is_same<Layout, void>::value
                                 : (std::is_same<T, __nv_bfloat16>::value || std::is_same<T, __half>::value) &&
                                       (std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value);
    static const bool value = shape && type;
};

// the element mapping: slot s = lane * distinct + (i % distinct) of the warp's fragment holds
// the matrix element at position p = (s * mult + offset) mod size, row-major (p = row * cols +
// col). size is a power of two, mult odd: a bijection. A col_major fragment has a mapping of
// its own too (mult + 2, offset + 3): nothing says the two layouts agree. A __half fragment of
// a or b has 16 elements per lane, as on the GPU, and so holds each matrix element more than
// once: i and i + distinct are the same element (mma_sync reads the first).
template <class Use, int M, int N, int K, class Layout = void> struct mapping {
    typedef dims<Use, M, N, K> D;
    enum { rows = D::rows, cols = D::cols, size = D::rows * D::cols, distinct = size / 32 };
    static const unsigned col = std::is_same<Layout, col_major>::value;
    static const unsigned mult = D::mult + 2 * col, offset = D::offset + 3 * col;
    static constexpr unsigned inverse() {   // mult^-1 modulo 2^32, so also modulo size (Newton's iteration)
        unsigned x = mult;
        for (int i = 0; i < 5; i++) x *= 2u - mult * x;
        return x;
    }
    static int position(int lane, int i) { return (int)(((unsigned)(lane * distinct + i % distinct) * mult + offset) & (size - 1)); }
    static int slot(int row, int col) { return (int)(((unsigned)(row * cols + col) - offset) * inverse() & (size - 1)); }
};
}  // namespace detail

// the fragment: num_elements values of T in x[], per lane (the counts of the real header)
template <class Use, int M, int N, int K, class T, class Layout = void> class fragment {
    static_assert(detail::supported<Use, M, N, K, T, Layout>::value,
                  "nvcuda::wmma in the CPU execution mode (tools/cudacpu/wmma.h): this fragment is not emulated; supported are "
                  "the shapes 16x16x16, 32x8x16, 8x32x16 with __nv_bfloat16 or __half a and b (row_major or col_major) and a "
                  "float accumulator");
  public:
    enum { num_elements = std::is_same<T, __half>::value ? 16 : detail::mapping<Use, M, N, K>::distinct };
    enum { num_storage_elements = num_elements };
    typedef T element_type;
    typedef T storage_element_type;
    alignas(8) T x[num_elements];
    fragment() { memset((void*)x, 0xFF, sizeof x); }   // NaN until filled or loaded, like fresh device memory
};

// not a collective (a plain loop over this lane's elements, as in the real header)
template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const typename detail::same<T>::type& v) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = v;
}

namespace detail {
inline float to_float(__nv_bfloat16 v) {   // the bits of a bf16 are the top half of a float's
    uint16_t h;
    memcpy(&h, &v, 2);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline float to_float(__half v) { return __half2float(v); }


template <class T> const char* type_name();
template <> inline const char* type_name<__nv_bfloat16>() { return "__nv_bfloat16"; }
template <> inline const char* type_name<__half>() { return "__half"; }
template <> inline const char* type_name<float>() { return "float"; }
template <class U> const char* use_name();
template <> inline const char* use_name<matrix_a>() { return "matrix_a"; }
template <> inline const char* use_name<matrix_b>() { return "matrix_b"; }
template <> inline const char* use_name<accumulator>() { return "accumulator"; }

// "matrix_a 16x16x16 __nv_bfloat16": the fragment type, for the scheduler's messages and for
// checking that the lanes of a warp agree on it (one string per type: compared by content)
template <class Use, int M, int N, int K, class T> const char* fragment_name() {
    static const std::string name = std::string(use_name<Use>()) + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                                    std::to_string(K) + " " + type_name<T>();
    return name.c_str();
}

// loads or stores this lane's elements of the tile at p, after the warp has met at `site`
// (where the scheduler checks pointer, ldm, layout, alignment and range)
template <bool STORE, class Use, int M, int N, int K, class Layout, class T, class F>
inline void tile_sync(cudacpu::CollectiveKind kind, const char* site, F& f, T* p, unsigned ldm, bool col_major) {
    typedef mapping<Use, M, N, K, Layout> Map;
    typedef typename std::remove_const<T>::type E;
    cudacpu::Collective c{kind, site, 0xffffffffu, 0, 32, nullptr, nullptr, 0, 0, 0};
    c.ptr = p;
    c.ldm = ldm;
    c.rows = Map::rows;
    c.cols = Map::cols;
    c.elem_size = (int)sizeof(E);
    c.col_major = col_major;
    c.fragment = fragment_name<Use, M, N, K, E>();
    cudacpu::warp_collective(c);
    int l = cudacpu::lane();
    for (int i = 0; i < F::num_elements; i++) {
        int pos = Map::position(l, i), r = pos / Map::cols, col = pos % Map::cols;
        T* e = col_major ? p + (size_t)col * ldm + r : p + (size_t)r * ldm + col;
        if constexpr (STORE) { if (i < Map::distinct) *e = f.x[i]; }
        else f.x[i] = *e;
    }
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout>
inline void load_matrix_sync_at(const char* site, fragment<Use, M, N, K, T, Layout>& f, const typename detail::same<T>::type* p,
                                unsigned ldm) {
    static_assert(!std::is_same<Use, accumulator>::value, "load_matrix_sync of an accumulator takes a layout_t (mem_row_major or mem_col_major)");
    detail::tile_sync<false, Use, M, N, K, Layout>(cudacpu::WMMA_LOAD, site, f, p, ldm, std::is_same<Layout, col_major>::value);
}
template <int M, int N, int K>
inline void load_matrix_sync_at(const char* site, fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout) {
    detail::tile_sync<false, accumulator, M, N, K, void>(cudacpu::WMMA_LOAD, site, f, p, ldm, layout == mem_col_major);
}
template <int M, int N, int K>
inline void store_matrix_sync_at(const char* site, float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
    detail::tile_sync<true, accumulator, M, N, K, void>(cudacpu::WMMA_STORE, site, f, p, ldm, layout == mem_col_major);
}

// d = a b + c, every element as c[m][n] + a[m][0] b[0][n] + a[m][1] b[1][n] + ... in k order,
// each product exact in fp32 (a product of two bf16 or fp16 values is, unless it falls below
// fp32's normal range) and each addition rounded to fp32. Tensor cores add the products in
// another order, with their own internal rounding; results differ from these in the last
// bits. The warp's a and b fragments are gathered (the collective), and each lane computes
// its own elements of d. d may be c.
template <int M, int N, int K, class T, class LA, class LB>
inline void mma_sync_at(const char* site, fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
                        const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
    typedef detail::mapping<matrix_a, M, N, K, LA> MA;
    typedef detail::mapping<matrix_b, M, N, K, LB> MB;
    typedef detail::mapping<accumulator, M, N, K> MC;
    struct Payload { T a[MA::distinct], b[MB::distinct]; };   // one lane's share, in slot order
    static_assert(sizeof(Payload) % 8 == 0 && sizeof(Payload) <= 64, "the scheduler gathers up to 64 bytes per lane, in 8-byte words");
    alignas(8) Payload mine;
    for (int i = 0; i < MA::distinct; i++) mine.a[i] = a.x[i];
    for (int i = 0; i < MB::distinct; i++) mine.b[i] = b.x[i];
    cudacpu::Collective g{cudacpu::WMMA_MMA, site, 0xffffffffu, 0, 32, &mine, nullptr, sizeof(Payload), 0, 0};
    g.fragment = detail::fragment_name<matrix_a, M, N, K, T>();
    cudacpu::warp_collective(g);
    const Payload* all = (const Payload*)g.out;   // all 32 lanes' shares
    // slot s of a fragment is all[s / distinct].x[s % distinct]; along a row of a (or a column
    // of b) the slot advances by the mapping's inverse multiplier (times N for b) each step of k
    const unsigned step_a = MA::inverse(), step_b = MB::inverse() * N;
    int l = cudacpu::lane();
    for (int i = 0; i < MC::distinct; i++) {
        int pos = MC::position(l, i), m = pos / N, n = pos % N;
        unsigned sa = (unsigned)MA::slot(m, 0), sb = (unsigned)MB::slot(0, n);
        float acc = c.x[i];
        for (int k = 0; k < K; k++) {
            float x = detail::to_float(all[sa / MA::distinct].a[sa % MA::distinct]);
            float y = detail::to_float(all[sb / MB::distinct].b[sb % MB::distinct]);
            acc += x * y;
            sa = (sa + step_a) & (MA::size - 1);
            sb = (sb + step_b) & (MB::size - 1);
        }
        d.x[i] = acc;   // element i of d depends on element i of c only: d may be c
    }
}

}  // namespace wmma
}  // namespace nvcuda

// the call site of each collective, as for the shuffles: `wmma::load_matrix_sync(f, p, ldm)`
// becomes `wmma::load_matrix_sync_at("file:line", f, p, ldm)`
#define load_matrix_sync(...) load_matrix_sync_at(CUDACPU_SITE, __VA_ARGS__)
#define store_matrix_sync(...) store_matrix_sync_at(CUDACPU_SITE, __VA_ARGS__)
#define mma_sync(...) mma_sync_at(CUDACPU_SITE, __VA_ARGS__)
