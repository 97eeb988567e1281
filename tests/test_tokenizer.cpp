// test_tokenizer.cpp: tokenizer.h against OpenAI's tiktoken, the oracle.
//
// Every valid-UTF-8 case here is encoded by tokenizer.h and by tiktoken's "gpt2" encoding
// (tests/tiktoken_ids.py, one Python run for all cases) and the ids must be identical.
// Then: exact round trips (also invalid UTF-8 and random bytes), encode_parallel ==
// encode, save/load, BPE training, and the errors bad files must give.
// Needs data/gpt2/{encoder.json,vocab.bpe} and tinyshakespeare's input.txt (`make data`),
// and Python with tiktoken (PYTHON, default /usr/bin/python3).
#include <doctest/doctest.h>

#include "tokenizer.h"

#include <chrono>
#include <random>
#include <unistd.h>

// ----------------------------------------------------------------------------
// helpers

static const std::string kGpt2Dir = "data/gpt2";

static bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

static std::string shakespeare_path() {
    const char* mirror = getenv("DATA_MIRROR");
    return (mirror && *mirror ? std::string(mirror) : std::string("data")) + "/tinyshakespeare/input.txt";
}

static const Tokenizer& gpt2() {
    static Tokenizer t = [] {
        if (!file_exists(kGpt2Dir + "/encoder.json") || !file_exists(kGpt2Dir + "/vocab.bpe"))
            FAIL(kGpt2Dir << "/{encoder.json,vocab.bpe} missing: run `make data` first");
        return Tokenizer::load(kGpt2Dir);
    }();
    return t;
}

static const std::string& shakespeare() {
    static std::string s = [] {
        std::string path = shakespeare_path();
        if (!file_exists(path)) FAIL(path << " missing: run `make data` first (or set DATA_MIRROR)");
        return read_file(path);
    }();
    return s;
}

static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// printable form of a test string for failure messages
static std::string show(const std::string& s, size_t max = 80) {
    std::string o;
    for (size_t i = 0; i < s.size() && i < max; i++) {
        unsigned char c = s[i];
        if (c >= 32 && c < 127 && c != '\\') o += char(c);
        else { char buf[8]; snprintf(buf, sizeof buf, "\\x%02x", c); o += buf; }
    }
    return s.size() > max ? o + "...(" + std::to_string(s.size()) + " bytes)" : o;
}

static std::string utf8(uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else if (cp < 0x800) { s += char(0xC0 | cp >> 6); s += char(0x80 | (cp & 63)); }
    else if (cp < 0x10000) { s += char(0xE0 | cp >> 12); s += char(0x80 | (cp >> 6 & 63)); s += char(0x80 | (cp & 63)); }
    else { s += char(0xF0 | cp >> 18); s += char(0x80 | (cp >> 12 & 63)); s += char(0x80 | (cp >> 6 & 63)); s += char(0x80 | (cp & 63)); }
    return s;
}

// tiktoken's ids for each case (allow_special per case), from one run of tests/tiktoken_ids.py
static std::vector<std::vector<uint32_t>> tiktoken_ids(const std::string& vocab_dir,
                                                      const std::vector<std::pair<std::string, bool>>& cases) {
    std::string in_path = (std::filesystem::temp_directory_path() / ("test_tokenizer_" + std::to_string(getpid()) + ".txt")).string();
    {
        std::ofstream f(in_path, std::ios::binary);
        static const char* hex = "0123456789abcdef";
        for (auto& [text, special] : cases) {
            std::string line = special ? "S " : "O ";
            for (unsigned char c : text) { line += hex[c >> 4]; line += hex[c & 15]; }
            f << line << "\n";
        }
    }
    const char* py = getenv("PYTHON");
    std::string cmd = std::string(py && *py ? py : "/usr/bin/python3") + " tests/tiktoken_ids.py " + vocab_dir + " < " + in_path;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE_MESSAGE(p != nullptr, "cannot run " << cmd);
    std::string out;
    char buf[1 << 16];
    for (size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, got);
    int status = pclose(p);
    std::filesystem::remove(in_path);
    if (status != 0)
        FAIL("`" << cmd << "` failed (status " << status << "); it needs tiktoken: "
             "`/usr/bin/python3 -m pip install tiktoken` (or set PYTHON to a Python that has it)");
    std::vector<std::vector<uint32_t>> ids;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        ids.emplace_back();
        std::istringstream nums(line);
        for (uint32_t v; nums >> v;) ids.back().push_back(v);
    }
    REQUIRE_MESSAGE(ids.size() == cases.size(), "tiktoken_ids.py returned " << ids.size() << " lines for " << cases.size() << " cases");
    return ids;
}

// compares and prints the first mismatch with its position
static bool same_ids(const std::vector<uint32_t>& got, const std::vector<uint32_t>& want, const std::string& text) {
    if (got == want) return true;
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) i++;
    auto at = [&](const std::vector<uint32_t>& v) { return i < v.size() ? std::to_string(v[i]) : std::string("(end)"); };
    MESSAGE("mismatch on \"" << show(text) << "\": " << got.size() << " ids vs tiktoken's " << want.size()
            << "; first difference at id " << i << ": " << at(got) << " vs " << at(want));
    return false;
}

// ----------------------------------------------------------------------------
// the cases

static std::vector<std::string> tricky_cases() {
    std::vector<std::string> c = {
        "", "a", " ", "  ", "\n", "Hello world", "Hello, world! How's it going?",
        // contractions, in odd cases and places
        "I'm you're we've they'll she'd it's can't", "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S CAN'T",
        "'S 'LL 'Re 'vE", "'s's's 'll'll", "''s", "'", "''", " 's", "rock 'n' roll", "o'clock", "x'y'z",
        "'tis 'twas", "don’t won’t (curly apostrophe)",
        // digits and numbers
        "12345678901234567890", "3.14159 2,718 1e-10 0x1F -42", " 1 22 333 4444", "a1b2c3", "٣٤٥ ४५६ 七八九 Ⅻ ½ ²",
        // whitespace: runs, tabs, \r\n, trailing, unicode spaces
        "a  b   c    d", "a\tb\t\tc", "line1\r\nline2\r\n\r\nline3", "trailing   ", "   leading", "a \n b",
        "x\n\n\ny", "x \n \n y", "\t\t\n  \n", std::string(1000, ' ') + "x", "x" + std::string(1000, ' '),
        std::string(300, '\n'), "a\u00a0b \u00a0c\u00a0 d", "a\u3000b\u2003c\u2028d\u2029e\u202f\u205f", "a\xc2\x85" "b",
        "\x0b\x0c\x1c\x1d\x1e\x1f", "tab\t \tmix \t",
        // control characters and NUL
        std::string("nul\0byte", 8), "\x01\x02\x03\x7f", "bell\a esc\x1b[0m",
        // punctuation runs
        "!!!???...,,,;;;", "a.b,c;d:e", " (x) [y] {z} <w>", "--==++**", "@user #tag $5 %d ^_^ ~`|\\",
        // scripts
        "Привет, мир! Как дела?", "Γειά σου Κόσμε", "こんにちは世界、元気ですか？", "你好，世界！我很好。", "안녕하세요 세계",
        "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "ሰላም ለዓለም", "Ꭳ Ꮝ Ꮹ",
        "mixed: English русский 中文 العربية 日本語 123 ٤٥٦",
        // combining marks, accents, zero-width characters
        "e\u0301 a\u0300\u0301\u0302 n\u0303", "Z\u0351\u036b\u0343a\u0352l\u0367g\u0310o", "café naïve Zürich Ærø",
        "a\u200bb\u200cc\u200dd\ufeffe", "\u200d\u200d\u200d",
        // emoji, including ZWJ sequences, skin tones, flags, keycaps
        "😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 1️⃣ ❤️", "emoji😀in😀words", " 🤖 robots 🤖",
        // rare planes and specials
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐍈 𓀀", "\U000E0041\U000E0042 tags", "\uFFFD\uFFFE\uFFFF", "\U0010FFFF",
        // special token text (plain by default)
        "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext", " <|endoftext|> ",
        // very long words and repeats
        std::string(5000, 'a'), "pneumonoultramicroscopicsilicovolcanoconiosis", std::string(2000, '!'),
        "supercalifragilisticexpialidocious" + std::string(100, 'z'),
    };
    std::string rep;
    for (int i = 0; i < 200; i++) rep += "naïve café ";
    c.push_back(rep);
    return c;
}

// random strings from a pool of troublesome pieces: checks the pre-split where cases meet
static std::vector<std::string> random_cases(int n, uint32_t seed) {
    static const std::vector<std::string> pool = {
        "a", "Z", "é", "ß", "я", "中", "ア", "ㄱ", "ع", "1", "٣", "Ⅻ", "½", " ", "  ", "\n", "\r\n", "\t", "\u00a0",
        "\u3000", "\u2028", "'", "'s", "'S", "'ll", "'re", "’", "!", ".", ",", "-", "😀", "👍🏽", "\u200d", "\u0301",
        "\x01", "\x7f", "\ufffd", "𝔘", "<|endoftext|>", "the", " the", "ing", "000"};
    std::mt19937 rng(seed);
    std::vector<std::string> out;
    for (int i = 0; i < n; i++) {
        std::string s;
        int len = 1 + rng() % 40;
        for (int k = 0; k < len; k++) s += pool[rng() % pool.size()];
        out.push_back(s);
    }
    return out;
}

// every code point below U+20000, and the last planes, each between letters, digits and
// spaces: exercises every run of the Unicode table
static std::string code_point_sweep() {
    std::string s;
    auto add = [&](uint32_t cp) { s += "x" + utf8(cp) + "1" + utf8(cp) + " " + utf8(cp) + "\n"; };
    for (uint32_t cp = 1; cp < 0x20000; cp++) if (cp < 0xD800 || cp > 0xDFFF) add(cp);
    for (uint32_t cp = 0x20000; cp < 0x110000; cp += 97) add(cp);
    for (uint32_t cp = 0xE0000; cp < 0xE0200; cp++) add(cp);
    return s;
}

static std::vector<std::string> invalid_cases() {
    return {"\xff", "abc\xff" "def", "\x80\x80\x80", " \x80 x", "\xc3", "ab\xc3", "\xc3(", "\xc0\xaf overlong",
            "\xe0\x80\xaf", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too big", "\xf8\x88\x80\x80\x80",
            "\xe2\x82 truncated", "\xf0\x9f\x98 truncated emoji", "ok \xe2\x82\xac then \xe2\x82", "ab" + std::string(3000, '\xc3'),
            "\n\xff\nA\n\x80\n", "'\xff's", "1\xff" "2"};
}

// ----------------------------------------------------------------------------
// tests

TEST_CASE("GPT-2 vocabulary loads: sizes, special token, byte tokens") {
    const Tokenizer& t = gpt2();
    CHECK(t.vocab_size() == 50257);
    CHECK(t.eot_id() == 50256);
    CHECK(t.token_bytes(50256) == "<|endoftext|>");
    CHECK(t.token_bytes(220) == " ");
    CHECK(t.token_bytes(198) == "\n");
    CHECK(t.merges.size() == 50000);
    CHECK_THROWS_WITH_AS(t.token_bytes(50257), doctest::Contains("out of range"), std::runtime_error);
}

TEST_CASE("encode matches tiktoken exactly: tricky cases, random mixes, code point sweep, tinyshakespeare") {
    const Tokenizer& t = gpt2();
    std::vector<std::pair<std::string, bool>> cases;
    for (auto& s : tricky_cases()) cases.push_back({s, false});
    for (auto& s : random_cases(400, 1234)) cases.push_back({s, false});
    for (auto& s : {"<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "x \n<|endoftext|>\n y",
                    "hello <|endoftext|>", "<|endoftext", "<|endoftext|>'s"})
        cases.push_back({s, true});
    for (auto& s : random_cases(100, 99)) cases.push_back({s, true});
    cases.push_back({code_point_sweep(), false});
    cases.push_back({shakespeare(), false});
    auto t0 = std::chrono::steady_clock::now();
    auto want = tiktoken_ids(kGpt2Dir, cases);
    MESSAGE("tiktoken_ids.py: " << cases.size() << " cases in " << seconds_since(t0) << " s");
    int bad = 0;
    for (size_t i = 0; i < cases.size(); i++) {
        auto got = t.encode(cases[i].first, cases[i].second);
        if (!same_ids(got, want[i], cases[i].first) && ++bad > 10) break;
        CHECK(t.decode(got) == cases[i].first);
    }
    CHECK(bad == 0);
    CHECK(want.back().size() == 338025);   // tinyshakespeare in GPT-2 tokens
    MESSAGE("tinyshakespeare: " << want.back().size() << " tokens, identical to tiktoken");
}

TEST_CASE("decode(encode(x)) == x: invalid UTF-8 and random bytes") {
    const Tokenizer& t = gpt2();
    for (auto& s : invalid_cases()) CHECK_MESSAGE(t.decode(t.encode(s)) == s, show(s));
    std::mt19937 rng(7);
    for (int i = 0; i < 300; i++) {
        std::string s(rng() % 200, '\0');
        const std::string common = "\n ' a\x80\xc3\xe2";
        for (auto& c : s) c = char(rng() % 4 == 0 ? common[rng() % common.size()] : rng() % 256);
        std::vector<uint32_t> ids = t.encode(s, i % 2 == 1);
        REQUIRE_MESSAGE(t.decode(ids) == s, show(s));
    }
}

TEST_CASE("invalid UTF-8: each bad byte is one 'other' character, encoded by its byte token") {
    const Tokenizer& t = gpt2();
    auto ids = [&](const std::string& s) { return t.encode(s); };
    auto cat = [](std::vector<uint32_t> a, const std::vector<uint32_t>& b) { a.insert(a.end(), b.begin(), b.end()); return a; };
    // a lone 0xFF splits letters the way punctuation does: "abc" | "\xff" | "def"
    CHECK(ids("abc\xff" "def") == cat(cat(ids("abc"), {t.byte_id[0xFF]}), ids("def")));
    // it joins a punctuation run, like "!": "abc" | "\xff!" | "def"
    std::vector<uint32_t> run = ids("abc\xff!def");
    CHECK(t.decode(run) == "abc\xff!def");
    CHECK(run.size() == ids("abc").size() + 2 + ids("def").size());
    // a truncated sequence at the end is one bad byte per byte
    CHECK(ids("\xe2\x82") == std::vector<uint32_t>{t.byte_id[0xE2], t.byte_id[0x82]});
    // surrogates, overlong forms and code points past U+10FFFF are invalid bytes, not letters:
    // the pre-split cuts them off the letters around them
    std::string sur = "a\xed\xa0\x80" "b", over = "a\xc0\xaf" "b", big = "a\xf4\x90\x80\x80" "b";
    CHECK(gpt2_piece_end(sur, 0) == 1);
    CHECK(gpt2_piece_end(sur, 1) == 4);
    CHECK(gpt2_piece_end(over, 1) == 3);
    CHECK(gpt2_piece_end(big, 1) == 5);
    CHECK(gpt2_piece_end("a\xc3\xa9" "b", 0) == 4);   // while a valid "é" is a letter
    CHECK(ids("\xc0\xaf") == std::vector<uint32_t>{t.byte_id[0xC0], t.byte_id[0xAF]});
}

TEST_CASE("the safe split points really are piece boundaries") {
    // brute force: cutting the text at any point is_safe_split accepts changes nothing
    const Tokenizer& t = gpt2();
    std::vector<std::string> texts = random_cases(600, 42);
    for (auto& s : invalid_cases()) texts.push_back(s);
    texts.push_back("A\nB\n C\n\nD \nE\n\xff\n\xc3\nF\n\u3000\n\u00e9\n\u00a0\nG\xe2\x80\x80\nH");
    int checked = 0;
    for (auto& s : texts)
        for (size_t p = 0; p <= s.size(); p++) {
            if (!is_safe_split(s, p)) continue;
            std::vector<uint32_t> a = t.encode(s.substr(0, p)), b = t.encode(s.substr(p));
            a.insert(a.end(), b.begin(), b.end());
            REQUIRE_MESSAGE(a == t.encode(s), "cut at " << p << " of \"" << show(s) << "\"");
            checked++;
        }
    CHECK(checked > 100);
    CHECK(is_safe_split("ab\ncd", 3));
    CHECK_FALSE(is_safe_split("ab \ncd", 4));         // "\s+(?!\S)" would take " \n" at a cut
    CHECK_FALSE(is_safe_split("ab\n cd", 3));         // " cd" starts with the optional space
    CHECK_FALSE(is_safe_split("ab\u3000\ncd", 6));    // a non-ASCII space before the newline
}

TEST_CASE("encode_parallel == encode on tinyshakespeare and on large tricky text") {
    const Tokenizer& t = gpt2();
    const std::string& text = shakespeare();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<uint32_t> serial = t.encode(text);
    double s1 = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    std::vector<uint32_t> par = t.encode_parallel(text, 4);
    double s4 = seconds_since(t0);
    CHECK(par == serial);
    MESSAGE("tinyshakespeare: encode " << text.size() / s1 / 1e6 << " MB/s, encode_parallel(4) " << text.size() / s4 / 1e6 << " MB/s");
    std::string mixed;
    std::vector<std::string> pieces = tricky_cases(), more = random_cases(2000, 5), bad = invalid_cases();
    pieces.insert(pieces.end(), more.begin(), more.end());
    pieces.insert(pieces.end(), bad.begin(), bad.end());
    while (mixed.size() < (3u << 20)) for (auto& p : pieces) mixed += p + (mixed.size() % 3 ? "\n" : "\n\n");
    for (int threads : {1, 2, 3, 8}) CHECK(t.encode_parallel(mixed, threads) == t.encode(mixed));
}

TEST_CASE("save then load round-trips; GPT-2's files come back byte for byte") {
    const Tokenizer& t = gpt2();
    std::string dir = (std::filesystem::temp_directory_path() / ("test_tokenizer_save_" + std::to_string(getpid()))).string();
    t.save(dir);
    CHECK(read_file(dir + "/encoder.json") == read_file(kGpt2Dir + "/encoder.json"));
    CHECK(read_file(dir + "/vocab.bpe") == read_file(kGpt2Dir + "/vocab.bpe"));
    Tokenizer u = Tokenizer::load(dir);
    CHECK(u.tokens == t.tokens);
    CHECK(u.encode(shakespeare().substr(0, 100000)) == t.encode(shakespeare().substr(0, 100000)));
    std::filesystem::remove_all(dir);
}

// The vocabularies that bpe_train has always learned from tinyshakespeare (1,024 ids is what
// `make data` trains, prepare_data --train-vocab 1024), as checksums of the saved files
// (FNV-1a 64): any change in the merges, their order or the ids changes them.
static uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}
static const uint64_t ENCODER_1K_FNV = 0x93dfde21ce946c76ull, VOCAB_1K_FNV = 0x5e8ee3bc5c3e99afull;
static const uint64_t ENCODER_4K_FNV = 0xf201b0e72c72855aull, VOCAB_4K_FNV = 0x463e949055145b4dull;

TEST_CASE("bpe_train: 4096 tokens on tinyshakespeare, deterministic, round-trips, compresses, tiktoken agrees") {
    const std::string& text = shakespeare();
    auto t0 = std::chrono::steady_clock::now();
    Tokenizer a = bpe_train(text, 4096);
    MESSAGE("bpe_train: 4096 tokens on tinyshakespeare in " << seconds_since(t0) << " s");
    CHECK(a.vocab_size() == 4096);
    CHECK(a.eot_id() == 4095);
    CHECK(a.token_bytes(4095) == "<|endoftext|>");
    std::string base = (std::filesystem::temp_directory_path() / ("test_tokenizer_bpe_" + std::to_string(getpid()))).string();
    a.save(base + "/a");
    // determinism: the same text again gives identical files
    bpe_train(text, 4096).save(base + "/b");
    CHECK(read_file(base + "/a/encoder.json") == read_file(base + "/b/encoder.json"));
    CHECK(read_file(base + "/a/vocab.bpe") == read_file(base + "/b/vocab.bpe"));
    CHECK(fnv1a(read_file(base + "/a/encoder.json")) == ENCODER_4K_FNV);
    CHECK(fnv1a(read_file(base + "/a/vocab.bpe")) == VOCAB_4K_FNV);
    Tokenizer loaded = Tokenizer::load(base + "/a");
    CHECK(loaded.tokens == a.tokens);
    std::vector<uint32_t> ids = loaded.encode(text);
    CHECK(loaded.decode(ids) == text);
    CHECK(loaded.encode_parallel(text, 4) == ids);
    double ratio = double(text.size()) / ids.size();
    MESSAGE("trained 4096-token vocabulary: " << ids.size() << " tokens, " << ratio << " bytes/token (GPT-2: "
            << double(text.size()) / 338025 << ")");
    CHECK(ratio > 3.0);   // bytes are 1.0; a 4096-token BPE on its own training text does far better
    // the files are OpenAI's format: tiktoken loads them and encodes the same ids
    std::string other = "Now is the winter of our discontent, 'tis true! Привет 123\n\nKING RICHARD III:\n";
    auto want = tiktoken_ids(base + "/a", {{text.substr(0, 200000), false}, {other, false}, {other + "<|endoftext|>", true}});
    CHECK(same_ids(loaded.encode(text.substr(0, 200000)), want[0], "tinyshakespeare[0:200000]"));
    CHECK(same_ids(loaded.encode(other), want[1], other));
    CHECK(same_ids(loaded.encode(other + "<|endoftext|>", true), want[2], other));
    std::filesystem::remove_all(base);
}

TEST_CASE("bpe_train: tinyshakespeare's 1,024-id vocabulary is byte for byte what it always was") {
    Tokenizer t = bpe_train(shakespeare(), 1024);
    std::string dir = (std::filesystem::temp_directory_path() / ("test_tokenizer_1k_" + std::to_string(getpid()))).string();
    t.save(dir);
    CHECK(fnv1a(read_file(dir + "/encoder.json")) == ENCODER_1K_FNV);
    CHECK(fnv1a(read_file(dir + "/vocab.bpe")) == VOCAB_1K_FNV);
    std::filesystem::remove_all(dir);
}

// text of n bytes that defeats a trainer which rewrites whole words per merge
static std::string adversarial_text(const std::string& kind, size_t n) {
    std::mt19937 rng(7);
    std::string s(n, 'a');
    if (kind == "random letters") for (char& c : s) c = char('a' + rng() % 26);
    if (kind == "no spaces") for (char& c : s) c = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?-'\"()"[rng() % 46];
    return s;
}

TEST_CASE("bpe_train is near-linear on any text: its work counter grows like the text, not its square") {
    // The trainer counts its elementary steps (pair-count updates, heap operations, positions
    // visited). On adversarial text (one letter; random letters, i.e. one 'word'; letters,
    // digits and punctuation without spaces) the work per byte must stay within a constant
    // factor of ordinary text's, and doubling the text at most (a little over) doubles it.
    // A trainer that rewrites whole words per merge does ~1,000 merges x the whole text
    // (1,187 per byte on random letters), and on one letter learns tokens of 2^17 bytes.
    const size_t n = 1 << 20;
    std::string ordinary;
    while (ordinary.size() < 2 * n) ordinary += shakespeare();
    auto work = [](const std::string& text) {
        BpeTrainStats st;
        Tokenizer t = bpe_train(text, 1024, false, &st);
        CHECK(t.decode(t.encode(text.substr(0, 5000))) == text.substr(0, 5000));
        // checking a vocabulary costs the square of each token's length: tokens stay short
        size_t longest = 0;
        for (size_t id = 0; id < t.vocab_size(); id++) longest = std::max(longest, t.token_bytes(id).size());
        CHECK(longest <= kMaxTrainPiece);
        return (double)st.work;
    };
    double ordinary_per_byte = work(ordinary.substr(0, 2 * n)) / (2 * n);
    MESSAGE("ordinary text: " << ordinary_per_byte << " work per byte");
    for (std::string kind : {"one letter", "random letters", "no spaces"}) {
        double w1 = work(adversarial_text(kind, n)), w2 = work(adversarial_text(kind, 2 * n));
        MESSAGE(kind << ": " << w2 / (2 * n) << " work per byte; doubling the text multiplies the work by " << w2 / w1);
        CHECK_MESSAGE(w2 / (2 * n) <= 16, kind);
        CHECK_MESSAGE(w2 / (2 * n) <= 50 * ordinary_per_byte, kind);
        CHECK_MESSAGE(w2 <= 2.5 * w1, kind);
    }
}

TEST_CASE("bpe_train: pieces longer than the training bound are cut at character boundaries") {
    // 200 three-byte letters then 300 spaces: pieces of 600 and 300 bytes (and a space
    // before "x"), cut into chunks of at most 256 bytes, never inside a character
    std::string s;
    for (int i = 0; i < 200; i++) s += "\xe4\xbd\xa0";   // U+4F60
    s += std::string(300, ' ') + "x";
    std::vector<std::string> pieces;
    for_each_train_piece(s, [&](std::string_view p) { pieces.emplace_back(p); });
    std::vector<size_t> sizes;
    for (const std::string& p : pieces) sizes.push_back(p.size());
    CHECK(sizes == std::vector<size_t>{255, 255, 90, 256, 43, 2});
    std::string joined;
    for (const std::string& p : pieces) joined += p;
    CHECK(joined == s);
    Tokenizer t = bpe_train(s, 400);
    CHECK(t.decode(t.encode(s)) == s);
}

TEST_CASE("bpe_train: tiny texts and bad sizes") {
    CHECK_THROWS_WITH_AS(bpe_train("abc", 100), doctest::Contains("too small"), std::runtime_error);
    Tokenizer t = bpe_train("aaaa bbbb", 300);   // runs out of pairs: stops early, still valid
    CHECK(t.vocab_size() < 300);
    CHECK(t.decode(t.encode("aaaa bbbb abab")) == "aaaa bbbb abab");
    CHECK(t.eot_id() == (int64_t)t.vocab_size() - 1);
}

TEST_CASE("bad files throw errors that name the file") {
    std::string dir = (std::filesystem::temp_directory_path() / ("test_tokenizer_bad_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
    auto write = [&](const std::string& name, const std::string& data) { std::ofstream(dir + "/" + name, std::ios::binary) << data; };
    auto error_of = [&]() -> std::string {
        try { Tokenizer::load(dir); } catch (const std::runtime_error& e) { return e.what(); }
        return "(no exception)";
    };
    CHECK_THROWS_WITH_AS(Tokenizer::load(dir + "/nowhere"), doctest::Contains("nowhere/encoder.json: cannot open"), std::runtime_error);
    write("encoder.json", "{\"a\": 0, \"b\": ");
    CHECK(error_of().find("encoder.json: not valid JSON") != std::string::npos);
    // a valid byte-level vocabulary: the 256 bytes in GPT-2's order, then "ab"
    std::string enc = "{";
    for (int r = 0; r < 256; r++) {
        std::string b(1, char(byte_alphabet().byte_at_rank[r]));
        enc += nlohmann::json(bytes_to_alphabet(b)).dump() + ": " + std::to_string(r) + ", ";
    }
    write("encoder.json", enc + "\"ab\": 256}");
    CHECK(error_of().find("vocab.bpe: cannot open") != std::string::npos);
    write("vocab.bpe", "#version: 0.2\na b\n");
    CHECK(error_of() == "(no exception)");
    write("vocab.bpe", "#version: 0.2\na b\nab\n");
    CHECK(error_of().find("vocab.bpe line 3: not two symbols") != std::string::npos);
    write("vocab.bpe", "#version: 0.2\na q7\n");
    CHECK(error_of().find("vocab.bpe line 2: a symbol that is not in encoder.json") != std::string::npos);
    write("vocab.bpe", "#version: 0.2\na c\n");
    CHECK(error_of().find("makes a token that is not in the vocabulary") != std::string::npos);
    write("vocab.bpe", "#version: 0.2\na b\n");
    write("encoder.json", enc + "\"ab\": 300}");
    CHECK(error_of().find("encoder.json: token \"ab\" has id 300") != std::string::npos);
    write("encoder.json", enc + "\"a\\u0000\": 256}");
    CHECK_MESSAGE(error_of().find("outside GPT-2's byte alphabet") != std::string::npos, error_of());
    write("encoder.json", "{\"a\": 0}");
    write("vocab.bpe", "#version: 0.2\n");
    CHECK(error_of().find("no token for byte") != std::string::npos);
    write("encoder.json", "[1, 2]");
    CHECK(error_of().find("encoder.json: expected a JSON object") != std::string::npos);
    std::filesystem::remove_all(dir);
    std::vector<uint32_t> bad_id{50257};
    CHECK_THROWS_WITH_AS(gpt2().decode(bad_id), doctest::Contains("out of range"), std::runtime_error);
}

TEST_CASE("a directory where a file belongs is refused, naming it: ./tokenize encode, decode, train and load") {
    std::string dir = (std::filesystem::temp_directory_path() / ("test_tokenizer_dir_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir + "/vocab/encoder.json");
    for (std::string cmd : {"encode --vocab " + kGpt2Dir, "decode --vocab " + kGpt2Dir, "train --vocab-size 300 --out " + dir + "/out"}) {
        CAPTURE(cmd);
        FILE* p = popen(("./tokenize " + cmd + " " + dir + " 2>&1").c_str(), "r");
        REQUIRE(p);
        std::string out;
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
        int status = pclose(p);
        CAPTURE(out);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 1);
        CHECK(out.find("error: " + dir + ": is a directory, not a file") != std::string::npos);
    }
    CHECK_THROWS_WITH_AS(Tokenizer::load(dir + "/vocab"), doctest::Contains("encoder.json: is a directory"), std::runtime_error);
    std::filesystem::remove_all(dir);
}
