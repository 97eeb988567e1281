// tools/cudacpu/cudacpu.h: the CPU execution mode for CUDA, seen from the kernel source.
//
// Force-included (g++ -include tools/cudacpu/cudacpu.h) into a .cu file whose launches
// tools/cudacpu/rewrite_launches.py has turned into calls of cudacpu::launch. It includes the
// real CUDA headers first (types, __nv_bfloat16 and its host arithmetic, the API's
// declarations), then gives the device-side names a host meaning: __global__ and __device__
// functions become plain functions, threadIdx and friends read the running GPU thread's
// coordinates, and the warp and block intrinsics call the scheduler in launch.cpp, which
// runs each GPU thread as a fiber and checks every collective; the WMMA API (<mma.h>) is
// wmma.h. What it is not: a simulator of timing, of inline PTX, of the tensor cores' own
// rounding, or of the weak memory model (see README.md).
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

// ---------------------------------------------------------------- qualifiers
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __constant__
#define __launch_bounds__(...)
// Shared memory: a __shared__ variable is a static; rewrite_launches.py adds to each one's
// declaration a registration, and the scheduler refills every registered variable with 0xFF
// bytes (NaN in fp32 and bf16) before each block, so a read of something this block never
// wrote shows up in the results. Blocks run one after another, so one copy serves them all.
// `extern __shared__` arrays (dynamic shared memory) are rewritten into pointers to the
// launch's buffer.
#define __shared__ static

namespace cudacpu {

// ---------------------------------------------------------------- the running thread
// set by the scheduler on every switch; the kernel reads them through the macros below
extern thread_local uint3 thread_idx, block_idx;
extern thread_local dim3 block_dim, grid_dim;
void* dynamic_shared_memory();   // the launch's dynamic shared memory (extern __shared__)
bool register_shared(void* p, size_t bytes);   // a static __shared__ variable: refilled before every block

// ---------------------------------------------------------------- collectives
// One warp or block collective of the running thread. `site` ("file:line") names the call:
// the lanes of a warp collective, and the threads of a block at a barrier, must all be at
// the same site, or the launch fails saying so.
enum CollectiveKind { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, BALLOT, ANY, ALL, SYNCWARP, WMMA_LOAD, WMMA_STORE, WMMA_MMA, PTX_MMA, PTX_LDMATRIX };
struct Collective {
    CollectiveKind kind;
    const char* site;
    unsigned mask;
    int arg, width;          // the shuffle's lane argument and segment width
    const void* in;          // this lane's value (shuffles), sizeof `size`
    void* out;               // where its result goes
    size_t size;
    int predicate;           // ballot, any, all
    unsigned result;         // ballot, any, all
    // WMMA_LOAD, WMMA_STORE: the tile in memory (rows x cols elements of elem_size bytes, ldm
    // apart); WMMA_MMA and PTX_MMA: `in` is this lane's a and b fragments and `out` receives
    // all 32 lanes' (wmma.h, mma_ptx.h); PTX_LDMATRIX: the same with each lane's row address. The lanes of a warp must agree on all of these.
    const void* ptr = nullptr;
    unsigned ldm = 0;
    int rows = 0, cols = 0, elem_size = 0;
    bool col_major = false;
    const char* fragment = nullptr;   // the fragment type, e.g. "matrix_a 16x16x16 __nv_bfloat16"
};
void warp_collective(Collective& c);
void syncthreads(const char* site);

template <class T> inline T shfl(CollectiveKind kind, const char* site, unsigned mask, T v, int arg, int width = 32) {
    static_assert(std::is_trivially_copyable<T>::value, "shuffled values must be trivially copyable");
    T out;
    Collective c{kind, site, mask, arg, width, &v, &out, sizeof(T), 0, 0};
    warp_collective(c);
    return out;
}
inline unsigned vote(CollectiveKind kind, const char* site, unsigned mask, int predicate) {
    Collective c{kind, site, mask, 0, 32, nullptr, nullptr, 0, predicate, 0};
    warp_collective(c);
    return c.result;
}

// ---------------------------------------------------------------- launches
// the <<<grid, block, smem, stream>>> of one launch; sizes kept wide so that a grid too
// large for CUDA is reported, not truncated
struct LaunchConfig {
    unsigned long long grid[3], block[3];
    unsigned long long smem;
    cudaStream_t stream;
};
inline void dims_of(unsigned long long* d, dim3 v) { d[0] = v.x; d[1] = v.y; d[2] = v.z; }
template <class I, class = typename std::enable_if<std::is_integral<I>::value>::type>
inline void dims_of(unsigned long long* d, I v) {
    d[0] = v < 0 ? ~0ull : (unsigned long long)v;   // negative sizes become "too large"
    d[1] = d[2] = 1;
}
template <class G, class B>
inline LaunchConfig launch_config(G grid, B block, size_t smem = 0, cudaStream_t stream = 0) {
    LaunchConfig c;
    dims_of(c.grid, grid);
    dims_of(c.block, block);
    c.smem = smem;
    c.stream = stream;
    return c;
}

// runs body(ctx) once per GPU thread of every block (launch.cpp); kernel, file and line
// name the launch in every message
void launch_blocks(const LaunchConfig& cfg, const char* kernel, const char* file, int line, void (*body)(void*), void* ctx);

// what a rewritten launch calls: the arguments are evaluated once, as CUDA does, and every
// GPU thread calls the kernel with its own copies of them
template <class Call, class... Args>
inline void launch(const LaunchConfig& cfg, const char* kernel, const char* file, int line, Call call, Args&&... args) {
    std::tuple<typename std::decay<Args>::type...> params(std::forward<Args>(args)...);
    auto body = [&] { std::apply(call, params); };
    launch_blocks(cfg, kernel, file, line, [](void* p) { (*static_cast<decltype(body)*>(p))(); }, &body);
}

}  // namespace cudacpu

// the kernel-pointer form of cudaFuncSetAttribute, which cuda_runtime.h declares for nvcc only
template <class T> inline cudaError_t cudaFuncSetAttribute(T* entry, enum cudaFuncAttribute attr, int value) {
    return ::cudaFuncSetAttribute((const void*)entry, attr, value);
}

// ---------------------------------------------------------------- built-in variables
#define threadIdx (static_cast<const uint3&>(cudacpu::thread_idx))
#define blockIdx (static_cast<const uint3&>(cudacpu::block_idx))
#define blockDim (static_cast<const dim3&>(cudacpu::block_dim))
#define gridDim (static_cast<const dim3&>(cudacpu::grid_dim))
#ifndef warpSize
#define warpSize 32
#endif

// ---------------------------------------------------------------- intrinsics
#define CUDACPU_STR2(x) #x
#define CUDACPU_STR(x) CUDACPU_STR2(x)
#define CUDACPU_SITE __FILE__ ":" CUDACPU_STR(__LINE__)
#define __syncthreads() cudacpu::syncthreads(CUDACPU_SITE)
#define __syncwarp(...) cudacpu::vote(cudacpu::SYNCWARP, CUDACPU_SITE, cudacpu::syncwarp_mask(__VA_ARGS__), 1)
#define __shfl_sync(mask, v, ...) cudacpu::shfl(cudacpu::SHFL_IDX, CUDACPU_SITE, mask, v, __VA_ARGS__)
#define __shfl_up_sync(mask, v, ...) cudacpu::shfl(cudacpu::SHFL_UP, CUDACPU_SITE, mask, v, __VA_ARGS__)
#define __shfl_down_sync(mask, v, ...) cudacpu::shfl(cudacpu::SHFL_DOWN, CUDACPU_SITE, mask, v, __VA_ARGS__)
#define __shfl_xor_sync(mask, v, ...) cudacpu::shfl(cudacpu::SHFL_XOR, CUDACPU_SITE, mask, v, __VA_ARGS__)
#define __ballot_sync(mask, p) cudacpu::vote(cudacpu::BALLOT, CUDACPU_SITE, mask, (p) ? 1 : 0)
#define __any_sync(mask, p) ((int)cudacpu::vote(cudacpu::ANY, CUDACPU_SITE, mask, (p) ? 1 : 0))
#define __all_sync(mask, p) ((int)cudacpu::vote(cudacpu::ALL, CUDACPU_SITE, mask, (p) ? 1 : 0))
namespace cudacpu {
inline unsigned syncwarp_mask(unsigned mask = 0xffffffffu) { return mask; }
}

// memory fences order nothing here: blocks run one after another and the threads of a
// block switch only at barriers and collectives
inline void __threadfence() {}
inline void __threadfence_block() {}
template <class T> inline T __ldg(const T* p) { return *p; }

// the single-precision fast-math intrinsics, at full precision (the GPU's are approximate)
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float2int_rn(float x) { return (int)std::nearbyint(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __ffs(int x) { return __builtin_ffs(x); }

// CUDA's min and max, also for mixed signedness (the unsigned type wins, as in CUDA)
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// atomics: relaxed atomic read-modify-writes (ThreadSanitizer sees them as atomic, not as
// synchronisation, as on the GPU)
namespace cudacpu {
template <class T, class F> inline T atomic_update(T* p, F f) {
    T old, next;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do next = f(old);
    while (!__atomic_compare_exchange(p, &old, &next, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
}
}  // namespace cudacpu
template <class T> inline T atomicAdd(T* p, T v) { return cudacpu::atomic_update(p, [&](T o) { return (T)(o + v); }); }
template <class T> inline T atomicSub(T* p, T v) { return cudacpu::atomic_update(p, [&](T o) { return (T)(o - v); }); }
template <class T> inline T atomicExch(T* p, T v) { return cudacpu::atomic_update(p, [&](T) { return v; }); }
template <class T> inline T atomicMax(T* p, T v) { return cudacpu::atomic_update(p, [&](T o) { return o > v ? o : v; }); }
template <class T> inline T atomicMin(T* p, T v) { return cudacpu::atomic_update(p, [&](T o) { return o < v ? o : v; }); }
template <class T> inline T atomicCAS(T* p, T compare, T v) {
    return cudacpu::atomic_update(p, [&](T o) { return o == compare ? v : o; });
}

// ---------------------------------------------------------------- tensor cores (WMMA)
namespace cudacpu {
// the running thread's lane in its warp (the tensor-core emulations' warp collectives)
inline int lane() { return (int)((threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) % 32); }
}  // namespace cudacpu
#include "wmma.h"   // nvcuda::wmma, in place of <mma.h>
#include "mma_ptx.h"   // the inline-PTX mma.sync the kernels wrap (mma_m16n8k16)
#include "pipeline.h"  // cp.async: __pipeline_memcpy_async, __pipeline_commit, __pipeline_wait_prior
