// bench_tokenizer.cpp: tokenizer.h's side of bench/bench_tokenizer.sh.
//
//   bench_tokenizer encode VOCAB_DIR TEXT IDS_OUT [REPEATS]   encode speed, 1 thread and all threads
//   bench_tokenizer train TEXT VOCAB_SIZE [REPEATS]           bpe_train speed
//
// Each figure is the best of REPEATS runs (default 5) of a whole call: encode() starts
// with an empty piece cache every time, as tiktoken's encode_ordinary does. The ids go
// to IDS_OUT (little-endian uint32) so the script can compare them with tiktoken's.
#include "tokenizer.h"

#include <chrono>

template <class F> static double best_seconds(int repeats, F&& f) {
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

int main(int argc, char** argv) {
    try {
        std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "encode" && (argc == 5 || argc == 6)) {
            int repeats = argc == 6 ? atoi(argv[5]) : 5, threads = 1;
#ifdef _OPENMP
            threads = omp_get_max_threads();
#endif
            Tokenizer tok;
            double load_s = best_seconds(1, [&] { tok = Tokenizer::load(argv[2]); });
            std::string text = read_file(argv[3]);
            std::vector<uint32_t> ids, par;
            double s1 = best_seconds(repeats, [&] { ids = tok.encode(text); });
            double sp = best_seconds(repeats, [&] { par = tok.encode_parallel(text, threads); });
            if (par != ids) fail("encode_parallel and encode disagree");
            std::ofstream(argv[4], std::ios::binary).write((const char*)ids.data(), ids.size() * 4);
            printf("tokenizer.h encode,             1 thread:  %8.2f MB/s  %10zu tokens  %.4f s (best of %d; load %.2f s)\n",
                   text.size() / s1 / 1e6, ids.size(), s1, repeats, load_s);
            printf("tokenizer.h encode_parallel, %2d threads:  %8.2f MB/s  %10zu tokens  %.4f s (best of %d)\n",
                   threads, text.size() / sp / 1e6, par.size(), sp, repeats);
        } else if (mode == "train" && (argc == 4 || argc == 5)) {
            int repeats = argc == 5 ? atoi(argv[4]) : 3;
            std::string text = read_file(argv[2]);
            size_t vocab_size = strtoull(argv[3], nullptr, 10);
            Tokenizer tok;
            double s = best_seconds(repeats, [&] { tok = bpe_train(text, vocab_size); });
            size_t n = tok.encode(text).size();
            printf("tokenizer.h bpe_train %zu ids: %.3f s (best of %d); %zu tokens on its own text, %.2f bytes/token\n",
                   tok.vocab_size(), s, repeats, n, double(text.size()) / n);
        } else {
            fprintf(stderr, "usage: bench_tokenizer encode VOCAB_DIR TEXT IDS_OUT [REPEATS]\n"
                            "       bench_tokenizer train TEXT VOCAB_SIZE [REPEATS]\n");
            return 2;
        }
    } catch (const std::exception& e) {
        fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
