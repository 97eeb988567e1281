// tools/cudacpu/runtime.cpp: the CUDA runtime API of the CPU execution mode, on host memory.
//
// Device memory is host memory: exact-size allocations filled with 0xFF bytes (NaN in fp32
// and bf16), kept in a registry so that copies, the emulated libraries and the leak check
// can tell device pointers from host ones. There is one device, H100-like in its limits,
// with CUDACPU_MEMORY_GB (default 80) of memory. Everything runs synchronously at the call:
// streams and events only keep the program's bookkeeping honest. Kernel launches are in
// launch.cpp. The registry stores its addresses disguised (bit 63 set), so that under
// AddressSanitizer a device buffer nobody points to any more is reported as a leak.
#include <atomic>
#include <chrono>
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

bool dry_run() {   // read at every call (cheap next to what it guards), so a test can switch it on
    const char* v = getenv("CUDACPU_DRY_RUN");
    return v && *v && strcmp(v, "0") != 0;
}

// every live allocation, by disguised start address (see above): its size in bytes
static const uintptr_t DISGUISE = (uintptr_t)1 << 63;   // keeps the order of user-space addresses
static std::map<uintptr_t, size_t> allocations;
static std::mutex allocations_mutex;
static size_t allocated_bytes = 0;

static size_t memory_total() {
    static const size_t total = [] {
        const char* v = getenv("CUDACPU_MEMORY_GB");
        if (!v || !*v) return (size_t)80 << 30;
        char* end;
        double gb = strtod(v, &end);
        if (*end || !(gb > 0) || gb > 1e6) fatal("CUDACPU_MEMORY_GB=%s: expected a positive number of gigabytes", v);
        return (size_t)(gb * (1 << 30));
    }();
    return total;
}

// the allocation holding [p, p + bytes), or nullptr with *why saying what is wrong
static bool find_allocation(const void* p, size_t bytes, char* why, size_t why_size) {
    uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a | DISGUISE);
    if (it == allocations.begin()) {
        snprintf(why, why_size, "%p is not device memory (no cudaMalloc allocation holds it)", p);
        return false;
    }
    --it;
    uintptr_t begin = it->first & ~DISGUISE, end = begin + it->second;
    if (a >= end && !(a == end && bytes == 0)) {
        snprintf(why, why_size, "%p is not device memory (nearest allocation below ends %zu bytes earlier)", p, (size_t)(a - end));
        return false;
    }
    if (bytes > end - a) {
        snprintf(why, why_size, "%zu bytes from %p run %zu bytes past the end of its %zu-byte allocation", bytes, p,
                 (size_t)(a + bytes - end), it->second);
        return false;
    }
    return true;
}

static bool is_device_pointer(const void* p) {
    std::lock_guard<std::mutex> lock(allocations_mutex);
    char why[256];
    return find_allocation(p, 0, why, sizeof why);
}

bool find_device_range(const void* p, size_t bytes, char* why, size_t why_size) {
    std::lock_guard<std::mutex> lock(allocations_mutex);
    return find_allocation(p, bytes, why, why_size);
}

void check_device_range(const void* p, size_t bytes, const char* what) {
    std::lock_guard<std::mutex> lock(allocations_mutex);
    char why[256];
    if (!find_allocation(p, bytes, why, sizeof why)) fatal("%s: %s", what, why);
}

}  // namespace cudacpu

using namespace cudacpu;

// ---------------------------------------------------------------- errors
// the last error a call returned, for cudaGetLastError (launch failures abort instead)
static thread_local cudaError_t last_error = cudaSuccess;
static cudaError_t note(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

extern "C" cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
extern "C" cudaError_t cudaPeekAtLastError(void) { return last_error; }

extern "C" const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        default: return "cudaErrorUnknown";
    }
}
extern "C" const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotSupported: return "operation not supported";
        default: return "unknown error";
    }
}

// ---------------------------------------------------------------- device memory
// exact-size allocations filled with 0xFF bytes (NaN as fp32 and bf16), so reading memory
// that was never written shows up in the results; in a dry run, address space only. Aligned
// to 256 bytes, as CUDA promises for everything cudaMalloc returns.
extern "C" cudaError_t cudaMalloc(void** ptr, size_t size) {
    if (!ptr) return note(cudaErrorInvalidValue);
    size_t n = size ? size : 1;
    {
        std::lock_guard<std::mutex> lock(allocations_mutex);
        if (size > memory_total() - allocated_bytes) return note(cudaErrorMemoryAllocation);   // as a full GPU would
    }
    void* p;
    if (dry_run()) {
        p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return note(cudaErrorMemoryAllocation);
    } else {
        if (posix_memalign(&p, 256, n) != 0) return note(cudaErrorMemoryAllocation);
        memset(p, 0xFF, n);
    }
    std::lock_guard<std::mutex> lock(allocations_mutex);
    allocations[(uintptr_t)p | DISGUISE] = size;
    allocated_bytes += size;
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    size_t size;
    {
        std::lock_guard<std::mutex> lock(allocations_mutex);
        auto it = allocations.find((uintptr_t)ptr | DISGUISE);
        if (it == allocations.end()) return note(cudaErrorInvalidValue);   // not an allocation's start: as CUDA says
        size = it->second;
        allocated_bytes -= size;
        allocations.erase(it);
    }
    if (dry_run()) munmap(ptr, size ? size : 1);
    else free(ptr);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMallocHost(void** ptr, size_t size) {
    if (!ptr) return note(cudaErrorInvalidValue);
    *ptr = malloc(size ? size : 1);
    return *ptr ? cudaSuccess : note(cudaErrorMemoryAllocation);
}
extern "C" cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) { return cudaMallocHost(ptr, size); }
extern "C" cudaError_t cudaFreeHost(void* ptr) { free(ptr); return cudaSuccess; }

extern "C" cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    std::lock_guard<std::mutex> lock(allocations_mutex);
    if (free_bytes) *free_bytes = memory_total() - allocated_bytes;
    if (total_bytes) *total_bytes = memory_total();
    return cudaSuccess;
}

// copies check that their device side lies inside one allocation (a launch-failure-style
// message naming the call, rather than silent corruption of host memory)
extern "C" cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
    if (count == 0) return cudaSuccess;
    if (kind == cudaMemcpyDefault) {
        bool d = is_device_pointer(dst), s = is_device_pointer(src);
        kind = d ? (s ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice) : (s ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    }
    switch (kind) {
        case cudaMemcpyHostToDevice: check_device_range(dst, count, "cudaMemcpy (host to device): destination"); break;
        case cudaMemcpyDeviceToHost: check_device_range(src, count, "cudaMemcpy (device to host): source"); break;
        case cudaMemcpyDeviceToDevice:
            check_device_range(dst, count, "cudaMemcpy (device to device): destination");
            check_device_range(src, count, "cudaMemcpy (device to device): source");
            break;
        case cudaMemcpyHostToHost: break;
        default: return note(cudaErrorInvalidMemcpyDirection);
    }
    if (!dst || !src) return note(cudaErrorInvalidValue);
    if (dry_run()) return cudaSuccess;
    memmove(dst, src, count);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, count, kind);
}

extern "C" cudaError_t cudaMemset(void* p, int value, size_t count) {
    if (count == 0) return cudaSuccess;
    check_device_range(p, count, "cudaMemset");
    if (!dry_run()) memset(p, value, count);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMemsetAsync(void* p, int value, size_t count, cudaStream_t) { return cudaMemset(p, value, count); }

// __constant__ and __device__ variables are host globals: copying to or from one is a memcpy
extern "C" cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t count, size_t offset, enum cudaMemcpyKind) {
    memcpy((char*)symbol + offset, src, count);
    return cudaSuccess;
}
extern "C" cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t count, size_t offset, enum cudaMemcpyKind) {
    memcpy(dst, (const char*)symbol + offset, count);
    return cudaSuccess;
}

// ---------------------------------------------------------------- the device
// CUDACPU_DEVICES (default 1) identical devices, so that each of the ranks mpirun starts on one
// machine can pick the device of its local rank; a process's devices share its one memory
static int device_count() {
    static const int n = [] {
        const char* v = getenv("CUDACPU_DEVICES");
        if (!v || !*v) return 1;
        char* end;
        long x = strtol(v, &end, 10);
        if (*end || x < 1 || x > 1024) fatal("CUDACPU_DEVICES=%s: expected a number of devices from 1 to 1024", v);
        return (int)x;
    }();
    return n;
}
static int current_device = 0;
extern "C" cudaError_t cudaGetDeviceCount(int* count) {
    if (!count) return note(cudaErrorInvalidValue);
    *count = device_count();
    return cudaSuccess;
}
extern "C" cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_count()) return note(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}
extern "C" cudaError_t cudaGetDevice(int* device) {
    if (!device) return note(cudaErrorInvalidValue);
    *device = current_device;
    return cudaSuccess;
}
extern "C" cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
extern "C" cudaError_t cudaDeviceReset(void) { return cudaSuccess; }
extern "C" cudaError_t cudaDriverGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }
extern "C" cudaError_t cudaRuntimeGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }

// an H100 (SXM) as the launch checks see it
extern "C" cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device) {
    if (!prop) return note(cudaErrorInvalidValue);
    if (device < 0 || device >= device_count()) return note(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cudacpu (the CPU execution mode, H100-like limits)");
    prop->totalGlobalMem = memory_total();
    prop->sharedMemPerBlock = 48 * 1024;
    prop->sharedMemPerBlockOptin = 227 * 1024;
    prop->sharedMemPerMultiprocessor = 228 * 1024;
    prop->regsPerBlock = prop->regsPerMultiprocessor = 65536;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 0x7fffffff;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 64 * 1024;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 132;
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->l2CacheSize = 50 << 20;
    prop->memoryBusWidth = 5120;
    prop->textureAlignment = 512;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
    if (!value) return note(cudaErrorInvalidValue);
    if (device < 0 || device >= device_count()) return note(cudaErrorInvalidDevice);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; break;
        case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = 228 * 1024; break;
        case cudaDevAttrMultiProcessorCount: *value = 132; break;
        case cudaDevAttrWarpSize: *value = 32; break;
        case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
        case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
        default: return note(cudaErrorNotSupported);
    }
    return cudaSuccess;
}

// ---------------------------------------------------------------- streams and events
// work runs at the call, so a stream is only a handle to hand back; it is checked for
// being one, so that a destroyed or made-up stream still shows as an error
static std::mutex handles_mutex;
static std::map<void*, int> live_handles;   // stream or event -> 1 (stream) or 2 (event)

extern "C" cudaError_t cudaStreamCreate(cudaStream_t* stream) {
    if (!stream) return note(cudaErrorInvalidValue);
    *stream = (cudaStream_t) new char;
    std::lock_guard<std::mutex> lock(handles_mutex);
    live_handles[*stream] = 1;
    return cudaSuccess;
}
extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) { return cudaStreamCreate(stream); }
extern "C" cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(handles_mutex);
    auto it = live_handles.find(stream);
    if (it == live_handles.end() || it->second != 1) return note(cudaErrorInvalidResourceHandle);
    live_handles.erase(it);
    delete (char*)stream;
    return cudaSuccess;
}
extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (!stream) return cudaSuccess;
    std::lock_guard<std::mutex> lock(handles_mutex);
    auto it = live_handles.find(stream);
    return it != live_handles.end() && it->second == 1 ? cudaSuccess : note(cudaErrorInvalidResourceHandle);
}

struct Event { double ms = -1; };
static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
extern "C" cudaError_t cudaEventCreate(cudaEvent_t* event) {
    if (!event) return note(cudaErrorInvalidValue);
    *event = (cudaEvent_t) new Event;
    std::lock_guard<std::mutex> lock(handles_mutex);
    live_handles[*event] = 2;
    return cudaSuccess;
}
extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) { return cudaEventCreate(event); }
extern "C" cudaError_t cudaEventDestroy(cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(handles_mutex);
    auto it = live_handles.find(event);
    if (it == live_handles.end() || it->second != 2) return note(cudaErrorInvalidResourceHandle);
    live_handles.erase(it);
    delete (Event*)event;
    return cudaSuccess;
}
extern "C" cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
    if (!event) return note(cudaErrorInvalidResourceHandle);
    ((Event*)event)->ms = now_ms();
    return cudaSuccess;
}
extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
extern "C" cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
extern "C" cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }
extern "C" cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (!ms || !start || !end) return note(cudaErrorInvalidValue);
    Event *a = (Event*)start, *b = (Event*)end;
    if (a->ms < 0 || b->ms < 0) return note(cudaErrorInvalidResourceHandle);   // not recorded yet
    *ms = (float)(b->ms - a->ms);
    return cudaSuccess;
}
