#!/usr/bin/env bash
# tutorial/02-batches/check.sh: your micro-batch start offsets against the DataLoader's.
# Checks tutorial/exercises/02_batch_start.cpp; with TUTORIAL_SELF_TEST=1 (make test) it checks the checker
# instead: the solution must pass and each planted mistake must fail.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
check_exercise chapter02 tutorial/exercises/02_batch_start.cpp
