// im2col: unfolds the receptive fields of a convolution into a matrix so that the
// convolution becomes one GEMM. Row r = (c * kH + kh) * kW + kw of the column matrix holds,
// for every output position (oh, ow), the input value the tap (c, kh, kw) reads there, or 0
// in the padding. Layout: [C * kH * kW] x [oH * oW], row-major.

/// The im2col transform used by the general convolution path.
public enum Im2Col {
    /// Floats in the column matrix of `channelCount` channels for `d`.
    public static func columnCount(_ d: Conv2DDescriptor, channelCount: Int) -> Int {
        channelCount * d.kernelHeight * d.kernelWidth * d.outHeight * d.outWidth
    }

    /// Unfolds `channelCount` consecutive [H, W] planes starting at `channels` into `col`
    /// (``columnCount(_:channelCount:)`` floats), with `d`'s kernel, strides, dilations, pads.
    public static func unfold(
        _ d: Conv2DDescriptor, channels: UnsafePointer<Float>, channelCount: Int,
        col: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil
    ) {
        let kH = d.kernelHeight, kW = d.kernelWidth
        let H = d.inHeight, W = d.inWidth
        let oH = d.outHeight, oW = d.outWidth, oHW = oH * oW
        let sH = d.strideHeight, sW = d.strideWidth, dH = d.dilationHeight, dW = d.dilationWidth
        let pT = d.padTop, pL = d.padLeft
        let rows = channelCount * kH * kW
        if rows == 0 || oHW == 0 { return }

        KernelSupport.forRanges(rows, costPerItem: oHW / 4 + 1, pool: pool) { range in
            for r in range {
                let c = r / (kH * kW), kh = (r / kW) % kH, kw = r % kW
                let plane = channels + c * H * W
                let dst0 = col + r * oHW
                // Output columns whose input column iw = ow*sW - pL + kw*dW lies in 0..<W.
                let shift = kw * dW - pL
                let owLo = min(oW, max(0, KernelSupport.ceilDiv(-shift, sW)))
                let owHi = max(owLo, min(oW, KernelSupport.ceilDiv(W - shift, sW)))
                for oh in 0..<oH {
                    let dst = dst0 + oh * oW
                    let ih = oh * sH - pT + kh * dH
                    if ih < 0 || ih >= H {
                        dst.update(repeating: 0, count: oW)
                        continue
                    }
                    let src = plane + ih * W + shift
                    if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                    if sW == 1 {
                        (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                    } else {
                        var i = owLo &* sW
                        for ow in owLo..<owHi {
                            dst[ow] = src[i]
                            i &+= sW
                        }
                    }
                    if owHi < oW { (dst + owHi).update(repeating: 0, count: oW - owHi) }
                }
            }
        }
    }
}
