// Portable max of adjacent pairs (2-wide, stride-2 max pooling); NaN wins.
#include "frugal_pool.h"

static inline float p_nanmax(float a, float b) { return (a != a || a > b) ? a : b; }

void frugal_maxpool_pairs_portable(const float *row, float *out, size_t n, int accumulate) {
    for (size_t i = 0; i < n; i++) {
        float m = p_nanmax(row[2 * i], row[2 * i + 1]);
        out[i] = accumulate ? p_nanmax(out[i], m) : m;
    }
}
