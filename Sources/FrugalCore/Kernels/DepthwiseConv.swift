// Direct convolution for one input channel per group (depthwise, and channel multipliers
// M = k * C). Each output plane reads one input plane; when the convolution pads, that
// plane is first copied into a zero-bordered scratch plane so the inner loops never test
// bounds. Output rows are built in L1: a single 9-tap pass for 3x3, one pass per kernel
// row (with 5- or 3-tap bodies) otherwise. Threaded over (image, output channel) planes.

enum DepthwiseConv {
    static func paddedPlaneCount(_ d: Conv2DDescriptor) -> Int {
        let padded = d.padTop > 0 || d.padLeft > 0 || d.padBottom > 0 || d.padRight > 0
        return padded ? (d.inHeight + d.padTop + d.padBottom) * (d.inWidth + d.padLeft + d.padRight) : 0
    }

    static func slotCount(_ d: Conv2DDescriptor, threadCount: Int) -> Int {
        max(1, min(threadCount, d.batch * d.outChannels))
    }

    static func workspaceCount(_ d: Conv2DDescriptor, threadCount: Int) -> Int {
        paddedPlaneCount(d) * slotCount(d, threadCount: threadCount)
    }

    static func forward(
        _ d: Conv2DDescriptor, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp?,
        workspace: UnsafeMutablePointer<Float>?, pool: ThreadPool?
    ) {
        let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
        let kH = d.kernelHeight, kW = d.kernelWidth
        let sH = d.strideHeight, sW = d.strideWidth, dH = d.dilationHeight, dW = d.dilationWidth
        let M = d.outChannels, Mg = d.groupOutChannels
        let planeCount = paddedPlaneCount(d)
        let PW = planeCount > 0 ? W + d.padLeft + d.padRight : W
        let planes = d.batch * M
        let slots = pool == nil ? 1 : slotCount(d, threadCount: pool!.threadCount)
        // ~2 flops per tap; keep tiny convolutions on one thread.
        let work = planes * oH * oW * kH * kW
        let useSlots = work < 40_000 ? 1 : slots

        KernelSupport.forSlots(planes, slots: useSlots, pool: pool) { slot, range in
            let scratch = planeCount > 0 ? workspace! + slot * planeCount : nil
            var loadedPlane = -1
            for p in range {
                let n = p / M, m = p % M
                let inPlaneIndex = n * d.inChannels + m / Mg
                var src = input + inPlaneIndex * H * W
                if let s = scratch {
                    if loadedPlane != inPlaneIndex {
                        fillPadded(s, from: src, d)
                        loadedPlane = inPlaneIndex
                    }
                    src = UnsafePointer(s)
                }
                let w = weight + m * kH * kW
                let b = bias?[m] ?? 0
                let out = output + p * oH * oW
                for oh in 0..<oH {
                    let o = out + oh * oW
                    let top = src + oh * sH * PW
                    if kH == 3 && kW == 3 {
                        if sW == 1 && dW == 1 {
                            row3x3(o, top, top + dH * PW, top + 2 * dH * PW, w, b, oW, 1, 1)
                        } else if sW == 2 && dW == 1 {
                            row3x3(o, top, top + dH * PW, top + 2 * dH * PW, w, b, oW, 2, 1)
                        } else {
                            row3x3(o, top, top + dH * PW, top + 2 * dH * PW, w, b, oW, sW, dW)
                        }
                    } else {
                        o.update(repeating: b, count: oW)
                        for kh in 0..<kH {
                            let r = top + kh * dH * PW
                            let wr = w + kh * kW
                            if kW == 5 && sW == 1 && dW == 1 {
                                row5(o, r, wr, oW, 1, 1)
                            } else if kW == 5 && sW == 2 && dW == 1 {
                                row5(o, r, wr, oW, 2, 1)
                            } else if kW == 5 {
                                row5(o, r, wr, oW, sW, dW)
                            } else {
                                rowGeneric(o, r, wr, kW, oW, sW, dW)
                            }
                        }
                    }
                    if let c = clamp { KernelSupport.clamp(o, oW, c) }
                }
            }
        }
    }

    /// Copies an [H, W] plane into the middle of a zeroed (H+pT+pB) x (W+pL+pR) plane.
    static func fillPadded(_ dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, _ d: Conv2DDescriptor) {
        let H = d.inHeight, W = d.inWidth
        let PW = W + d.padLeft + d.padRight
        dst.update(repeating: 0, count: d.padTop * PW)
        for h in 0..<H {
            let row = dst + (d.padTop + h) * PW
            row.update(repeating: 0, count: d.padLeft)
            (row + d.padLeft).update(from: src + h * W, count: W)
            (row + d.padLeft + W).update(repeating: 0, count: d.padRight)
        }
        (dst + (d.padTop + H) * PW).update(repeating: 0, count: d.padBottom * PW)
    }

    /// One output row of a 3x3 kernel: o[x] = b + sum of 9 taps, in one pass.
    @inline(__always)
    static func row3x3(
        _ o: UnsafeMutablePointer<Float>, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
        _ r2: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: Float, _ n: Int, _ s: Int, _ d: Int
    ) {
        let w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8]
        let d2 = d &* 2
        var start = 0
        if d == 1 && (s == 1 || s == 2) {
            // 16 outputs at a time with explicit vectors (unaligned loads; stride 2 keeps the
            // even lanes of 32 inputs), so the loop does not depend on auto-vectorisation.
            typealias V = SIMD16<Float>
            let vb = V(repeating: b)
            let v0 = V(repeating: w0), v1 = V(repeating: w1), v2 = V(repeating: w2), v3 = V(repeating: w3)
            let v4 = V(repeating: w4), v5 = V(repeating: w5), v6 = V(repeating: w6), v7 = V(repeating: w7), v8 = V(repeating: w8)
            @inline(__always) func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
                if s == 1 { return UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
                return UnsafeRawPointer(p + i).loadUnaligned(as: SIMD32<Float>.self).evenHalf
            }
            // Stride 2 reads 32 floats from i + 2: keep that inside the row (its last read is
            // (n - 1) * 2 + 2).
            let limit = s == 1 ? n - 16 : (n * 2 - 33) / 2 - 1
            var x = 0
            while x <= limit {
                let i = x &* s
                var acc = vb
                acc += v0 * load(r0, i); acc += v1 * load(r0, i + 1); acc += v2 * load(r0, i + 2)
                acc += v3 * load(r1, i); acc += v4 * load(r1, i + 1); acc += v5 * load(r1, i + 2)
                acc += v6 * load(r2, i); acc += v7 * load(r2, i + 1); acc += v8 * load(r2, i + 2)
                UnsafeMutableRawPointer(o + x).storeBytes(of: acc, as: V.self)
                x += 16
            }
            start = x
        }
        for x in start..<max(start, n) {
            let i = x &* s
            var acc = b + w0 * r0[i]
            acc += w1 * r0[i &+ d]
            acc += w2 * r0[i &+ d2]
            acc += w3 * r1[i]
            acc += w4 * r1[i &+ d]
            acc += w5 * r1[i &+ d2]
            acc += w6 * r2[i]
            acc += w7 * r2[i &+ d]
            acc += w8 * r2[i &+ d2]
            o[x] = acc
        }
    }

    /// Adds the 5 taps of one kernel row to an output row.
    @inline(__always)
    static func row5(
        _ o: UnsafeMutablePointer<Float>, _ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ n: Int, _ s: Int, _ d: Int
    ) {
        let w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4]
        for x in 0..<n {
            let i = x &* s
            var acc = o[x] + w0 * r[i]
            acc += w1 * r[i &+ d]
            acc += w2 * r[i &+ 2 &* d]
            acc += w3 * r[i &+ 3 &* d]
            acc += w4 * r[i &+ 4 &* d]
            o[x] = acc
        }
    }

    /// Adds the `k` taps of one kernel row to an output row, one pass per tap.
    static func rowGeneric(
        _ o: UnsafeMutablePointer<Float>, _ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ k: Int, _ n: Int, _ s: Int, _ d: Int
    ) {
        for kw in 0..<k {
            let wv = w[kw]
            let rr = r + kw * d
            if s == 1 {
                for x in 0..<n { o[x] += wv * rr[x] }
            } else {
                for x in 0..<n { o[x] += wv * rr[x &* s] }
            }
        }
    }
}
