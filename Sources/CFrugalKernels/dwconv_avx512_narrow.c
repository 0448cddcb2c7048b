// Depthwise convolution of narrow planes (output rows of at most 8, input rows of at most
// 16: MobileNetV2's 7x7 stage, any stride, dilation and padding) with AVX-512.
//
// A row-wide vector would leave half its lanes or more idle there, so one vector holds two
// output rows side by side (lanes 0..<oW and oW..<2 oW, stored with one masked store since
// the rows are adjacent in memory). Each input row is one masked load; for each kernel
// column, one two-source permute picks from the two input rows the columns every lane
// needs, zeroing the lanes whose column falls in the padding. The permute indices and lane
// masks depend only on the shape, so they are built once per call, and a call runs many
// channels. 3x3 stride-1 planes as wide as their input are instead read as one flat array
// (fdw_flat3 below).
#include "dwconv_avx512_common.h"

#if defined(__x86_64__)

#define FDW_NARROW_MAX_KW 16

// K: constant kernel size (3 keeps the weights in registers), 0: s->kh x s->kw.
FDW_INL FDW_T512 void fdw_narrow(const int K, const frugal_dwconv_shape *s, size_t count,
                                 const float *in, const float *w, const float *bias,
                                 float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t kH = K ? K : (ptrdiff_t)s->kh, kW = K ? K : (ptrdiff_t)s->kw;
    const ptrdiff_t sH = (ptrdiff_t)s->sh, sW = (ptrdiff_t)s->sw;
    const ptrdiff_t dH = (ptrdiff_t)s->dh, dW = (ptrdiff_t)s->dw;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    __m512i idx[FDW_NARROW_MAX_KW];
    __mmask16 take[FDW_NARROW_MAX_KW];
    for (ptrdiff_t kw = 0; kw < kW; kw++) {
        int32_t lane[16] = {0};
        uint32_t bits = 0;
        for (ptrdiff_t j = 0; j < 2 * oW; j++) {
            const ptrdiff_t second = j >= oW, col = second ? j - oW : j;
            const ptrdiff_t c = col * sW + kw * dW - pL;
            if (c < 0 || c >= W) continue;
            lane[j] = (int32_t)(second * 16 + c);
            bits |= 1u << j;
        }
        idx[kw] = _mm512_loadu_si512(lane);
        take[kw] = (__mmask16)bits;
    }
    const __mmask16 rowm = (__mmask16)(W >= 16 ? 0xFFFFu : (1u << W) - 1u);
    const __mmask16 both = (__mmask16)((1u << (2 * oW)) - 1u), one = (__mmask16)((1u << oW) - 1u);
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    const size_t inPlane = (size_t)(H * W), outPlane = (size_t)(oH * oW), wPlane = (size_t)(kH * kW);
    for (size_t c = 0; c < count; c++) {
        const float *x = in + c * inPlane;
        const float *wc = w + c * wPlane;
        float *o = out + c * outPlane;
        __m512 wr[9];
        if (K == 3)
            for (int t = 0; t < 9; t++) wr[t] = _mm512_set1_ps(wc[t]);
        const __m512 vb = _mm512_set1_ps(bias ? bias[c] : 0.0f);
        for (ptrdiff_t oh = 0; oh < oH; oh += 2) {
            const int pair = oh + 1 < oH;
            __m512 acc0 = vb, acc1 = _mm512_setzero_ps();
            for (ptrdiff_t kh = 0; kh < kH; kh++) {
                const ptrdiff_t ia = oh * sH - pT + kh * dH, ib = ia + sH;
                const __m512 a = ia >= 0 && ia < H ? _mm512_maskz_loadu_ps(rowm, x + ia * W) : _mm512_setzero_ps();
                const __m512 b = pair && ib >= 0 && ib < H ? _mm512_maskz_loadu_ps(rowm, x + ib * W) : _mm512_setzero_ps();
                for (ptrdiff_t kw = 0; kw < kW; kw++) {
                    const __m512 v = _mm512_maskz_permutex2var_ps(take[kw], a, idx[kw], b);
                    const __m512 wv = K == 3 ? wr[kh * 3 + kw] : _mm512_set1_ps(wc[kh * kW + kw]);
                    // Two accumulators halve the FMA dependency chain.
                    if (kh & 1) acc1 = _mm512_fmadd_ps(wv, v, acc1);
                    else acc0 = _mm512_fmadd_ps(wv, v, acc0);
                }
            }
            fdw_store(o + oh * oW, _mm512_add_ps(acc0, acc1), clamp, lo, hi, pair ? both : one);
        }
    }
}


// 3x3, stride 1, rows as wide as the input (W == oW; MobileNet's 7x7 planes): output o = oh * oW + ow reads input
// o + (kh dH - pT) W + kw dW - pL, a constant offset per tap, so 16 consecutive outputs
// (spanning rows) are one masked load per tap; the masks (lanes whose tap falls in the
// padding) depend on the shape only and are built once per call.
#define FDW_FLAT_MAX 160
FDW_T512 static int fdw_flat3(const frugal_dwconv_shape *s, size_t count, const float *in,
                              const float *w, const float *bias, float *out) {
    const ptrdiff_t H = (ptrdiff_t)s->h, W = (ptrdiff_t)s->w;
    const ptrdiff_t oH = (ptrdiff_t)s->oh, oW = (ptrdiff_t)s->ow;
    const ptrdiff_t pT = (ptrdiff_t)s->pad_top, pL = (ptrdiff_t)s->pad_left;
    const ptrdiff_t n = oH * oW, nv = (n + 15) / 16;
    if (nv * 9 > FDW_FLAT_MAX) return 0;
    __mmask16 m[FDW_FLAT_MAX] = {0};
    ptrdiff_t off[9];
    for (int t = 0; t < 9; t++) off[t] = (t / 3 - pT) * W + t % 3 - pL;
    for (ptrdiff_t o = 0, oh = 0, ow = 0; o < n; o++) {
        for (int t = 0; t < 9; t++) {
            const ptrdiff_t ih = oh + t / 3 - pT, iw = ow + t % 3 - pL;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) m[(o / 16) * 9 + t] |= (__mmask16)(1u << (o % 16));
        }
        if (++ow == oW) { ow = 0; oh++; }
    }
    const __m512 lo = _mm512_set1_ps(s->lo), hi = _mm512_set1_ps(s->hi);
    const int clamp = s->clamp != 0;
    const __mmask16 last = (__mmask16)(n % 16 == 0 ? 0xFFFFu : (1u << (n % 16)) - 1u);
    for (size_t c = 0; c < count; c++) {
        const float *x = in + c * (size_t)(H * W);
        float *o = out + c * (size_t)n;
        __m512 wr[9];
        for (int t = 0; t < 9; t++) wr[t] = _mm512_set1_ps(w[c * 9 + t]);
        const __m512 vb = _mm512_set1_ps(bias ? bias[c] : 0.0f);
        for (ptrdiff_t v = 0; v < nv; v++) {
            __m512 acc0 = vb, acc1 = _mm512_setzero_ps();
            for (int t = 0; t < 9; t++) {
                const __m512 xv = _mm512_maskz_loadu_ps(m[v * 9 + t], x + v * 16 + off[t]);
                if (t & 1) acc1 = _mm512_fmadd_ps(wr[t], xv, acc1);
                else acc0 = _mm512_fmadd_ps(wr[t], xv, acc0);
            }
            fdw_store(o + v * 16, _mm512_add_ps(acc0, acc1), clamp, lo, hi, v == nv - 1 ? last : (__mmask16)0xFFFF);
        }
    }
    return 1;
}

FDW_T512 int fdw_narrow_planes(const frugal_dwconv_shape *s, size_t count, const float *in,
                               const float *w, const float *bias, float *out) {
    if (s->ow > 8 || s->w > 16 || s->kw > FDW_NARROW_MAX_KW) return 0;
    if (s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 && s->w == s->ow &&
        fdw_flat3(s, count, in, w, bias, out)) return 1;
    if (s->kh == 3 && s->kw == 3) fdw_narrow(3, s, count, in, w, bias, out);
    else fdw_narrow(0, s, count, in, w, bias, out);
    return 1;
}
#endif
