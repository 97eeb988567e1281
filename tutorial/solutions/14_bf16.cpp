// tutorial/solutions/14_bf16.cpp: a solution to chapter 14's exercise, and the planted
// mistakes its check must catch. Read it after your own version passes.
#include <cstdint>
#include <cstring>

namespace exercise {

uint16_t fp32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   // NaN stays a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1);   // below half: no carry; above: carry; exactly half: carry iff the kept part is odd
    return (uint16_t)(u >> 16);
}

}  // namespace exercise

namespace planted {

// WRONG on purpose: truncation, which rounds toward zero
uint16_t fp32_to_bf16_truncates(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}

// WRONG on purpose: rounds half away from zero (ties are not sent to the even neighbour)
uint16_t fp32_to_bf16_ties_away(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x8000u) >> 16);
}

// WRONG on purpose: forgets NaN, which the rounding can carry into infinity
uint16_t fp32_to_bf16_nan_unaware(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

}  // namespace planted
