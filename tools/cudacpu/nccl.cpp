// tools/cudacpu/nccl.cpp: NCCL of the CPU execution mode: collectives between the processes
// of one machine (mpirun's ranks, or torchrun-style ones), through POSIX shared memory.
//
// Not NCCL's algorithms (no rings, no trees, no network): every rank copies its part into its
// own slot of a shared segment, waits for the others, and computes its result from all the
// slots. Conventions a reader needs first:
// - ranks meet through the unique id: it carries the name of a shared-memory segment, which
//   ncclCommInitRank opens (the first rank creates it) and unlinks once every rank has joined.
// - reductions run in rank order 0, 1, ..., n-1, in the element type's own arithmetic (float
//   in float, double in double, integers with wrap-around), except bf16 and fp16, which are
//   accumulated in fp32 and rounded once. ncclAvg is NCCL's: floating types multiply each
//   input by 1/n (in the type's precision; fp32 for bf16 and fp16) and sum; integers sum and
//   divide. NCCL leaves the order unspecified; fixing it makes results bitwise repeatable.
// - every collective first compares what each rank asked for (sequence number, collective,
//   count, type, op, root): a mismatch fails on every rank, naming the ranks and the field.
// - every wait is bounded: CUDACPU_NCCL_TIMEOUT seconds (default 60), then an error naming the
//   collective and the ranks that never arrived (and which of them have exited). A rank that
//   aborts or destroys its communicator, or hits an error in a collective, marks it broken,
//   and every other rank's pending and later collectives fail at once (ncclRemoteError)
//   instead of waiting. A rank that merely exits is waited for, as real NCCL waits for it:
//   a failing program must call ncclCommAbort.
// - calls complete before they return; streams are accepted and not used. Group calls
//   (ncclGroupStart/End) run their collectives eagerly, which is equivalent for one
//   communicator per process, the project's case.
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <type_traits>
#include <algorithm>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nccl.h>

#include "internal.h"

using namespace cudacpu;

// ----------------------------------------------------------------------------
// the shared segment

constexpr int MAX_RANKS = 64;
constexpr size_t SLOT_BYTES = 4u << 20;   // each rank's staging slot; larger collectives run in chunks
static const char ID_MAGIC[] = "cudacpu-nccl";

enum Coll : int32_t { COLL_NONE, COLL_ALL_REDUCE, COLL_REDUCE_SCATTER, COLL_ALL_GATHER, COLL_BROADCAST, COLL_REDUCE };
static const char* coll_name(int32_t c) {
    static const char* names[] = {"(none)", "ncclAllReduce", "ncclReduceScatter", "ncclAllGather", "ncclBroadcast", "ncclReduce"};
    return c >= 0 && c <= COLL_REDUCE ? names[c] : "(unknown)";
}

struct CallDesc {   // what one rank asked for, compared across ranks before any data moves
    uint64_t seq;
    int32_t coll, type, op, root;
    uint64_t count;
};

struct Shared {
    std::atomic<int32_t> nranks;              // set by the first rank to arrive
    std::atomic<int32_t> broken;              // 0, or 1 + the rank that broke the communicator
    char why[400];                            // the first failure, for the other ranks' messages
    std::atomic<int32_t> joined[MAX_RANKS];   // 1 once the rank has mapped the segment, 2 once it has left
    std::atomic<int32_t> pid[MAX_RANKS];
    std::atomic<uint64_t> phase[MAX_RANKS];   // the last barrier phase each rank reached
    CallDesc desc[MAX_RANKS];
    // then nranks slots of SLOT_BYTES
};
static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free,
              "the segment's atomics work across processes only when lock-free");

static size_t header_bytes() { return (sizeof(Shared) + 4095) / 4096 * 4096; }

struct ncclComm {
    uint32_t magic;
    int rank, nranks;
    Shared* shm;
    size_t bytes;
    char name[64];
    uint64_t seq = 0, phase = 0;
    char last_error[512];
};
static const uint32_t COMM_MAGIC = 0x9cc1c033u;

static bool live(ncclComm_t c) { return c && c->magic == COMM_MAGIC; }
static char* slot(ncclComm_t c, int r) { return (char*)c->shm + header_bytes() + (size_t)r * SLOT_BYTES; }

static double timeout_seconds() {
    static const double t = [] {
        const char* v = getenv("CUDACPU_NCCL_TIMEOUT");
        if (!v || !*v) return 60.0;
        char* end;
        double x = strtod(v, &end);
        if (*end || !(x > 0)) fatal("CUDACPU_NCCL_TIMEOUT=%s is not a positive number of seconds", v);
        return x;
    }();
    return t;
}

static double now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// ----------------------------------------------------------------------------
// errors: printed, kept for ncclGetLastError, and (for the communicator's failures) shared

static char last_error_global[512];

__attribute__((format(printf, 3, 4))) static ncclResult_t fail(ncclComm_t comm, ncclResult_t r, const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudacpu: %s\n", msg);
    fflush(stderr);
    snprintf(last_error_global, sizeof last_error_global, "%s", msg);
    if (live(comm)) snprintf(comm->last_error, sizeof comm->last_error, "%s", msg);
    return r;
}

// marks the communicator broken for every rank (the first reason wins) and fails
__attribute__((format(printf, 3, 4))) static ncclResult_t break_comm(ncclComm_t comm, ncclResult_t r, const char* fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int32_t expected = 0;
    if (comm->shm->broken.compare_exchange_strong(expected, -1)) {   // -1 while `why` is written
        snprintf(comm->shm->why, sizeof comm->shm->why, "%s", msg);
        comm->shm->broken.store(1 + comm->rank, std::memory_order_release);
    }
    return fail(comm, r, "rank %d: %s", comm->rank, msg);
}

// a rank's process is gone: exited (or a zombie nobody has reaped yet)
static bool process_gone(pid_t pid) {
    if (pid <= 0) return false;
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE* f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char* p = strrchr(buf, ')');   // "pid (name) S ...": the state follows the name
    return p && (p[2] == 'Z' || p[2] == 'X');
}

// waits until every rank has arrived (`ready(r)` says whether rank r has). Fails at once if the
// communicator is broken or a missing rank has destroyed its communicator, and after the
// timeout otherwise, naming the ranks that never arrived. A rank whose process has exited is
// named as such, but waited for like real NCCL waits for it (forever there, the timeout here):
// a program must abort its communicator when it fails, and the tests must be able to see
// whether it does.
template <class Ready>
static ncclResult_t wait_for_all(ncclComm_t comm, const char* what, Ready ready) {
    double start = now(), last_check = start;
    for (int spin = 0;; spin++) {
        bool all = true;   // everyone here first: then each rank finds a mismatch itself
        for (int r = 0; r < comm->nranks && all; r++) all = ready(r);
        if (all) return ncclSuccess;
        int32_t b = comm->shm->broken.load(std::memory_order_acquire);
        if (b > 0) {
            if (b - 1 == comm->rank) return fail(comm, ncclRemoteError, "rank %d: %s: the communicator is broken: %s", comm->rank, what, comm->shm->why);
            return fail(comm, ncclRemoteError, "rank %d: %s: rank %d broke the communicator: %s", comm->rank, what, b - 1,
                        comm->shm->why);
        }
        double t = now();
        if (t - last_check > 0.05 || t - start > timeout_seconds()) {
            last_check = t;
            char missing[256] = "";
            size_t len = 0;
            bool left = false, timed_out = t - start > timeout_seconds();
            for (int r = 0; r < comm->nranks; r++)
                if (!ready(r)) {
                    bool l = comm->shm->joined[r].load() == 2, gone = timed_out && !l && process_gone(comm->shm->pid[r].load());
                    left = left || l;
                    len += snprintf(missing + len, len < sizeof missing ? sizeof missing - len : 0, "%s%d%s", len ? ", " : "", r,
                                    l ? " (it destroyed its communicator)" : gone ? " (its process has exited)" : "");
                    if (len >= sizeof missing) break;
                }
            if (left) return break_comm(comm, ncclRemoteError, "%s: rank(s) %s will never arrive", what, missing);
            if (timed_out)
                return break_comm(comm, ncclSystemError, "%s: timed out after %g s waiting for rank(s) %s "
                                  "(CUDACPU_NCCL_TIMEOUT sets the limit)", what, timeout_seconds(), missing);
        }
        if (spin < 200) continue;
        if (spin < 2000) sched_yield();
        else usleep(spin < 20000 ? 50 : 1000);
    }
}

// every rank reaches the next phase: a barrier that never resets (each rank's count only grows)
static ncclResult_t barrier(ncclComm_t comm, const char* what) {
    uint64_t p = ++comm->phase;
    comm->shm->phase[comm->rank].store(p, std::memory_order_release);
    return wait_for_all(comm, what, [&](int r) { return comm->shm->phase[r].load(std::memory_order_acquire) >= p; });
}

// ----------------------------------------------------------------------------
// setup: the unique id, joining, leaving

extern "C" ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    if (!id) return fail(nullptr, ncclInvalidArgument, "ncclGetUniqueId: id is a null pointer");
    memset(id, 0, sizeof *id);
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static std::atomic<int> counter{0};
    unsigned long long salt = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^ (uintptr_t)&ts;
    snprintf(id->internal, sizeof id->internal, "%s /cudacpu-nccl-%d-%d-%llx", ID_MAGIC, (int)getpid(), counter++, salt);
    return ncclSuccess;
}

// the segment's name, from an id made by ncclGetUniqueId
static const char* segment_name(const ncclUniqueId& id) {
    if (memcmp(id.internal, ID_MAGIC, sizeof ID_MAGIC - 1) != 0 || id.internal[sizeof ID_MAGIC - 1] != ' ' ||
        !memchr(id.internal, 0, sizeof id.internal))
        return nullptr;
    return id.internal + sizeof ID_MAGIC;
}

extern "C" ncclResult_t ncclCommInitRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
    const char* call = "ncclCommInitRank";
    if (!out) return fail(nullptr, ncclInvalidArgument, "%s: comm is a null pointer", call);
    *out = nullptr;
    if (nranks < 1 || nranks > MAX_RANKS)
        return fail(nullptr, ncclInvalidArgument, "%s: nranks %d is outside 1..%d (the CPU mode's limit)", call, nranks, MAX_RANKS);
    if (rank < 0 || rank >= nranks) return fail(nullptr, ncclInvalidArgument, "%s: rank %d is outside 0..%d", call, rank, nranks - 1);
    const char* name = segment_name(id);
    if (!name) return fail(nullptr, ncclInvalidArgument, "%s: the id did not come from the CPU mode's ncclGetUniqueId "
                                                        "(was it sent to every rank whole?)", call);
    size_t bytes = header_bytes() + (size_t)nranks * SLOT_BYTES;
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0) return fail(nullptr, ncclSystemError, "%s: rank %d cannot open shared memory %s: %s", call, rank, name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || ((size_t)st.st_size < bytes && ftruncate(fd, bytes) != 0)) {
        close(fd);
        return fail(nullptr, ncclSystemError, "%s: rank %d cannot size shared memory %s: %s", call, rank, name, strerror(errno));
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return fail(nullptr, ncclSystemError, "%s: rank %d cannot map shared memory %s: %s", call, rank, name, strerror(errno));
    ncclComm_t comm = new ncclComm{COMM_MAGIC, rank, nranks, (Shared*)p, bytes, {}, 0, 0, {}};
    snprintf(comm->name, sizeof comm->name, "%s", name);
    Shared* s = comm->shm;
    int32_t expected = 0;
    ncclResult_t r = ncclSuccess;
    if (!s->nranks.compare_exchange_strong(expected, nranks) && expected != nranks)
        r = break_comm(comm, ncclInvalidUsage, "%s: nranks %d, but another rank passed nranks %d with the same id", call, nranks, expected);
    else if (s->joined[rank].exchange(1) != 0)
        r = break_comm(comm, ncclInvalidUsage, "%s: rank %d joined twice with the same id", call, rank);
    if (r == ncclSuccess) {
        s->pid[rank].store(getpid());
        r = wait_for_all(comm, call, [&](int q) { return s->joined[q].load(std::memory_order_acquire) != 0; });
    }
    // everyone has the segment mapped (or never will): its name is no longer needed
    shm_unlink(name);
    if (r != ncclSuccess) {
        munmap(p, bytes);
        comm->magic = 0;
        delete comm;
        return r;
    }
    *out = comm;
    return ncclSuccess;
}

static void release(ncclComm_t comm) {
    munmap(comm->shm, comm->bytes);
    comm->magic = 0;
    delete comm;
}

extern "C" ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclSuccess;
    if (!live(comm)) return fail(nullptr, ncclInvalidArgument, "ncclCommDestroy: not a live communicator");
    // a rank that has left is not waited for: a peer still in a collective with it fails now
    comm->shm->joined[comm->rank].store(2);
    release(comm);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommAbort(ncclComm_t comm) {
    if (!comm) return ncclSuccess;
    if (!live(comm)) return fail(nullptr, ncclInvalidArgument, "ncclCommAbort: not a live communicator");
    int32_t expected = 0;
    if (comm->shm->broken.compare_exchange_strong(expected, -1)) {
        snprintf(comm->shm->why, sizeof comm->shm->why, "rank %d called ncclCommAbort", comm->rank);
        comm->shm->broken.store(1 + comm->rank, std::memory_order_release);
    }
    release(comm);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
    if (!live(comm) || !count) return fail(nullptr, ncclInvalidArgument, "ncclCommCount: not a live communicator, or a null count");
    *count = comm->nranks;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
    if (!live(comm) || !rank) return fail(nullptr, ncclInvalidArgument, "ncclCommUserRank: not a live communicator, or a null rank");
    *rank = comm->rank;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* error) {
    if (!live(comm) || !error) return fail(nullptr, ncclInvalidArgument, "ncclCommGetAsyncError: not a live communicator");
    *error = comm->shm->broken.load() > 0 ? ncclRemoteError : ncclSuccess;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclGetVersion(int* version) {
    if (!version) return ncclInvalidArgument;
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

extern "C" const char* ncclGetErrorString(ncclResult_t r) {
    switch (r) {   // NCCL's own wording
        case ncclSuccess: return "no error";
        case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
        case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
        case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
        case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
        case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
        case ncclRemoteError: return "remote process exited or there was a network error";
        case ncclInProgress: return "NCCL operation in progress";
        default: return "unknown result code";
    }
}

extern "C" const char* ncclGetLastError(ncclComm_t comm) { return live(comm) ? comm->last_error : last_error_global; }

static thread_local int group_depth = 0;
extern "C" ncclResult_t ncclGroupStart() {
    group_depth++;
    return ncclSuccess;
}
extern "C" ncclResult_t ncclGroupEnd() {
    if (group_depth == 0) return fail(nullptr, ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
    group_depth--;
    return ncclSuccess;
}

// ----------------------------------------------------------------------------
// element types and reductions

static size_t type_size(int t) {
    switch (t) {
        case ncclInt8: case ncclUint8: return 1;
        case ncclFloat16: case ncclBfloat16: return 2;
        case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
        case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
        default: return 0;   // fp8 and anything else: not emulated
    }
}

static float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static float half_to_float(uint16_t h) { _Float16 x; memcpy(&x, &h, 2); return (float)x; }
static uint16_t float_to_half(float f) { _Float16 x = (_Float16)f; uint16_t h; memcpy(&h, &x, 2); return h; }

template <class T> static T combine(T a, T b, int op) {
    switch (op) {
        case ncclProd: return (T)(a * b);
        case ncclMax: return a > b ? a : b;
        case ncclMin: return a < b ? a : b;
        default: return (T)(a + b);   // sum, and avg's sum
    }
}

// out[i] = op over ranks r = 0..n-1 (in order) of in[r][i], for n contributions of type T;
// sums and products of integers run in the unsigned twin U, so that they wrap around
template <class T, class U>
static void reduce_typed(void* out, const char* const* in, int n, size_t count, int op) {
    constexpr bool floating = std::is_floating_point<T>::value;
    bool order = op == ncclMax || op == ncclMin;
    for (size_t i = 0; i < count; i++) {
        T acc = 0;
        for (int r = 0; r < n; r++) {
            T x;
            memcpy(&x, in[r] + i * sizeof(T), sizeof(T));
            if (floating && op == ncclAvg) x = (T)(x * (T)(1.0 / n));   // NCCL's avg for floats: premultiply, then sum
            if (r == 0) acc = x;
            else if (floating || order) acc = combine<T>(acc, x, op);
            else acc = (T)combine<U>((U)acc, (U)x, op);
        }
        if (!floating && op == ncclAvg) acc = (T)(acc / (T)n);   // integers: sum, then divide
        memcpy((char*)out + i * sizeof(T), &acc, sizeof(T));
    }
}

// the same for bf16 and fp16: fp32 arithmetic, one rounding at the end
static void reduce_16(void* out, const char* const* in, int n, size_t count, int op, bool bf16) {
    for (size_t i = 0; i < count; i++) {
        float acc = 0;
        for (int r = 0; r < n; r++) {
            uint16_t h;
            memcpy(&h, in[r] + i * 2, 2);
            float x = bf16 ? bf16_to_float(h) : half_to_float(h);
            if (op == ncclAvg) x *= 1.0f / n;
            acc = r == 0 ? x : combine<float>(acc, x, op);
        }
        uint16_t h = bf16 ? float_to_bf16(acc) : float_to_half(acc);
        memcpy((char*)out + i * 2, &h, 2);
    }
}

static void reduce(void* out, const char* const* in, int n, size_t count, int type, int op) {
    switch (type) {
        case ncclInt8: reduce_typed<int8_t, uint8_t>(out, in, n, count, op); break;
        case ncclUint8: reduce_typed<uint8_t, uint8_t>(out, in, n, count, op); break;
        case ncclInt32: reduce_typed<int32_t, uint32_t>(out, in, n, count, op); break;
        case ncclUint32: reduce_typed<uint32_t, uint32_t>(out, in, n, count, op); break;
        case ncclInt64: reduce_typed<int64_t, uint64_t>(out, in, n, count, op); break;
        case ncclUint64: reduce_typed<uint64_t, uint64_t>(out, in, n, count, op); break;
        case ncclFloat32: reduce_typed<float, float>(out, in, n, count, op); break;
        case ncclFloat64: reduce_typed<double, double>(out, in, n, count, op); break;
        case ncclFloat16: reduce_16(out, in, n, count, op, false); break;
        case ncclBfloat16: reduce_16(out, in, n, count, op, true); break;
    }
}

// ----------------------------------------------------------------------------
// the collectives: one function, five shapes

static ncclResult_t collective(Coll coll, const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                               int root, ncclComm_t comm) {
    const char* call = coll_name(coll);
    if (!live(comm)) return fail(nullptr, ncclInvalidArgument, "%s: not a live communicator", call);
    int n = comm->nranks, me = comm->rank;
    size_t es = type_size(type);
    bool reduces = coll == COLL_ALL_REDUCE || coll == COLL_REDUCE_SCATTER || coll == COLL_REDUCE;
    bool rooted = coll == COLL_BROADCAST || coll == COLL_REDUCE;
    // a local mistake breaks the communicator too: the other ranks must not wait for this one
    if (es == 0)
        return break_comm(comm, ncclInvalidArgument, "%s: datatype %d is not emulated by the CPU mode (int8, uint8, "
                          "int32, uint32, int64, uint64, fp16, bf16, fp32, fp64 are)", call, (int)type);
    if (reduces && ((int)op < 0 || (int)op >= (int)ncclNumOps))
        return break_comm(comm, ncclInvalidArgument, "%s: op %d is not a built-in reduction (sum, prod, max, min, avg; "
                          "custom ops are not emulated)", call, (int)op);
    if (rooted && (root < 0 || root >= n))
        return break_comm(comm, ncclInvalidArgument, "%s: root %d is outside 0..%d", call, root, n - 1);
    // elements each rank sends and receives
    size_t send_n = count, recv_n = count;
    if (coll == COLL_REDUCE_SCATTER) send_n = count * n;
    if (coll == COLL_ALL_GATHER) recv_n = count * n;
    if (coll == COLL_BROADCAST && me != root) send_n = 0;
    if (coll == COLL_REDUCE && me != root) recv_n = 0;
    if ((send_n && !send) || (recv_n && !recv))
        return break_comm(comm, ncclInvalidArgument, "%s: %s is a null pointer", call, send_n && !send ? "sendbuff" : "recvbuff");
    char what[96];
    if (send_n) {
        snprintf(what, sizeof what, "%s: sendbuff (%zu elements)", call, send_n);
        check_device_range(send, send_n * es, what);
    }
    if (recv_n) {
        snprintf(what, sizeof what, "%s: recvbuff (%zu elements)", call, recv_n);
        check_device_range(recv, recv_n * es, what);
    }
    // in place is an exact relation between the pointers, as NCCL defines it; any other overlap corrupts the data
    if (send_n && recv_n) {
        const char *s0 = (const char*)send, *s1 = s0 + send_n * es, *r0 = (const char*)recv, *r1 = r0 + recv_n * es;
        bool in_place = coll == COLL_REDUCE_SCATTER ? r0 == s0 + me * count * es
                        : coll == COLL_ALL_GATHER   ? s0 == r0 + me * count * es
                                                    : s0 == r0;
        if (s0 < r1 && r0 < s1 && !in_place)
            return break_comm(comm, ncclInvalidUsage, "%s: sendbuff and recvbuff overlap without being in place (%s)", call,
                              coll == COLL_REDUCE_SCATTER ? "recvbuff == sendbuff + rank * recvcount"
                              : coll == COLL_ALL_GATHER   ? "sendbuff == recvbuff + rank * sendcount"
                                                          : "sendbuff == recvbuff");
    }

    // 1. every rank says what it is about to do, and all compare
    comm->shm->desc[me] = CallDesc{++comm->seq, coll, (int32_t)type, reduces ? (int32_t)op : -1, rooted ? root : -1, count};
    ncclResult_t r = barrier(comm, call);
    if (r != ncclSuccess) return r;
    const CallDesc& a = comm->shm->desc[0];
    for (int q = 1; q < n; q++) {
        const CallDesc& b = comm->shm->desc[q];
        if (memcmp(&a, &b, sizeof a) != 0)
            return break_comm(comm, ncclInvalidUsage, "ranks disagree on collective call %llu: rank 0 calls %s (count %llu, "
                              "datatype %d, op %d, root %d) but rank %d calls %s as its call %llu (count %llu, datatype %d, "
                              "op %d, root %d)", (unsigned long long)a.seq, coll_name(a.coll), (unsigned long long)a.count,
                              a.type, a.op, a.root, q, coll_name(b.coll), (unsigned long long)b.seq,
                              (unsigned long long)b.count, b.type, b.op, b.root);
    }
    // no data moves in a dry run; the barrier keeps a fast rank from describing its next call
    // before a slow one has compared this one (the data steps below otherwise do that)
    if (dry_run() || count == 0) return barrier(comm, call);   // (nothing to move either way)

    // 2. the data, in chunks that fit the slots: write my part, wait, compute mine from all, wait
    size_t chunk = SLOT_BYTES / es / (coll == COLL_REDUCE_SCATTER ? n : 1);
    const char* in[MAX_RANKS];
    for (size_t off = 0; off < count; off += chunk) {
        size_t len = std::min(chunk, count - off), bytes = len * es;
        const char* src = (const char*)send;
        char* mine = slot(comm, me);
        if (coll == COLL_REDUCE_SCATTER)
            for (int q = 0; q < n; q++) memcpy(mine + q * bytes, src + (q * count + off) * es, bytes);
        else if (coll != COLL_BROADCAST || me == root)
            memcpy(mine, src + off * es, bytes);
        if ((r = barrier(comm, call)) != ncclSuccess) return r;
        char* dst = (char*)recv + off * es;
        switch (coll) {
            case COLL_ALL_REDUCE:
            case COLL_REDUCE:
                for (int q = 0; q < n; q++) in[q] = slot(comm, q);
                if (coll == COLL_ALL_REDUCE || me == root) reduce(dst, in, n, len, type, op);
                break;
            case COLL_REDUCE_SCATTER:
                for (int q = 0; q < n; q++) in[q] = slot(comm, q) + me * bytes;
                reduce(dst, in, n, len, type, op);
                break;
            case COLL_ALL_GATHER:
                for (int q = 0; q < n; q++) memcpy((char*)recv + (q * count + off) * es, slot(comm, q), bytes);
                break;
            case COLL_BROADCAST:
                if (dst != src + off * es || me != root) memcpy(dst, slot(comm, root), bytes);
                break;
            default: break;
        }
        if ((r = barrier(comm, call)) != ncclSuccess) return r;   // the slots are free again
    }
    return ncclSuccess;
}

extern "C" ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                      ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
    return collective(COLL_ALL_REDUCE, sendbuff, recvbuff, count, datatype, op, -1, comm);
}

extern "C" ncclResult_t ncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype,
                                          ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
    return collective(COLL_REDUCE_SCATTER, sendbuff, recvbuff, recvcount, datatype, op, -1, comm);
}

extern "C" ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype,
                                      ncclComm_t comm, cudaStream_t stream) {
    return collective(COLL_ALL_GATHER, sendbuff, recvbuff, sendcount, datatype, ncclSum, -1, comm);
}

extern "C" ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
                                      ncclComm_t comm, cudaStream_t stream) {
    return collective(COLL_BROADCAST, sendbuff, recvbuff, count, datatype, ncclSum, root, comm);
}

extern "C" ncclResult_t ncclBcast(void* buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                                  cudaStream_t stream) {
    return collective(COLL_BROADCAST, buff, buff, count, datatype, ncclSum, root, comm);
}

extern "C" ncclResult_t ncclReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
                                   int root, ncclComm_t comm, cudaStream_t stream) {
    return collective(COLL_REDUCE, sendbuff, recvbuff, count, datatype, op, root, comm);
}
