// tests/doctest_main.cpp: doctest's implementation and main(), for every test binary.
// The Makefile compiles this once per build flavour and links it into each test, which only
// includes <doctest/doctest.h>: the implementation costs about 7 s of -O3 compile time, once
// instead of once per test binary. (tests/test_cudacpu_libs.cpp has a main of its own.)
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
