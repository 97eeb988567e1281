#!/usr/bin/env bash
# gpu_deps.sh: gathers into .deps/ (ignored by git) what a bare, offline GPU machine may lack,
# so that bench/gpu_session.sh can build and compare there. Run it where the project's
# dependencies are installed (`bash tools/install_deps.sh test`) and the network reaches PyPI:
#
#   bash bench/gpu_deps.sh [--llmc DIR]
#
#   .deps/include/nlohmann, .deps/include/doctest    the two header-only libraries the build uses
#   .deps/cudnn-frontend/include                      cuDNN's C++ frontend (PyPI nvidia-cudnn-frontend),
#                                                     for train_gpt_cudnn and llm.c's cuDNN attention
#   .deps/llm.c                                       llm.c's sources, from a clone of it (DIR), so the
#                                                     benchmark measures it in the same run as ours
# About 8 MB in all. NCCL and cuDNN libraries are not copied: the GPU image has them in Python's
# nvidia-nccl and nvidia-cudnn packages, where gpu_session.sh looks.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMC=""
while [ $# -gt 0 ]; do
  case "$1" in
    --llmc) LLMC=${2:?--llmc needs the folder of a llm.c clone}; shift 2 ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
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
du -sh .deps
