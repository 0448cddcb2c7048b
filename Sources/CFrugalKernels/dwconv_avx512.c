// Depthwise convolution of one plane with AVX-512: 16 outputs of a row per vector, the
// plane swept in column strips of 16 outputs, each strip top to bottom.
//
// Each tap of a vector is one load (stride 1) or two loads and an even-lane permute
// (stride 2) from the input row, and one FMA with the broadcast weight. Vectors whose taps
// all lie inside the plane load without masks; edge vectors (left/right padding, the row's
// end) use masked loads, which never touch the masked-off addresses, so the plane needs no
// padded copy. Rows above or below the plane are skipped tap row by tap row. 3x3 and 5x5
// kernels keep their weights in registers (instantiated with constant sizes).
#include "frugal_dwconv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define FDW_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define FDW_INL static inline __attribute__((always_inline))

// Lanes j in 0..<16 whose column c0 + j lies in [0, w).
FDW_INL FDW_T512 __mmask16 fdw_mask(ptrdiff_t c0, ptrdiff_t w) {
    ptrdiff_t lo = c0 < 0 ? -c0 : 0;
    ptrdiff_t hi = w - c0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    uint32_t bits = (hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u));
    bits &= ~((1u << lo) - 1u);
    return (__mmask16)bits;
}

// Columns c0, c0 + S, ..., c0 + 15 S of `row` (S = 1 or 2) under the masks of the two
// 16-column halves read (m1 unused for S = 1); FULL: all inside the row, no masks.
FDW_INL FDW_T512 __m512 fdw_load(const int S, const int FULL, const float *row, ptrdiff_t c0,
                                 __mmask16 m0, __mmask16 m1, __m512i even) {
    if (S == 1) {
        if (FULL) return _mm512_loadu_ps(row + c0);
        return _mm512_maskz_loadu_ps(m0, row + c0);
    }
    __m512 a, b;
    if (FULL) {
        a = _mm512_loadu_ps(row + c0);
        b = _mm512_loadu_ps(row + c0 + 16);
    } else {
        a = _mm512_maskz_loadu_ps(m0, row + c0);
        b = _mm512_maskz_loadu_ps(m1, row + c0 + 16);
    }
    return _mm512_permutex2var_ps(a, even, b);
}

// One column strip of 16 outputs, all output rows. The masks of each tap column depend
// only on the strip, so they are computed once here (per tap they measured as the main
// cost on the 7- to 28-wide planes of MobileNetV2, where every strip is an edge strip).
// KH/KW: constant kernel size (0: use s->kh / s->kw at run time, at most FDW_MAX_KW).
#define FDW_MAX_KW 32
FDW_INL FDW_T512 void fdw_strip(const int S, const int KH, const int KW, const int FULL,
                                const frugal_dwconv_shape *s, const float *in, const float *w,
                                float bias, float *out, ptrdiff_t x) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, sH = (ptrdiff_t)s->sh, pT = (ptrdiff_t)s->pad_top;
    const ptrdiff_t kH = KH ? KH : (ptrdiff_t)s->kh, kW = KW ? KW : (ptrdiff_t)s->kw;
    const ptrdiff_t dH = (ptrdiff_t)s->dh, dW = (ptrdiff_t)s->dw;
    const ptrdiff_t c0 = x * S - (ptrdiff_t)s->pad_left;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 vb = _mm512_set1_ps(bias);
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    __mmask16 m0[FDW_MAX_KW], m1[FDW_MAX_KW];
    if (!FULL)
        for (ptrdiff_t kw = 0; kw < kW; kw++) {
            m0[kw] = fdw_mask(c0 + kw * dW, W);
            m1[kw] = S == 2 ? fdw_mask(c0 + kw * dW + 16, W) : 0;
        }
    // 3x3: the 9 weights stay in registers (as memory-broadcast FMA operands they doubled
    // the loads per tap).
    __m512 wreg[9];
    if (KH == 3 && KW == 3)
        for (int t = 0; t < 9; t++) wreg[t] = _mm512_set1_ps(w[t]);
    const ptrdiff_t n = oW - x;
    const __mmask16 store = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    for (ptrdiff_t oh = 0; oh < oH; oh++) {
        const ptrdiff_t ih0 = oh * sH - pT;
        __m512 acc = vb;
        for (ptrdiff_t kh = 0; kh < kH; kh++) {
            const ptrdiff_t ih = ih0 + kh * dH;
            if (ih < 0 || ih >= H) continue;
            const float *row = in + ih * W;
            const float *wr = w + kh * kW;
            for (ptrdiff_t kw = 0; kw < kW; kw++)
                acc = _mm512_fmadd_ps(KH == 3 && KW == 3 ? wreg[kh * 3 + kw] : _mm512_set1_ps(wr[kw]),
                                      fdw_load(S, FULL, row, c0 + kw * dW, FULL ? 0 : m0[kw], FULL ? 0 : m1[kw], even), acc);
        }
        if (clamp) acc = _mm512_min_ps(_mm512_max_ps(acc, lo), hi);
        float *o = out + oh * oW + x;
        if (n >= 16) _mm512_storeu_ps(o, acc);
        else _mm512_mask_storeu_ps(o, store, acc);
    }
}

FDW_INL FDW_T512 void fdw_plane(const int S, const int KH, const int KW,
                                const frugal_dwconv_shape *s, const float *in, const float *w,
                                float bias, float *out) {
    const ptrdiff_t W = (ptrdiff_t)s->w, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t kW = KW ? KW : (ptrdiff_t)s->kw, dW = (ptrdiff_t)s->dw;
    // Columns one strip reads for one tap row: stride 2 reads 32 per tap.
    const ptrdiff_t span = (S == 1 ? 16 : 32) + (kW - 1) * dW;
    for (ptrdiff_t x = 0; x < oW; x += 16) {
        const ptrdiff_t c0 = x * S - (ptrdiff_t)s->pad_left;
        if (c0 >= 0 && c0 + span <= W) fdw_strip(S, KH, KW, 1, s, in, w, bias, out, x);
        else fdw_strip(S, KH, KW, 0, s, in, w, bias, out, x);
    }
}

FDW_T512 int frugal_dwconv_plane_avx512(const frugal_dwconv_shape *s, const float *in,
                                        const float *w, float bias, float *out) {
    if (s->kw > FDW_MAX_KW) return 0;
    if (s->sw == 1) {
        if (s->kh == 3 && s->kw == 3) fdw_plane(1, 3, 3, s, in, w, bias, out);
        else if (s->kh == 5 && s->kw == 5) fdw_plane(1, 5, 5, s, in, w, bias, out);
        else fdw_plane(1, 0, 0, s, in, w, bias, out);
        return 1;
    }
    if (s->sw == 2) {
        if (s->kh == 3 && s->kw == 3) fdw_plane(2, 3, 3, s, in, w, bias, out);
        else if (s->kh == 5 && s->kw == 5) fdw_plane(2, 5, 5, s, in, w, bias, out);
        else fdw_plane(2, 0, 0, s, in, w, bias, out);
        return 1;
    }
    return 0;
}

#else
int frugal_dwconv_plane_avx512(const frugal_dwconv_shape *s, const float *in, const float *w,
                               float bias, float *out) {
    (void)s; (void)in; (void)w; (void)bias; (void)out;
    return 0;
}
#endif
