// tutorial/check.h: what the two harnesses share to run a check on an exercise.
//
// An exercise function is declared weak in a harness: the check program of chapter NN links
// only that chapter's exercise file, so the others are null there (and a missing or misnamed
// function is reported, not a link error). Planted wrong versions live beside the solutions
// in tutorial/solutions/ (namespace planted), never in the harness, so that the harness
// holds checks only and hands over no answer.
#pragma once
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#define WEAK __attribute__((weak))

// the heap bytes in use above a mark, counted by tutorial/check_main.cpp (weak: absent when a
// harness is built some other way, then bounds on memory are not checked)
extern "C" WEAK size_t tutorial_heap_mark();
extern "C" WEAK size_t tutorial_heap_peak();

// what the checks said about the likely mistake: printed, and kept so that a self-test can
// ask whether the planted mistake got its hint
static std::string g_hints;
__attribute__((format(printf, 1, 2))) static void hint(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("  hint: %s\n", buf);
    g_hints += buf;
    g_hints += "\n";
}

// a deliberately wrong version and the hint (a substring) its failure must print
template <class Fn> struct Planted {
    Fn fn;
    const char* what;
    const char* hint;
};

template <class Fn> static bool missing(Fn f) { return f == nullptr; }

// runs check on the exercise; with --self-test (the program linked with the solutions), the
// solution must pass and each planted version must fail and get its hint
template <class Fn>
static int run_check(bool self_test, const char* name, Fn exercise_fn, const std::vector<Planted<Fn>>& planted,
                     const std::function<bool(Fn)>& check) {
    if (missing(exercise_fn)) {
        printf("this program has no exercise::%s: is it defined, with the signature of the stub, in namespace exercise?\n",
               name);
        return 1;
    }
    if (!self_test) {
        bool ok = check(exercise_fn);
        printf("%s\n", ok ? "your implementation passes" : "your implementation does not pass yet (see above)");
        return ok ? 0 : 1;
    }
    bool all = true;
    printf("-- self-test: the solution (tutorial/solutions/) must pass\n");
    if (!check(exercise_fn)) { printf("the checker rejects the solution\n"); all = false; }
    for (const Planted<Fn>& p : planted) {
        printf("-- self-test: a planted mistake (%s) must fail\n", p.what);
        if (missing(p.fn)) { printf("the planted version is not linked in\n"); all = false; continue; }
        g_hints.clear();
        if (check(p.fn)) { printf("the checker accepts it: the checker is blind to this mistake\n"); all = false; }
        else if (p.hint && *p.hint && g_hints.find(p.hint) == std::string::npos) {
            printf("it failed, but without the hint \"%s\"\n", p.hint);
            all = false;
        }
    }
    printf("self-test: %s\n", all ? "the solution passes and every planted mistake fails with its hint" : "BROKEN");
    return all ? 0 : 1;
}
