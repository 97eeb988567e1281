// tools/cudacpu/launch.cpp: kernel launches in the CPU execution mode: every GPU thread is a
// fiber, the blocks of a launch run one after another on the calling host thread.
//
// A thread runs until it reaches a barrier or a warp collective, or exits; then the next
// thread runs. A barrier completes when every live thread of the block is at the same
// barrier; a warp collective (shuffle, vote, __syncwarp) when every lane its mask names is at
// the same call site with the same mask. Everything else is a launch failure that names the
// kernel, the launch's source line, the block and the thread: a mask naming a lane that has
// exited or does not exist, lanes of a warp at different collectives or one at a barrier,
// barriers at different call sites, launch limits. Threads that never block run one after
// another on one stack (a plain call each), so element-wise kernels cost little more than a
// loop; a thread that blocks keeps its stack (a pool of guarded stacks) until it exits.
//
// Schedules (CUDACPU_SCHEDULE): `inorder` starts and releases threads in thread order;
// `reverse` runs the warps last to first, so a later warp runs ahead of earlier ones (this is
// how a missing barrier before reusing shared memory shows). In both, a warp whose collective
// completes runs on before any other warp. CUDACPU_BLOCK_ORDER=shuffle runs the blocks of each
// launch in a seeded random order (CUDACPU_SEED): a kernel whose blocks depend on each other's
// order gives different results.
//
// Sanitizers: built with -DCUDACPU_ASAN, stack switches are announced to AddressSanitizer;
// with -DCUDACPU_TSAN every GPU thread is a ThreadSanitizer fiber, a barrier orders the
// memory accesses of the threads it joins, __syncwarp those of its lanes, and a shuffle (or a
// WMMA collective) does not. This file itself is
// compiled without the sanitizer (its bookkeeping is not the program's memory traffic).
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cudacpu.h"
#include "internal.h"

#ifdef CUDACPU_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
}
#endif
#ifdef CUDACPU_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
static const unsigned TSAN_NO_SYNC = 1;   // __tsan_switch_to_fiber_no_sync
#endif

#if defined(__x86_64__) && !defined(CUDACPU_UCONTEXT)
#define CUDACPU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace cudacpu {

thread_local uint3 thread_idx, block_idx;
thread_local dim3 block_dim, grid_dim;

// ---------------------------------------------------------------- settings
static const char* env(const char* name) {
    const char* v = getenv(name);
    return v && *v ? v : nullptr;
}

static long env_long(const char* name, long fallback, long lo, long hi) {
    const char* v = env(name);
    if (!v) return fallback;
    char* end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) fatal("%s=%s: expected a whole number from %ld to %ld", name, v, lo, hi);
    return x;
}

static size_t stack_size() {
#if defined(CUDACPU_ASAN) || defined(CUDACPU_TSAN)
    const long fallback = 256;   // sanitized frames are larger
#else
    const long fallback = 64;
#endif
    static const size_t bytes = (size_t)env_long("CUDACPU_STACK_KB", fallback, 16, 1 << 20) << 10;
    return bytes;
}

// ---------------------------------------------------------------- context switch
// x86-64: save the callee-saved registers on the old stack, swap stack pointers, restore from
// the new stack. (The SSE and x87 control words are callee-saved too, but nothing here
// changes them, and saving them costs as much as the rest of the switch.) A fresh stack is laid out
// as if it had been switched away from at the first instruction of fiber_start, which moves
// r12 (the argument) to rdi and calls r13 (the entry function).
#ifdef CUDACPU_ASM_SWITCH
extern "C" void cudacpu_switch(void** save_sp, void* new_sp);
extern "C" void cudacpu_fiber_start();
asm(R"(
.text
.globl cudacpu_switch
.type cudacpu_switch, @function
cudacpu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size cudacpu_switch, .-cudacpu_switch
.globl cudacpu_fiber_start
.type cudacpu_fiber_start, @function
cudacpu_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
.size cudacpu_fiber_start, .-cudacpu_fiber_start
.section .note.GNU-stack,"",@progbits
.text
)");
struct Context { void* sp = nullptr; };
static void context_init(Context& c, char* stack_top, void (*entry)(void*), void* arg) {
    uint64_t* sp = (uint64_t*)((uintptr_t)stack_top & ~(uintptr_t)15);
    // after the switch pops six registers and returns here, rsp is 16-byte aligned again, as
    // fiber_start's call needs
    *--sp = (uint64_t)&cudacpu_fiber_start;       // the return address of cudacpu_switch
    *--sp = 0;                                    // rbp
    *--sp = 0;                                    // rbx
    *--sp = (uint64_t)arg;                        // r12
    *--sp = (uint64_t)entry;                      // r13
    *--sp = 0;                                    // r14
    *--sp = 0;                                    // r15
    c.sp = sp;
}
static inline void context_switch(Context& from, Context& to) { cudacpu_switch(&from.sp, to.sp); }
#else
struct Context { ucontext_t uc; };
static void (*pending_entry)(void*);
static void* pending_arg;
static void ucontext_entry() { pending_entry(pending_arg); }
static void context_init(Context& c, char* stack_top, void (*entry)(void*), void* arg) {
    getcontext(&c.uc);
    size_t size = stack_size();
    c.uc.uc_stack.ss_sp = stack_top - size;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    pending_entry = entry;   // makecontext passes only ints portably: hand the pointer over here
    pending_arg = arg;
    makecontext(&c.uc, ucontext_entry, 0);
}
static inline void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

enum Schedule { IN_ORDER, REVERSE };
static Schedule schedule = [] {
    const char* v = env("CUDACPU_SCHEDULE");
    if (!v || !strcmp(v, "inorder")) return IN_ORDER;
    if (!strcmp(v, "reverse")) return REVERSE;
    fatal("CUDACPU_SCHEDULE=%s: expected `inorder` or `reverse`", v);
}();
static bool shuffle_blocks = [] {
    const char* v = env("CUDACPU_BLOCK_ORDER");
    if (!v || !strcmp(v, "inorder")) return false;
    if (!strcmp(v, "shuffle")) return true;
    fatal("CUDACPU_BLOCK_ORDER=%s: expected `inorder` or `shuffle`", v);
}();
static uint64_t seed = (uint64_t)env_long("CUDACPU_SEED", 1, 0, 0x7fffffffffffffffL);

void set_schedule(bool reverse_warps, bool shuffled_blocks, uint64_t s) {
    schedule = reverse_warps ? REVERSE : IN_ORDER;
    shuffle_blocks = shuffled_blocks;
    seed = s;
}

// ---------------------------------------------------------------- kernel attributes
// cudaFuncSetAttribute names a kernel by its address; a rewritten launch names it by its
// source name. The two meet at the kernel's name, found from the address by dladdr (the
// CPU-mode binaries are linked with -rdynamic so that the kernels are in the symbol table).
static std::map<std::string, int> max_dynamic_smem;   // kernel base name -> the opt-in limit
static std::map<std::string, size_t> kernel_static_smem;   // kernel base name -> its __shared__ variables' bytes, once they ran
static std::mutex attributes_mutex;

// "void ns::k<float>(float*, int)" or "k<float>" -> "k"
static std::string base_name(std::string s) {
    size_t paren = std::string::npos;
    int depth = 0;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '<') depth++;
        else if (s[i] == '>') depth--;
        else if (s[i] == '(' && depth == 0) { paren = i; break; }
    }
    if (paren != std::string::npos) s = s.substr(0, paren);
    while (!s.empty() && s.back() == '>') {   // drop trailing template arguments
        int d = 0;
        size_t i = s.size();
        while (i-- > 0) {
            if (s[i] == '>') d++;
            else if (s[i] == '<' && --d == 0) break;
        }
        s = s.substr(0, i == std::string::npos ? 0 : i);
    }
    size_t cut = s.find_last_of(": ");
    return cut == std::string::npos ? s : s.substr(cut + 1);
}

}  // namespace cudacpu

#include <cxxabi.h>
#include <dlfcn.h>

extern "C" cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
    using namespace cudacpu;
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;   // the others change nothing here
    Dl_info info;
    if (!func || !dladdr(func, &info) || !info.dli_sname || info.dli_saddr != func)
        fatal("cudaFuncSetAttribute: cannot tell which kernel %p is (a static kernel, or a binary not linked with -rdynamic?)", func);
    int status = 0;
    char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    std::string name = base_name(status == 0 && demangled ? demangled : info.dli_sname);
    free(demangled);
    if (value < 0 || value > 227 * 1024) return cudaErrorInvalidValue;
    std::lock_guard<std::mutex> lock(attributes_mutex);
    max_dynamic_smem[name] = value;
    return cudaSuccess;
}

namespace cudacpu {

// ---------------------------------------------------------------- the scheduler's state
enum ThreadState { FRESH, RUNNING, RUNNABLE, AT_BARRIER, AT_COLLECTIVE, EXITED };

struct Stack {
    char* low = nullptr;     // lowest usable byte (a guard page lies below)
    size_t size = 0;
    size_t color = 0;        // the stack starts this many bytes below its top (see map_stack)
    Context context;         // where the stack's current owner was suspended
};

// one asynchronous copy (pipeline.h): bytes - zfill bytes from src, then zfill zeros, into dst
struct AsyncCopy {
    void* dst;
    const void* src;
    size_t bytes, zfill;
};

struct Thread {
    unsigned index = 0;      // linear index in the block
    uint3 idx;
    ThreadState state = FRESH;
    Stack* stack = nullptr;  // while it is suspended: the stack it owns
    const char* site = nullptr;   // where it waits
    Collective* collective = nullptr;
    bool started = false;
    std::vector<AsyncCopy> copies;   // cp.async started and not yet landed, oldest first
    std::vector<size_t> groups;      // the end (in copies) of each committed group, oldest first
#ifdef CUDACPU_ASAN
    void* fake_stack = nullptr;
#endif
};

// lanes of one warp waiting at one collective (site, kind and mask agree)
struct Group {
    const char* site;
    CollectiveKind kind;
    unsigned mask, arrived;
};

struct Warp {
    unsigned exists = 0, exited = 0, at_barrier = 0;
    std::vector<Group> groups;
    uint64_t* gathered = nullptr;   // wmma::mma_sync: the a and b fragments of all 32 lanes (gathered_pool)
};

// room for every warp of a block to gather its lanes' a and b fragments (WMMA_GATHER_BYTES per
// lane at most), allocated once before any launch runs: under ThreadSanitizer, memory the
// runtime allocated during a block would look to the lanes like another thread's fresh writes
static const size_t WMMA_GATHER_BYTES = 64;
static uint64_t* gathered_pool = nullptr;

struct Launch {
    const char* kernel;
    const char* file;
    int line;
    void (*body)(void*);
    void* ctx;
    unsigned n = 0;                  // threads per block
    std::vector<Thread> threads;
    std::vector<Warp> warps;
    std::vector<unsigned> start_order;   // thread indices in the schedule's order
    size_t next_fresh = 0;
    unsigned exited = 0;
    std::deque<Thread*> runq;            // suspended threads that may continue
    unsigned barrier_count = 0;
    const char* barrier_site = nullptr;
    Thread* current = nullptr;
    Context scheduler;                   // the host thread's own stack
    void* dynamic_smem = nullptr;
    size_t dynamic_smem_bytes = 0;
#ifdef CUDACPU_ASAN
    const void* host_stack_bottom = nullptr;
    size_t host_stack_size = 0;
    void* host_fake_stack = nullptr;
#endif
#ifdef CUDACPU_TSAN
    void* host_fiber = nullptr;
#endif
};

static Launch* running = nullptr;     // the launch in progress on this process
static std::mutex launch_mutex;       // one launch at a time
static std::vector<Stack*>& free_stacks = *new std::vector<Stack*>;   // stacks no thread owns; mapped once, kept for later launches
#ifdef CUDACPU_TSAN
// under ThreadSanitizer each thread index has a stack of its own: two GPU threads one after
// another on one stack would look to it like a race on the stack's memory
static const bool STACK_PER_THREAD = true;
static std::vector<Stack*>& thread_stacks = *new std::vector<Stack*>;
#else
static const bool STACK_PER_THREAD = false;
#endif
#ifdef CUDACPU_TSAN
static std::vector<void*>& tsan_fibers = *new std::vector<void*>;   // one per thread index, reused by every block
static char tsan_launch_sync, tsan_block_sync, tsan_barrier_sync;
static char tsan_warp_sync[32];   // __syncwarp, per warp of the block
#endif

void* dynamic_shared_memory() { return running ? running->dynamic_smem : nullptr; }

// every static __shared__ variable of the program, registered when its declaration first runs
struct SharedVariable { volatile unsigned char* p; size_t bytes; };
static std::vector<SharedVariable>& shared_variables = *new std::vector<SharedVariable>;
static size_t shared_bytes = 0;

// byte by byte through volatile, here and below: a memset or memcpy call would be seen by
// ThreadSanitizer as the running GPU thread writing the memory, racing with the others
static void fill_ff(volatile unsigned char* p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = 0xFF; }

static void enter_runtime(Launch& L);
static void leave_runtime(Launch& L);
bool register_shared(void* p, size_t bytes) {
    if (running) enter_runtime(*running);
    shared_variables.push_back({(volatile unsigned char*)p, bytes});
    shared_bytes += bytes;
    if (running) {
        std::lock_guard<std::mutex> lock(attributes_mutex);
        kernel_static_smem[base_name(running->kernel)] += bytes;
    }
    fill_ff((volatile unsigned char*)p, bytes);   // this block sees it fresh too
    if (running) leave_runtime(*running);
    return true;
}

// ---------------------------------------------------------------- failures
static std::string describe_thread(const Thread& t) {
    char buf[96];
    snprintf(buf, sizeof buf, "thread (%u,%u,%u) (warp %u, lane %u)", t.idx.x, t.idx.y, t.idx.z, t.index / 32, t.index % 32);
    return buf;
}

[[noreturn]] static void launch_failure(const Thread* t, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void launch_failure(const Thread* t, const char* fmt, ...) {
    Launch& L = *running;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[160] = "";
    if (t) snprintf(where, sizeof where, ", block (%u,%u,%u), %s", block_idx.x, block_idx.y, block_idx.z, describe_thread(*t).c_str());
    fatal("launch failure in kernel %s (launched at %s:%d)%s: %s", L.kernel, L.file, L.line, where, msg);
}

static const char* collective_name(CollectiveKind k) {
    switch (k) {
        case SHFL_IDX: return "__shfl_sync";
        case SHFL_UP: return "__shfl_up_sync";
        case SHFL_DOWN: return "__shfl_down_sync";
        case SHFL_XOR: return "__shfl_xor_sync";
        case BALLOT: return "__ballot_sync";
        case ANY: return "__any_sync";
        case ALL: return "__all_sync";
        case SYNCWARP: return "__syncwarp";
        case WMMA_LOAD: return "wmma::load_matrix_sync";
        case WMMA_STORE: return "wmma::store_matrix_sync";
        case WMMA_MMA: return "wmma::mma_sync";
        case PTX_MMA: return "mma.sync.m16n8k16";
        case PTX_LDMATRIX: return "ldmatrix.sync.m8n8.x4";
    }
    return "?";
}

// sites are string literals: usually the same pointer when the same call
static inline bool same_site(const char* a, const char* b) { return a == b || strcmp(a, b) == 0; }

static int first_lane(unsigned bits) { return __builtin_ctz(bits); }

// ---------------------------------------------------------------- stacks and switching
static Stack* map_stack();
static Stack* take_stack(Launch& L) {
#ifdef CUDACPU_TSAN
    unsigned index = L.start_order[L.next_fresh];
    while (thread_stacks.size() <= index) thread_stacks.push_back(map_stack());
    return thread_stacks[index];
#endif
    if (!free_stacks.empty()) {
        Stack* s = free_stacks.back();
        free_stacks.pop_back();
        return s;
    }
    return map_stack();
}
static Stack* map_stack() {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = (stack_size() + page - 1) / page * page;
    char* p = (char*)mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fatal("cannot map a %zu KB stack for a GPU thread: %s", size >> 10, strerror(errno));
    mprotect(p, page, PROT_NONE);   // the guard page: a stack overflow faults instead of corrupting memory
    Stack* s = new Stack;
    s->low = p + page;
    s->size = size;
    // Stacks are page-aligned, so without an offset every thread's top frames would fall in
    // the same cache set and evict each other at every switch: stagger them by cache lines.
    static unsigned count = 0;
    s->color = (count++ % 61) * 64;
    return s;
}

// sets the built-in variables (and the sanitizers' idea of the running thread) for t
static inline void become(Launch& L, Thread* t) {
    L.current = t;
    thread_idx = t->idx;
#ifdef CUDACPU_TSAN
    __tsan_switch_to_fiber(tsan_fibers[t->index], TSAN_NO_SYNC);
#endif
}

// The scheduler's bookkeeping, also when a GPU thread does it (at a barrier, a collective, its
// exit), runs in the host thread's ThreadSanitizer context: its allocations would otherwise
// look like races between GPU threads. No-ops in other builds.
static void enter_runtime(Launch& L) {
#ifdef CUDACPU_TSAN
    __tsan_switch_to_fiber(L.host_fiber, TSAN_NO_SYNC);
#endif
    (void)L;
}
static void leave_runtime(Launch& L) {
#ifdef CUDACPU_TSAN
    __tsan_switch_to_fiber(tsan_fibers[L.current->index], TSAN_NO_SYNC);
#endif
    (void)L;
}

static void fiber_main(void* arg);

// Leaves the running stack for the next thing to run: the first suspended thread that may
// continue, else a fresh stack for the next thread to start, else the scheduler. Going
// straight from thread to thread halves the switches of a warp collective. `save` receives
// where this stack stopped; fake_stack_save is null when this stack's frames are dead, and
// then `release` (if any) is this stack, handed back to the pool once the next is chosen.
static void switch_away(Launch& L, Context& save, void** fake_stack_save, Stack* release = nullptr) {
    Context* to;
    const void* bottom;
    size_t size;
    if (!L.runq.empty()) {
        Thread* u = L.runq.front();
        L.runq.pop_front();
        u->state = RUNNING;
        become(L, u);
        to = &u->stack->context;
        bottom = u->stack->low;
        size = u->stack->size;
    } else if (L.next_fresh < L.start_order.size()) {
        Stack* s = take_stack(L);
        context_init(s->context, s->low + s->size - s->color, fiber_main, s);
        to = &s->context;
        bottom = s->low;
        size = s->size;
#ifdef CUDACPU_TSAN
        __tsan_switch_to_fiber(L.host_fiber, TSAN_NO_SYNC);   // fiber_main picks its thread's
#endif
    } else {
#ifdef CUDACPU_TSAN
        __tsan_switch_to_fiber(L.host_fiber, TSAN_NO_SYNC);
#endif
        to = &L.scheduler;
#ifdef CUDACPU_ASAN
        bottom = L.host_stack_bottom;
        size = L.host_stack_size;
#else
        bottom = nullptr;
        size = 0;
#endif
    }
    if (release) free_stacks.push_back(release);
#ifdef CUDACPU_ASAN
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
    (void)bottom; (void)size; (void)fake_stack_save;
#endif
    context_switch(save, *to);
}

// the running thread waits (at a barrier or a collective); returns when it may continue
static void suspend(Launch& L, Thread* t) {
#ifdef CUDACPU_ASAN
    switch_away(L, t->stack->context, &t->fake_stack);
    const void* from_bottom;
    size_t from_size;
    __sanitizer_finish_switch_fiber(t->fake_stack, &from_bottom, &from_size);
#else
    switch_away(L, t->stack->context, nullptr);
#endif
    enter_runtime(L);   // back in the runtime's bookkeeping until it returns to the kernel
}

static void thread_exit(Launch& L, Thread* t);

// the body of every stack: runs fresh threads one after another until one blocks (then this
// stack stays with it) or none is left to start, or a suspended thread may continue
static void fiber_main(void* arg) {
    Launch& L = *running;
    Stack* s = (Stack*)arg;
#ifdef CUDACPU_ASAN
    const void* from_bottom;
    size_t from_size;
    __sanitizer_finish_switch_fiber(nullptr, &from_bottom, &from_size);
#endif
    for (;;) {
        Thread* t = &L.threads[L.start_order[L.next_fresh++]];
        t->stack = s;
        t->state = RUNNING;
        t->started = true;
        become(L, t);
#ifdef CUDACPU_TSAN
        __tsan_acquire(&tsan_launch_sync);   // what the host did before the launch
#endif
        L.body(L.ctx);
#ifdef CUDACPU_TSAN
        __tsan_release(&tsan_block_sync);    // what this thread did, for the host after the launch
#endif
        enter_runtime(L);
        s = t->stack;   // unchanged: a thread keeps the stack it started on
        thread_exit(L, t);
        if (STACK_PER_THREAD || !L.runq.empty() || L.next_fresh == L.start_order.size()) break;
    }
    Context dead;
    switch_away(L, dead, nullptr, STACK_PER_THREAD ? nullptr : s);   // this stack is free once we are off it
    fatal("internal error: a finished fiber was resumed");
}

// the scheduler (on the host stack): resume or start threads until all have exited
static void run_block(Launch& L) {
    for (;;) {
        Stack* s;
        Thread* t = nullptr;
        if (!L.runq.empty()) {
            t = L.runq.front();
            L.runq.pop_front();
            t->state = RUNNING;
            s = t->stack;
            become(L, t);
        } else if (L.next_fresh < L.start_order.size()) {
            s = take_stack(L);
            context_init(s->context, s->low + s->size - s->color, fiber_main, s);
        } else if (L.exited == L.n) {
            break;
        } else {
            for (const Thread& u : L.threads) {   // a lane waiting for a lane of its warp that waits elsewhere
                if (u.state != AT_COLLECTIVE) continue;
                unsigned warp = u.index / 32;
                for (const Group& g : L.warps[warp].groups) {
                    if (!(g.arrived & (1u << (u.index % 32))) || g.arrived == g.mask) continue;
                    const Thread& x = L.threads[warp * 32 + first_lane(g.mask & ~g.arrived)];
                    launch_failure(&u, "waits at %s at %s (mask 0x%08x) for lane %u, which waits at %s at %s: the lanes of a "
                                   "warp collective must all reach the same call", collective_name(g.kind), g.site, g.mask,
                                   x.index % 32, x.state == AT_BARRIER ? "__syncthreads" :
                                   x.state == AT_COLLECTIVE ? collective_name(x.collective->kind) : "(nothing)", x.site);
                }
            }
            std::string waits;
            for (const Thread& u : L.threads)
                if (u.state == AT_BARRIER || u.state == AT_COLLECTIVE) {
                    waits += "\n  " + describe_thread(u) + " waits at " +
                             (u.state == AT_BARRIER ? std::string("__syncthreads") : collective_name(u.collective->kind)) +
                             " at " + u.site;
                    if (waits.size() > 2000) { waits += "\n  ..."; break; }
                }
            launch_failure(nullptr, "deadlock in block (%u,%u,%u): no thread can move on:%s", block_idx.x, block_idx.y,
                           block_idx.z, waits.c_str());
        }
#ifdef CUDACPU_ASAN
        __sanitizer_start_switch_fiber(&L.host_fake_stack, s->low, s->size);
#endif
        context_switch(L.scheduler, s->context);
#ifdef CUDACPU_ASAN
        const void* from_bottom;
        size_t from_size;
        __sanitizer_finish_switch_fiber(L.host_fake_stack, &from_bottom, &from_size);
#endif
        (void)t;
    }
}

// ---------------------------------------------------------------- barriers
static void release_barrier(Launch& L) {
    // in schedule order: the order threads start in is the order they leave a barrier in
    for (unsigned i : L.start_order) {
        Thread& u = L.threads[i];
        if (u.state == AT_BARRIER) {
            u.state = RUNNABLE;
            L.runq.push_back(&u);
            L.warps[u.index / 32].at_barrier &= ~(1u << (u.index % 32));
        }
    }
    L.barrier_count = 0;
    L.barrier_site = nullptr;
}

void syncthreads(const char* site) {
    Launch& L = *running;
    Thread* t = L.current;
#ifdef CUDACPU_TSAN
    __tsan_release(&tsan_barrier_sync);   // this thread's accesses so far, for every thread after the barrier
#endif
    enter_runtime(L);
    Warp& w = L.warps[t->index / 32];
    unsigned bit = 1u << (t->index % 32);
    for (const Group& g : w.groups)
        if (g.mask & bit)
            launch_failure(t, "reached __syncthreads at %s while lane %d of its warp waits for it at %s at %s (mask 0x%08x): "
                           "the warp diverged at a collective", site, first_lane(g.arrived), collective_name(g.kind), g.site, g.mask);
    if (L.barrier_count > 0 && !same_site(L.barrier_site, site)) {
        const Thread* other = nullptr;
        for (const Thread& u : L.threads) if (u.state == AT_BARRIER) { other = &u; break; }
        launch_failure(t, "reached __syncthreads at %s, but %s waits at a different __syncthreads, at %s: "
                       "the threads of a block must meet at the same barrier", site, describe_thread(*other).c_str(), L.barrier_site);
    }
    if (L.barrier_count == 0) L.barrier_site = site;
    L.barrier_count++;
    t->state = AT_BARRIER;
    t->site = site;
    w.at_barrier |= bit;
    if (L.barrier_count == L.n - L.exited) release_barrier(L);
    suspend(L, t);
    leave_runtime(L);
#ifdef CUDACPU_TSAN
    __tsan_acquire(&tsan_barrier_sync);   // every thread's accesses before the barrier happen before ours after it
#endif
}

// ---------------------------------------------------------------- warp collectives
// the lane a shuffle reads from, or -1 when it keeps its own value (outside its segment)
static int source_lane(const Collective& c, int lane) {
    int w = c.width, seg = lane & ~(w - 1);
    switch (c.kind) {
        case SHFL_IDX: return seg + (c.arg & (w - 1));
        case SHFL_UP: return lane - c.arg >= seg ? lane - c.arg : -1;
        case SHFL_DOWN: return lane + c.arg < seg + w ? lane + c.arg : -1;
        case SHFL_XOR: { int s = lane ^ c.arg; return s >= seg && s < seg + w ? s : -1; }
        default: return -1;
    }
}

// ---------------------------------------------------------------- WMMA (tensor-core) collectives
// what CUDA requires of every lane's arguments, checked as each lane arrives: a pointer
// aligned to 256 bits, ldm a multiple of 16 bytes (8 elements of 16 bits, 4 floats)
static void check_wmma_lane(const Thread* t, const Collective& c) {
    const char* name = collective_name(c.kind);
    if (c.kind == WMMA_MMA || c.kind == PTX_MMA || c.kind == PTX_LDMATRIX) return;
    if ((uintptr_t)c.ptr % 32 != 0)
        launch_failure(t, "%s at %s: the pointer %p is not 32-byte (256-bit) aligned, as WMMA requires (it is %zu bytes past "
                       "a multiple of 32)", name, c.site, c.ptr, (size_t)((uintptr_t)c.ptr % 32));
    int multiple = 16 / c.elem_size;
    if (c.ldm % multiple != 0)
        launch_failure(t, "%s at %s: ldm %u is not a multiple of %d elements (16 bytes of %d-byte elements), as WMMA requires",
                       name, c.site, c.ldm, multiple, c.elem_size);
}

// every lane of a warp must pass the same tile (pointer, ldm, layout) and fragment type
static void check_wmma_same(const Thread* t, const Collective& c, const Thread& first) {
    const Collective& f = *first.collective;
    bool same_type = (c.fragment == f.fragment) || (c.fragment && f.fragment && !strcmp(c.fragment, f.fragment));
    if (same_type && c.ptr == f.ptr && c.ldm == f.ldm && c.col_major == f.col_major) return;
    const char* name = collective_name(c.kind);
    if (c.kind == WMMA_MMA || c.kind == PTX_MMA || c.kind == PTX_LDMATRIX)
        launch_failure(t, "%s at %s with a %s fragment, while lane %u of its warp came with a %s fragment: every lane of the "
                       "warp must pass the same fragment types", name, c.site, c.fragment, first.index % 32, f.fragment);
    launch_failure(t, "%s at %s with %s %p, ldm %u, %s, while lane %u of its warp came with %s %p, ldm %u, %s: every lane of "
                   "the warp must pass the same pointer, ldm and layout", name, c.site, c.fragment, c.ptr, c.ldm,
                   c.col_major ? "col_major" : "row_major", first.index % 32, f.fragment, f.ptr, f.ldm,
                   f.col_major ? "col_major" : "row_major");
}

// whether [p, p + bytes) lies inside the launch's dynamic shared memory or one static
// __shared__ variable
static bool in_shared_memory(const Launch& L, const void* p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    auto inside = [&](const volatile void* base, size_t size) { return a >= (uintptr_t)base && a + bytes <= (uintptr_t)base + size; };
    if (L.dynamic_smem && inside(L.dynamic_smem, L.dynamic_smem_bytes)) return true;
    for (const SharedVariable& v : shared_variables)
        if (inside(v.p, v.bytes)) return true;
    return false;
}

// the tile (every element the warp loads or stores) must lie inside one device allocation,
// the launch's dynamic shared memory or one static __shared__ variable; checked once per warp
static void check_wmma_range(Launch& L, const Thread* t, const Collective& c) {
    size_t inner = c.col_major ? c.rows : c.cols, outer = c.col_major ? c.cols : c.rows;
    size_t bytes = ((outer - 1) * c.ldm + inner) * c.elem_size;
    uintptr_t a = (uintptr_t)c.ptr;
    if (in_shared_memory(L, c.ptr, bytes)) return;
    char why[256];
    if (find_device_range(c.ptr, bytes, why, sizeof why)) return;
    const char* where = "";
    if (L.dynamic_smem && a >= (uintptr_t)L.dynamic_smem && a < (uintptr_t)L.dynamic_smem + L.dynamic_smem_bytes)
        where = " (it starts in the dynamic shared memory and runs past its end)";
    for (const SharedVariable& v : shared_variables)
        if (a >= (uintptr_t)v.p && a < (uintptr_t)v.p + v.bytes) where = " (it starts in a __shared__ variable and runs past its end)";
    launch_failure(t, "%s at %s: the %dx%d tile of %s at %p (ldm %u, %s: %zu bytes) is not inside one device allocation, "
                   "the dynamic shared memory or one __shared__ variable%s; as device memory: %s", collective_name(c.kind),
                   c.site, c.rows, c.cols, c.fragment, c.ptr, c.ldm, c.col_major ? "col_major" : "row_major", bytes, where, why);
}

// all lanes of g have arrived: compute every lane's result and let them continue
static void complete(Launch& L, Warp& w, unsigned warp, const Group& g, Thread* self) {
    unsigned ballot = 0;
    int count = 0, lanes = __builtin_popcount(g.mask);
    for (unsigned bits = g.mask; bits; bits &= bits - 1) {
        const Collective& c = *L.threads[warp * 32 + first_lane(bits)].collective;
        if (c.predicate) { ballot |= 1u << first_lane(bits); count++; }
    }
    for (unsigned bits = g.mask; bits; bits &= bits - 1) {
        int lane = first_lane(bits);
        Thread& u = L.threads[warp * 32 + lane];
        Collective& c = *u.collective;
        switch (c.kind) {
            case BALLOT: c.result = ballot; break;
            case ANY: c.result = count > 0; break;
            case ALL: c.result = count == lanes; break;
            case SYNCWARP: break;
            case WMMA_LOAD: case WMMA_STORE: break;   // each lane moves its own elements when it goes on (wmma.h)
            case WMMA_MMA: case PTX_MMA: case PTX_LDMATRIX: {   // every lane's a and b fragments (or row address), side by side, for every lane to read
                if (bits == g.mask) {   // once, at the first lane (they all passed the same fragment types)
                    if (c.size > WMMA_GATHER_BYTES || c.size % 8) fatal("internal error: %zu bytes of fragments per lane", c.size);
                    for (unsigned from = g.mask; from; from &= from - 1) {
                        const volatile uint64_t* src = (const volatile uint64_t*)L.threads[warp * 32 + first_lane(from)].collective->in;
                        volatile uint64_t* dst = w.gathered + first_lane(from) * c.size / 8;
                        for (size_t k = 0; k < c.size / 8; k++) dst[k] = src[k];
                    }
                }
                c.out = w.gathered;   // read before the warp's next mma_sync, which no lane passes alone
                break;
            }
            default: {
                int src = source_lane(c, lane);
                if (src >= 0 && !(g.mask & (1u << src)))
                    launch_failure(&u, "%s at %s reads lane %d, which its mask 0x%08x does not name (the value is undefined on a GPU)",
                                   collective_name(c.kind), c.site, src, g.mask);
                const Collective& from = src >= 0 ? *L.threads[warp * 32 + src].collective : c;
                if (from.size != c.size) launch_failure(&u, "lanes shuffle values of different sizes at %s", c.site);
                if (c.size == 4) *(volatile uint32_t*)c.out = *(const volatile uint32_t*)from.in;
                else if (c.size == 8) *(volatile uint64_t*)c.out = *(const volatile uint64_t*)from.in;
                else {
                    const volatile unsigned char* a = (const volatile unsigned char*)from.in;
                    volatile unsigned char* b = (volatile unsigned char*)c.out;
                    for (size_t i = 0; i < c.size; i++) b[i] = a[i];
                }
            }
        }
    }
    // the other lanes continue right after this one: a warp moves on as a unit
    for (int lane = 31; lane >= 0; lane--) {
        Thread* u = (g.mask >> lane) & 1 ? &L.threads[warp * 32 + lane] : nullptr;
        if (u && u != self) { u->state = RUNNABLE; L.runq.push_front(u); }
    }
}

// __syncwarp orders the memory accesses of its lanes, as a barrier does a block's (ThreadSanitizer
// sees the lanes as synchronised: a lane may also see its warp's accesses from just after the
// __syncwarp, a race it then misses); the other collectives order nothing
static void syncwarp_release(const Collective& c, const Thread* t) {
#ifdef CUDACPU_TSAN
    if (c.kind == SYNCWARP) __tsan_release(&tsan_warp_sync[t->index / 32]);
#endif
    (void)c; (void)t;
}
static void syncwarp_acquire(const Collective& c, const Thread* t) {
#ifdef CUDACPU_TSAN
    if (c.kind == SYNCWARP) __tsan_acquire(&tsan_warp_sync[t->index / 32]);
#endif
    (void)c; (void)t;
}

void warp_collective(Collective& c) {
    Launch& L = *running;
    Thread* t = L.current;
    syncwarp_release(c, t);
    enter_runtime(L);
    unsigned warp = t->index / 32, lane = t->index % 32, bit = 1u << lane;
    Warp& w = L.warps[warp];
    const char* name = collective_name(c.kind);
    if (c.kind <= SHFL_XOR && (c.width < 1 || c.width > 32 || (c.width & (c.width - 1))))
        launch_failure(t, "%s at %s with width %d: the width must be a power of two from 1 to 32", name, c.site, c.width);
    if (!(c.mask & bit))
        launch_failure(t, "calls %s at %s with mask 0x%08x, which does not name the calling lane %u", name, c.site, c.mask, lane);
    if (c.mask & ~w.exists)
        launch_failure(t, "%s at %s: mask 0x%08x names lane %d of warp %u, which does not exist (the block has %u threads; "
                       "warp collectives need whole warps or a mask of the lanes that exist)",
                       name, c.site, c.mask, first_lane(c.mask & ~w.exists), warp, L.n);
    if (c.mask & w.exited)
        launch_failure(t, "%s at %s: mask 0x%08x names lane %d, which has already exited (a guard returned early for some "
                       "lanes of the warp?)", name, c.site, c.mask, first_lane(c.mask & w.exited));
    if (c.mask & w.at_barrier) {
        Thread& u = L.threads[warp * 32 + first_lane(c.mask & w.at_barrier)];
        launch_failure(t, "%s at %s: mask 0x%08x names lane %d, which waits at __syncthreads at %s: the warp diverged",
                       name, c.site, c.mask, (int)(u.index % 32), u.site);
    }
    // lanes may wait at different collectives at once (a warp split by a branch, each half
    // with its own mask); it is an error when two of them wait for each other
    Group* mine = nullptr;
    if (c.kind >= WMMA_LOAD) check_wmma_lane(t, c);
    for (Group& g : w.groups) {
        if (g.mask == c.mask && g.kind == c.kind && same_site(g.site, c.site)) { mine = &g; continue; }
        if ((g.arrived & c.mask) && (g.mask & bit))
            launch_failure(t, "reached %s at %s (mask 0x%08x) while lane %d of its warp waits for it at %s at %s (mask 0x%08x): "
                           "the lanes of a warp collective must all reach the same call", name, c.site, c.mask,
                           first_lane(g.arrived & c.mask), collective_name(g.kind), g.site, g.mask);
    }
    if (mine && c.kind >= WMMA_LOAD) check_wmma_same(t, c, L.threads[warp * 32 + first_lane(mine->arrived)]);
    t->collective = &c;
    t->site = c.site;
    if (!mine) {
        w.groups.push_back({c.site, c.kind, c.mask, 0});
        mine = &w.groups.back();
    }
    mine->arrived |= bit;
    if (mine->arrived == mine->mask) {
        if (c.kind == WMMA_LOAD || c.kind == WMMA_STORE) check_wmma_range(L, t, c);
        Group g = *mine;
        w.groups.erase(w.groups.begin() + (mine - w.groups.data()));
        complete(L, w, warp, g, t);
        leave_runtime(L);
        syncwarp_acquire(c, t);
        return;   // this lane goes on at once, the others right after it
    }
    t->state = AT_COLLECTIVE;
    suspend(L, t);
    leave_runtime(L);
    syncwarp_acquire(c, t);
}

static void thread_exit(Launch& L, Thread* t) {
    unsigned bit = 1u << (t->index % 32);
    Warp& w = L.warps[t->index / 32];
    for (const Group& g : w.groups)
        if (g.mask & bit)
            launch_failure(t, "exited while lane %d of its warp waits for it at %s at %s (mask 0x%08x): a guard returned "
                           "early, or the collective sits in code not every lane of the mask runs",
                           first_lane(g.arrived), collective_name(g.kind), g.site, g.mask);
    t->state = EXITED;
    w.exited |= bit;
    L.exited++;
    if (L.barrier_count > 0 && L.barrier_count == L.n - L.exited) release_barrier(L);
}

// ---------------------------------------------------------------- asynchronous copies (pipeline.h)
void async_copy(const char* site, void* dst, const void* src, size_t bytes, size_t zfill) {
    if (!running) fatal("__pipeline_memcpy_async at %s outside a kernel", site);
    Launch& L = *running;
    Thread* t = L.current;
    if (bytes != 4 && bytes != 8 && bytes != 16)
        launch_failure(t, "__pipeline_memcpy_async at %s copies %zu bytes: it takes 4, 8 or 16", site, bytes);
    if (zfill > bytes) launch_failure(t, "__pipeline_memcpy_async at %s: zfill %zu is more than its %zu bytes", site, zfill, bytes);
    if ((uintptr_t)dst % bytes || (uintptr_t)src % bytes)
        launch_failure(t, "__pipeline_memcpy_async at %s: %s %p is not aligned to the copy's %zu bytes", site,
                       (uintptr_t)dst % bytes ? "the destination" : "the source", (uintptr_t)dst % bytes ? dst : src, bytes);
    if (!in_shared_memory(L, dst, bytes))
        launch_failure(t, "__pipeline_memcpy_async at %s: the destination %p (%zu bytes) is not inside the dynamic shared "
                       "memory or one __shared__ variable: cp.async copies into shared memory only", site, dst, bytes);
    char why[256];
    if (zfill < bytes && !find_device_range(src, bytes - zfill, why, sizeof why))
        launch_failure(t, "__pipeline_memcpy_async at %s: the source %p (%zu bytes) is not inside one device allocation: %s",
                       site, src, bytes - zfill, why);
    // the destination is undefined until the copy lands: 0xFF (NaN) from now on, written as this
    // thread's write, so a thread still reading a buffer that another refills too soon sees NaN
    // (and ThreadSanitizer a race), as it may see half-landed bytes on a GPU
    memset(dst, 0xFF, bytes);
    t->copies.push_back({dst, src, bytes, zfill});
}

void async_commit() {
    Thread* t = running->current;
    t->groups.push_back(t->copies.size());
}

void async_wait_prior(size_t n) {
    Thread* t = running->current;
    if (t->groups.size() <= n) return;   // nothing older than the n newest groups
    size_t done = t->groups[t->groups.size() - 1 - n];   // copies [0, done) land now, in order
    for (size_t i = 0; i < done; i++) {
        const AsyncCopy& c = t->copies[i];
        memcpy(c.dst, c.src, c.bytes - c.zfill);
        memset((char*)c.dst + c.bytes - c.zfill, 0, c.zfill);
    }
    t->copies.erase(t->copies.begin(), t->copies.begin() + done);
    t->groups.erase(t->groups.begin(), t->groups.end() - n);
    for (size_t& end : t->groups) end -= done;
}

// ---------------------------------------------------------------- ldmatrix (mma_ptx.h)
// each lane's row of 8 16-bit elements: 16-byte aligned, inside the dynamic shared memory or
// one __shared__ variable (checked as the lane arrives, before the warp meets)
void ldmatrix_check(const char* site, const void* row) {
    if (!running) fatal("ldmatrix at %s outside a kernel", site);
    Launch& L = *running;
    if ((uintptr_t)row % 16)
        launch_failure(L.current, "ldmatrix.sync.m8n8.x4 at %s: the row address %p is not 16-byte aligned", site, row);
    if (!in_shared_memory(L, row, 16))
        launch_failure(L.current, "ldmatrix.sync.m8n8.x4 at %s: the row at %p (16 bytes) is not inside the dynamic shared "
                       "memory or one __shared__ variable: ldmatrix reads shared memory only", site, row);
}

// ---------------------------------------------------------------- launches
static uint64_t launch_counter = 0;

// a block's static and dynamic shared memory together past 48 KB needs the kernel's opt-in
// (cudaFuncSetAttribute, MaxDynamicSharedMemorySize) for at least its dynamic bytes. A kernel's
// static bytes are known once its __shared__ declarations have run: its first launch is
// checked again after its blocks ran (and a dry run, which runs none, sees only the dynamic)
static void check_opt_in(Launch& L, const LaunchConfig& cfg) {
    std::lock_guard<std::mutex> lock(attributes_mutex);
    std::string name = base_name(L.kernel);
    auto st = kernel_static_smem.find(name);
    size_t static_bytes = st == kernel_static_smem.end() ? 0 : st->second;
    if (static_bytes + cfg.smem <= 48 * 1024) return;
    auto it = max_dynamic_smem.find(name);
    if (it == max_dynamic_smem.end() || (unsigned long long)it->second < cfg.smem)
        launch_failure(nullptr, "%zu bytes of static plus %llu of dynamic shared memory: more than 48 KB needs "
                       "cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) first%s",
                       static_bytes, cfg.smem, it == max_dynamic_smem.end() ? "" : " (the attribute set is smaller)");
}

static void check_limits(Launch& L, const LaunchConfig& cfg, size_t static_smem) {
    const unsigned long long *g = cfg.grid, *b = cfg.block;
    unsigned long long threads = b[0] * b[1] * b[2];
    if (g[0] == 0 || g[1] == 0 || g[2] == 0)
        launch_failure(nullptr, "grid (%llu,%llu,%llu) has a zero dimension (an empty launch: guard it on the host)", g[0], g[1], g[2]);
    if (g[0] >= (1ull << 31) || g[1] >= 65536 || g[2] >= 65536)
        launch_failure(nullptr, "grid (%llu,%llu,%llu) exceeds CUDA's limits (x < 2^31, y and z < 65536)", g[0], g[1], g[2]);
    if (b[0] == 0 || b[1] == 0 || b[2] == 0 || b[0] > 1024 || b[1] > 1024 || b[2] > 64 || threads > 1024)
        launch_failure(nullptr, "block (%llu,%llu,%llu) is not a valid block: 1 to 1024 threads in all, x and y up to 1024, "
                       "z up to 64", b[0], b[1], b[2]);
    const unsigned long long hard_limit = 227 * 1024;
    if (cfg.smem > hard_limit)
        launch_failure(nullptr, "%llu bytes of dynamic shared memory: more than any block can have (227 KB)", cfg.smem);
    check_opt_in(L, cfg);
    if (static_smem + cfg.smem > hard_limit)
        launch_failure(nullptr, "%zu bytes of static plus %llu of dynamic shared memory exceed the 227 KB a block may have "
                       "(static shared memory is counted for the whole program here)", static_smem, cfg.smem);
}

void launch_blocks(const LaunchConfig& cfg, const char* kernel, const char* file, int line, void (*body)(void*), void* ctx) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    Launch L;
    L.kernel = kernel;
    L.file = file;
    L.line = line;
    L.body = body;
    L.ctx = ctx;
    Launch* outer = running;
    if (outer) fatal("kernel %s launched (at %s:%d) from inside kernel %s: dynamic parallelism is not supported", kernel, file, line, outer->kernel);
    running = &L;
    check_limits(L, cfg, shared_bytes);
    uint64_t launch_number = launch_counter++;
    if (dry_run()) { running = nullptr; return; }

    block_dim = dim3((unsigned)cfg.block[0], (unsigned)cfg.block[1], (unsigned)cfg.block[2]);
    grid_dim = dim3((unsigned)cfg.grid[0], (unsigned)cfg.grid[1], (unsigned)cfg.grid[2]);
    L.n = block_dim.x * block_dim.y * block_dim.z;
    L.threads.resize(L.n);
    L.warps.resize((L.n + 31) / 32);
    if (!gathered_pool) gathered_pool = new uint64_t[32 * 32 * WMMA_GATHER_BYTES / 8]();   // 32 warps, 32 lanes
    for (unsigned w = 0; w < L.warps.size(); w++) L.warps[w].gathered = gathered_pool + w * 32 * WMMA_GATHER_BYTES / 8;
    for (unsigned i = 0; i < L.n; i++) {
        L.threads[i].index = i;
        L.threads[i].idx = make_uint3(i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y));
        L.warps[i / 32].exists |= 1u << (i % 32);
    }
    for (unsigned wi = 0; wi < L.warps.size(); wi++) {   // the schedule: warps first to last, or last to first
        unsigned w = schedule == REVERSE ? (unsigned)L.warps.size() - 1 - wi : wi;
        for (unsigned i = w * 32; i < std::min(L.n, w * 32 + 32); i++) L.start_order.push_back(i);
    }
    // 128-byte aligned: at least what a GPU gives (WMMA needs 32 bytes, 16-byte loads 16)
    if (cfg.smem > 0 && posix_memalign(&L.dynamic_smem, 128, cfg.smem) != 0)
        fatal("kernel %s: cannot allocate %llu bytes of dynamic shared memory", kernel, cfg.smem);
    L.dynamic_smem_bytes = cfg.smem;
#ifdef CUDACPU_ASAN
    {   // the host thread's stack, for AddressSanitizer when a fiber switches back to it
        pthread_attr_t attr;
        void* addr = nullptr;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &addr, &size);
            pthread_attr_destroy(&attr);
        }
        L.host_stack_bottom = addr;
        L.host_stack_size = size;
    }
#endif
#ifdef CUDACPU_TSAN
    L.host_fiber = __tsan_get_current_fiber();
    while (tsan_fibers.size() < L.n) tsan_fibers.push_back(__tsan_create_fiber(0));
#endif

    // the blocks, in order or in a seeded random order (a bijection of the block numbers)
    unsigned long long total = cfg.grid[0] * cfg.grid[1] * cfg.grid[2];
    unsigned long long mult = 1, offset = 0;
    if (shuffle_blocks && total > 1) {
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + launch_number);
        offset = rng() % total;
        do mult = rng() % total | 1; while (std::gcd(mult, total) != 1);
    }
    for (unsigned long long k = 0; k < total; k++) {
        unsigned long long b = shuffle_blocks ? (unsigned long long)(((unsigned __int128)k * mult + offset) % total) : k;
        block_idx = make_uint3((unsigned)(b % cfg.grid[0]), (unsigned)(b / cfg.grid[0] % cfg.grid[1]),
                               (unsigned)(b / (cfg.grid[0] * cfg.grid[1])));
        // fresh threads and shared memory full of 0xFF (NaN) for every block
        for (Thread& t : L.threads) {
            t.state = FRESH;
            t.started = false;
            t.collective = nullptr;
            t.copies.clear();   // copies a thread never waited for land with no one to read them
            t.groups.clear();
        }
        for (Warp& w : L.warps) { w.exited = w.at_barrier = 0; w.groups.clear(); }
        L.next_fresh = 0;
        L.exited = 0;
        for (const SharedVariable& v : shared_variables) fill_ff(v.p, v.bytes);
        if (cfg.smem) memset(L.dynamic_smem, 0xFF, cfg.smem);
#ifdef CUDACPU_TSAN
        __tsan_release(&tsan_launch_sync);
#endif
        run_block(L);
#ifdef CUDACPU_TSAN
        __tsan_acquire(&tsan_block_sync);
#endif
    }
    check_opt_in(L, cfg);   // now with the static shared memory its first blocks declared
    free(L.dynamic_smem);
    running = nullptr;
}

}  // namespace cudacpu
