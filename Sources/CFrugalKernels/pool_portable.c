// Portable max of adjacent pairs (2-wide, stride-2 max pooling); NaN wins.
#include "frugal_pool.h"

static inline float p_nanmax(float a, float b) { return (a != a || a > b) ? a : b; }

void frugal_maxpool_pairs_portable(const float *row, float *out, size_t n, int accumulate) {
    for (size_t i = 0; i < n; i++) {
        float m = p_nanmax(row[2 * i], row[2 * i + 1]);
        out[i] = accumulate ? p_nanmax(out[i], m) : m;
    }
}

// Eight partial sums per plane so that the compiler can vectorise without reassociating.
void frugal_plane_means_portable(const float *x, float *out, size_t planes, size_t size, float scale) {
    for (size_t p = 0; p < planes; p++) {
        const float *v = x + p * size;
        float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t i = 0;
        for (; i + 8 <= size; i += 8)
            for (int u = 0; u < 8; u++) part[u] += v[i + u];
        float s = 0;
        for (; i < size; i++) s += v[i];
        for (int u = 0; u < 8; u++) s += part[u];
        out[p] = s * scale;
    }
}
