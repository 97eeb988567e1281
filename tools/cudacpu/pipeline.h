// tools/cudacpu/pipeline.h: asynchronous copies into shared memory (cp.async) in the CPU
// execution mode: the primitives of CUDA's <cuda_pipeline_primitives.h>.
//
// Included by cudacpu.h. It defines the real header's include guard, so a kernel's own
// `#include <cuda_pipeline_primitives.h>` adds nothing and these are the calls it sees:
//     __pipeline_memcpy_async(dst, src, bytes, zfill = 0)   start copying bytes (4, 8 or 16)
//         from global memory to shared memory; the last zfill bytes are zeros instead, and
//         with zfill = bytes nothing is read
//     __pipeline_commit()          close the group of copies this thread has started since
//     __pipeline_wait_prior(n)     wait until all but the n newest committed groups have landed
// Each thread's copies wait in a queue of its own and land when that thread waits for them
// (launch.cpp), not before, and until then their destination holds 0xFF bytes (NaN), written
// when the copy starts: on a GPU it holds whatever has landed so far. So a kernel that reads a
// tile before waiting for it, or before the barrier that follows every thread's wait, reads
// NaN, and so does one whose threads still read a buffer another thread already refills (the
// barrier after the reads of a double-buffered loop left out). Checked when a copy starts: the size, zfill, both addresses
// aligned to the size, the destination inside the dynamic shared memory or a __shared__
// variable, the source inside one device allocation. What it is not: a model of when copies
// land on a GPU (any time between the start and the wait), or of their speed.
#pragma once
#define _CUDA_PIPELINE_PRIMITIVES_H_   // the real header's guard: <cuda_pipeline_primitives.h> adds nothing after this

namespace cudacpu {
void async_copy(const char* site, void* dst, const void* src, size_t bytes, size_t zfill = 0);
void async_commit();
void async_wait_prior(size_t n);
}  // namespace cudacpu

#define __pipeline_memcpy_async(dst, src, ...) cudacpu::async_copy(CUDACPU_SITE, dst, src, __VA_ARGS__)
#define __pipeline_commit() cudacpu::async_commit()
#define __pipeline_wait_prior(n) cudacpu::async_wait_prior(n)
