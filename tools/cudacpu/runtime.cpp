// tools/cudacpu/runtime.cpp: the CUDA runtime API of the CPU execution mode (device memory).
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sys/mman.h>

#include <cuda_runtime.h>

#include "internal.h"

namespace cudacpu {

void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cudacpu: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

bool dry_run() {
    static const bool on = [] { const char* v = getenv("CUDACPU_DRY_RUN"); return v && *v && strcmp(v, "0") != 0; }();
    return on;
}

// every live allocation, by start address: its size in bytes
static std::map<uintptr_t, size_t> allocations;
static std::mutex allocations_mutex;

void check_device_range(const void* p, size_t bytes, const char* what) {
    std::lock_guard<std::mutex> lock(allocations_mutex);
    uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) fatal("%s: %p is not device memory (no cudaMalloc allocation holds it)", what, p);
    --it;
    uintptr_t begin = it->first, end = begin + it->second;
    if (a >= end && !(a == end && bytes == 0))
        fatal("%s: %p is not device memory (nearest allocation below ends %zu bytes earlier)", what, p, (size_t)(a - end));
    if (bytes > end - a)
        fatal("%s: %zu bytes from %p run %zu bytes past the end of its %zu-byte allocation", what, bytes, p,
              (size_t)(a + bytes - end), it->second);
}

}  // namespace cudacpu

using namespace cudacpu;

// exact-size allocations filled with 0xFF bytes (NaN as fp32 and bf16), so reading memory
// that was never written shows up in the results; in a dry run, address space only
extern "C" cudaError_t cudaMalloc(void** ptr, size_t size) {
    if (!ptr) return cudaErrorInvalidValue;
    size_t n = size ? size : 1;
    void* p;
    if (dry_run()) {
        p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return cudaErrorMemoryAllocation;
    } else {
        p = malloc(n);
        if (!p) return cudaErrorMemoryAllocation;
        memset(p, 0xFF, n);
    }
    std::lock_guard<std::mutex> lock(allocations_mutex);
    allocations[(uintptr_t)p] = size;
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    size_t size;
    {
        std::lock_guard<std::mutex> lock(allocations_mutex);
        auto it = allocations.find((uintptr_t)ptr);
        if (it == allocations.end()) return cudaErrorInvalidValue;   // not an allocation's start: as CUDA says
        size = it->second;
        allocations.erase(it);
    }
    if (dry_run()) munmap(ptr, size ? size : 1);
    else free(ptr);
    return cudaSuccess;
}
