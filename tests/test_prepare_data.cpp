// tests/test_prepare_data.cpp: ./prepare_data end to end on small local sources (no network):
// your own text (.txt and .jsonl, folders), a TinyStories-shaped folder, and a local mirror of
// FineWeb-Edu's published shards. Expected tokens come from tokenizer.h directly: each document
// is prefixed with <|endoftext|>, in sorted file order, split into val (first) and train.
#include <doctest/doctest.h>
#include "train_common.h"
#include "tests/test_util.h"

static std::vector<uint32_t> documents(const Tokenizer& tok, const std::vector<std::string>& docs) {
    std::vector<uint32_t> all;
    for (const std::string& d : docs) {
        all.push_back((uint32_t)tok.eot_id());
        for (uint32_t id : tok.encode(d)) all.push_back(id);
    }
    return all;
}

static std::vector<uint32_t> concat(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
    std::vector<uint32_t> r = a;
    r.insert(r.end(), b.begin(), b.end());
    return r;
}

TEST_CASE("prepare_data text: .txt and .jsonl documents, folders in sorted order, val first") {
    data_file("data/gpt2/encoder.json");
    Tokenizer tok = Tokenizer::load("data/gpt2");
    std::string dir = make_temp_dir("text");
    fs::create_directories(dir + "/in/sub");
    write_file(dir + "/in/a.txt", "Hello world.\n");
    write_file(dir + "/in/sub/b.jsonl", "{\"text\": \"First doc\"}\n{\"text\": \"Second doc \\u00fcn\"}\n");
    CommandResult r = run_command("./prepare_data text --out " + dir + "/out --vocab data/gpt2 --val-frac 0.3 " + dir + "/in");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    std::vector<uint32_t> val = read_shard(dir + "/out/val_000000.bin", 50257), train = read_shard(dir + "/out/train_000000.bin", 50257);
    std::vector<uint32_t> want = documents(tok, {"Hello world.\n", "First doc", "Second doc \xc3\xbcn"});
    CHECK(concat(val, train) == want);
    CHECK(val.size() == (size_t)(0.3 * want.size()));
    CHECK(read_file(dir + "/out/encoder.json") == read_file("data/gpt2/encoder.json"));   // self-describing
    // a .jsonl line without "text" is refused, naming the file
    write_file(dir + "/in/sub/b.jsonl", "{\"txt\": \"oops\"}\n");
    r = run_command("./prepare_data text --out " + dir + "/out2 --vocab data/gpt2 " + dir + "/in");
    CHECK(r.status != 0);
    CHECK(r.output.find("b.jsonl") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("prepare_data tinystories: data00.json is val, the rest train, stories trimmed") {
    data_file("data/gpt2/encoder.json");
    Tokenizer tok = Tokenizer::load("data/gpt2");
    std::string dir = make_temp_dir("ts");
    fs::create_directories(dir + "/src");
    write_file(dir + "/src/data00.json", R"([{"story": "  Once upon a time.  "}, {"story": "The end."}])");
    write_file(dir + "/src/data01.json", R"([{"story": "A cat sat."}])");
    write_file(dir + "/src/data02.json", R"([{"story": "A dog ran.\n"}])");
    CommandResult r = run_command("./prepare_data tinystories --out " + dir + "/out --vocab data/gpt2 --source " + dir + "/src");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK(read_shard(dir + "/out/val_000000.bin", 50257) == documents(tok, {"Once upon a time.", "The end."}));
    std::vector<uint32_t> train;
    for (const std::string& f : expand_glob(dir + "/out/train_*.bin")) train = concat(train, read_shard(f, 50257));
    CHECK(train == documents(tok, {"A cat sat.", "A dog ran."}));
    fs::remove_all(dir);
}

TEST_CASE("prepare_data fineweb-edu: a local mirror's shards are checked and copied as they are") {
    std::string dir = make_temp_dir("fw");
    fs::create_directories(dir + "/src");
    std::vector<uint32_t> val(3000), train1(5000), train2(4000);
    for (size_t i = 0; i < val.size(); i++) val[i] = (i * 7) % 50257;
    for (size_t i = 0; i < train1.size(); i++) train1[i] = (i * 13) % 50257;
    for (size_t i = 0; i < train2.size(); i++) train2[i] = (i * 17) % 50257;
    write_shard(dir + "/src/finewebedu_val_000000.bin", val.data(), val.size(), 50257);
    write_shard(dir + "/src/finewebedu_train_000001.bin", train1.data(), train1.size(), 50257);
    write_shard(dir + "/src/finewebedu_train_000002.bin", train2.data(), train2.size(), 50257);
    CommandResult r = run_command("./prepare_data fineweb-edu --out " + dir + "/out --shards 2 --source " + dir + "/src");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK(read_shard(dir + "/out/val_000000.bin", 50257) == val);
    CHECK(read_shard(dir + "/out/train_000001.bin", 50257) == train1);
    CHECK(read_shard(dir + "/out/train_000002.bin", 50257) == train2);
    // a corrupt shard in the mirror is refused, naming it
    std::string bytes = read_file(dir + "/src/finewebedu_train_000002.bin");
    write_file(dir + "/src/finewebedu_train_000002.bin", bytes.substr(0, bytes.size() - 6));
    r = run_command("./prepare_data fineweb-edu --out " + dir + "/out2 --shards 2 --source " + dir + "/src");
    CHECK(r.status != 0);
    CHECK(r.output.find("finewebedu_train_000002.bin") != std::string::npos);
    fs::remove_all(dir);
}

// Both tools share base.h's flag parser and error idiom: a bad command line exits 2 with a
// message naming the flag, a bad file exits 1 naming the file, --help lists every flag.
TEST_CASE("./prepare_data and ./tokenize: exit 2 naming a bad flag, 1 naming a bad file") {
    data_file("data/gpt2/encoder.json");
    std::string dir = make_temp_dir("cli");
    struct Case { std::string cmd, expect; int status; };
    for (const Case& c : std::vector<Case>{
             {"./prepare_data text --out " + dir + "/o --vocab data/gpt2 --val-fraction 0.1 x.txt", "--val-fraction", 2},
             {"./prepare_data tinyshakespeare --out " + dir + "/o --vocab", "--vocab needs a value", 2},
             {"./prepare_data text --out " + dir + "/o --vocab data/gpt2 --val-frac 2 x.txt", "--val-frac", 2},
             {"./prepare_data text --out " + dir + "/o --vocab " + dir + "/none x.txt", dir + "/none/encoder.json", 1},
             {"./tokenize encode --vocab data/gpt2 --threads many -", "--threads expects an integer", 2},
             {"./tokenize decode --vocab data/gpt2 --vocab-size 5 -", "unknown flag '--vocab-size'", 2},
             {"./tokenize train --vocab-size 100 --out " + dir + "/v x.txt", "--vocab-size 100", 2},
             {"./tokenize encode --vocab data/gpt2 " + dir + "/missing.txt", dir + "/missing.txt: cannot open", 1},
             {"./tokenize encode --vocab " + dir + " -", dir + "/encoder.json: cannot open", 1}}) {
        CommandResult r = run_command(c.cmd + " < /dev/null");
        CHECK_MESSAGE(r.status == c.status, c.cmd << "\n" << r.output);
        CHECK_MESSAGE(r.output.find(c.expect) != std::string::npos, c.cmd << "\n" << r.output);
    }
    CommandResult help = run_command("./tokenize --help");
    CHECK(help.status == 0);
    for (const char* flag : {"--vocab", "--allow-special", "--threads", "--vocab-size", "--out", "--quiet"})
        CHECK_MESSAGE(help.output.find(flag) != std::string::npos, flag);
    help = run_command("./prepare_data text --help");
    CHECK(help.status == 0);
    for (const char* flag : {"--out", "--vocab", "--train-vocab", "--val-frac"})
        CHECK_MESSAGE(help.output.find(flag) != std::string::npos, flag);
    fs::remove_all(dir);
}
