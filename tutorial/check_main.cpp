// tutorial/check_main.cpp: the entry point of every chapter's check program.
//
// What it is: main() and a count of the heap memory in use. A chapter's check program is
// linked from three parts (tutorial/common.sh builds them), so that an exercise can reach
// its own code and the standard library and nothing else:
//   1. this file;
//   2. one exercise file, compiled on its own (a half-written chapter-14 file does not stop
//      chapter 11's check from building);
//   3. the chapter's harness (tutorial/harness_basics.cpp or harness_training.cpp, which
//      include the trainer) as a shared library that exports harness_main and only what
//      the exercise may call (for chapter 8: the five layers the block is built from).
//      The trainer's own attention_forward, gpt_update, ... are hidden inside it: an
//      exercise that declares one and calls it fails to link.
// What it is not: part of the trainer, or a test framework.
//
// The heap count lets a check bound an exercise's scratch memory: chapter 15's tiled
// attention must not allocate a row (or a matrix) of T scores. Every operator new of the
// program goes through the counter below; sizes are stored in a 16-byte header.
#include <atomic>
#include <cstdlib>
#include <new>

static std::atomic<size_t> heap_in_use{0}, heap_peak{0};

static void* counted_alloc(size_t n) {
    char* p = (char*)std::malloc(n + 16);
    if (!p) throw std::bad_alloc();
    *(size_t*)p = n;
    size_t now = heap_in_use += n, peak = heap_peak.load();
    while (now > peak && !heap_peak.compare_exchange_weak(peak, now)) {}
    return p + 16;
}
static void counted_free(void* q) {
    if (!q) return;
    char* p = (char*)q - 16;
    heap_in_use -= *(size_t*)p;
    std::free(p);
}

void* operator new(size_t n) { return counted_alloc(n); }
void* operator new[](size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }

// called by the harness around an exercise call: the peak of heap bytes above the start
extern "C" size_t tutorial_heap_mark() { heap_peak = heap_in_use.load(); return heap_in_use.load(); }
extern "C" size_t tutorial_heap_peak() { return heap_peak.load(); }

extern "C" int harness_main(int argc, char** argv);   // in the chapter's harness library

int main(int argc, char** argv) { return harness_main(argc, argv); }
