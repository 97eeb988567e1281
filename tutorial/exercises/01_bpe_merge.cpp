// tutorial/exercises/01_bpe_merge.cpp: chapter 1's exercise, one step of byte-pair encoding.
// Checked by `bash tutorial/01-tokens/check.sh` against tokenizer.h's bpe_train.
// Plain C++ on purpose: no project header is needed.

namespace exercise {

// Replaces every occurrence of the adjacent pair (a, b) in ids[0..n) by the single id new_id,
// scanning left to right; a pair that was just merged is not looked at again, so
//     {5, 5, 5} with (5, 5) -> 7   gives {7, 5}
//     {1, 2, 1, 2, 3} with (1, 2) -> 9   gives {9, 9, 3}
// Writes the result to out (which has room for n ids) and returns its length.
// Ids that are negative (piece separators) never match a and b, which are >= 0.
int bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id) {
    // TODO: write the merge. This stub copies the ids unchanged, so the check fails.
    for (int i = 0; i < n; i++) out[i] = ids[i];
    return n;
}

}  // namespace exercise
