// tokenizer.h: byte-level BPE. GPT-2's tokenizer exactly (the same ids as OpenAI's
// tiktoken "gpt2" encoding on any UTF-8 text), decoding back to the exact bytes, and
// training a new BPE vocabulary on your own text, saved in the same two files.
//
// What it is not: a general tokenizer library. One pre-split rule (GPT-2's), one
// special token ("<|endoftext|>"), no normalisation, no regex engine: the pre-split
// pattern is written out by hand below, with Unicode tables generated from tiktoken
// itself by tools/gen_unicode_tables.py into tokenizer_unicode.h.
//
// Conventions a reader needs first:
// - A token is a byte string. Ids 0..vocab_size()-1. Decoding concatenates bytes, so it
//   returns exactly what was encoded, even where one token alone is not valid UTF-8.
// - Files (OpenAI's format, also read by tiktoken and Hugging Face):
//     encoder.json  {"token": id, ...}, each token's bytes written in GPT-2's
//                   byte-to-unicode alphabet (every byte is one printable code point:
//                   space is "Ġ" U+0120, newline is "Ċ" U+010A).
//     vocab.bpe     "#version: 0.2", then one merge "A B" per line, highest priority first.
// - Encoding follows tiktoken: a pre-split piece that is a whole token becomes that
//   token; otherwise its bytes are merged pair by pair, always the adjacent pair whose
//   concatenation has the lowest merge rank, the leftmost one on ties.
// - Invalid UTF-8 input never fails: each byte that does not start a valid UTF-8 sequence
//   is treated as one character of the "other" class (not a letter, number or space), so
//   it joins runs of punctuation and is encoded by byte tokens. Decoding gives it back.
// - encode() and decode() are const and keep nothing between calls (the piece cache lives
//   inside one call), so one Tokenizer can serve many threads at once.
// - Bad files call fail() (base.h), naming the file, what was wrong and what to do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base.h"               // defines: fail, read_file, write_file
#include "tokenizer_unicode.h"  // defines: kUnicodeRuns, the class of every code point (generated)
#ifdef _OPENMP
#include <omp.h>
#endif

// ----------------------------------------------------------------------------
// Unicode: UTF-8 decoding and the three character classes of GPT-2's pattern

enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// Class of a code point: ASCII by hand (the common case), the rest by binary search in
// the run table (about 11 steps).
static inline CharClass char_class(uint32_t cp) {
    if (cp < 128) {
        if ((cp | 32) - 'a' < 26) return kLetter;
        if (cp - '0' < 10) return kNumber;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return kSpace;
        return kOther;
    }
    const uint32_t* end = kUnicodeRuns + sizeof(kUnicodeRuns) / sizeof(kUnicodeRuns[0]);
    const uint32_t* run = std::upper_bound(kUnicodeRuns, end, (cp << 2) | 3u) - 1;
    return CharClass(*run & 3u);
}

// Decodes the character at s[0..n) (n >= 1) strictly: no overlong forms, no surrogates,
// nothing above U+10FFFF. Sets len to its byte length. An invalid byte gives
// kInvalidChar with len 1, so the caller moves on by exactly one byte.
static constexpr uint32_t kInvalidChar = 0xFFFFFFFFu;
static inline uint32_t utf8_decode(const unsigned char* s, size_t n, size_t& len) {
    len = 1;
    uint32_t c = s[0];
    if (c < 0x80) return c;
    size_t need; uint32_t min;
    if ((c & 0xE0) == 0xC0) { need = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { need = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { need = 4; min = 0x10000; c &= 0x07; }
    else return kInvalidChar;                      // a continuation byte or 0xF8..0xFF
    if (n < need) return kInvalidChar;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return kInvalidChar;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return kInvalidChar;
    len = need;
    return c;
}

// Class of the character starting at text[i]; sets len to its byte length.
static inline CharClass class_at(std::string_view text, size_t i, size_t& len) {
    unsigned char b = (unsigned char)text[i];
    if (b < 0x80) { len = 1; return char_class(b); }
    uint32_t cp = utf8_decode((const unsigned char*)text.data() + i, text.size() - i, len);
    return cp == kInvalidChar ? kOther : char_class(cp);
}

// ----------------------------------------------------------------------------
// GPT-2's pre-split, by hand. The pattern (as tiktoken runs it, leftmost alternative wins):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Returns the end of the piece that starts at text[pos]. BPE never merges across pieces,
// so this decides which byte strings can become tokens.

static inline size_t gpt2_piece_end(std::string_view text, size_t pos) {
    const size_t n = text.size();
    // 's 't 're 've 'm 'll 'd (lowercase only, exactly as GPT-2's pattern)
    if (text[pos] == '\'' && pos + 1 < n) {
        char a = text[pos + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
        if (pos + 2 < n) {
            char b = text[pos + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
        }
    }
    // " ?X+" for X = letters, numbers, other: an optional ASCII space, then a run of one class
    size_t len, start = pos;
    CharClass cls = class_at(text, pos, len);
    if (text[pos] == ' ' && pos + 1 < n) {
        size_t len2;
        CharClass next = class_at(text, pos + 1, len2);
        if (next != kSpace) { cls = next; start = pos + 1; len = len2; }
    }
    if (cls != kSpace) {
        size_t i = start + len;
        while (i < n && class_at(text, i, len) == cls) i += len;
        return i;
    }
    // whitespace run text[pos..end). "\s+(?!\S)": if a non-space follows, the run gives
    // up its last character (which then starts the next piece, e.g. " word"), unless the
    // run is a single character, which "\s+" then takes alone. At the end of the text
    // nothing follows, so the whole run is one piece.
    size_t i = pos, last = pos;
    while (i < n && class_at(text, i, len) == kSpace) { last = i; i += len; }
    if (i == n || last == pos) return i;
    return last;
}

// ----------------------------------------------------------------------------
// GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, the other 68
// bytes (controls, space, 0x7F..0xA0, 0xAD) become U+0100.. in byte order. Byte tokens
// get ids in this order (tiktoken's "rank_to_intbyte"), so GPT-2's "!" is id 0.

struct ByteAlphabet {
    uint32_t code_point[256];      // byte -> code point used in the files
    uint8_t byte_at_rank[256];     // id order of the 256 byte tokens
    int16_t byte_of[324];          // code point -> byte, -1 if not in the alphabet
    ByteAlphabet() {
        auto printable = [](int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; };
        std::fill(byte_of, byte_of + 324, -1);
        int r = 0, extra = 0;
        for (int b = 0; b < 256; b++) if (printable(b)) { code_point[b] = b; byte_at_rank[r++] = b; }
        for (int b = 0; b < 256; b++) if (!printable(b)) { code_point[b] = 256 + extra++; byte_at_rank[r++] = b; }
        for (int b = 0; b < 256; b++) byte_of[code_point[b]] = b;
    }
};
static inline const ByteAlphabet& byte_alphabet() { static const ByteAlphabet a; return a; }

// token bytes -> its string in the files (UTF-8 of the alphabet's code points)
static inline std::string bytes_to_alphabet(const std::string& bytes) {
    std::string s;
    for (unsigned char b : bytes) {
        uint32_t cp = byte_alphabet().code_point[b];
        if (cp < 0x80) s += char(cp);
        else { s += char(0xC0 | (cp >> 6)); s += char(0x80 | (cp & 0x3F)); }
    }
    return s;
}

// a string from the files -> token bytes; false if a character is outside the alphabet
static inline bool alphabet_to_bytes(const std::string& s, std::string& bytes) {
    bytes.clear();
    for (size_t i = 0, len; i < s.size(); i += len) {
        uint32_t cp = utf8_decode((const unsigned char*)s.data() + i, s.size() - i, len);
        if (cp >= 324 || byte_alphabet().byte_of[cp] < 0) return false;
        bytes += char(byte_alphabet().byte_of[cp]);
    }
    return true;
}

// ----------------------------------------------------------------------------
// Two small open-addressing hash tables for the hot loop. They store ids, not pointers,
// so a Tokenizer can be copied and moved freely.

// token bytes -> id, for whole-piece lookups. Slots hold ids; keys are the token strings.
struct BytesToId {
    std::vector<uint32_t> slots;   // kEmpty or an id into *tokens
    static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
    static uint64_t hash(std::string_view s) {   // FNV-1a: short keys, simple and good enough
        uint64_t h = 1469598103934665603ull;
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        return h ^ (h >> 29);
    }
    void build(const std::vector<std::string>& tokens, const std::vector<uint32_t>& ids) {
        size_t cap = 16;
        while (cap < 2 * ids.size()) cap *= 2;
        slots.assign(cap, kEmpty);
        for (uint32_t id : ids) {
            size_t i = hash(tokens[id]) & (cap - 1);
            while (slots[i] != kEmpty) i = (i + 1) & (cap - 1);
            slots[i] = id;
        }
    }
    uint32_t find(std::string_view s, const std::vector<std::string>& tokens) const {
        size_t mask = slots.size() - 1, i = hash(s) & mask;
        for (; slots[i] != kEmpty; i = (i + 1) & mask)
            if (tokens[slots[i]] == s) return slots[i];
        return kEmpty;
    }
};

// (left id, right id) -> (merge rank, id of the concatenation)
struct PairToMerge {
    struct Slot { uint64_t key; uint32_t rank, id; };
    std::vector<Slot> slots;
    static constexpr uint64_t kEmpty = ~0ull;
    static uint64_t key(uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; }
    size_t home(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull >> 20) & (slots.size() - 1); }
    void reserve(size_t n) { size_t cap = 16; while (cap < 2 * n) cap *= 2; slots.assign(cap, Slot{kEmpty, 0, 0}); }
    void insert(uint32_t a, uint32_t b, uint32_t rank, uint32_t id) {
        uint64_t k = key(a, b);
        size_t i = home(k);
        while (slots[i].key != kEmpty && slots[i].key != k) i = (i + 1) & (slots.size() - 1);
        if (slots[i].key == k && slots[i].rank <= rank) return;   // keep the best rank
        slots[i] = Slot{k, rank, id};
    }
    const Slot* find(uint32_t a, uint32_t b) const {
        uint64_t k = key(a, b);
        for (size_t i = home(k); slots[i].key != kEmpty; i = (i + 1) & (slots.size() - 1))
            if (slots[i].key == k) return &slots[i];
        return nullptr;
    }
};

// ----------------------------------------------------------------------------
// The tokenizer

struct Tokenizer {
    // ---- the vocabulary (what the files hold)
    std::vector<std::string> tokens;                       // (V) id -> bytes
    std::vector<std::pair<uint32_t, uint32_t>> merges;     // merge rank -> (left id, right id)
    int64_t eot = -1;                                       // id of "<|endoftext|>", -1 if none
    // ---- indexes built from it by build_indexes()
    std::vector<uint8_t> ordinary;     // (V) 1 for byte tokens and merge results, 0 for special tokens
    uint32_t byte_id[256];             // byte value -> id of its one-byte token
    BytesToId piece_to_id;             // ordinary token bytes -> id
    PairToMerge pair_to_merge;         // (u, v) -> rank and id of u+v, for every split of every merge result

    static Tokenizer load(const std::string& dir);
    void save(const std::string& dir) const;
    std::vector<uint32_t> encode(std::string_view text, bool allow_special = false) const;
    std::vector<uint32_t> encode_parallel(std::string_view text, int threads) const;
    std::string decode(const uint32_t* ids, size_t n) const;
    std::string decode(const std::vector<uint32_t>& ids) const { return decode(ids.data(), ids.size()); }
    const std::string& token_bytes(uint32_t id) const;
    size_t vocab_size() const { return tokens.size(); }
    int64_t eot_id() const { return eot; }

    // Builds a tokenizer from its parts (what load() reads, what bpe_train() learns) and
    // checks them; `where` names the source in error messages.
    static Tokenizer from_parts(std::vector<std::string> tokens,
                                std::vector<std::pair<uint32_t, uint32_t>> merges, const std::string& where);
    // Appends the ids of text (no special tokens) to out.
    void encode_ordinary(std::string_view text, std::vector<uint32_t>& out) const;

private:
    struct Workspace;   // scratch buffers of bpe_piece, reused across pieces
    void bpe_piece(std::string_view piece, std::vector<uint32_t>& out, Workspace& ws) const;
};

static const char* const kEndOfText = "<|endoftext|>";

inline Tokenizer Tokenizer::from_parts(std::vector<std::string> toks,
                                       std::vector<std::pair<uint32_t, uint32_t>> mrg, const std::string& where) {
    Tokenizer t;
    t.tokens = std::move(toks);
    t.merges = std::move(mrg);
    const size_t V = t.tokens.size();
    if (V >= 0xFFFFFFFFu) fail(where + ": too many tokens");
    // ordinary tokens: the 256 single bytes and the result of every merge
    t.ordinary.assign(V, 0);
    std::fill(t.byte_id, t.byte_id + 256, BytesToId::kEmpty);
    for (uint32_t id = 0; id < V; id++)
        if (t.tokens[id].size() == 1) { t.byte_id[(unsigned char)t.tokens[id][0]] = id; t.ordinary[id] = 1; }
    for (int b = 0; b < 256; b++)
        if (t.byte_id[b] == BytesToId::kEmpty)
            fail(where + ": no token for byte " + std::to_string(b) +
                 "; a byte-level vocabulary needs all 256 one-byte tokens");
    std::vector<uint32_t> merge_result(t.merges.size());
    {   // find each merge's result by its bytes (a temporary map; lookups happen once)
        std::unordered_map<std::string, uint32_t> by_bytes;
        for (uint32_t id = 0; id < V; id++) by_bytes.emplace(t.tokens[id], id);
        for (size_t r = 0; r < t.merges.size(); r++) {
            auto [a, b] = t.merges[r];
            if (a >= V || b >= V) fail(where + ": merge " + std::to_string(r + 1) + " uses an id out of range");
            auto it = by_bytes.find(t.tokens[a] + t.tokens[b]);
            if (it == by_bytes.end())
                fail(where + ": merge " + std::to_string(r + 1) + " (\"" + bytes_to_alphabet(t.tokens[a]) +
                     " " + bytes_to_alphabet(t.tokens[b]) + "\") makes a token that is not in the vocabulary");
            merge_result[r] = it->second;
            t.ordinary[it->second] = 1;
        }
    }
    std::vector<uint32_t> ordinary_ids;
    for (uint32_t id = 0; id < V; id++) if (t.ordinary[id]) ordinary_ids.push_back(id);
    t.piece_to_id.build(t.tokens, ordinary_ids);
    for (uint32_t id : ordinary_ids)
        if (t.piece_to_id.find(t.tokens[id], t.tokens) != id)
            fail(where + ": token \"" + bytes_to_alphabet(t.tokens[id]) + "\" appears twice");
    // tiktoken's rule: a pair (u, v) merges with the rank of the token u+v. Listing every
    // split of every merge result gives exactly that, as one hash lookup per pair.
    std::vector<int64_t> rank_of(V, -1);
    for (size_t r = 0; r < t.merges.size(); r++)
        if (rank_of[merge_result[r]] < 0) rank_of[merge_result[r]] = (int64_t)r;
    size_t splits = 0;
    for (uint32_t id : ordinary_ids) splits += t.tokens[id].size() - 1;
    t.pair_to_merge.reserve(splits);
    for (uint32_t id : ordinary_ids) {
        if (rank_of[id] < 0) continue;
        const std::string& s = t.tokens[id];
        for (size_t k = 1; k < s.size(); k++) {
            uint32_t u = t.piece_to_id.find(std::string_view(s).substr(0, k), t.tokens);
            uint32_t v = t.piece_to_id.find(std::string_view(s).substr(k), t.tokens);
            if (u != BytesToId::kEmpty && v != BytesToId::kEmpty) t.pair_to_merge.insert(u, v, (uint32_t)rank_of[id], id);
        }
    }
    t.eot = -1;
    for (uint32_t id = 0; id < V; id++) if (!t.ordinary[id] && t.tokens[id] == kEndOfText) t.eot = id;
    return t;
}

// ----------------------------------------------------------------------------
// Loading and saving the two files

// what to do when a vocabulary file is missing
static const char* const kVocabHint = "missing file? for GPT-2's files run `make data`";

// the lines of a text file, without their "\n" or "\r\n" (a last line without one counts too)
static inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < text.size();) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        lines.push_back(text.substr(pos, eol - pos));
        if (!lines.back().empty() && lines.back().back() == '\r') lines.back().pop_back();
        pos = eol + 1;
    }
    return lines;
}

inline Tokenizer Tokenizer::load(const std::string& dir) {
    const std::string enc_path = dir + "/encoder.json", bpe_path = dir + "/vocab.bpe";
    // encoder.json: {"token": id}; nlohmann decodes the \uXXXX escapes
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(enc_path, kVocabHint));
    } catch (const nlohmann::json::exception& e) {
        fail(enc_path + ": not valid JSON (" + e.what() + "); re-download it or run `make data`");
    }
    if (!j.is_object() || j.empty())
        fail(enc_path + ": expected a JSON object {\"token\": id, ...}");
    std::vector<std::string> toks(j.size());
    std::vector<uint8_t> seen(j.size(), 0);
    std::unordered_map<std::string, uint32_t> id_of;   // token string as in the files -> id
    for (auto& [key, value] : j.items()) {
        if (!value.is_number_unsigned() || value.get<uint64_t>() >= j.size())
            fail(enc_path + ": token " + nlohmann::json(key).dump() + " has id " + value.dump() + ", expected 0.." +
                 std::to_string(j.size() - 1) + " (each id used once)");
        uint32_t id = value.get<uint32_t>();
        if (seen[id]++) fail(enc_path + ": id " + std::to_string(id) + " is used twice");
        if (!alphabet_to_bytes(key, toks[id]))
            fail(enc_path + ": token " + nlohmann::json(key).dump() +
                 " has a character outside GPT-2's byte alphabet (not a GPT-2-style file?)");
        id_of.emplace(key, id);
    }
    // vocab.bpe: a version line, then "A B" per line
    std::vector<std::pair<uint32_t, uint32_t>> mrg;
    size_t line_no = 0;
    for (const std::string& line : split_lines(read_file(bpe_path, kVocabHint))) {
        line_no++;
        if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
        size_t sp = line.find(' ');
        auto bad = [&](const std::string& what) {
            fail(bpe_path + " line " + std::to_string(line_no) + ": " + what +
                 " in \"" + line + "\"; expected \"A B\" with A and B tokens of encoder.json");
        };
        if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
            bad("not two symbols separated by one space");
        auto a = id_of.find(line.substr(0, sp)), b = id_of.find(line.substr(sp + 1));
        if (a == id_of.end() || b == id_of.end()) bad("a symbol that is not in encoder.json");
        mrg.emplace_back(a->second, b->second);
    }
    return from_parts(std::move(toks), std::move(mrg), dir + "/{encoder.json,vocab.bpe}");
}

inline void Tokenizer::save(const std::string& dir) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(dir + ": cannot create directory (" + ec.message() + ")");
    // the layout of OpenAI's files: one line, ids in order, non-ASCII as \uXXXX
    std::string enc = "{";
    for (size_t id = 0; id < tokens.size(); id++) {
        if (id) enc += ", ";
        enc += nlohmann::json(bytes_to_alphabet(tokens[id])).dump(-1, ' ', true) + ": " + std::to_string(id);
    }
    enc += "}";
    std::string bpe = "#version: 0.2\n";
    for (auto [a, b] : merges) bpe += bytes_to_alphabet(tokens[a]) + " " + bytes_to_alphabet(tokens[b]) + "\n";
    write_file(dir + "/encoder.json", enc);
    write_file(dir + "/vocab.bpe", bpe);
}

// ----------------------------------------------------------------------------
// Encoding

// BPE on one piece that is not a whole token. Symbols form a linked list over the piece's
// bytes; a min-heap holds candidate pairs ordered by (rank, position), so the leftmost
// lowest-rank pair merges first, as in tiktoken, in O(n log n) even for a piece of
// megabytes (a long run of spaces is a single piece). Entries made stale by a merge stay
// in the heap and are skipped when popped: they no longer match the symbols.
struct Tokenizer::Workspace {
    struct Cand { uint32_t rank, left, left_id, right_id; };
    std::vector<uint32_t> id;              // symbol at byte position i (valid where alive)
    std::vector<int32_t> prev, next;       // linked list of live symbols, -1 at the ends
    std::vector<Cand> heap;
};

inline void Tokenizer::bpe_piece(std::string_view piece, std::vector<uint32_t>& out, Workspace& ws) const {
    const int32_t n = (int32_t)piece.size();
    ws.id.resize(n); ws.prev.resize(n); ws.next.resize(n); ws.heap.clear();
    auto later = [](const Workspace::Cand& x, const Workspace::Cand& y) {
        return x.rank != y.rank ? x.rank > y.rank : x.left > y.left;
    };
    auto push = [&](int32_t left) {   // candidate: the pair starting at symbol `left`
        int32_t right = ws.next[left];
        if (right < 0) return;
        if (const PairToMerge::Slot* m = pair_to_merge.find(ws.id[left], ws.id[right])) {
            ws.heap.push_back({m->rank, (uint32_t)left, ws.id[left], ws.id[right]});
            std::push_heap(ws.heap.begin(), ws.heap.end(), later);
        }
    };
    for (int32_t i = 0; i < n; i++) {
        ws.id[i] = byte_id[(unsigned char)piece[i]];
        ws.prev[i] = i - 1;
        ws.next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int32_t i = 0; i + 1 < n; i++) push(i);
    while (!ws.heap.empty()) {
        std::pop_heap(ws.heap.begin(), ws.heap.end(), later);
        Workspace::Cand c = ws.heap.back();
        ws.heap.pop_back();
        int32_t left = (int32_t)c.left, right = ws.next[left];
        // stale? (a dead symbol always has prev[]=-2, so its id check below fails)
        if (ws.prev[left] == -2 || ws.id[left] != c.left_id || right < 0 || ws.id[right] != c.right_id) continue;
        ws.id[left] = pair_to_merge.find(c.left_id, c.right_id)->id;   // merge right into left
        ws.next[left] = ws.next[right];
        if (ws.next[right] >= 0) ws.prev[ws.next[right]] = left;
        ws.prev[right] = -2;
        ws.id[right] = BytesToId::kEmpty;
        if (ws.prev[left] >= 0) push(ws.prev[left]);
        push(left);
    }
    for (int32_t i = 0; i >= 0; i = ws.next[i]) out.push_back(ws.id[i]);
}

inline void Tokenizer::encode_ordinary(std::string_view text, std::vector<uint32_t>& out) const {
    // Most pieces are whole tokens (one hash lookup). The rest repeat a lot in real text,
    // so their BPE result is cached per call: piece -> (offset, count) in `cached`.
    std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
    std::vector<uint32_t> cached;
    Workspace ws;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = gpt2_piece_end(text, pos);
        std::string_view piece = text.substr(pos, end - pos);
        pos = end;
        uint32_t id = piece_to_id.find(piece, tokens);
        if (id != BytesToId::kEmpty) { out.push_back(id); continue; }
        auto it = cache.find(piece);
        if (it == cache.end()) {
            size_t start = cached.size();
            bpe_piece(piece, cached, ws);
            it = cache.emplace(piece, std::make_pair((uint32_t)start, (uint32_t)(cached.size() - start))).first;
        }
        out.insert(out.end(), cached.begin() + it->second.first, cached.begin() + it->second.first + it->second.second);
    }
}

inline std::vector<uint32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
    std::vector<uint32_t> out;
    out.reserve(text.size() / 4 + 16);
    if (!allow_special || eot < 0) { encode_ordinary(text, out); return out; }
    // "<|endoftext|>" in the text becomes the special id; the text between is encoded
    // on its own, as tiktoken does (pieces never span a special token).
    const std::string& special = tokens[eot];
    for (size_t pos = 0;;) {
        size_t hit = text.find(special, pos);
        encode_ordinary(text.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos), out);
        if (hit == std::string_view::npos) break;
        out.push_back((uint32_t)eot);
        pos = hit + special.size();
    }
    return out;
}

// Is there always a piece boundary at text[p], whether or not the text is cut there?
// Yes when text[p-1] is '\n' between two non-space characters: then that '\n' is a piece
// of its own both in the whole text ("\s+" alone, a non-space follows) and at the end of
// the cut prefix ("\s+(?!\S)" at the end of the text), and the piece at p starts fresh,
// since no alternative of the pattern looks backwards and '\n' is not the optional space.
static inline bool is_safe_split(std::string_view text, size_t p) {
    if (p < 2 || p >= text.size() || text[p - 1] != '\n') return false;
    size_t len;
    if (class_at(text, p, len) == kSpace) return false;
    // the character that ends at p-1: step back over at most 3 continuation bytes
    size_t k = p - 2;
    while (k > 0 && k + 5 > p && ((unsigned char)text[k] & 0xC0) == 0x80) k--;
    uint32_t cp = utf8_decode((const unsigned char*)text.data() + k, p - 1 - k, len);
    bool whole = cp != kInvalidChar && k + len == p - 1;   // else text[p-2] is an invalid byte: kOther
    return !(whole && char_class(cp) == kSpace);
}

inline std::vector<uint32_t> Tokenizer::encode_parallel(std::string_view text, int threads) const {
    const size_t n = text.size();
    if (threads < 1) threads = 1;
    const size_t target = std::max<size_t>(1 << 18, n / (size_t(threads) * 2));   // ~2 chunks per thread
    if (threads == 1 || n < 2 * target) return encode(text);
    std::vector<size_t> cuts{0};
    for (size_t p = target; p < n; p += target) {
        p = std::max(p, cuts.back() + 1);
        while (p < n && !is_safe_split(text, p)) p++;   // text without safe points stays one chunk
        if (p < n) cuts.push_back(p);
    }
    cuts.push_back(n);
    const int chunks = (int)cuts.size() - 1;
    std::vector<std::vector<uint32_t>> parts(chunks);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int c = 0; c < chunks; c++) encode_ordinary(text.substr(cuts[c], cuts[c + 1] - cuts[c]), parts[c]);
    std::vector<uint32_t> out;
    size_t total = 0;
    for (auto& part : parts) total += part.size();
    out.reserve(total);
    for (auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

// ----------------------------------------------------------------------------
// Decoding

inline const std::string& Tokenizer::token_bytes(uint32_t id) const {
    if (id >= tokens.size())
        fail("token id " + std::to_string(id) + " is out of range: the vocabulary has " +
             std::to_string(tokens.size()) + " ids (wrong --vocab for these ids?)");
    return tokens[id];
}

inline std::string Tokenizer::decode(const uint32_t* ids, size_t n) const {
    std::string s;
    for (size_t i = 0; i < n; i++) s += token_bytes(ids[i]);
    return s;
}

// ----------------------------------------------------------------------------
// Training a vocabulary
//
// Classic BPE training: the text is pre-split exactly as encode() splits it and only the
// unique pieces ("words") are kept, with their counts. Each step merges the most frequent
// adjacent pair (a pair is counted once per position, weighted by its word's count); ties
// go to the pair with the smaller (left id, right id), so the result is deterministic. Ids:
// 0..255 the bytes in GPT-2's order, then one id per merge, then "<|endoftext|>" as the last
// id. If the best pair's bytes are already a token (another split of the same string was
// merged earlier), its occurrences become that token without using a new id. Stops early,
// with a note on stderr, when no pair is left.
//
// Cost: near-linear in the text, whatever the text. Every symbol of every word sits in one
// array with links to its neighbours, and each pair keeps the positions where it occurs,
// so a merge touches only its own occurrences and their two neighbours, never a whole word.
// A merge removes one symbol per occurrence, so all merges together touch O(n) positions,
// plus O(n log n) for the heap and for sorting each pair's positions. (Rewriting whole
// words instead is quadratic on text without spaces: 1 MB of random letters is one word.)
// Pieces longer than kMaxTrainPiece bytes are cut into chunks of that size for training
// only: GPT-2's longest token is 128 bytes and ordinary text's pieces are far shorter, so
// this changes nothing there, while a megabyte of one letter becomes a few thousand copies
// of one chunk instead of one giant word. encode() still sees whole pieces.

static constexpr size_t kMaxTrainPiece = 256;

// calls fn(piece) for each training piece of text in order: encode()'s pieces, each cut
// into chunks of at most kMaxTrainPiece bytes, never inside a UTF-8 character
template <class Fn>
inline void for_each_train_piece(std::string_view text, Fn fn) {
    for (size_t pos = 0; pos < text.size();) {
        size_t end = gpt2_piece_end(text, pos);
        while (end - pos > kMaxTrainPiece) {
            size_t cut = pos + kMaxTrainPiece;
            while (cut > pos + 1 && ((unsigned char)text[cut] & 0xC0) == 0x80) cut--;   // back to a character's start
            fn(text.substr(pos, cut - pos));
            pos = cut;
        }
        fn(text.substr(pos, end - pos));
        pos = end;
    }
}

// what bpe_train did, for tests that hold its cost to the size of the text
struct BpeTrainStats {
    uint64_t words = 0, symbols = 0;   // unique (chunked) pieces and their bytes
    uint64_t work = 0;                 // pair-count updates + heap pushes and pops + positions visited
};

inline Tokenizer bpe_train(std::string_view text, size_t vocab_size, bool progress = false,
                           BpeTrainStats* stats = nullptr) {
    if (vocab_size < 257)
        fail("bpe_train: vocab_size " + std::to_string(vocab_size) +
             " is too small: it needs 256 byte tokens + \"<|endoftext|>\"");
    BpeTrainStats st;
    // 1. unique pieces and their counts (long pieces cut at a UTF-8 character boundary)
    std::unordered_map<std::string_view, int64_t> piece_count;
    for_each_train_piece(text, [&](std::string_view piece) { piece_count[piece]++; });
    std::vector<std::string> toks;
    std::unordered_map<std::string, uint32_t> id_of;
    uint32_t byte_id[256];
    for (int r = 0; r < 256; r++) {
        uint8_t b = byte_alphabet().byte_at_rank[r];
        toks.push_back(std::string(1, char(b)));
        id_of[toks.back()] = r;
        byte_id[b] = r;
    }
    // 2. every word's symbols in one array; a merged-away symbol becomes kDead. Links are
    // offsets to the neighbour in the same word (0: none), which fit a byte since a word
    // has at most kMaxTrainPiece symbols.
    static_assert(kMaxTrainPiece <= 256, "neighbour offsets are stored in one byte");
    const uint32_t kDead = 0xFFFFFFFFu;
    std::vector<uint32_t> sym, word_of;   // (n) symbol id, and the word it belongs to
    std::vector<uint8_t> prev_off, next_off;
    std::vector<int64_t> count;           // (words) how often the word occurs in the text
    for (auto& [piece, c] : piece_count) {
        for (size_t i = 0; i < piece.size(); i++) {
            sym.push_back(byte_id[(unsigned char)piece[i]]);
            word_of.push_back((uint32_t)count.size());
            prev_off.push_back(i > 0 ? 1 : 0);
            next_off.push_back(i + 1 < piece.size() ? 1 : 0);
        }
        count.push_back(c);
    }
    st.words = count.size();
    st.symbols = sym.size();
    if (progress) fprintf(stderr, "bpe_train: %zu bytes, %zu unique pieces, learning %zu merges\n",
                          text.size(), count.size(), vocab_size - 257);
    // 3. pair counts, and where each pair occurs (positions of its left symbol; may list
    // positions where the pair no longer is: checked on use)
    auto key = [](uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; };
    std::unordered_map<uint64_t, int64_t> pair_count;
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;
    for (uint32_t p = 0; p + 1 < sym.size(); p++)
        if (next_off[p]) {
            uint64_t k = key(sym[p], sym[p + 1]);
            pair_count[k] += count[word_of[p]];
            where[k].push_back(p);
            st.work++;
        }
    // max-heap of (count, pair) with lazy updates: an entry whose count is no longer the
    // pair's count is skipped when popped
    using Entry = std::pair<int64_t, uint64_t>;
    auto lower = [](const Entry& x, const Entry& y) { return x.first != y.first ? x.first < y.first : x.second > y.second; };
    std::vector<Entry> heap;
    for (auto& [k, c] : pair_count) heap.push_back({c, k});
    std::make_heap(heap.begin(), heap.end(), lower);
    st.work += heap.size();
    std::vector<std::pair<uint32_t, uint32_t>> mrg;
    std::vector<uint64_t> touched;
    while (toks.size() + 1 < vocab_size) {
        if (heap.empty()) {
            fprintf(stderr, "bpe_train: note: the text has no pairs left to merge; vocabulary stops at %zu ids "
                            "instead of %zu\n", toks.size() + 1, vocab_size);
            break;
        }
        std::pop_heap(heap.begin(), heap.end(), lower);
        auto [c, k] = heap.back();
        heap.pop_back();
        st.work++;
        auto pc = pair_count.find(k);
        if (pc == pair_count.end() || pc->second != c || c <= 0) continue;   // stale entry
        uint32_t a = uint32_t(k >> 32), b = uint32_t(k);
        std::string merged = toks[a] + toks[b];
        uint32_t new_id;
        auto existing = id_of.find(merged);
        if (existing != id_of.end()) new_id = existing->second;
        else {
            new_id = (uint32_t)toks.size();
            toks.push_back(merged);
            id_of[merged] = new_id;
            mrg.emplace_back(a, b);
            if (progress && (mrg.size() % 256 == 0 || toks.size() + 1 == vocab_size))
                fprintf(stderr, "bpe_train: merge %zu/%zu: \"%s\" (count %lld)\n", mrg.size(), vocab_size - 257,
                        bytes_to_alphabet(merged).c_str(), (long long)c);
        }
        // merge each occurrence, left to right within a word (as a rewrite of the word would:
        // "aaa" becomes "aa a"), updating only the pairs with its two neighbours
        touched.clear();
        std::vector<uint32_t> list = std::move(where[k]);
        where.erase(k);
        std::sort(list.begin(), list.end());
        auto add = [&](uint64_t pair, int64_t delta) { pair_count[pair] += delta; touched.push_back(pair); st.work++; };
        for (uint32_t p : list) {
            st.work++;
            if (sym[p] != a || !next_off[p]) continue;            // no longer this pair here
            uint32_t q = p + next_off[p];
            if (sym[q] != b) continue;
            int64_t cw = count[word_of[p]];
            bool has_prev = prev_off[p] != 0, has_next = next_off[q] != 0;
            uint32_t P = p - prev_off[p], Q = q + next_off[q];
            if (has_prev) add(key(sym[P], a), -cw);
            add(k, -cw);
            if (has_next) add(key(b, sym[Q]), -cw);
            sym[p] = new_id;                                          // p becomes the merged symbol,
            sym[q] = kDead;                                           // q leaves the word
            next_off[p] = has_next ? uint8_t(Q - p) : 0;
            if (has_next) prev_off[Q] = uint8_t(Q - p);
            if (has_prev) { add(key(sym[P], new_id), cw); where[key(sym[P], new_id)].push_back(P); }
            if (has_next) { add(key(new_id, sym[Q]), cw); where[key(new_id, sym[Q])].push_back(p); }
        }
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        for (uint64_t p : touched) {
            auto it = pair_count.find(p);
            if (it->second > 0) { heap.push_back({it->second, p}); std::push_heap(heap.begin(), heap.end(), lower); st.work++; }
            else { pair_count.erase(it); where.erase(p); }
        }
    }
    if (stats) *stats = st;
    toks.push_back(kEndOfText);
    return Tokenizer::from_parts(std::move(toks), std::move(mrg), "bpe_train");
}
