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

extension Im2Col {
    /// Unfolds one panel of the column matrix straight into the micro-kernel's B layout:
    /// rows `p0..<p0+kc` and columns `j0..<j0+width` (output positions oh * oW + ow) of the
    /// [K] x [oH * oW] matrix of ``unfold(_:channels:channelCount:col:pool:)`` go to
    /// `dst[(p - p0) * stride + (j - j0)]`; columns `width..<stride` of each row are zeroed.
    /// `channels` is the image's first channel of the group.
    static func unfoldPanel(
        _ d: Conv2DDescriptor, channels: UnsafePointer<Float>, p0: Int, kc: Int, j0: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>, stride: Int
    ) {
        let kH = d.kernelHeight, kW = d.kernelWidth
        let H = d.inHeight, W = d.inWidth, oW = d.outWidth
        let sH = d.strideHeight, sW = d.strideWidth, dH = d.dilationHeight, dW = d.dilationWidth
        let pT = d.padTop, pL = d.padLeft
        // The panel's columns as runs along one output row, 4 ints each: the input row of
        // tap kh = 0 (oh * sH - pT), the first ow, the length, the offset in the panel row.
        let maxRuns = width / max(oW, 1) + 2
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * maxRuns + 2 * kW) { buf in
            let runs = buf.baseAddress!, bounds = runs + 4 * maxRuns
            var runCount = 0
            var j = j0
            while j < j0 + width {
                let oh = j / oW, ow = j - oh * oW
                let n = min(oW - ow, j0 + width - j)
                runs[4 * runCount] = oh * sH - pT
                runs[4 * runCount + 1] = ow
                runs[4 * runCount + 2] = n
                runs[4 * runCount + 3] = j - j0
                runCount += 1
                j += n
            }
            // For each kw: the output columns [lo, hi) whose input column lies in 0..<W.
            for kw in 0..<kW {
                let shift = kw * dW - pL
                let lo = min(oW, max(0, KernelSupport.ceilDiv(-shift, sW)))
                bounds[2 * kw] = lo
                bounds[2 * kw + 1] = max(lo, min(oW, KernelSupport.ceilDiv(W - shift, sW)))
            }
            var c = p0 / (kH * kW), kh = (p0 / kW) % kH, kw = p0 % kW
            if pT == 0 && pL == 0 && d.padBottom == 0 && d.padRight == 0 && sW == 1 {
                // No padding: every tap of every run is inside the image (the output size
                // guarantees it), so each run is one plain copy.
                for r in 0..<runCount { runs[4 * r + 1] = runs[4 * r] &* W &+ runs[4 * r + 1] }
                for p in 0..<kc {
                    let row = dst + p * stride
                    let tapRow: Int = c &* H &+ kh &* dH
                    let tapOffset: Int = tapRow &* W &+ kw &* dW
                    let src = channels + tapOffset
                    for r in 0..<runCount {
                        copy(row + runs[4 * r + 3], src + runs[4 * r + 1], runs[4 * r + 2])
                    }
                    if width < stride { (row + width).update(repeating: 0, count: stride - width) }
                    kw &+= 1
                    if kw == kW {
                        kw = 0
                        kh &+= 1
                        if kh == kH { kh = 0; c &+= 1 }
                    }
                }
                return
            }
            for p in 0..<kc {
                let row = dst + p * stride
                let shift = kw * dW - pL
                let tapRow = kh * dH
                let lo = bounds[2 * kw], hi = bounds[2 * kw + 1]
                let plane = channels + c * H * W + shift
                for r in 0..<runCount {
                    let ih = runs[4 * r] + tapRow, ow0 = runs[4 * r + 1], n = runs[4 * r + 2]
                    let out = row + runs[4 * r + 3] - ow0  // out[ow] for ow in ow0..<ow0+n
                    let a = max(ow0, lo), b = min(ow0 + n, hi)
                    if UInt(bitPattern: ih) >= UInt(H) || a >= b {
                        (out + ow0).update(repeating: 0, count: n)
                        continue
                    }
                    let src = plane + ih * W
                    if sW == 1 {
                        if a == ow0 && b == ow0 + n {
                            copy(out + a, src + a, n)
                            continue
                        }
                        if a > ow0 { (out + ow0).update(repeating: 0, count: a - ow0) }
                        copy(out + a, src + a, b - a)
                    } else {
                        if a > ow0 { (out + ow0).update(repeating: 0, count: a - ow0) }
                        var ow = a, i = a &* sW
                        if sW == 2 {
                            // 8 outputs at a time: the even elements of 16 inputs. The last
                            // element loaded (i + 15) stays below the last one needed, 2(b-1).
                            let s = UnsafeRawPointer(src), o = UnsafeMutableRawPointer(out)
                            while ow &+ 8 < b {
                                let v = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
                                o.storeBytes(of: v.evenHalf, toByteOffset: ow &* 4, as: SIMD8<Float>.self)
                                ow &+= 8
                                i &+= 16
                            }
                        }
                        while ow < b {
                            out[ow] = src[i]
                            ow &+= 1
                            i &+= sW
                        }
                    }
                    if b < ow0 + n { (out + b).update(repeating: 0, count: ow0 + n - b) }
                }
                if width < stride { (row + width).update(repeating: 0, count: stride - width) }
                kw += 1
                if kw == kW {
                    kw = 0
                    kh += 1
                    if kh == kH { kh = 0; c += 1 }
                }
            }
        }
    }

    /// Copies `n` floats, 8 at a time through vector registers (short runs: no call).
    @inline(__always)
    static func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i &+ 8 <= n {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self), toByteOffset: i &* 4, as: SIMD8<Float>.self)
            i &+= 8
        }
        if i &+ 4 <= n {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD4<Float>.self), toByteOffset: i &* 4, as: SIMD4<Float>.self)
            i &+= 4
        }
        while i < n {
            dst[i] = src[i]
            i &+= 1
        }
    }
}
