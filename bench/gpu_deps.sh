#!/usr/bin/env bash
# gpu_deps.sh: gathers into .deps/ (ignored by git) what a bare, offline GPU machine may lack,
# so that bench/gpu_session.sh can build and compare there. Run it where the project's
# dependencies are installed (`bash tools/install_deps.sh test`) and the network reaches PyPI:
#
#   bash bench/gpu_deps.sh [--llmc DIR] [--prebuild [--baseline REV]]
#
#   .deps/include/nlohmann, .deps/include/doctest    the two header-only libraries the build uses
#   .deps/cudnn-frontend/include                      cuDNN's C++ frontend (PyPI nvidia-cudnn-frontend),
#                                                     for train_gpt_cudnn and llm.c's cuDNN attention
#   .deps/llm.c                                       llm.c's sources, from a clone of it (DIR), so the
#                                                     benchmark measures it in the same run as ours
#   .deps/bin (--prebuild)                            the GPU binaries, built here with nvcc (no GPU
#                                                     needed): train_gpt, train_gpt_fp32, build/test_gpu,
#                                                     build/test_gpu_fp32, train_gpt_cudnn and
#                                                     build/test_gpu_cudnn where cuDNN is installed, and
#                                                     llm.c's train_gpt2cu (bench/build_llmc.sh); with
#                                                     SOURCES, the checksums of what they were built from
#   .deps/bin/baseline (--baseline REV)               ./train_gpt as of the git revision REV (a commit,
#                                                     a tag), and NOTE naming it: the benchmark runs it
#                                                     beside the current build, so that one GPU run
#                                                     measures what the commits since REV are worth
# About 8 MB in all, 40 MB with --prebuild. NCCL and cuDNN libraries are not copied: the GPU
# image has them in Python's nvidia-nccl and nvidia-cudnn packages, where gpu_session.sh looks.
# --prebuild saves a GPU session the minutes nvcc takes (the cuDNN builds alone take several):
# gpu_session.sh uses the binaries where every source still matches its checksum, and builds
# there otherwise. They need the GPU machine's CUDA to be this machine's major version (13).
set -euo pipefail
cd "$(dirname "$0")/.."
LLMC="" PREBUILD=0 BASELINE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --llmc) LLMC=${2:?--llmc needs the folder of a llm.c clone}; shift 2 ;;
    --prebuild) PREBUILD=1; shift ;;
    --baseline) BASELINE=${2:?--baseline needs a git revision}; shift 2 ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$BASELINE" ]; then
  [ "$PREBUILD" = 1 ] || { echo "error: --baseline builds with --prebuild" >&2; exit 2; }
  git rev-parse --verify --quiet "$BASELINE^{commit}" > /dev/null || { echo "error: --baseline $BASELINE: not a commit of this repository" >&2; exit 2; }
fi
mkdir -p .deps/include
for h in nlohmann doctest; do
  [ -d /usr/include/$h ] || { echo "error: /usr/include/$h not found: run 'bash tools/install_deps.sh test' first" >&2; exit 1; }
  rm -rf ".deps/include/$h"; cp -r "/usr/include/$h" .deps/include/
done
echo "headers: .deps/include/{nlohmann,doctest}"

bash tools/install_deps.sh cudnn   # .deps/cudnn-frontend/include, for train_gpt_cudnn and llm.c

if [ -n "$LLMC" ]; then
  [ -f "$LLMC/train_gpt2.cu" ] || { echo "error: $LLMC has no train_gpt2.cu: not a llm.c clone" >&2; exit 1; }
  rm -rf .deps/llm.c; mkdir -p .deps/llm.c
  # the trainer, its headers and Makefile only: no data, no dev/ experiments beyond what the Makefile includes
  (cd "$LLMC" && tar cf - Makefile train_gpt2.cu llmc dev/unistd.h 2>/dev/null) | tar xf - -C .deps/llm.c
  echo "llm.c: .deps/llm.c ($(du -sh .deps/llm.c | cut -f1))"
fi

if [ "$PREBUILD" = 1 ]; then
  command -v nvcc > /dev/null || { echo "error: --prebuild needs nvcc (the CUDA toolkit)" >&2; exit 1; }
  rm -rf .deps/bin && mkdir -p .deps/bin/build
  targets="train_gpt train_gpt_fp32 build/test_gpu build/test_gpu_fp32"
  if make -pn 2>/dev/null | grep '^CUDNN_FOUND := yes' > /dev/null; then   # the Makefile found cuDNN and its frontend (not grep -q: under pipefail its early exit would fail make's side)
    targets="$targets train_gpt_cudnn build/test_gpu_cudnn"
  fi
  echo "building $targets (nvcc; the cuDNN ones take minutes)"
  make -j"$(nproc)" $targets > .deps/bin/build.log 2>&1 || { tail -20 .deps/bin/build.log; echo "error: the build failed (.deps/bin/build.log)" >&2; exit 1; }
  for t in $targets; do cp "$t" ".deps/bin/$t"; done
  if [ -d .deps/llm.c ]; then
    bash bench/build_llmc.sh .deps/llm.c .deps/bin/llmc | tail -1 || echo "(the GPU session builds llm.c itself)"
    # only what running it needs: the binary and its note
    find .deps/bin/llmc -mindepth 1 -maxdepth 1 ! -name train_gpt2cu ! -name NOTE -exec rm -rf {} +
  fi
  if [ -n "$BASELINE" ]; then   # train_gpt as of BASELINE, built from that commit's files in a folder of its own
    old=$(mktemp -d)
    git archive "$BASELINE" | tar xf - -C "$old"
    echo "building train_gpt as of $(git log -1 --format='%h %s' "$BASELINE" | cut -c1-80)"
    make -C "$old" -j"$(nproc)" train_gpt > .deps/bin/baseline.log 2>&1 || {
      tail -20 .deps/bin/baseline.log; echo "error: the baseline's build failed (.deps/bin/baseline.log)" >&2; exit 1; }
    mkdir -p .deps/bin/baseline
    cp "$old/train_gpt" .deps/bin/baseline/train_gpt
    git log -1 --format='commit %h, %cs: %s' "$BASELINE" | cut -c1-120 > .deps/bin/baseline/NOTE
    rm -rf "$old" .deps/bin/baseline.log
  fi
  # what the binaries were built from: gpu_session.sh checks these before it uses them
  sha256sum Makefile *.cu *.cpp *.h tests/*.cu tests/*.h $(find .deps/llm.c -type f 2>/dev/null | sort) > .deps/bin/SOURCES
  rm -f .deps/bin/build.log
  ls -la .deps/bin .deps/bin/build
fi
du -sh .deps
