# Makefile: builds what this machine can build, and says what it skipped.
#
#   make              the CPU trainer, the tokenizer tool, the data preparer, the tests,
#                     and the GPU trainer where nvcc is found
#   make test         every test binary and tutorial check; last line "N passed, N failed, N skipped"
#   make train        the newcomer's path: prepare tinyshakespeare, train a small model, sample
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
DATA     := data
export DATA_MIRROR

# ---------------------------------------------------------------- what this machine has
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
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifneq ($(NVCC),)
  ifneq ($(wildcard train_gpt.cu),)
    GPU_TARGETS := train_gpt
    $(info [make] nvcc: found ($(NVCC)), building train_gpt)
  endif
else
  $(info [make] nvcc: not found, skipping the GPU trainer train_gpt)
endif
# <<< GPU section: detection

CLANGXX := $(shell command -v clang++ 2>/dev/null)

# ---------------------------------------------------------------- programs
TEST_SRCS := $(wildcard tests/test_*.cpp)
TEST_BINS := $(patsubst tests/%.cpp,$(BUILD)/%,$(TEST_SRCS))

.PHONY: all test train clean data fuzz
all: train_gpt_cpu tokenize prepare_data $(MPI_TARGETS) $(GPU_TARGETS) $(TEST_BINS)

train_gpt_cpu: train_gpt_cpu.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

train_gpt_cpu_mpi: train_gpt_cpu.cpp $(HEADERS)
	$(MPICXX) $(CXXFLAGS) $(OMPFLAGS) -DUSE_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $< -o $@

tokenize: tokenize.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

prepare_data: data_prep/prepare_data.cpp $(HEADERS)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

# every tests/test_NAME.cpp is one doctest binary build/test_NAME
$(BUILD)/test_%: tests/test_%.cpp $(HEADERS) $(wildcard train_gpt_cpu.cpp) $(wildcard tests/*.h)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) $(OMPFLAGS) $< -o $@

# >>> GPU section: rules
# <<< GPU section: rules

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
test: all data
	@bash tests/run_all.sh $(TEST_BINS)

# libFuzzer on the shard parser (clang), 20 seconds
fuzz:
	bash tests/run_fuzz.sh 20

# ---------------------------------------------------------------- newcomer path
train: all data
	@bash data_prep/train_small.sh

clean:
	rm -rf $(BUILD) train_gpt_cpu train_gpt_cpu_mpi train_gpt train_gpt_fp32 tokenize prepare_data
