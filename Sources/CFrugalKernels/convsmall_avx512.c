// Direct convolution for shallow reductions with AVX-512 (see frugal_convsmall.h).
//
// Register tile: FRUGAL_CONVS_MR (8) output channels x up to 3 vectors of 16 output
// positions = 24 accumulators. Per tap, the 3 position vectors are loaded once from the
// band buffer and each channel's weight is broadcast once: 11 loads for 24 FMAs. The
// position vectors run over the band's rows flattened (a 112-wide row is 7 vectors, so
// groups of 3 cross row ends), and for each group of positions all channel blocks run while
// its inputs are in L1.
#include "frugal_convsmall.h"

#define FCS_P 3

static size_t fcs_wph(const frugal_convs_shape *s) {
    size_t n = s->ow + ((s->kw - 1) * s->dw) / s->sw;
    return (n + 15) & ~(size_t)15;
}

static size_t fcs_rows_in(const frugal_convs_shape *s, size_t rows) {
    return rows == 0 ? 0 : (rows - 1) * s->sh + (s->kh - 1) * s->dh + 1;
}

size_t frugal_convs_buffer_count(const frugal_convs_shape *s, size_t rows) {
    return s->cin * fcs_rows_in(s, rows) * s->sw * fcs_wph(s) + 16;
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define FCS_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define FCS_INL static inline __attribute__((always_inline))

// Lanes j in 0..<16 whose column c0 + j lies in [0, w).
FCS_INL FCS_T512 __mmask16 fcs_mask(ptrdiff_t c0, ptrdiff_t w) {
    const ptrdiff_t lo = c0 < 0 ? -c0 : 0, hi = w - c0 > 16 ? 16 : w - c0;
    if (hi <= lo) return 0;
    const uint32_t below = lo >= 16 ? 0xFFFFu : (1u << lo) - 1u;
    return (__mmask16)((hi >= 16 ? 0xFFFFu : (1u << hi) - 1u) & ~below);
}

// Copies the input rows the band reads into `buf`, zero-padded and split by column phase:
// buf[c][r][ph][j] = in[c][ih0 + r][j * sw + ph - pad_left] (0 outside the image).
FCS_INL FCS_T512 void fcs_fill(const frugal_convs_shape *s, const float *in, ptrdiff_t ih0,
                               size_t rows_in, size_t wph, float *buf) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w, pL = (ptrdiff_t)s->pad_left;
    const size_t sw = s->sw, row_stride = sw * wph;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (size_t c = 0; c < s->cin; c++) {
        for (size_t r = 0; r < rows_in; r++) {
            float *dst = buf + (c * rows_in + r) * row_stride;
            const ptrdiff_t ih = ih0 + (ptrdiff_t)r;
            if (ih < 0 || ih >= H) {
                memset(dst, 0, row_stride * sizeof(float));
                continue;
            }
            const float *src = in + (c * s->h + (size_t)ih) * s->w;
            if (sw == 1) {
                // dst[j] = src[j - pL]
                ptrdiff_t n = (ptrdiff_t)wph, lead = pL < n ? pL : n;
                memset(dst, 0, (size_t)lead * sizeof(float));
                ptrdiff_t copy = W < n - lead ? W : n - lead;
                memcpy(dst + lead, src, (size_t)copy * sizeof(float));
                memset(dst + lead + copy, 0, (size_t)(n - lead - copy) * sizeof(float));
            } else if (sw == 2) {
                float *d0 = dst, *d1 = dst + wph;
                for (size_t j0 = 0; j0 < wph; j0 += 16) {
                    // Columns s0 ..< s0 + 32 split into even and odd; the ones outside the
                    // row are masked off (not read) and come out zero.
                    const ptrdiff_t s0 = 2 * (ptrdiff_t)j0 - pL;
                    const __m512 a = _mm512_maskz_loadu_ps(fcs_mask(s0, W), src + s0);
                    const __m512 b = _mm512_maskz_loadu_ps(fcs_mask(s0 + 16, W), src + s0 + 16);
                    _mm512_storeu_ps(d0 + j0, _mm512_permutex2var_ps(a, even, b));
                    _mm512_storeu_ps(d1 + j0, _mm512_permutex2var_ps(a, odd, b));
                }
            } else {
                for (size_t ph = 0; ph < sw; ph++) {
                    float *d = dst + ph * wph;
                    for (size_t j = 0; j < wph; j++) {
                        const ptrdiff_t col = (ptrdiff_t)(j * sw + ph) - pL;
                        d[j] = col >= 0 && col < W ? src[col] : 0.0f;
                    }
                }
            }
        }
    }
}

// One tile: channels m0..<m0+8 (stored up to s->m) x P position vectors at buffer offsets
// xb[p], output offsets yb[p], lanes store[p].
FCS_INL FCS_T512 void fcs_tile(const int P, const frugal_convs_shape *s, const float *buf,
                               const int32_t *off, size_t taps, size_t m0, const size_t *xb,
                               const size_t *yb, const __mmask16 *store, float *out,
                               size_t out_plane) {
    // The accumulators start at the bias (zero-padded past m, like the weights).
    __m512 acc[FRUGAL_CONVS_MR][FCS_P];
    const float *bias = s->bias ? s->bias + m0 : NULL;
    for (int m = 0; m < FRUGAL_CONVS_MR; m++) {
        const __m512 b = _mm512_set1_ps(bias && m0 + (size_t)m < s->m ? bias[m] : 0.0f);
        for (int p = 0; p < P; p++) acc[m][p] = b;
    }
    const float *w = s->weight + m0;
    const size_t mpad = s->mpad;
    for (size_t t = 0; t < taps; t++) {
        const float *src = buf + off[t];
        __m512 x[FCS_P];
        for (int p = 0; p < P; p++) x[p] = _mm512_loadu_ps(src + xb[p]);
        const float *wt = w + t * mpad;
        for (int m = 0; m < FRUGAL_CONVS_MR; m++) {
            const __m512 wb = _mm512_set1_ps(wt[m]);
            for (int p = 0; p < P; p++) acc[m][p] = _mm512_fmadd_ps(x[p], wb, acc[m][p]);
        }
    }
    const size_t mEnd = s->m - m0 < FRUGAL_CONVS_MR ? s->m - m0 : FRUGAL_CONVS_MR;
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
#pragma clang loop unroll(full)
    for (int m = 0; m < FRUGAL_CONVS_MR; m++) {
        if ((size_t)m >= mEnd) continue;
        float *o = out + (m0 + m) * out_plane;
        for (int p = 0; p < P; p++) {
            __m512 v = acc[m][p];
            if (s->clamp) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            if (store[p] == (__mmask16)0xFFFF) _mm512_storeu_ps(o + yb[p], v);
            else _mm512_mask_storeu_ps(o + yb[p], store[p], v);
        }
    }
}

FCS_T512 int frugal_convs_band_avx512(const frugal_convs_shape *s, const float *in, size_t oh0,
                                      size_t oh1, float *buf, float *out) {
    const size_t taps = s->cin * s->kh * s->kw;
    if (taps == 0 || taps > FRUGAL_CONVS_MAX_TAPS || oh1 <= oh0) return taps <= FRUGAL_CONVS_MAX_TAPS;
    const size_t rows = oh1 - oh0, rows_in = fcs_rows_in(s, rows), wph = fcs_wph(s);
    const size_t row_stride = s->sw * wph, chan_stride = rows_in * row_stride;
    fcs_fill(s, in, (ptrdiff_t)(oh0 * s->sh) - (ptrdiff_t)s->pad_top, rows_in, wph, buf);
    int32_t off[FRUGAL_CONVS_MAX_TAPS];
    size_t t = 0;
    for (size_t c = 0; c < s->cin; c++)
        for (size_t i = 0; i < s->kh; i++)
            for (size_t j = 0; j < s->kw; j++) {
                const size_t col = j * s->dw;
                off[t++] = (int32_t)(c * chan_stride + i * s->dh * row_stride + (col % s->sw) * wph + col / s->sw);
            }
    const size_t vpr = (s->ow + 15) / 16, total = rows * vpr, row_step = s->sh * row_stride;
    const size_t out_plane = s->oh * s->ow;
    for (size_t i = 0; i < total; i += FCS_P) {
        size_t xb[FCS_P], yb[FCS_P];
        __mmask16 store[FCS_P];
        const size_t P = total - i < FCS_P ? total - i : FCS_P;
        for (size_t p = 0; p < P; p++) {
            const size_t r = (i + p) / vpr, v = (i + p) % vpr, col = v * 16;
            const size_t n = s->ow - col < 16 ? s->ow - col : 16;
            xb[p] = r * row_step + col;
            yb[p] = (oh0 + r) * s->ow + col;
            store[p] = (__mmask16)(n == 16 ? 0xFFFFu : (1u << n) - 1u);
        }
        for (size_t m0 = 0; m0 < s->m; m0 += FRUGAL_CONVS_MR) {
            if (P == 3) fcs_tile(3, s, buf, off, taps, m0, xb, yb, store, out, out_plane);
            else if (P == 2) fcs_tile(2, s, buf, off, taps, m0, xb, yb, store, out, out_plane);
            else fcs_tile(1, s, buf, off, taps, m0, xb, yb, store, out, out_plane);
        }
    }
    return 1;
}

#else
int frugal_convs_band_avx512(const frugal_convs_shape *s, const float *in, size_t oh0,
                             size_t oh1, float *buf, float *out) {
    (void)s; (void)in; (void)oh0; (void)oh1; (void)buf; (void)out;
    return 0;
}
#endif
