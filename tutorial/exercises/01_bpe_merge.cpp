// tutorial/exercises/01_bpe_merge.cpp: chapter 1's exercise, one step of byte-pair encoding.
// Checked by `bash tutorial/01-tokens/check.sh`: a naive BPE trainer built on your merge must
// learn exactly the merges of tokenizer.h's bpe_train. The chapter explains what a merge does;
// stuck? `make hint CH=01` gives one hint more each time.
// Plain C++: an exercise can use the standard library, nothing of the project.

namespace exercise {

// Replaces the adjacent pair (a, b) in ids[0..n) by the single id new_id, as one BPE merge
// does (the chapter's section "Byte-pair encoding", step 3, says which occurrences and in what order).
// Writes the result to out (room for n ids) and returns its length.
// Ids that are negative (piece separators) never equal a or b, which are >= 0.
int bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id) {
    // TODO. This stub copies the ids unchanged, so the check fails.
    for (int i = 0; i < n; i++) out[i] = ids[i];
    return n;
}

}  // namespace exercise
