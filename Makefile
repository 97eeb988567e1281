# Makefile: builds what this machine can build, and says what it skipped.
#
#   make              the CPU trainer, the tokenizer tool, the data preparer, the tests,
#                     and the GPU trainer where nvcc is found
#   make test         every test binary and tutorial check; last line "N passed, N failed, N skipped"
#   make train        the newcomer's path: prepare tinyshakespeare, train a small model, sample
#   make hint CH=NN   one more hint for tutorial chapter NN's exercise (opt-in, for the stuck)
#   make clean
#
# Offline machines set DATA_MIRROR to a folder holding tinyshakespeare/input.txt and
# gpt2/{encoder.json,vocab.bpe}; the data scripts copy from it instead of downloading.

CXX      ?= g++
PYTHON   ?= /usr/bin/python3
CXXFLAGS ?= -std=c++17 -O3 -march=native -Wall -Wextra -Wno-unused-parameter
CXXFLAGS += -I.
BUILD    := build
HEADERS  := $(wildcard *.h)
NPROC    := $(shell nproc 2>/dev/null || echo 2)
DATA     := data
export DATA_MIRROR

# ---------------------------------------------------------------- what this machine has
ifeq ($(wildcard /usr/include/nlohmann/json.hpp /usr/include/doctest/doctest.h),)
  $(info [make] nlohmann-json3-dev or doctest-dev not found: run `bash tools/install_deps.sh` (make train and make test do it for you))
endif
OPENMP_OK := $(shell echo 'int main(){}' | $(CXX) -fopenmp -x c++ - -o /dev/null 2>/dev/null && echo yes)
ifeq ($(OPENMP_OK),yes)
  OMPFLAGS := -fopenmp
  $(info [make] OpenMP: found, hot loops run on all cores)
else
  $(info [make] OpenMP: not found (install libomp-dev or use g++), building single-threaded)
endif

MPICXX := $(shell command -v mpicxx 2>/dev/null)
ifneq ($(MPICXX),)
  $(info [make] MPI: found ($(MPICXX)), building train_gpt_cpu_mpi for mpirun)
  MPI_TARGETS := train_gpt_cpu_mpi
else
  $(info [make] MPI: not found (apt-get install libopenmpi-dev), skipping train_gpt_cpu_mpi)
endif

# >>> GPU section (train_gpt.cu, tests/test_gpu.cu): detection
# PRECISION=FP32 makes `train_gpt` itself the all-fp32 build; `train_gpt_fp32` is always built too.
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifneq ($(NVCC),)
  ifneq ($(wildcard train_gpt.cu),)
    # the local GPU's architecture where nvidia-smi answers, else H100 (sm_90) plus PTX for newer GPUs
    GPU_CC := $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
    ifneq ($(GPU_CC),)
      GPU_ARCH ?= -gencode arch=compute_$(GPU_CC),code=[sm_$(GPU_CC),compute_$(GPU_CC)]
    else
      GPU_ARCH ?= -gencode arch=compute_90,code=[sm_90,compute_90]
    endif
    NVCCFLAGS ?= -std=c++17 -O3 -lineinfo $(GPU_ARCH) -Xcompiler -fopenmp,-Wall,-Wextra,-Wno-unused-parameter -I.
    GPU_LIBS := -lcublas -lcublasLt -lnccl
    CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
    ifneq ($(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h),)
      $(info [make] NCCL: found, the GPU trainer can run data-parallel over several GPUs)
    else
      $(info [make] NCCL: nccl.h not found (install libnccl-dev); the GPU build will fail to compile)
    endif
    ifeq ($(PRECISION),FP32)
      GPU_PRECISION := -DENABLE_FP32
    endif
    GPU_TARGETS := train_gpt train_gpt_fp32
    # their tests (every case needs a GPU) where one answers; elsewhere on request, as
    # bench/gpu_session.sh builds them (their code runs here too, in the CPU execution mode)
    ifneq ($(GPU_CC),)
      GPU_TESTS := $(BUILD)/test_gpu $(BUILD)/test_gpu_fp32
      $(info [make] nvcc: found ($(NVCC)), building train_gpt (bf16), train_gpt_fp32 and their tests for $(GPU_ARCH))
    else
      $(info [make] nvcc: found ($(NVCC)), building train_gpt (bf16) and train_gpt_fp32 for $(GPU_ARCH); no GPU answers nvidia-smi, so build/test_gpu and build/test_gpu_fp32 are built only on request)
    endif
    GPU_TARGETS += $(GPU_TESTS)
    # train_gpt_cudnn: attention by cuDNN's fused kernels (attention_cudnn.cpp), where cuDNN's
    # headers and its C++ frontend's are found (the frontend: `bash tools/install_deps.sh cudnn`)
    CUDNN_FRONTEND ?= $(patsubst %/cudnn_frontend.h,%,$(firstword $(wildcard .deps/cudnn-frontend/include/cudnn_frontend.h \
      /usr/local/include/cudnn_frontend.h /usr/include/cudnn_frontend.h)))
    CUDNN_LIB := $(wildcard $(CUDA_HOME)/lib64/libcudnn.so $(CUDA_HOME)/lib/libcudnn.so /usr/lib/*/libcudnn.so)
    ifneq ($(and $(CUDNN_FRONTEND),$(CUDNN_LIB),$(wildcard $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h)),)
      GPU_TARGETS += train_gpt_cudnn
      CUDNN_FOUND := yes
      $(info [make] cuDNN and its frontend: found ($(CUDNN_FRONTEND)), building train_gpt_cudnn (cuDNN's attention))
    else
      $(info [make] cuDNN (cudnn.h, libcudnn.so) or its frontend's headers not found, skipping train_gpt_cudnn (the frontend: bash tools/install_deps.sh cudnn))
    endif
  endif
else
  $(info [make] nvcc: not found, skipping the GPU trainer train_gpt)
endif
# <<< GPU section: detection

# >>> CPU execution mode for CUDA (tools/cudacpu): detection
# g++ compiles the .cu files as host C++ against the CUDA headers (no GPU, no CUDA libraries)
CUDACPU_INC ?= $(patsubst %/cuda_runtime.h,%,$(firstword $(wildcard /usr/local/cuda/include/cuda_runtime.h /usr/include/cuda_runtime.h)))
ifneq ($(CUDACPU_INC),)
  # the GPU tests on the CPU: both precisions, then the other schedules and the sanitizer
  # builds on a selection of test cases (wrapper scripts, so that tests/run_all.sh counts them)
  CUDACPU_TESTS := $(BUILD)/test_cudacpu $(BUILD)/test_cudacpu_asan $(BUILD)/test_cudacpu_tsan \
    $(BUILD)/test_gpu_cpumode $(BUILD)/test_gpu_fp32_cpumode $(BUILD)/test_gpu_cpumode_reverse \
    $(BUILD)/test_gpu_fp32_cpumode_shuffled $(BUILD)/test_gpu_cpumode_asan $(BUILD)/test_gpu_fp32_cpumode_tsan
  CUDACPU_TARGETS := $(CUDACPU_TESTS) $(BUILD)/train_gpt_cpumode $(BUILD)/train_gpt_fp32_cpumode
  $(info [make] CUDA headers: found ($(CUDACPU_INC)), building the CPU execution mode for CUDA: the GPU trainer and its tests run on the CPU)
else
  $(info [make] CUDA headers: not found (install the CUDA toolkit's headers), skipping the CPU execution mode for CUDA)
endif
# <<< CPU execution mode: detection

CLANGXX := $(shell command -v clang++ 2>/dev/null)

# ---------------------------------------------------------------- programs
TEST_SRCS := $(wildcard tests/test_*.cpp)
TEST_BINS := $(patsubst tests/%.cpp,$(BUILD)/%,$(TEST_SRCS))
ifneq ($(CUDNN_FOUND),yes)
  TEST_BINS := $(filter-out $(BUILD)/test_cudnn_attention,$(TEST_BINS))
endif

# the CPU execution mode's cuBLAS, cuBLASLt and NCCL (tools/cudacpu): host code compiled by g++
# against the real CUDA headers, so they are tested wherever the headers are, GPU or not
CUDA_INCLUDE ?= $(firstword $(wildcard /usr/local/cuda/include $(CUDA_HOME)/include))
ifneq ($(wildcard $(CUDA_INCLUDE)/cublasLt.h),)
$(BUILD)/test_cudacpu_libs: tests/test_cudacpu_libs.cpp $(wildcard tools/cudacpu/*.cpp tools/cudacpu/*.h) $(wildcard tests/*.h)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) -I$(CUDA_INCLUDE) $< $(wildcard tools/cudacpu/*.cpp) -o $@ -lpthread -lrt
else
  $(info [make] CUDA headers (cublasLt.h) not found: skipping the CPU execution mode's library tests (build/test_cudacpu_libs))
  TEST_BINS := $(filter-out $(BUILD)/test_cudacpu_libs,$(TEST_BINS))
endif

.PHONY: all test train clean data fuzz hint
all: train_gpt_cpu tokenize prepare_data $(MPI_TARGETS) $(GPU_TARGETS) $(CUDACPU_TARGETS) $(TEST_BINS)

train_gpt_cpu: train_gpt_cpu.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

train_gpt_cpu_mpi: train_gpt_cpu.cpp $(HEADERS)
	$(MPICXX) $(CXXFLAGS) $(OMPFLAGS) -DUSE_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $< -o $@

tokenize: tools/tokenize.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

prepare_data: data_prep/prepare_data.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

# every tests/test_NAME.cpp is one doctest binary build/test_NAME, linked with doctest's main
# (tests/doctest_main.cpp), which is compiled once per flavour rather than into every test
$(BUILD)/doctest_main.o: tests/doctest_main.cpp
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) -c $< -o $@
$(BUILD)/test_%: tests/test_%.cpp $(HEADERS) $(wildcard train_gpt_cpu.cpp) $(wildcard tests/*.h) $(BUILD)/doctest_main.o
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< $(BUILD)/doctest_main.o -o $@

# >>> GPU section: rules
# one nvcc call per binary (compile time matters); the tests link the CPU reference in-process
ifneq ($(GPU_TARGETS),)
TEST_BINS += $(GPU_TESTS)
.PHONY: sanitize

train_gpt: train_gpt.cu $(HEADERS)
	$(NVCC) $(NVCCFLAGS) $(GPU_PRECISION) $< $(GPU_LIBS) -o $@

train_gpt_fp32: train_gpt.cu $(HEADERS)
	$(NVCC) $(NVCCFLAGS) -DENABLE_FP32 $< $(GPU_LIBS) -o $@

# cuDNN's frontend is header-only and slow to compile (a minute or two): its own object, -O1
# (graphs are built once per shape, so the code's speed does not matter)
CUDNN_LIBS := -lcudnn -lnvrtc
$(BUILD)/attention_cudnn.o: attention_cudnn.cpp base.h
	@mkdir -p $(BUILD)
	$(CXX) -std=c++17 -O1 -Wall -Wextra -Wno-unused-parameter -I. -isystem $(CUDNN_FRONTEND) -isystem $(CUDA_HOME)/include -c $< -o $@

train_gpt_cudnn: train_gpt.cu $(BUILD)/attention_cudnn.o $(HEADERS)
	$(NVCC) $(NVCCFLAGS) -DUSE_CUDNN $< $(BUILD)/attention_cudnn.o $(GPU_LIBS) $(CUDNN_LIBS) -o $@

# the graphs and operand layouts of attention_cudnn.cpp, checked without a GPU (in make test)
$(BUILD)/test_cudnn_attention: tests/test_cudnn_attention.cpp $(BUILD)/attention_cudnn.o attention_cudnn.h $(BUILD)/doctest_main.o
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) -isystem $(CUDA_HOME)/include $< $(BUILD)/attention_cudnn.o $(BUILD)/doctest_main.o \
	  -L$(CUDA_HOME)/lib64 $(CUDNN_LIBS) -lcudart -o $@

# the GPU tests with cuDNN's attention in the model (built on request: bench/gpu_session.sh)
$(BUILD)/test_gpu_cudnn: tests/test_gpu.cu train_gpt.cu train_gpt_cpu.cpp $(BUILD)/attention_cudnn.o $(HEADERS) $(wildcard tests/*.h)
	$(NVCC) $(NVCCFLAGS) -DUSE_CUDNN $< $(BUILD)/attention_cudnn.o $(GPU_LIBS) $(CUDNN_LIBS) -o $@

# with MPI: mpirun -np 8 ./train_gpt_mpi ... (without it, torchrun-style RANK/WORLD_SIZE env vars work)
train_gpt_mpi: train_gpt.cu $(HEADERS)
	$(NVCC) $(NVCCFLAGS) $(GPU_PRECISION) -DUSE_MPI -ccbin $(MPICXX) $< $(GPU_LIBS) -o $@

$(BUILD)/test_gpu: tests/test_gpu.cu train_gpt.cu train_gpt_cpu.cpp $(HEADERS) $(wildcard tests/*.h)
	@mkdir -p $(BUILD)
	$(NVCC) $(NVCCFLAGS) $< $(GPU_LIBS) -o $@

$(BUILD)/test_gpu_fp32: tests/test_gpu.cu train_gpt.cu train_gpt_cpu.cpp $(HEADERS) $(wildcard tests/*.h)
	@mkdir -p $(BUILD)
	$(NVCC) $(NVCCFLAGS) -DENABLE_FP32 $< $(GPU_LIBS) -o $@

# compute-sanitizer memcheck and racecheck on a tiny model (needs a GPU and `make data`; -lineinfo
# above makes its reports name source lines; bench/gpu_session.sh runs these limited to our kernels)
SANITIZE_RUN := --train $(DATA)/tinyshakespeare_bpe1k/train_000000.bin --val $(DATA)/tinyshakespeare_bpe1k/val_000000.bin \
  --vocab-size 1024 --n-layer 2 --n-head 2 --n-embd 64 --seq-len 32 --batch 2 --steps 2 --eval-every 1 --eval-batches 1 \
  --sample-every 1 --sample-tokens 4
sanitize: train_gpt train_gpt_fp32
	compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 ./train_gpt $(SANITIZE_RUN)
	compute-sanitizer --tool racecheck --error-exitcode 1 ./train_gpt $(SANITIZE_RUN)
	compute-sanitizer --tool memcheck --error-exitcode 1 ./train_gpt_fp32 $(SANITIZE_RUN)
endif
# <<< GPU section: rules

# >>> CPU execution mode: rules
# A .cu file is rewritten (its <<<>>> launches become calls; tools/cudacpu/rewrite_launches.py),
# then compiled by g++ with tools/cudacpu/cudacpu.h force-included and linked with the runtime.
# The runtime itself is built once per flavour: plain, AddressSanitizer, ThreadSanitizer; it
# is never instrumented itself (its bookkeeping is not the program's memory traffic).
ifneq ($(CUDACPU_TARGETS),)
TEST_BINS += $(CUDACPU_TESTS)
# -g1 (line tables only) and -O1 for the kernel code: a third of -O2 -g's compile time for about
# the same run time (every GPU thread is a fiber; the scheduler, built -O3 below, dominates)
CUDACPU_OPT := -O1
CUDACPU_CXX := $(CXX) -std=c++17 -g1 -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas -I. -isystem $(CUDACPU_INC)
CUDACPU_KERNEL := -include tools/cudacpu/cudacpu.h -rdynamic
CUDACPU_H := $(wildcard tools/cudacpu/*.h)
CUDACPU_RT = $(foreach f,runtime launch,$(BUILD)/cudacpu/$(1)/$(f).o)
CUDACPU_LIBS = $(CUDACPU_RT) $(foreach f,cublas nccl,$(BUILD)/cudacpu/$(1)/$(f).o)
CUDACPU_LDLIBS := -lpthread -lrt
ASAN_FLAGS := -O1 -fsanitize=address -fno-omit-frame-pointer
TSAN_FLAGS := -O1 -fsanitize=thread
# the runtime and libraries: fast in every flavour; no OpenMP in the ThreadSanitizer one (its
# threads would be invisible to the race detector's idea of order)
$(BUILD)/cudacpu/plain/%.o: tools/cudacpu/%.cpp $(CUDACPU_H)
	@mkdir -p $(@D)
	$(CUDACPU_CXX) -O3 -march=native $(OMPFLAGS) -c $< -o $@
$(BUILD)/cudacpu/asan/%.o: tools/cudacpu/%.cpp $(CUDACPU_H)
	@mkdir -p $(@D)
	$(CUDACPU_CXX) -O2 -march=native $(OMPFLAGS) -DCUDACPU_ASAN -c $< -o $@
$(BUILD)/cudacpu/tsan/%.o: tools/cudacpu/%.cpp $(CUDACPU_H)
	@mkdir -p $(@D)
	$(CUDACPU_CXX) -O2 -march=native -DCUDACPU_TSAN -c $< -o $@

# the .cu files as host C++
$(BUILD)/cudacpu/test_cudacpu.cpp: tests/test_cudacpu.cu tools/cudacpu/rewrite_launches.py
	@mkdir -p $(@D)
	$(PYTHON) tools/cudacpu/rewrite_launches.py $< > $@
$(BUILD)/cudacpu/test_gpu.cpp: tests/test_gpu.cu train_gpt.cu tools/cudacpu/rewrite_launches.py
	@mkdir -p $(@D)
	$(PYTHON) tools/cudacpu/rewrite_launches.py $< > $@

# doctest's main for the tests below, built like them in each flavour (tests/doctest_main.cpp)
CUDACPU_DOCTEST = $(BUILD)/cudacpu/$(1)/doctest_main.o
$(call CUDACPU_DOCTEST,plain): tests/doctest_main.cpp
	@mkdir -p $(@D)
	$(CUDACPU_CXX) $(CUDACPU_OPT) -c $< -o $@
$(call CUDACPU_DOCTEST,asan): tests/doctest_main.cpp
	@mkdir -p $(@D)
	$(CUDACPU_CXX) $(ASAN_FLAGS) -c $< -o $@
$(call CUDACPU_DOCTEST,tsan): tests/doctest_main.cpp
	@mkdir -p $(@D)
	$(CUDACPU_CXX) $(TSAN_FLAGS) -c $< -o $@

# the runtime's self-test, plain and under both sanitizers
$(BUILD)/test_cudacpu: $(BUILD)/cudacpu/test_cudacpu.cpp $(call CUDACPU_RT,plain) $(call CUDACPU_DOCTEST,plain)
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(CUDACPU_KERNEL) $^ -o $@
$(BUILD)/test_cudacpu_asan: $(BUILD)/cudacpu/test_cudacpu.cpp $(call CUDACPU_RT,asan) $(call CUDACPU_DOCTEST,asan)
	$(CUDACPU_CXX) $(ASAN_FLAGS) -DCUDACPU_TEST_ASAN $(CUDACPU_KERNEL) $^ -o $@
$(BUILD)/test_cudacpu_tsan: $(BUILD)/cudacpu/test_cudacpu.cpp $(call CUDACPU_RT,tsan) $(call CUDACPU_DOCTEST,tsan)
	$(CUDACPU_CXX) $(TSAN_FLAGS) -DCUDACPU_TEST_TSAN $(CUDACPU_KERNEL) $^ -o $@

# the GPU trainer itself in the CPU execution mode, with the emulated cuBLAS(Lt) and NCCL:
# several processes are several emulated GPUs (tests/test_cudacpu_dp.cpp launches them)
$(BUILD)/cudacpu/train_gpt.cpp: train_gpt.cu tools/cudacpu/rewrite_launches.py
	@mkdir -p $(@D)
	$(PYTHON) tools/cudacpu/rewrite_launches.py $< > $@
$(BUILD)/train_gpt_cpumode: $(BUILD)/cudacpu/train_gpt.cpp $(HEADERS) $(call CUDACPU_RT,plain) $(BUILD)/cudacpu/plain/cublas.o $(BUILD)/cudacpu/plain/nccl.o
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(OMPFLAGS) $(CUDACPU_KERNEL) $(filter %.cpp %.o,$^) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_cudacpu_dp: $(BUILD)/train_gpt_cpumode
# ...and its MPI build, for mpirun (the emulated runtime offers CUDACPU_DEVICES devices)
ifneq ($(MPICXX),)
$(BUILD)/train_gpt_cpumode_mpi: $(BUILD)/cudacpu/train_gpt.cpp $(HEADERS) $(call CUDACPU_RT,plain) $(BUILD)/cudacpu/plain/cublas.o $(BUILD)/cudacpu/plain/nccl.o
	$(subst $(CXX),$(MPICXX),$(CUDACPU_CXX)) $(CUDACPU_OPT) $(OMPFLAGS) -DUSE_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $(CUDACPU_KERNEL) $(filter %.cpp %.o,$^) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_cudacpu_dp: $(BUILD)/train_gpt_cpumode_mpi
endif

# its fp32 build, for the command-line tests of test_gpu_fp32_cpumode
CUDACPU_TRAINER_DEPS := $(HEADERS) $(call CUDACPU_LIBS,plain)
$(BUILD)/train_gpt_fp32_cpumode: $(BUILD)/cudacpu/train_gpt.cpp $(CUDACPU_TRAINER_DEPS)
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(OMPFLAGS) -DENABLE_FP32 $(CUDACPU_KERNEL) $< $(call CUDACPU_LIBS,plain) $(CUDACPU_LDLIBS) -o $@

# tests/test_gpu.cu on the CPU; its command-line tests run the CPU-mode trainer
CUDACPU_TEST_GPU_DEPS := $(BUILD)/cudacpu/test_gpu.cpp train_gpt_cpu.cpp $(HEADERS) $(wildcard tests/*.h)
CUDACPU_TEST_LIBS = $(call CUDACPU_LIBS,$(1)) $(call CUDACPU_DOCTEST,$(1))
CUDACPU_TEST_GPU := $(CUDACPU_KERNEL) -DDOCTEST_MAIN_LINKED
$(BUILD)/test_gpu_cpumode: $(CUDACPU_TEST_GPU_DEPS) $(call CUDACPU_TEST_LIBS,plain) | $(BUILD)/train_gpt_cpumode
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(OMPFLAGS) $(CUDACPU_TEST_GPU) -DGPU_TRAINER='"$(BUILD)/train_gpt_cpumode"' $< \
	  $(call CUDACPU_TEST_LIBS,plain) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_gpu_fp32_cpumode: $(CUDACPU_TEST_GPU_DEPS) $(call CUDACPU_TEST_LIBS,plain) | $(BUILD)/train_gpt_fp32_cpumode
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(OMPFLAGS) -DENABLE_FP32 $(CUDACPU_TEST_GPU) -DGPU_TRAINER='"$(BUILD)/train_gpt_fp32_cpumode"' $< \
	  $(call CUDACPU_TEST_LIBS,plain) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_gpu_cpumode_asan.bin: $(CUDACPU_TEST_GPU_DEPS) $(call CUDACPU_TEST_LIBS,asan)
	$(CUDACPU_CXX) $(ASAN_FLAGS) $(OMPFLAGS) $(CUDACPU_TEST_GPU) $< $(call CUDACPU_TEST_LIBS,asan) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_gpu_fp32_cpumode_tsan.bin: $(CUDACPU_TEST_GPU_DEPS) $(call CUDACPU_TEST_LIBS,tsan)
	$(CUDACPU_CXX) $(TSAN_FLAGS) -DENABLE_FP32 $(CUDACPU_TEST_GPU) $< $(call CUDACPU_TEST_LIBS,tsan) $(CUDACPU_LDLIBS) -o $@

# The runs beside the plain ones, as scripts tests/run_all.sh runs like any test binary.
# The command-line tests (trainer runs) are left to the plain runs: they take most of the time;
# the sanitizer builds run the layer tests only (the whole model under ThreadSanitizer takes minutes).
GPU_LAYER_AND_MODEL_TESTS := --test-case-exclude='checkpoints*,resume*,a batch*'
GPU_LAYER_TESTS := --test-case='*forward and backward*'
define cudacpu_wrapper
	@printf '#!/bin/sh\n# %s\nexec env %s "$$@"\n' "$(1)" "$(2)" > $@
	@chmod +x $@
endef
$(BUILD)/test_gpu_cpumode_reverse: $(BUILD)/test_gpu_cpumode
	$(call cudacpu_wrapper,the bf16 GPU tests with later warps running first,CUDACPU_SCHEDULE=reverse $< $(GPU_LAYER_AND_MODEL_TESTS))
$(BUILD)/test_gpu_fp32_cpumode_shuffled: $(BUILD)/test_gpu_fp32_cpumode
	$(call cudacpu_wrapper,the fp32 GPU tests with the blocks of each launch in a shuffled order,CUDACPU_BLOCK_ORDER=shuffle CUDACPU_SEED=7 $< $(GPU_LAYER_AND_MODEL_TESTS))
$(BUILD)/test_gpu_cpumode_asan: $(BUILD)/test_gpu_cpumode_asan.bin
	$(call cudacpu_wrapper,the bf16 GPU layer tests under AddressSanitizer,$< $(GPU_LAYER_TESTS))
$(BUILD)/test_gpu_fp32_cpumode_tsan: $(BUILD)/test_gpu_fp32_cpumode_tsan.bin
	$(call cudacpu_wrapper,the fp32 GPU layer tests under ThreadSanitizer,$< $(GPU_LAYER_TESTS))
endif
# <<< CPU execution mode: rules

# >>> CPU execution mode: dry runs at full size (tests/test_gpu_dry_run.cpp)
# GPT-2 124M and 1.5B's layers with CUDACPU_DRY_RUN=1, and the start-up memory check, through
# build/train_gpt_cpumode; train_gpt_cpumode_planted is that trainer with two faults planted
# (switched on by PLANTED_BLOCK and PLANTED_GEMM), which the dry run must catch.
ifneq ($(CUDACPU_TARGETS),)
$(BUILD)/cudacpu/train_gpt_planted.cpp: $(BUILD)/cudacpu/train_gpt.cpp
	sed -e '/^void bias_backward(/,/^}/ s/int block_size = 256;/int block_size = getenv("PLANTED_BLOCK") ? 2048 : 256;/' \
	    -e 's/cublasLtMatrixLayoutCreate(&p.ld, (cudaDataType)key.d_type, m, n, m)/cublasLtMatrixLayoutCreate(\&p.ld, (cudaDataType)key.d_type, m, n, getenv("PLANTED_GEMM") ? m - 1 : m)/' \
	    $< > $@.tmp
	grep -q PLANTED_BLOCK $@.tmp && grep -q PLANTED_GEMM $@.tmp && mv $@.tmp $@   # both faults went in
$(BUILD)/train_gpt_cpumode_planted: $(BUILD)/cudacpu/train_gpt_planted.cpp $(HEADERS) $(call CUDACPU_RT,plain) $(BUILD)/cudacpu/plain/cublas.o $(BUILD)/cudacpu/plain/nccl.o
	$(CUDACPU_CXX) $(CUDACPU_OPT) $(OMPFLAGS) $(CUDACPU_KERNEL) $(filter %.cpp %.o,$^) $(CUDACPU_LDLIBS) -o $@
$(BUILD)/test_gpu_dry_run: | $(BUILD)/train_gpt_cpumode $(BUILD)/train_gpt_cpumode_planted
else
  TEST_BINS := $(filter-out $(BUILD)/test_gpu_dry_run,$(TEST_BINS))
endif
# <<< CPU execution mode: dry runs

# ---------------------------------------------------------------- data
# GPT-2's tokenizer files and tinyshakespeare as shards (downloaded, or from DATA_MIRROR)
$(DATA)/gpt2/encoder.json:
	bash data_prep/fetch_gpt2_vocab.sh $(DATA)/gpt2

$(DATA)/tinyshakespeare/train_000000.bin: prepare_data $(DATA)/gpt2/encoder.json
	./prepare_data tinyshakespeare --vocab $(DATA)/gpt2 --out $(DATA)/tinyshakespeare

# the same text with a 1,024-token BPE vocabulary trained on it: small and quick to learn,
# used by the tests and by `make train`
$(DATA)/tinyshakespeare_bpe1k/train_000000.bin: prepare_data
	./prepare_data tinyshakespeare --train-vocab 1024 --out $(DATA)/tinyshakespeare_bpe1k

data: $(DATA)/gpt2/encoder.json $(DATA)/tinyshakespeare/train_000000.bin $(DATA)/tinyshakespeare_bpe1k/train_000000.bin

# ---------------------------------------------------------------- tests
# `make test` and `make train` install what is missing first (tools/install_deps.sh), then
# build in a fresh make so that the detection above sees what was just installed. The checks
# run NPROC at a time (most use one core); their output still comes in a fixed order.
test:
	@bash tools/install_deps.sh test
	@$(MAKE) --no-print-directory -j$(NPROC) all data asan
	@bash tests/run_all.sh -j$(NPROC) $(TEST_BINS)

# libFuzzer (clang) on the shard parser and on the checkpoint readers, 20 seconds each;
# `make test` runs them for 15 and 10
fuzz:
	bash tests/run_fuzz.sh 20 dataloader
	bash tests/run_fuzz.sh 20 checkpoint

# ---------------------------------------------------------------- tutorial
hint:
	@bash tutorial/hint.sh $(CH)

# >>> sanitizers: the CPU programs and tests built with AddressSanitizer and
# UndefinedBehaviorSanitizer (-O1 -g; the first report aborts) into build/asan/.
# tests/run_sanitized.sh runs them (run_all.sh calls it): the cheap doctest binaries, with
# build/asan/root as their working directory so that the programs they start are the
# sanitized ones too, and a short train + resume + sample of the trainer.
SAN_DIR   := $(BUILD)/asan
SAN_FLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
              -Wall -Wextra -Wno-unused-parameter -I.
SAN_TESTS := test_limits test_tokenizer test_dataloader
SAN_BINS  := $(SAN_DIR)/train_gpt_cpu $(SAN_DIR)/tokenize $(addprefix $(SAN_DIR)/,$(SAN_TESTS))
.PHONY: asan
asan: $(SAN_BINS)

$(SAN_DIR)/train_gpt_cpu: train_gpt_cpu.cpp $(HEADERS)
	@mkdir -p $(SAN_DIR)
	$(CXX) $(SAN_FLAGS) $(OMPFLAGS) $< -o $@

$(SAN_DIR)/tokenize: tools/tokenize.cpp $(HEADERS)
	@mkdir -p $(SAN_DIR)
	$(CXX) $(SAN_FLAGS) $(OMPFLAGS) $< -o $@

$(SAN_DIR)/doctest_main.o: tests/doctest_main.cpp
	@mkdir -p $(SAN_DIR)
	$(CXX) $(SAN_FLAGS) -c $< -o $@
$(SAN_DIR)/test_%: tests/test_%.cpp $(HEADERS) $(wildcard train_gpt_cpu.cpp) $(wildcard tests/*.h) $(SAN_DIR)/doctest_main.o
	@mkdir -p $(SAN_DIR)
	$(CXX) $(SAN_FLAGS) $(OMPFLAGS) $< $(SAN_DIR)/doctest_main.o -o $@
# <<< sanitizers

# ---------------------------------------------------------------- newcomer path
train:
	@bash tools/install_deps.sh build
	@$(MAKE) --no-print-directory -j$(NPROC) all data
	@bash tools/train_small.sh

clean:
	rm -rf $(BUILD) train_gpt_cpu train_gpt_cpu_mpi train_gpt train_gpt_fp32 train_gpt_cudnn train_gpt_mpi tokenize prepare_data
