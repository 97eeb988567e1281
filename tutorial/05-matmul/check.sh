#!/usr/bin/env bash
# tutorial/05-matmul/check.sh: your linear-layer backward against matmul_backward; prints gemm's GFLOP/s.
# Checks tutorial/exercises/05_matmul.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter05 tutorial/exercises/05_matmul.cpp
