// Depthwise convolution with AVX-512: 16 outputs of a row per vector, planes swept in
// column strips of 16 outputs.
//
// Each tap of a vector is one load (stride 1) or two loads and an even-lane permute
// (stride 2) from the input row, and one FMA with the broadcast weight. Vectors whose taps
// all lie inside the plane load without masks; edge vectors (left/right padding, the row's
// end) use masked loads, which never touch the masked-off addresses, so the plane needs no
// padded copy. Rows above or below the plane are skipped tap row by tap row.
//
// 3x3 kernels without dilation and with equal strides (MobileNet's) take blocked paths:
// four output rows at a time with four independent FMA chains and the weights in
// registers; each input row's tap vectors are loaded (stride 1) or split into even and odd
// columns (stride 2) once per block and added into every output row of the block that
// uses them. Planes up to two strips wide are swept strip by strip, wider ones block row by
// block row (streaming the input from memory in order). Planes with output rows of at most
// 8 go to dwconv_avx512_narrow.c. A call runs many channels so per-shape setup (strip
// masks) is paid once.
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

// ---- Blocked 3x3 path, stride 1 (no dilation) ----

// One strip: per kernel column, the lanes of the 16-column load inside the row; the store
// mask; `full` when no tap needs a mask.
typedef struct { __mmask16 m[3]; __mmask16 store; int full; } fdw_strip1;
#define FDW_MAX_STRIPS 64

// R output rows of one strip: input rows ih0 ..< ih0 + R + 2, from input column c0.
FDW_INL FDW_T512 void fdw_rows1(const int R, const int FULL, const float *x, ptrdiff_t H,
                                ptrdiff_t W, ptrdiff_t ih0, ptrdiff_t c0, const __m512 *wr,
                                __m512 vb, const fdw_strip1 *st, float *o, ptrdiff_t oW,
                                int clamp, __m512 lo, __m512 hi) {
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = vb;
#pragma clang loop unroll(full)
    for (int i = 0; i < R + 2; i++) {
        const ptrdiff_t ih = ih0 + i;
        if (ih < 0 || ih >= H) continue;
        const float *row = x + ih * W + c0;
#pragma clang loop unroll(full)
        for (int kw = 0; kw < 3; kw++) {
            const __m512 v = FULL ? _mm512_loadu_ps(row + kw) : _mm512_maskz_loadu_ps(st->m[kw], row + kw);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                const int kh = i - r;
                if (kh >= 0 && kh < 3) acc[r] = _mm512_fmadd_ps(wr[kh * 3 + kw], v, acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) fdw_store(o + r * oW, acc[r], clamp, lo, hi, FULL ? (__mmask16)0xFFFF : st->store);
}

// One strip of 16 output columns, all output rows: blocks of four rows, then single rows.
FDW_INL FDW_T512 void fdw_column1(const int FULL, const float *x, ptrdiff_t H, ptrdiff_t W,
                                  ptrdiff_t oH, ptrdiff_t oW, ptrdiff_t pT, ptrdiff_t c0,
                                  const __m512 *wr, __m512 vb, const fdw_strip1 *st, float *o,
                                  int clamp, __m512 lo, __m512 hi) {
    ptrdiff_t oh = 0;
    for (; oh + 4 <= oH; oh += 4) fdw_rows1(4, FULL, x, H, W, oh - pT, c0, wr, vb, st, o + oh * oW, oW, clamp, lo, hi);
    for (; oh < oH; oh++) fdw_rows1(1, FULL, x, H, W, oh - pT, c0, wr, vb, st, o + oh * oW, oW, clamp, lo, hi);
}

// R output rows from oh0, every strip: row-major order for planes of three strips or more,
// which then stream from memory row after row (strip after strip measured 1.3x slower
// there, and 1.3-1.5x faster on the narrower planes).
FDW_INL FDW_T512 void fdw_block1(const int R, const float *x, ptrdiff_t H, ptrdiff_t W,
                                 ptrdiff_t oW, ptrdiff_t ih0, ptrdiff_t pL, const __m512 *wr,
                                 __m512 vb, const fdw_strip1 *strips, float *o, int clamp,
                                 __m512 lo, __m512 hi) {
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        if (strips[k].full) fdw_rows1(R, 1, x, H, W, ih0, x0 - pL, wr, vb, &strips[k], o + x0, oW, clamp, lo, hi);
        else fdw_rows1(R, 0, x, H, W, ih0, x0 - pL, wr, vb, &strips[k], o + x0, oW, clamp, lo, hi);
    }
}

FDW_T512 static void fdw_planes3s1(const frugal_dwconv_shape *s, size_t count, const float *in,
                                   const float *w, const float *bias, float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    fdw_strip1 strips[FDW_MAX_STRIPS];
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        const ptrdiff_t c0 = x0 - pL, n = oW - x0;
        fdw_strip1 *st = &strips[k];
        st->full = c0 >= 0 && c0 + 16 + 2 <= W && n >= 16;
        st->store = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        for (int kw = 0; kw < 3; kw++) st->m[kw] = fdw_mask(c0 + kw, W);
    }
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    const size_t inPlane = s->h * s->w, outPlane = s->oh * s->ow;
    for (size_t c = 0; c < count; c++) {
        const float *x = in + c * inPlane;
        float *o = out + c * outPlane;
        __m512 wr[9];
        for (int t = 0; t < 9; t++) wr[t] = _mm512_set1_ps(w[c * 9 + t]);
        const __m512 vb = _mm512_set1_ps(bias ? bias[c] : 0.0f);
        if (oW > 32) {
            ptrdiff_t oh = 0;
            for (; oh + 4 <= oH; oh += 4) fdw_block1(4, x, H, W, oW, oh - pT, pL, wr, vb, strips, o + oh * oW, clamp, lo, hi);
            for (; oh < oH; oh++) fdw_block1(1, x, H, W, oW, oh - pT, pL, wr, vb, strips, o + oh * oW, clamp, lo, hi);
            continue;
        }
        for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
            if (strips[k].full) fdw_column1(1, x, H, W, oH, oW, pT, x0 - pL, wr, vb, &strips[k], o + x0, clamp, lo, hi);
            else fdw_column1(0, x, H, W, oH, oW, pT, x0 - pL, wr, vb, &strips[k], o + x0, clamp, lo, hi);
        }
    }
}

// ---- Blocked 3x3 path, stride 2: input rows split into even and odd columns ----
//
// With stride 2 the taps of a vector are every other input column. Per 16 outputs an input
// row is read as 32 columns (two loads) and split into its even columns E and odd columns O
// (two permutes): kernel column 0 is E, 1 is O, 2 is E shifted down one lane with the
// 33rd column (a one-lane load) in the top lane. That is 3 shuffles per input row and strip,
// shared by the one or two output rows of the block that read the row (a permute per tap
// was 9 per output row; splitting rows once into scratch lines instead stalled on the
// scratch stores).
typedef struct { __mmask16 m0, m1, m2, store; int full; } fdw_chunk2;

// R output rows from oh0 of one plane, all strips.
FDW_INL FDW_T512 void fdw_rows2(const int R, const int FULL, const float *x, ptrdiff_t H,
                                ptrdiff_t W, ptrdiff_t ih0, ptrdiff_t c0, const __m512 *wr,
                                __m512 vb, const fdw_chunk2 *ch, __m512i even, __m512i odd,
                                float *o, ptrdiff_t oW, int clamp, __m512 lo, __m512 hi) {
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = vb;
#pragma clang loop unroll(full)
    for (int i = 0; i < 2 * R + 1; i++) {
        const ptrdiff_t ih = ih0 + i;
        if (ih < 0 || ih >= H) continue;
        const float *src = x + ih * W + c0;
        __m512 a, b, c;
        if (FULL) {
            a = _mm512_loadu_ps(src);
            b = _mm512_loadu_ps(src + 16);
        } else {
            a = _mm512_maskz_loadu_ps(ch->m0, src);
            b = _mm512_maskz_loadu_ps(ch->m1, src + 16);
        }
        c = ch->m2 ? _mm512_maskz_loadu_ps(ch->m2, src + 32) : _mm512_setzero_ps();
        const __m512 v0 = _mm512_permutex2var_ps(a, even, b), v1 = _mm512_permutex2var_ps(a, odd, b);
        const __m512 v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(c), _mm512_castps_si512(v0), 1));
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) {
            const int kh = i - 2 * r;
            if (kh < 0 || kh > 2) continue;
            acc[r] = _mm512_fmadd_ps(wr[kh * 3], v0, acc[r]);
            acc[r] = _mm512_fmadd_ps(wr[kh * 3 + 1], v1, acc[r]);
            acc[r] = _mm512_fmadd_ps(wr[kh * 3 + 2], v2, acc[r]);
        }
    }
    for (int r = 0; r < R; r++) fdw_store(o + r * oW, acc[r], clamp, lo, hi, FULL ? (__mmask16)0xFFFF : ch->store);
}

// One strip of 16 output columns (input columns from c0), all output rows: blocks of four
// rows, then single rows. (Looping over the strips inside each row block instead kept the
// weights out of registers and was 1.5x slower.)
FDW_INL FDW_T512 void fdw_column2(const int FULL, const float *x, ptrdiff_t H, ptrdiff_t W,
                                 ptrdiff_t oH, ptrdiff_t oW, ptrdiff_t pT, ptrdiff_t c0,
                                 const __m512 *wr, __m512 vb, const fdw_chunk2 *ch,
                                 __m512i even, __m512i odd, float *o, int clamp, __m512 lo,
                                 __m512 hi) {
    ptrdiff_t oh = 0;
    for (; oh + 4 <= oH; oh += 4) fdw_rows2(4, FULL, x, H, W, 2 * oh - pT, c0, wr, vb, ch, even, odd, o + oh * oW, oW, clamp, lo, hi);
    for (; oh < oH; oh++) fdw_rows2(1, FULL, x, H, W, 2 * oh - pT, c0, wr, vb, ch, even, odd, o + oh * oW, oW, clamp, lo, hi);
}

// R output rows from oh0, every strip (row-major for planes of three strips or more, as
// fdw_block3).
FDW_INL FDW_T512 void fdw_block2(const int R, const float *x, ptrdiff_t H, ptrdiff_t W,
                                 ptrdiff_t oW, ptrdiff_t ih0, ptrdiff_t pL, const __m512 *wr,
                                 __m512 vb, const fdw_chunk2 *chunks, __m512i even, __m512i odd,
                                 float *o, int clamp, __m512 lo, __m512 hi) {
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        if (chunks[k].full) fdw_rows2(R, 1, x, H, W, ih0, 2 * x0 - pL, wr, vb, &chunks[k], even, odd, o + x0, oW, clamp, lo, hi);
        else fdw_rows2(R, 0, x, H, W, ih0, 2 * x0 - pL, wr, vb, &chunks[k], even, odd, o + x0, oW, clamp, lo, hi);
    }
}

FDW_T512 static void fdw_planes3s2(const frugal_dwconv_shape *s, size_t count, const float *in,
                                   const float *w, const float *bias, float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    fdw_chunk2 chunks[FDW_MAX_STRIPS];
    for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
        const ptrdiff_t c0 = 2 * x0 - pL, n = oW - x0;
        fdw_chunk2 *ch = &chunks[k];
        ch->m0 = fdw_mask(c0, W);
        ch->m1 = fdw_mask(c0 + 16, W);
        ch->m2 = fdw_mask(c0 + 32, W) & 1;
        ch->store = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        ch->full = ch->m0 == (__mmask16)0xFFFF && ch->m1 == (__mmask16)0xFFFF && n >= 16;
    }
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
        if (oW > 32) {
            ptrdiff_t oh = 0;
            for (; oh + 4 <= oH; oh += 4) fdw_block2(4, x, H, W, oW, 2 * oh - pT, pL, wr, vb, chunks, even, odd, o + oh * oW, clamp, lo, hi);
            for (; oh < oH; oh++) fdw_block2(1, x, H, W, oW, 2 * oh - pT, pL, wr, vb, chunks, even, odd, o + oh * oW, clamp, lo, hi);
            continue;
        }
        for (ptrdiff_t x0 = 0, k = 0; x0 < oW; x0 += 16, k++) {
            if (chunks[k].full) fdw_column2(1, x, H, W, oH, oW, pT, 2 * x0 - pL, wr, vb, &chunks[k], even, odd, o + x0, clamp, lo, hi);
            else fdw_column2(0, x, H, W, oH, oW, pT, 2 * x0 - pL, wr, vb, &chunks[k], even, odd, o + x0, clamp, lo, hi);
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
        if (s->sw == 1) fdw_planes3s1(s, count, in, w, bias, out);
        else fdw_planes3s2(s, count, in, w, bias, out);
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
