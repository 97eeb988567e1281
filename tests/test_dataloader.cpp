// tests/test_dataloader.cpp: the token-shard format and the DataLoader of dataloader.h.
//
// What it checks: write/read round trips in both formats; the data order of
// DESIGN.md section 4 against a naive model of it, for several ranks, batch
// sizes and accumulation steps, across shard ends and epochs; the equivalences
// N ranks x B == 1 rank x N*B == K=N accumulation of B, token for token;
// shuffling (every step window once per epoch, seeded, same layout inside a
// window); save/restore mid-epoch and mid-step; every bad-input error, each
// naming the file; and the tinyshakespeare shards that `make data` writes.
//
// Small shards are written to a fresh temporary folder, removed at exit. The
// test shards hold tokens that are unique across files (a token's value tells
// where it came from), so a wrong offset cannot go unnoticed.
#include <doctest/doctest.h>

#include "dataloader.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

// ---------------------------------------------------------------- helpers

// a fresh folder for this process, removed when the program ends
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("test_dataloader_" + std::to_string(getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
    std::string operator()(const std::string& name) const { return (path / name).string(); }
};
static TempDir tmp;

// the message of the std::runtime_error that f throws, or "" (and a failed check) if none
static std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("threw a non-runtime_error: " << e.what());
        return "";
    }
    FAIL("expected an exception, none was thrown");
    return "";
}

// writes a shard of n tokens first, first+1, ... (mod vocab) and returns its tokens
static std::vector<uint32_t> make_shard(const std::string& path, size_t n, uint32_t first, size_t vocab = 1 << 20) {
    std::vector<uint32_t> t(n);
    for (size_t i = 0; i < n; i++) t[i] = uint32_t((first + i) % vocab);
    write_shard(path, t.data(), n, vocab);
    return t;
}

static std::vector<unsigned char> file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {});
}
static void put_bytes(const std::string& path, const std::vector<unsigned char>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// one micro-batch: inputs (B*T) and targets (B*T)
struct Batch {
    std::vector<int> x, y;
    bool operator==(const Batch& o) const { return x == o.x && y == o.y; }
};
static Batch next(DataLoader& dl, int B, int T) {
    Batch b{std::vector<int>(size_t(B) * T), std::vector<int>(size_t(B) * T)};
    dl.next_batch(b.x.data(), b.y.data());
    return b;
}

// The naive model of DESIGN.md section 4 (shuffle off), written as offsets rather than
// window indices: at the start of every step, if K*N*B*T+1 tokens from `pos` do not fit
// in the shard, go to the start of the next shard (the first after the last).
// Returns the micro-batches of `rank`, micro-step by micro-step, for `steps` steps.
static std::vector<Batch> model_order(const std::vector<std::vector<uint32_t>>& shards, int B, int T, int N, int K,
                                      int rank, int steps) {
    std::vector<Batch> out;
    size_t shard = 0, pos = 0, S = size_t(K) * N * B * T;
    for (int s = 0; s < steps; s++) {
        if (pos + S + 1 > shards[shard].size()) { shard = (shard + 1) % shards.size(); pos = 0; }
        for (int k = 0; k < K; k++) {
            size_t start = pos + (size_t(k) * N + rank) * B * T;
            Batch b;
            for (size_t i = 0; i < size_t(B) * T; i++) {
                b.x.push_back(int(shards[shard][start + i]));
                b.y.push_back(int(shards[shard][start + i + 1]));
            }
            out.push_back(b);
        }
        pos += S;
    }
    return out;
}

// three shards of different lengths, none a multiple of any step, unique tokens
static std::vector<std::vector<uint32_t>> make_three_shards(const std::string& prefix) {
    return {make_shard(tmp(prefix + "_000000.bin"), 397, 0), make_shard(tmp(prefix + "_000001.bin"), 250, 100000),
            make_shard(tmp(prefix + "_000002.bin"), 611, 200000)};
}

// ---------------------------------------------------------------- the format

TEST_CASE("write_shard / read_shard round trip, uint16 and uint32") {
    // uint16: GPT-2's vocabulary, every id including the largest
    std::vector<uint32_t> a = {0, 1, 255, 256, 50255, 50256, 12345};
    write_shard(tmp("u16.bin"), a.data(), a.size(), 50257);
    CHECK(read_shard(tmp("u16.bin"), 50257) == a);
    std::vector<unsigned char> b = file_bytes(tmp("u16.bin"));
    REQUIRE(b.size() == 1024 + 2 * a.size());
    CHECK(shard_load_le32(&b[0]) == 20240520u);
    CHECK(shard_load_le32(&b[4]) == 1u);
    CHECK(shard_load_le32(&b[8]) == a.size());
    for (size_t i = 12; i < 1024; i++) CHECK_MESSAGE(b[i] == 0, "header byte " << i);
    CHECK(b[1024 + 2 * 4] == (50255 & 0xff));  // little-endian tokens
    CHECK(b[1024 + 2 * 4 + 1] == (50255 >> 8));
    // 65536 is the largest vocabulary that still fits uint16
    std::vector<uint32_t> c = {65535, 0, 40000};
    write_shard(tmp("u16max.bin"), c.data(), c.size(), 65536);
    CHECK(file_bytes(tmp("u16max.bin")).size() == 1024 + 2 * c.size());
    CHECK(read_shard(tmp("u16max.bin"), 65536) == c);

    // uint32: a vocabulary over 65,536
    std::vector<uint32_t> d = {0, 65535, 65536, 99999, 70000};
    write_shard(tmp("u32.bin"), d.data(), d.size(), 100000);
    std::vector<unsigned char> e = file_bytes(tmp("u32.bin"));
    REQUIRE(e.size() == 1024 + 4 * d.size());
    CHECK(shard_load_le32(&e[0]) == 20240801u);
    CHECK(shard_load_le32(&e[4]) == 7u);
    CHECK(shard_load_le32(&e[8]) == d.size());
    CHECK(read_shard(tmp("u32.bin"), 100000) == d);
    CHECK(parse_shard(e.data(), e.size(), 100000) == d);

    // empty shard, and a shard larger than one read chunk (1M tokens)
    write_shard(tmp("empty.bin"), nullptr, 0, 50257);
    CHECK(read_shard(tmp("empty.bin"), 50257).empty());
    std::vector<uint32_t> big = make_shard(tmp("big.bin"), (1 << 20) + 77, 3, 50257);
    CHECK(read_shard(tmp("big.bin"), 50257) == big);
    CHECK_FALSE(fs::exists(tmp("big.bin.tmp")));  // the temporary file was renamed away
}

TEST_CASE("write_shard refuses a token outside the vocabulary and leaves no file") {
    std::vector<uint32_t> a = {1, 2, 50257};
    std::string msg = error_of([&] { write_shard(tmp("bad_write.bin"), a.data(), a.size(), 50257); });
    CHECK(msg.find("bad_write.bin") != std::string::npos);
    CHECK(msg.find("50257") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp("bad_write.bin")));
    CHECK_FALSE(fs::exists(tmp("bad_write.bin.tmp")));
}

TEST_CASE("expand_glob: sorted matches, a plain file, and errors that name the pattern") {
    fs::create_directories(tmp("glob"));
    for (const char* n : {"train_000002.bin", "train_000000.bin", "train_000010.bin", "val_000000.bin"})
        make_shard(tmp(std::string("glob/") + n), 3, 0);
    std::vector<std::string> g = expand_glob(tmp("glob/train_*.bin"));
    REQUIRE(g.size() == 3);
    CHECK(g[0] == tmp("glob/train_000000.bin"));
    CHECK(g[1] == tmp("glob/train_000002.bin"));
    CHECK(g[2] == tmp("glob/train_000010.bin"));
    CHECK(expand_glob(tmp("glob/val_000000.bin")) == std::vector<std::string>{tmp("glob/val_000000.bin")});
    std::string msg = error_of([&] { expand_glob(tmp("glob/test_*.bin")); });
    CHECK(msg.find(tmp("glob/test_*.bin")) != std::string::npos);
    msg = error_of([&] { expand_glob(tmp("glob/missing.bin")); });
    CHECK(msg.find("missing.bin") != std::string::npos);
    msg = error_of([&] { expand_glob(tmp("glob")); });
    CHECK(msg.find("is a folder") != std::string::npos);
}

// ---------------------------------------------------------------- bad files

TEST_CASE("every bad file is a runtime_error that names the file") {
    std::vector<uint32_t> good = make_shard(tmp("good.bin"), 100, 0, 50257);
    std::vector<unsigned char> g = file_bytes(tmp("good.bin"));
    auto check_bad = [&](const std::string& name, const std::vector<unsigned char>& bytes, const std::string& what) {
        CAPTURE(name);
        put_bytes(tmp(name), bytes);
        std::string msg = error_of([&] { read_shard(tmp(name), 50257); });
        CHECK(msg.find(tmp(name)) != std::string::npos);
        CHECK(msg.find(what) != std::string::npos);
        // the DataLoader checks headers at construction, so it fails before reading any batch
        if (what != "vocabulary") {
            msg = error_of([&] { DataLoader dl(tmp(name), 1, 4, 0, 1, 1, 50257, false, 0); });
            CHECK(msg.find(tmp(name)) != std::string::npos);
            CHECK(msg.find(what) != std::string::npos);
        }
        // parsing from memory agrees (the fuzz target's path)
        msg = error_of([&] { parse_shard(bytes.data(), bytes.size(), 50257, tmp(name)); });
        CHECK(msg.find(what) != std::string::npos);
    };
    std::vector<unsigned char> b = g;
    b[0] ^= 1;
    check_bad("bad_magic.bin", b, "magic number");
    b = g;
    shard_store_le32(&b[4], 7);  // uint16 magic, uint32 version
    check_bad("bad_version.bin", b, "version 7");
    b = g;
    b.pop_back();
    check_bad("truncated.bin", b, "truncated");
    b = g;
    b.push_back(0);
    check_bad("too_long.bin", b, "bytes, but its header says");
    b = g;
    shard_store_le32(&b[8], 0x80000000u);
    check_bad("negative_count.bin", b, "negative token count");
    check_bad("short.bin", std::vector<unsigned char>(g.begin(), g.begin() + 100), "shorter than the 1024-byte header");
    check_bad("zero_bytes.bin", {}, "shorter than the 1024-byte header");
    b = g;
    b[1024 + 2 * 17] = 0xff;  // token 17 becomes 0x..ff: 65535 or so, above 50256
    b[1024 + 2 * 17 + 1] = 0xff;
    check_bad("bad_token.bin", b, "vocabulary");

    // a bad token is found when the shard is first read (headers alone cannot see it)
    DataLoader dl(tmp("bad_token.bin"), 1, 4, 0, 1, 1, 50257, false, 0);
    std::vector<int> x(4), y(4);
    std::string msg = error_of([&] { dl.next_batch(x.data(), y.data()); });
    CHECK(msg.find(tmp("bad_token.bin")) != std::string::npos);
    CHECK(msg.find("token 17 has id 65535") != std::string::npos);
    // the same token is fine with a larger vocabulary
    CHECK(read_shard(tmp("bad_token.bin"), 65536)[17] == 65535);

    // a missing file and an empty glob
    msg = error_of([&] { read_shard(tmp("nope.bin"), 50257); });
    CHECK(msg.find(tmp("nope.bin")) != std::string::npos);
    msg = error_of([&] { DataLoader d2(tmp("nope_*.bin"), 1, 4, 0, 1, 1, 50257, false, 0); });
    CHECK(msg.find(tmp("nope_*.bin")) != std::string::npos);
}

TEST_CASE("a shard smaller than one optimizer step is an error naming the file, the flags and the sizes") {
    make_shard(tmp("small_000000.bin"), 1000, 0);
    make_shard(tmp("small_000001.bin"), 64, 5000);  // 64 tokens: one step of B=2,T=8,K=2,N=2 needs 65
    std::string msg = error_of([&] { DataLoader dl(tmp("small_*.bin"), 2, 8, 1, 2, 2, 1 << 20, false, 0); });
    CHECK(msg.find(tmp("small_000001.bin")) != std::string::npos);
    for (const char* s : {"64 tokens", "65", "--batch 2", "--seq-len 8", "--grad-accum 2", "2 ranks"})
        CHECK_MESSAGE(msg.find(s) != std::string::npos, "missing '" << s << "' in: " << msg);
    // 65 tokens are exactly enough
    make_shard(tmp("small_000001.bin"), 65, 5000);
    DataLoader ok(tmp("small_*.bin"), 2, 8, 1, 2, 2, 1 << 20, false, 0);
    CHECK(ok.total_tokens() == 1065);
    // bad sizes and ranks
    CHECK(error_of([&] { DataLoader d(tmp("small_*.bin"), 0, 8, 0, 1, 1, 1 << 20, false, 0); }).find("--batch") != std::string::npos);
    CHECK(error_of([&] { DataLoader d(tmp("small_*.bin"), 1, 8, 2, 2, 1, 1 << 20, false, 0); }).find("rank 2 of 2") != std::string::npos);
}

// ---------------------------------------------------------------- data order, shuffle off

TEST_CASE("data order follows DESIGN.md section 4 across shard ends and epochs") {
    auto shards = make_three_shards("order");
    int cases = 0;
    for (int N : {1, 2, 3})
        for (int K : {1, 2, 3})
            for (int B : {1, 2, 3})
                for (int T : {1, 5, 8}) {
                    size_t S = size_t(K) * N * B * T;
                    if (S + 1 > 250) continue;
                    // enough steps for two full epochs and a bit
                    size_t per_epoch = 0;
                    for (auto& s : shards) per_epoch += (s.size() - 1) / S;
                    int steps = int(2 * per_epoch + 3);
                    for (int r = 0; r < N; r++) {
                        CAPTURE(N); CAPTURE(K); CAPTURE(B); CAPTURE(T); CAPTURE(r);
                        DataLoader dl(tmp("order_*.bin"), B, T, r, N, K, 1 << 20, false, 0);
                        CHECK(dl.steps_per_epoch() == per_epoch);
                        std::vector<Batch> want = model_order(shards, B, T, N, K, r, steps);
                        for (size_t i = 0; i < want.size(); i++) {
                            Batch got = next(dl, B, T);
                            if (!(got == want[i])) {
                                FAIL_CHECK("micro-batch " << i << " differs: first input " << got.x[0] << ", expected "
                                                          << want[i].x[0]);
                                break;
                            }
                        }
                        CHECK(dl.epoch() == 2);
                        cases++;
                    }
                }
    MESSAGE(cases << " (N, K, B, T, rank) combinations checked against the model of section 4");
    CHECK(cases > 50);
}

TEST_CASE("N ranks x B == 1 rank x N*B == K=N accumulation of B, token for token") {
    make_three_shards("equiv");
    for (int N : {1, 2, 3})
        for (int B : {1, 2, 3})
            for (int T : {1, 4, 7}) {
                CAPTURE(N); CAPTURE(B); CAPTURE(T);
                DataLoader big(tmp("equiv_*.bin"), N * B, T, 0, 1, 1, 1 << 20, false, 0);
                DataLoader acc(tmp("equiv_*.bin"), B, T, 0, 1, N, 1 << 20, false, 0);
                std::vector<DataLoader> ranks;
                for (int r = 0; r < N; r++) ranks.emplace_back(tmp("equiv_*.bin"), B, T, r, N, 1, 1 << 20, false, 0);
                size_t steps = 2 * big.steps_per_epoch() + 5;  // past two epochs
                bool same = true;
                for (size_t s = 0; s < steps && same; s++) {
                    Batch whole = next(big, N * B, T);
                    std::vector<int> from_ranks_x, from_ranks_y, from_acc_x, from_acc_y;
                    for (int r = 0; r < N; r++) {
                        Batch br = next(ranks[r], B, T), ba = next(acc, B, T);
                        from_ranks_x.insert(from_ranks_x.end(), br.x.begin(), br.x.end());
                        from_ranks_y.insert(from_ranks_y.end(), br.y.begin(), br.y.end());
                        from_acc_x.insert(from_acc_x.end(), ba.x.begin(), ba.x.end());
                        from_acc_y.insert(from_acc_y.end(), ba.y.begin(), ba.y.end());
                    }
                    same = whole.x == from_ranks_x && whole.y == from_ranks_y && whole.x == from_acc_x && whole.y == from_acc_y;
                    CHECK_MESSAGE(same, "step " << s << " differs");
                }
            }
}

TEST_CASE("targets are the inputs shifted by one, and reset() goes back to the start") {
    auto shards = make_three_shards("shift");
    DataLoader dl(tmp("shift_*.bin"), 3, 5, 0, 1, 1, 1 << 20, false, 0);
    Batch first = next(dl, 3, 5);
    for (int i = 0; i < 15; i++) CHECK(first.x[i] == int(shards[0][i]));
    CHECK(first.y[14] == int(shards[0][15]));
    for (int i = 0; i < 30; i++) next(dl, 3, 5);  // into the second shard
    dl.reset();
    CHECK(next(dl, 3, 5) == first);
    CHECK(dl.epoch() == 0);
}

// ---------------------------------------------------------------- shuffle

// the tokens of one whole step window (all ranks, all micro-steps) as the loaders deliver them
static std::vector<int> step_tokens(std::vector<DataLoader>& ranks, int B, int T, int K) {
    std::vector<std::vector<int>> per(ranks.size() * K);
    std::vector<int> out;
    for (int k = 0; k < K; k++)
        for (size_t r = 0; r < ranks.size(); r++) per[k * ranks.size() + r] = next(ranks[r], B, T).x;
    for (auto& p : per) out.insert(out.end(), p.begin(), p.end());
    return out;
}

TEST_CASE("shuffle: every step window once per epoch, seeded, same layout inside a window") {
    auto shards = make_three_shards("shuf");
    const int B = 2, T = 3, N = 2, K = 2;
    const size_t S = size_t(B) * T * N * K;
    // all step windows: (shard, start) -> its tokens
    std::map<int, std::vector<int>> windows;  // keyed by the first token, unique by construction
    for (auto& s : shards)
        for (size_t j = 0; (j + 1) * S + 1 <= s.size(); j++) windows[int(s[j * S])] = std::vector<int>(s.begin() + j * S, s.begin() + (j + 1) * S);

    auto epoch_orders = [&](uint64_t seed, int epochs) {
        std::vector<DataLoader> ranks;
        for (int r = 0; r < N; r++) ranks.emplace_back(tmp("shuf_*.bin"), B, T, r, N, K, 1 << 20, true, seed);
        REQUIRE(ranks[0].steps_per_epoch() == windows.size());
        std::vector<std::vector<int>> orders;
        for (int e = 0; e < epochs; e++) {
            std::vector<int> order;
            std::multiset<int> seen;
            for (size_t s = 0; s < windows.size(); s++) {
                std::vector<int> w = step_tokens(ranks, B, T, K);
                REQUIRE(windows.count(w[0]) == 1);
                CHECK_MESSAGE(w == windows[w[0]], "the layout inside a shuffled window differs from the unshuffled one");
                order.push_back(w[0]);
                seen.insert(w[0]);
            }
            for (auto& kv : windows) CHECK_MESSAGE(seen.count(kv.first) == 1, "window " << kv.first << " seen " << seen.count(kv.first) << " times in epoch " << e);
            CHECK(ranks[0].epoch() == uint64_t(e + 1));
            orders.push_back(order);
        }
        return orders;
    };
    auto a = epoch_orders(1337, 3), a2 = epoch_orders(1337, 3), b = epoch_orders(42, 1);
    CHECK(a == a2);          // the same seed: the same order
    CHECK(a[0] != a[1]);     // epochs differ
    CHECK(a[1] != a[2]);
    CHECK(a[0] != b[0]);     // seeds differ
    std::vector<int> sorted_order = a[0];
    std::sort(sorted_order.begin(), sorted_order.end());
    CHECK(a[0] != sorted_order);  // it really is shuffled (the unshuffled order is sorted here)
    MESSAGE(windows.size() << " step windows per epoch; first windows of epoch 0: " << a[0][0] << " " << a[0][1] << " " << a[0][2]);
}

// ---------------------------------------------------------------- save / restore

TEST_CASE("save and restore mid-epoch and mid-step continue with exactly the same batches") {
    make_three_shards("resume");
    for (bool shuffle : {false, true})
        for (int stop : {0, 1, 7, 40, 41, 123}) {  // micro-batches read before saving (K=3: 7, 40 are mid-step)
            CAPTURE(shuffle); CAPTURE(stop);
            const int B = 2, T = 4, N = 2, K = 3;
            for (int r = 0; r < N; r++) {
                DataLoader a(tmp("resume_*.bin"), B, T, r, N, K, 1 << 20, shuffle, 7);
                for (int i = 0; i < stop; i++) next(a, B, T);
                // through text, as a checkpoint stores it
                nlohmann::json saved = nlohmann::json::parse(a.state().dump());
                // a fresh loader of rank 0's state restores any rank: the state holds no rank
                DataLoader b(tmp("resume_*.bin"), B, T, r, N, K, 1 << 20, shuffle, 7);
                for (int i = 0; i < 5; i++) next(b, B, T);  // somewhere else first
                b.restore(saved);
                CHECK(b.state() == a.state());
                bool same = true;
                for (int i = 0; i < 200 && same; i++) same = next(a, B, T) == next(b, B, T);
                CHECK_MESSAGE(same, "batches after restore differ");
            }
        }
}

TEST_CASE("restore refuses a state that does not fit") {
    make_three_shards("fit");
    DataLoader a(tmp("fit_*.bin"), 2, 4, 0, 2, 3, 1 << 20, true, 7);
    for (int i = 0; i < 10; i++) next(a, 2, 4);
    nlohmann::json s = a.state();
    auto refused = [&](const nlohmann::json& bad, DataLoader& dl, const std::string& what) {
        std::string msg = error_of([&] { dl.restore(bad); });
        CHECK_MESSAGE(msg.find(what) != std::string::npos, "message: " << msg);
    };
    DataLoader other_b(tmp("fit_*.bin"), 4, 4, 0, 2, 3, 1 << 20, true, 7);
    refused(s, other_b, "rows per step");
    DataLoader other_world(tmp("fit_*.bin"), 2, 4, 0, 3, 3, 1 << 20, true, 7);
    refused(s, other_world, "rows per step");
    // the same rows per step split another way (4 rows x 3 ranks x 1 micro-batch) fits a state
    // taken between steps, and then reads the same tokens, but not one taken inside a step
    DataLoader resplit(tmp("fit_*.bin"), 4, 4, 0, 3, 1, 1 << 20, true, 7);
    refused(s, resplit, "inside a step");
    DataLoader between(tmp("fit_*.bin"), 2, 4, 0, 2, 3, 1 << 20, true, 7);
    for (int i = 0; i < 9; i++) next(between, 2, 4);
    resplit.restore(between.state());
    std::vector<int> want, got;
    for (int r = 0; r < 2; r++) {                       // step 4 as 2 ranks x 3 micro-batches of 2 rows
        DataLoader rank(tmp("fit_*.bin"), 2, 4, r, 2, 3, 1 << 20, true, 7);
        rank.restore(between.state());
        for (int k = 0; k < 3; k++) for (int t : next(rank, 2, 4).x) want.push_back(t);
    }
    for (int r = 0; r < 3; r++) {                       // and as 3 ranks x 1 micro-batch of 4 rows
        DataLoader rank(tmp("fit_*.bin"), 4, 4, r, 3, 1, 1 << 20, true, 7);
        rank.restore(between.state());
        for (int t : next(rank, 4, 4).x) got.push_back(t);
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    CHECK(want == got);
    DataLoader other_files(tmp("fit_00000[01].bin"), 2, 4, 0, 2, 3, 1 << 20, true, 7);
    refused(s, other_files, "data files");
    DataLoader same(tmp("fit_*.bin"), 2, 4, 1, 2, 3, 1 << 20, true, 7);
    nlohmann::json bad = s;
    bad["micro_step"] = 3;
    refused(bad, same, "out of range");
    bad = s;
    bad["window_pos"] = 100000;
    refused(bad, same, "past the end");
    bad = s;
    bad["file_tokens"][1] = 251;
    refused(bad, same, "fit_000001.bin");
    bad = s;
    bad.erase("epoch");
    refused(bad, same, "malformed");
    refused(nlohmann::json("nonsense"), same, "malformed");
    // after all that, a good state still works
    same.restore(s);
    CHECK(same.state() == s);
}

// ---------------------------------------------------------------- the data `make data` prepares

TEST_CASE("the tinyshakespeare shards of `make data` are valid GPT-2 shards") {
    const std::string train = "data/tinyshakespeare/train_000000.bin", val = "data/tinyshakespeare/val_000000.bin";
    if (!fs::exists(train) || !fs::exists(val)) FAIL("missing " << train << " or " << val << ": run `make data` first");
    std::vector<uint32_t> v = read_shard(val, 50257), t = read_shard(train, 50257);
    MESSAGE("tinyshakespeare: " << v.size() << " val tokens, " << t.size() << " train tokens");
    // GPT-2 encodes input.txt to 338,025 tokens; one end-of-text token is put in front,
    // and the first 10% of the tokens are the validation split (see data_prep/README.md)
    CHECK(v.size() + t.size() == 338026);
    CHECK(v.size() == 33802);
    REQUIRE(v.size() > 4);
    CHECK(v[0] == 50256);                                  // <|endoftext|>
    CHECK((v[1] == 5962 && v[2] == 22307 && v[3] == 25));  // "First Citizen:"
    CHECK(file_bytes(val).size() == 1024 + 2 * v.size());  // uint16 format
    DataLoader dl(train, 4, 64, 0, 1, 1, 50257, false, 0);
    CHECK(dl.total_tokens() == t.size());
}
