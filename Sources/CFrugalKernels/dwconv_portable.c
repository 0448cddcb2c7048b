// Depthwise convolution of one plane in plain C (any CPU, any shape). For each output row
// the columns whose taps all fall inside the plane are computed without bounds tests; the
// few edge columns test each tap.
#include "frugal_dwconv.h"

static inline float fdw_clamp(const frugal_dwconv_shape *s, float v) {
    if (!s->clamp) return v;
    v = v < s->lo ? s->lo : v;
    return v > s->hi ? s->hi : v;
}

void frugal_dwconv_plane_portable(const frugal_dwconv_shape *s, const float *in,
                                  const float *w, float bias, float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oW = (ptrdiff_t)s->ow, kH = (ptrdiff_t)s->kh, kW = (ptrdiff_t)s->kw;
    const ptrdiff_t sH = (ptrdiff_t)s->sh, sW = (ptrdiff_t)s->sw;
    const ptrdiff_t dH = (ptrdiff_t)s->dh, dW = (ptrdiff_t)s->dw;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    // Interior columns: ox * sW - pL >= 0 and ox * sW - pL + (kW - 1) * dW < W.
    ptrdiff_t x0 = (pL + sW - 1) / sW;
    ptrdiff_t x1 = W - 1 - (kW - 1) * dW + pL; // last ox * sW allowed
    x1 = x1 < 0 ? 0 : x1 / sW + 1;
    if (x1 > oW) x1 = oW;
    if (x0 > x1) x0 = x1;
    for (size_t oh = 0; oh < s->oh; oh++) {
        float *o = out + oh * (size_t)oW;
        for (ptrdiff_t x = 0; x < oW; x++) o[x] = bias;
        for (ptrdiff_t kh = 0; kh < kH; kh++) {
            const ptrdiff_t ih = (ptrdiff_t)oh * sH - pT + kh * dH;
            if (ih < 0 || ih >= H) continue;
            const float *row = in + ih * W;
            for (ptrdiff_t kw = 0; kw < kW; kw++) {
                const float wv = w[kh * kW + kw];
                const ptrdiff_t off = kw * dW - pL;
                for (ptrdiff_t x = 0; x < x0; x++) {
                    const ptrdiff_t c = x * sW + off;
                    if (c >= 0 && c < W) o[x] += wv * row[c];
                }
                if (sW == 1) {
                    const float *r = row + off;
                    for (ptrdiff_t x = x0; x < x1; x++) o[x] += wv * r[x];
                } else {
                    for (ptrdiff_t x = x0; x < x1; x++) o[x] += wv * row[x * sW + off];
                }
                for (ptrdiff_t x = x1; x < oW; x++) {
                    const ptrdiff_t c = x * sW + off;
                    if (c >= 0 && c < W) o[x] += wv * row[c];
                }
            }
        }
        if (s->clamp)
            for (ptrdiff_t x = 0; x < oW; x++) o[x] = fdw_clamp(s, o[x]);
    }
}
