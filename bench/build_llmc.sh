#!/usr/bin/env bash
# build_llmc.sh: builds llm.c's GPU trainer (train_gpt2cu) from its sources, for the benchmark
# that measures it beside ours (bench/bench_gpu.sh) or ahead of a GPU session (bench/gpu_deps.sh
# --prebuild, on a machine with nvcc but no GPU):
#
#   bash bench/build_llmc.sh SRC DIR
#
# SRC is a folder of llm.c's sources (Makefile, train_gpt2.cu, llmc/), as bench/gpu_deps.sh
# --llmc copies them into .deps/llm.c. They are copied into DIR (created, emptied) and built
# there with cuDNN's attention where its frontend headers came along (.deps/cudnn-frontend), as
# llm.c's own GPT-2 runs are, else with llm.c's own attention kernels. DIR/train_gpt2cu is the
# trainer; the last line printed, also in DIR/NOTE, says which build it is, or why none was made
# (then the exit status is 1). The build's log is DIR/build.log.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=${1:?usage: build_llmc.sh SRC DIR} DIR=${2:?usage: build_llmc.sh SRC DIR}
[ -f "$SRC/train_gpt2.cu" ] || { echo "error: $SRC has no train_gpt2.cu: not llm.c's sources" >&2; exit 2; }
rm -rf "$DIR" && mkdir -p "$DIR" && cp -r "$SRC"/. "$DIR"/ || { echo "error: cannot copy $SRC into $DIR" >&2; exit 1; }
# CUDA 13 changed cudaMemAdvise's last argument from a device number to a cudaMemLocation:
# the one line of llm.c that calls it is adapted in the copy (the same advice: prefer the host)
if [ "$(nvcc --version | sed -nE 's/.*release ([0-9]+)\..*/\1/p')" -ge 13 ]; then
  sed -i 's/cudaMemAdviseSetPreferredLocation, cudaCpuDeviceId)/cudaMemAdviseSetPreferredLocation, cudaMemLocation{cudaMemLocationTypeHost, 0})/' \
    "$DIR/llmc/cuda_utils.cuh"
fi
NOTE="llm.c train_gpt2cu"
ARGS="NO_MULTI_GPU=1 NO_USE_MPI=1"
if ! nvidia-smi > /dev/null 2>&1; then
  # building ahead, on a machine without a GPU: llm.c's Makefile asks nvidia-smi for the
  # compute capability, so it is named (sm_90: the H100 and H200); and it links NVML
  # (-lnvidia-ml), which comes with the driver: an empty library of that name stands in, and
  # the binary loads the driver's at run time (without nvml.h llm.c makes no NVML calls)
  ARGS="$ARGS GPU_COMPUTE_CAPABILITY=${GPU_COMPUTE_CAPABILITY:-90}"
  if ! printf 'int main() { return 0; }\n' | gcc -x c - -lnvidia-ml -o /dev/null 2> /dev/null; then
    mkdir -p "$DIR/nvml_stub"
    printf '' | gcc -shared -fPIC -x c - -Wl,-soname,libnvidia-ml.so.1 -o "$DIR/nvml_stub/libnvidia-ml.so"
    export LIBRARY_PATH="${LIBRARY_PATH:+$LIBRARY_PATH:}$(cd "$DIR/nvml_stub" && pwd)"
  fi
fi
# llm.c's Makefile looks for the cuDNN frontend in ./cudnn-frontend/include; recent frontends
# (1.32, brought along) also call NVRTC, which its Makefile does not link (NVCC_LDLIBS is otherwise empty here)
[ -d .deps/cudnn-frontend/include ] && cp -r .deps/cudnn-frontend "$DIR/cudnn-frontend"
if [ -d "$DIR/cudnn-frontend" ] && make -C "$DIR" train_gpt2cu USE_CUDNN=1 $ARGS NVCC_LDLIBS=-lnvrtc > "$DIR/build.log" 2>&1; then
  NOTE="$NOTE with cuDNN attention"
elif make -C "$DIR" train_gpt2cu $ARGS >> "$DIR/build.log" 2>&1; then
  NOTE="$NOTE without cuDNN (its own attention kernels)"
else
  NOTE="llm.c failed to build: $(grep -m1 -i error "$DIR/build.log")"
fi
echo "$NOTE" | tee "$DIR/NOTE"
[ -x "$DIR/train_gpt2cu" ]
