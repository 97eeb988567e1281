// tutorial/solutions/01_bpe_merge.cpp: a solution to chapter 1's exercise, and the planted
// mistake its check must catch. Read it after your own version passes: `make test` links it
// into the self-test (tutorial/common.sh), your exercise file is never linked with it.

namespace exercise {

int bpe_merge(int* out, const int* ids, int n, int a, int b, int new_id) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && ids[i] == a && ids[i + 1] == b) { out[m++] = new_id; i++; }   // skip the pair's second id
        else out[m++] = ids[i];
    }
    return m;
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: merges only the first occurrence of the pair
int bpe_merge_first_only(int* out, const int* ids, int n, int a, int b, int new_id) {
    int m = 0;
    bool done = false;
    for (int i = 0; i < n; i++) {
        if (!done && i + 1 < n && ids[i] == a && ids[i + 1] == b) { out[m++] = new_id; i++; done = true; }
        else out[m++] = ids[i];
    }
    return m;
}

}  // namespace planted
