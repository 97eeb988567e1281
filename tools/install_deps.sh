#!/usr/bin/env bash
# tools/install_deps.sh: installs what this project needs on Debian/Ubuntu, and nothing
# when it is all there already (so `make` can call it every time at no cost).
#
#   bash tools/install_deps.sh build   compiler, headers, curl: enough for `make` and `make train`
#   bash tools/install_deps.sh test    also PyTorch (with OpenBLAS), tiktoken, transformers, OpenMPI, clang: `make test`;
#                                      and what `cudnn` fetches
#   bash tools/install_deps.sh cudnn   only the headers of cuDNN's C++ frontend (PyPI nvidia-cudnn-frontend,
#                                      header-only) into .deps/cudnn-frontend/include, for train_gpt_cudnn;
#                                      cuDNN itself comes with the CUDA install or Python's nvidia-cudnn
#
# Uses apt-get (as root, or through sudo) and pip for tiktoken and transformers. Set NO_INSTALL=1 to only
# report what is missing.
set -euo pipefail
what=${1:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
case "$what" in build|test|cudnn) ;; *) echo "error: unknown argument '$what': build, test or cudnn" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

# cuDNN's frontend headers, from the wheel (a zip) without installing it; nothing where they are
# already there, a note (not an error) where PyPI cannot be reached: train_gpt_cudnn is optional
fetch_cudnn_frontend() {
    local dest=.deps/cudnn-frontend/include
    [ -f "$dest/cudnn_frontend.h" ] && return 0
    [ "${NO_INSTALL:-0}" = 1 ] && { echo "[deps] cuDNN frontend headers missing (NO_INSTALL=1)"; return 0; }
    local tmp; tmp=$(mktemp -d)
    if "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" nvidia-cudnn-frontend >/dev/null 2>&1 &&
       (cd "$tmp" && "$PYTHON" -m zipfile -e nvidia_cudnn_frontend-*.whl unpacked) &&
       [ -f "$tmp/unpacked/include/cudnn_frontend.h" ]; then
        mkdir -p "$(dirname "$dest")" && rm -rf "$dest" && cp -r "$tmp/unpacked/include" "$dest"
        echo "[deps] cuDNN frontend headers: $dest"
    else
        echo "[deps] could not fetch nvidia-cudnn-frontend from PyPI: train_gpt_cudnn will not be built"
    fi
    rm -rf "$tmp"
}
if [ "$what" = cudnn ]; then fetch_cudnn_frontend; exit 0; fi
# `test` fetches them last, once pip is surely there
[ "$what" = test ] && trap 'fetch_cudnn_frontend' EXIT

packages=(g++ make curl nlohmann-json3-dev doctest-dev libomp-dev)
if [ "$what" = test ]; then
    # python3-torch: the reference the tests compare against; libopenblas0 gives it a real BLAS
    packages+=(python3 python3-torch python3-numpy libopenblas0 python3-matplotlib python3-pip
               openmpi-bin libopenmpi-dev clang)
fi

if ! command -v dpkg-query >/dev/null; then
    echo "[deps] not a Debian-like system: install by hand: ${packages[*]} (and tiktoken from pip for the tests)"
    exit 0
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# from PyPI: tiktoken (the tests' oracle for token ids) and transformers (the tests load our
# checkpoints with Hugging Face's own GPT-2); 4.40 is the last line that runs on Debian's torch 1.13
pip_packages=()
if [ "$what" = test ]; then
    "$PYTHON" -c "import tiktoken" 2>/dev/null || pip_packages+=(tiktoken)
    "$PYTHON" -c "import transformers" 2>/dev/null || pip_packages+=("transformers==4.40.2")
fi
need_pip=$([ ${#pip_packages[@]} -gt 0 ] && echo 1 || echo 0)
[ ${#missing[@]} -eq 0 ] && [ $need_pip -eq 0 ] && exit 0

echo "[deps] missing: ${missing[*]} ${pip_packages[*]}"
if [ "${NO_INSTALL:-0}" = 1 ]; then echo "[deps] NO_INSTALL=1: install them yourself"; exit 1; fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_pip = 1 ]; then
    # Debian's python is "externally managed": these two are for the tests only
    $sudo "$PYTHON" -m pip install -q --break-system-packages "${pip_packages[@]}" 2>/dev/null ||
        $sudo "$PYTHON" -m pip install -q "${pip_packages[@]}"
fi
echo "[deps] done"
