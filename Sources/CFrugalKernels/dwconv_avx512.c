// Depthwise convolution with AVX-512: 16 outputs of a row per vector, planes swept in
// column strips of 16 outputs.
//
// Each tap of a vector is one load (stride 1) or two loads and an even-lane permute
// (stride 2) from the input row, and one FMA with the broadcast weight. Vectors whose taps
// all lie inside the plane load without masks; edge vectors (left/right padding, the row's
// end) use masked loads, which never touch the masked-off addresses, so the plane needs no
// padded copy. Rows above or below the plane are skipped tap row by tap row.
//
// 3x3 kernels without dilation and with equal strides (MobileNet's) take a blocked path:
// four output rows at a time, all strips of those rows before the next four (the input is
// read row after row, once from memory), each input row's tap vectors loaded once and
// added into every output row of the block that uses them (stride 1: 6 rows of loads for
// 4 rows of outputs instead of 12), four independent FMA chains, weights in registers.
// Planes with output rows of at most 8 go to dwconv_avx512_narrow.c. A call runs many
// channels so per-shape setup (strip masks) is paid once.
#include "dwconv_avx512_common.h"

#if defined(__x86_64__)

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

// ---- Blocked 3x3 path (dilation 1, sh == sw == S) ----

// Masks of one strip: per kernel column, the lanes of the one (S = 1) or two (S = 2)
// 16-column loads inside the row; `full` when no tap needs a mask.
typedef struct { __mmask16 m0[3], m1[3]; __mmask16 store; int full; } fdw_strip3;
#define FDW_MAX_STRIPS 64

// R output rows (oh0..<oh0 + R) of one strip starting at input column c0.
FDW_INL FDW_T512 void fdw_rows3(const int S, const int R, const int FULL, const float *x,
                                ptrdiff_t H, ptrdiff_t W, ptrdiff_t ih0, ptrdiff_t c0,
                                const __m512 *wr, __m512 vb, const fdw_strip3 *st,
                                __m512i even, float *o, ptrdiff_t oW, int clamp, __m512 lo,
                                __m512 hi) {
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = vb;
#pragma clang loop unroll(full)
    for (int i = 0; i < (R - 1) * S + 3; i++) {
        const ptrdiff_t ih = ih0 + i;
        if (ih < 0 || ih >= H) continue;
        const float *row = x + ih * W;
#pragma clang loop unroll(full)
        for (int kw = 0; kw < 3; kw++) {
            const __m512 v = fdw_load(S, FULL, row, c0 + kw, FULL ? 0 : st->m0[kw], FULL ? 0 : st->m1[kw], even);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                const int kh = i - r * S;
                if (kh >= 0 && kh < 3) acc[r] = _mm512_fmadd_ps(wr[kh * 3 + kw], v, acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) fdw_store(o + r * oW, acc[r], clamp, lo, hi, FULL ? (__mmask16)0xFFFF : st->store);
}

// R output rows starting at oh0, every strip.
FDW_INL FDW_T512 void fdw_block3(const int S, const int R, const frugal_dwconv_shape *s,
                                 const float *x, ptrdiff_t oh0, const __m512 *wr, __m512 vb,
                                 const fdw_strip3 *strips, __m512i even, float *out, int clamp,
                                 __m512 lo, __m512 hi) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t ih0 = oh0 * S - (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        float *o = out + oh0 * oW + x0;
        if (strips[k].full) fdw_rows3(S, R, 1, x, H, W, ih0, x0 * S - pL, wr, vb, &strips[k], even, o, oW, clamp, lo, hi);
        else fdw_rows3(S, R, 0, x, H, W, ih0, x0 * S - pL, wr, vb, &strips[k], even, o, oW, clamp, lo, hi);
    }
}

FDW_INL FDW_T512 void fdw_planes3(const int S, const frugal_dwconv_shape *s, size_t count,
                                  const float *in, const float *w, const float *bias,
                                  float *out) {
    const ptrdiff_t W = (ptrdiff_t)s->w, oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t pL = (ptrdiff_t)s->pad_left;
    fdw_strip3 strips[FDW_MAX_STRIPS];
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        const ptrdiff_t c0 = x0 * S - pL, n = oW - x0;
        fdw_strip3 *st = &strips[k];
        st->full = c0 >= 0 && c0 + (S == 1 ? 16 : 32) + 2 <= W && n >= 16;
        st->store = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        for (int kw = 0; kw < 3; kw++) {
            st->m0[kw] = fdw_mask(c0 + kw, W);
            st->m1[kw] = fdw_mask(c0 + kw + 16, W);
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    const size_t inPlane = s->h * s->w, outPlane = s->oh * s->ow;
    for (size_t c = 0; c < count; c++) {
        const float *x = in + c * inPlane;
        float *o = out + c * outPlane;
        __m512 wr[9];
        for (int t = 0; t < 9; t++) wr[t] = _mm512_set1_ps(w[c * 9 + t]);
        const __m512 vb = _mm512_set1_ps(bias ? bias[c] : 0.0f);
        ptrdiff_t oh = 0;
        for (; oh + 4 <= oH; oh += 4) fdw_block3(S, 4, s, x, oh, wr, vb, strips, even, o, clamp, lo, hi);
        for (; oh < oH; oh++) fdw_block3(S, 1, s, x, oh, wr, vb, strips, even, o, clamp, lo, hi);
    }
}

// ---- Blocked 3x3 path, stride 2: rows split into even and odd columns once ----
//
// With stride 2 the taps of a vector are every other input column; gathering them with a
// permute per tap (9 per output vector) was the cost of these layers. Instead each input
// row is split once into its even and odd columns (two permutes per 16 outputs) in a
// zero-padded scratch line, and the taps become plain loads: kernel column 0 reads E[ox],
// 1 reads O[ox], 2 reads E[ox + 1]. Padding columns are zeros in the scratch. The lines
// form a ring of 16 input rows filled a few rows ahead of the block being computed, so
// each row is split once and its stores have left the store buffer when the taps load
// them (loading right after the split stalled on store forwarding).
#define FDW_S2_MAX_OW 128
#define FDW_S2_LINE (FDW_S2_MAX_OW + 32)
#define FDW_S2_RING 16
#define FDW_S2_AHEAD 4

typedef struct { __mmask16 m0, m1; int full; } fdw_chunk2;

// One input row into E = line, O = line + FDW_S2_LINE.
FDW_INL FDW_T512 void fdw_split2(const float *row, ptrdiff_t pL, const fdw_chunk2 *chunks,
                                 ptrdiff_t nc, __m512i even, __m512i odd, float *line) {
    for (ptrdiff_t k = 0; k < nc; k++) {
        const float *src = row + 32 * k - pL;
        __m512 a, b;
        if (chunks[k].full) {
            a = _mm512_loadu_ps(src);
            b = _mm512_loadu_ps(src + 16);
        } else {
            a = _mm512_maskz_loadu_ps(chunks[k].m0, src);
            b = _mm512_maskz_loadu_ps(chunks[k].m1, src + 16);
        }
        _mm512_storeu_ps(line + 16 * k, _mm512_permutex2var_ps(a, even, b));
        _mm512_storeu_ps(line + FDW_S2_LINE + 16 * k, _mm512_permutex2var_ps(a, odd, b));
    }
}

// R output rows from oh0 of one plane (input rows 2 oh0 - pT ..< + 2R + 1, already split
// into the ring).
FDW_INL FDW_T512 void fdw_block2(const int R, const frugal_dwconv_shape *s, ptrdiff_t oh0,
                                 const __m512 *wr, __m512 vb, const float *ring, float *out,
                                 int clamp, __m512 lo, __m512 hi) {
    const ptrdiff_t H = (ptrdiff_t)s->h, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t ih0 = oh0 * 2 - (ptrdiff_t)s->pad_top;
    for (ptrdiff_t x0 = 0; x0 < oW; x0 += 16) {
        __m512 acc[R];
        for (int r = 0; r < R; r++) acc[r] = vb;
#pragma clang loop unroll(full)
        for (int i = 0; i < 2 * R + 1; i++) {
            const ptrdiff_t ih = ih0 + i;
            if (ih < 0 || ih >= H) continue;
            const float *e = ring + (ih & (FDW_S2_RING - 1)) * 2 * FDW_S2_LINE + x0, *od = e + FDW_S2_LINE;
            const __m512 v0 = _mm512_loadu_ps(e), v1 = _mm512_loadu_ps(od), v2 = _mm512_loadu_ps(e + 1);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                const int kh = i - 2 * r;
                if (kh < 0 || kh > 2) continue;
                acc[r] = _mm512_fmadd_ps(wr[kh * 3], v0, acc[r]);
                acc[r] = _mm512_fmadd_ps(wr[kh * 3 + 1], v1, acc[r]);
                acc[r] = _mm512_fmadd_ps(wr[kh * 3 + 2], v2, acc[r]);
            }
        }
        const ptrdiff_t n = oW - x0;
        const __mmask16 store = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        for (int r = 0; r < R; r++) fdw_store(out + (oh0 + r) * oW + x0, acc[r], clamp, lo, hi, store);
    }
}

FDW_T512 static void fdw_planes3s2(const frugal_dwconv_shape *s, size_t count, const float *in,
                                   const float *w, const float *bias, float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    // E needs oW + 1 columns (kernel column 2 of the last output).
    const ptrdiff_t nc = (oW + 1 + 15) / 16;
    fdw_chunk2 chunks[FDW_S2_LINE / 16];
    for (ptrdiff_t k = 0; k < nc; k++) {
        chunks[k].m0 = fdw_mask(32 * k - pL, W);
        chunks[k].m1 = fdw_mask(32 * k - pL + 16, W);
        chunks[k].full = chunks[k].m0 == (__mmask16)0xFFFF && chunks[k].m1 == (__mmask16)0xFFFF;
    }
    // Zeroed once so that the lanes past the row's end hold defined values.
    float ring[FDW_S2_RING * 2 * FDW_S2_LINE] __attribute__((aligned(64)));
    for (size_t i = 0; i < sizeof ring / sizeof ring[0]; i += 16) _mm512_store_ps(ring + i, _mm512_setzero_ps());
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    const size_t inPlane = s->h * s->w, outPlane = s->oh * s->ow;
    for (size_t c = 0; c < count; c++) {
        const float *x = in + c * inPlane;
        float *o = out + c * outPlane;
        __m512 wr[9];
        for (int t = 0; t < 9; t++) wr[t] = _mm512_set1_ps(w[c * 9 + t]);
        const __m512 vb = _mm512_set1_ps(bias ? bias[c] : 0.0f);
        ptrdiff_t next = 0;  // next input row to split
        for (ptrdiff_t oh = 0; oh < oH;) {
            const int R = oh + 4 <= oH ? 4 : 1;
            ptrdiff_t end = oh * 2 - pT + 2 * R + 1 + FDW_S2_AHEAD;
            if (end > H) end = H;
            for (; next < end; next++)
                fdw_split2(x + next * W, pL, chunks, nc, even, odd, ring + (next & (FDW_S2_RING - 1)) * 2 * FDW_S2_LINE);
            if (R == 4) fdw_block2(4, s, oh, wr, vb, ring, o, clamp, lo, hi);
            else fdw_block2(1, s, oh, wr, vb, ring, o, clamp, lo, hi);
            oh += R;
        }
    }
}

// ---- General path: any kernel up to FDW_MAX_KW wide, dilation, sh ----

// One column strip of 16 outputs, all output rows. The masks of each tap column depend
// only on the strip, so they are computed once here.
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
                acc = _mm512_fmadd_ps(_mm512_set1_ps(wr[kw]),
                                      fdw_load(S, FULL, row, c0 + kw * dW, FULL ? 0 : m0[kw], FULL ? 0 : m1[kw], even), acc);
        }
        fdw_store(out + oh * oW + x, acc, clamp, lo, hi, store);
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

FDW_INL FDW_T512 void fdw_planes(const int S, const int K, const frugal_dwconv_shape *s,
                                 size_t count, const float *in, const float *w,
                                 const float *bias, float *out) {
    const size_t inPlane = s->h * s->w, outPlane = s->oh * s->ow, wPlane = s->kh * s->kw;
    for (size_t c = 0; c < count; c++)
        fdw_plane(S, K, K, s, in + c * inPlane, w + c * wPlane, bias ? bias[c] : 0.0f, out + c * outPlane);
}

FDW_T512 int frugal_dwconv_planes_avx512(const frugal_dwconv_shape *s, size_t count,
                                         const float *in, const float *w, const float *bias,
                                         float *out) {
    if (fdw_narrow_planes(s, count, in, w, bias, out)) return 1;
    if (s->kw > FDW_MAX_KW || (s->sw != 1 && s->sw != 2)) return 0;
    const int k3 = s->kh == 3 && s->kw == 3 && s->dh == 1 && s->dw == 1 && s->sh == s->sw;
    if (k3 && s->ow <= 16 * FDW_MAX_STRIPS) {
        if (s->sw == 1) fdw_planes3(1, s, count, in, w, bias, out);
        else if (s->ow <= FDW_S2_MAX_OW) fdw_planes3s2(s, count, in, w, bias, out);
        else fdw_planes3(2, s, count, in, w, bias, out);
        return 1;
    }
    const int k5 = s->kh == 5 && s->kw == 5;
    if (s->sw == 1) {
        if (k5) fdw_planes(1, 5, s, count, in, w, bias, out);
        else fdw_planes(1, 0, s, count, in, w, bias, out);
    } else {
        if (k5) fdw_planes(2, 5, s, count, in, w, bias, out);
        else fdw_planes(2, 0, s, count, in, w, bias, out);
    }
    return 1;
}

#else
int frugal_dwconv_planes_avx512(const frugal_dwconv_shape *s, size_t count, const float *in,
                                const float *w, const float *bias, float *out) {
    (void)s; (void)count; (void)in; (void)w; (void)bias; (void)out;
    return 0;
}
#endif
