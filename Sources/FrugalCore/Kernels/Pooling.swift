// 2-D max and average pooling (ONNX MaxPool / AveragePool: explicit pads, strides,
// dilations, ceil_mode, count_include_pad) and global average / max pooling, NCHW float32.
// Threaded over (image, channel) planes. Window bounds are clipped per output row and
// column with integer math, so no padded copy is made.

import CFrugalKernels

/// Shape and attributes of one 2-D pooling (ONNX MaxPool / AveragePool semantics).
public struct Pool2DDescriptor: Sendable, Equatable {
    public var batch: Int
    public var channels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    /// Output sizes round up (ONNX ceil_mode = 1); the last window must still start inside
    /// the input or its leading padding.
    public var ceilMode: Bool

    /// A pooling of an [N, C, H, W] input; `pads` are top, left, bottom, right.
    public init(
        batch: Int, channels: Int, inHeight: Int, inWidth: Int, kernelHeight: Int, kernelWidth: Int,
        strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0), ceilMode: Bool = false
    ) {
        self.batch = batch
        self.channels = channels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        (strideHeight, strideWidth) = strides
        (dilationHeight, dilationWidth) = dilations
        (padTop, padLeft, padBottom, padRight) = pads
        self.ceilMode = ceilMode
    }

    static func outSize(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ p0: Int, _ p1: Int, _ ceil: Bool) -> Int {
        if n == 0 { return 0 }
        let span = n + p0 + p1 - (k - 1) * d - 1
        if span < 0 { return 0 }
        var out = (ceil ? KernelSupport.ceilDiv(span, s) : span / s) + 1
        if ceil && (out - 1) * s >= n + p0 { out -= 1 }
        return out
    }

    /// Output height; 0 when the input height is 0.
    public var outHeight: Int { Self.outSize(inHeight, kernelHeight, strideHeight, dilationHeight, padTop, padBottom, ceilMode) }
    /// Output width; 0 when the input width is 0.
    public var outWidth: Int { Self.outSize(inWidth, kernelWidth, strideWidth, dilationWidth, padLeft, padRight, ceilMode) }
    /// The output shape [N, C, outHeight, outWidth].
    public var outputShape: Shape { [batch, channels, outHeight, outWidth] }

    /// Throws a ``CoreError`` naming the problem unless every attribute is usable.
    public func validate(op: String = "Pool") throws {
        var desc: String { "\(op) on input [\(batch), \(channels), \(inHeight), \(inWidth)] with kernel [\(kernelHeight), \(kernelWidth)]" }
        guard batch >= 0, channels >= 0, inHeight >= 0, inWidth >= 0 else {
            throw CoreError.invalidShape("\(desc): dimensions must not be negative")
        }
        guard kernelHeight >= 1, kernelWidth >= 1 else { throw CoreError.invalidArgument("\(desc): kernel dimensions must be at least 1") }
        guard strideHeight >= 1, strideWidth >= 1 else {
            throw CoreError.invalidArgument("\(desc): strides (\(strideHeight), \(strideWidth)) must be at least 1")
        }
        guard dilationHeight >= 1, dilationWidth >= 1 else {
            throw CoreError.invalidArgument("\(desc): dilations (\(dilationHeight), \(dilationWidth)) must be at least 1")
        }
        guard padTop >= 0, padLeft >= 0, padBottom >= 0, padRight >= 0 else {
            throw CoreError.invalidArgument("\(desc): pads (\(padTop), \(padLeft), \(padBottom), \(padRight)) must not be negative")
        }
        let effH = (kernelHeight - 1) * dilationHeight + 1, effW = (kernelWidth - 1) * dilationWidth + 1
        if inHeight > 0 && inHeight + padTop + padBottom < effH || inWidth > 0 && inWidth + padLeft + padRight < effW {
            throw CoreError.invalidShape(
                "\(desc): the dilated window (\(effH) x \(effW)) is larger than the padded input (\(inHeight + padTop + padBottom) x \(inWidth + padLeft + padRight)); use a smaller kernel or more padding")
        }
        do { try outputShape.validated() } catch {
            throw CoreError.tooLarge("\(desc): the input has more elements than a 64-bit count can hold")
        }
    }
}

/// How one kernel tap is folded into an output row (max or sum), as a type.
protocol PoolTap {
    static var initial: Float { get }
    static func tap(_ o: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ lo: Int, _ hi: Int, _ s: Int)
}

enum MaxTap: PoolTap {
    static var initial: Float { -.infinity }
    @inline(__always)
    static func tap(_ o: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ lo: Int, _ hi: Int, _ s: Int) {
        if s == 1 {
            for ow in lo..<hi { let v = src[ow]; o[ow] = v > o[ow] || v.isNaN ? v : o[ow] }
        } else if s == 2 {
            for ow in lo..<hi { let v = src[ow &* 2]; o[ow] = v > o[ow] || v.isNaN ? v : o[ow] }
        } else {
            for ow in lo..<hi { let v = src[ow &* s]; o[ow] = v > o[ow] || v.isNaN ? v : o[ow] }
        }
    }
}

enum SumTap: PoolTap {
    static var initial: Float { 0 }
    @inline(__always)
    static func tap(_ o: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ lo: Int, _ hi: Int, _ s: Int) {
        if s == 1 {
            for ow in lo..<hi { o[ow] += src[ow] }
        } else if s == 2 {
            for ow in lo..<hi { o[ow] += src[ow &* 2] }
        } else {
            for ow in lo..<hi { o[ow] += src[ow &* s] }
        }
    }
}

/// Pooling kernels.
public enum Pooling {
    /// Max pooling of `input` [N,C,H,W] into `output` [N,C,oH,oW]; a window that covers only
    /// padding yields -inf; NaN propagates. `descriptor` must have passed `validate()`.
    public static func maxPool2D(
        _ d: Pool2DDescriptor, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil
    ) {
        if pairedMax(d, input: input, output: output, pool: pool) { return }
        rowPasses(MaxTap.self, d, input: input, output: output, pool: pool) { _, _, _ in }
    }

    /// The common 2-wide, stride-2 max pooling (kernel kH x 2, no left padding, every window
    /// inside the row) on the C pair kernel; false when `d` is not of that kind.
    static func pairedMax(
        _ d: Pool2DDescriptor, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: ThreadPool?,
        isa: KernelISA? = nil
    ) -> Bool {
        let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
        guard d.kernelWidth == 2, d.strideWidth == 2, d.dilationWidth == 1, d.padLeft == 0, 2 * oW <= W else { return false }
        let planes = d.batch * d.channels
        if planes == 0 || oH == 0 || oW == 0 { return true }
        let kH = d.kernelHeight, sH = d.strideHeight, dH = d.dilationHeight, pT = d.padTop
        let wide = CPUInfo.current.hasAVX512 && isa != .portable && isa != .avx2
        let pairs = wide ? frugal_maxpool_pairs_avx512 : frugal_maxpool_pairs_portable
        // (~40 ns per plane of call and setup: LeNet-5's 8x8 -> 4x4 planes took ~65 ns each.)
        KernelSupport.forRanges(planes, costPerItem: oH * oW * kH / 8 + 40, pool: pool) { range in
            for p in range {
                let plane = input + p * H * W
                let out = output + p * oH * oW
                for oh in 0..<oH {
                    let o = out + oh * oW
                    let ihStart = oh * sH - pT
                    let taps = KernelSupport.tapRange(start: ihStart, extent: H, kernel: kH, dilation: dH)
                    if taps.isEmpty {
                        o.update(repeating: -.infinity, count: oW)
                        continue
                    }
                    for kh in taps {
                        pairs(plane + (ihStart + kh * dH) * W, o, oW, kh == taps.lowerBound ? 0 : 1)
                    }
                }
            }
        }
        return true
    }

    /// Average pooling of `input` [N,C,H,W] into `output` [N,C,oH,oW]. With
    /// `countIncludePad` the divisor counts padding taps (not those past the padding that
    /// ceil mode adds); a window with nothing to count yields 0.
    public static func averagePool2D(
        _ d: Pool2DDescriptor, countIncludePad: Bool, input: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil
    ) {
        let kH = d.kernelHeight, kW = d.kernelWidth, dH = d.dilationHeight, dW = d.dilationWidth
        let H = countIncludePad ? d.inHeight + d.padTop + d.padBottom : d.inHeight
        let W = countIncludePad ? d.inWidth + d.padLeft + d.padRight : d.inWidth
        let shiftH = countIncludePad ? d.padTop : 0, shiftW = countIncludePad ? d.padLeft : 0
        rowPasses(SumTap.self, d, input: input, output: output, pool: pool) { o, oh, oW in
            let ch = KernelSupport.tapRange(start: oh * d.strideHeight - d.padTop + shiftH, extent: H, kernel: kH, dilation: dH).count
            for ow in 0..<oW {
                let cw = KernelSupport.tapRange(start: ow * d.strideWidth - d.padLeft + shiftW, extent: W, kernel: kW, dilation: dW).count
                let count = ch * cw
                o[ow] = count > 0 ? o[ow] / Float(count) : 0
            }
        }
    }

    /// Builds each output row in place: fill with `T.initial`, then one `T.tap` pass per
    /// in-bounds kernel tap (combining src[ow * stride] into o[ow] for ow in lo..<hi), then
    /// `finish(o, oh, oW)`. Generic over the tap type so threaded calls stay specialised.
    @inline(__always)
    static func rowPasses<T: PoolTap>(
        _: T.Type, _ d: Pool2DDescriptor, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        pool: ThreadPool?, finish: (UnsafeMutablePointer<Float>, Int, Int) -> Void
    ) {
        let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
        let kH = d.kernelHeight, kW = d.kernelWidth, sH = d.strideHeight, sW = d.strideWidth
        let dH = d.dilationHeight, dW = d.dilationWidth, pT = d.padTop, pL = d.padLeft
        let planes = d.batch * d.channels
        if planes == 0 || oH == 0 || oW == 0 { return }
        let cost = oH * oW * kH * kW / 2 + 1
        KernelSupport.forRanges(planes, costPerItem: cost, pool: pool) { range in
            for p in range {
                let plane = input + p * H * W
                let out = output + p * oH * oW
                for oh in 0..<oH {
                    let o = out + oh * oW
                    o.update(repeating: T.initial, count: oW)
                    let ihStart = oh * sH - pT
                    for kh in KernelSupport.tapRange(start: ihStart, extent: H, kernel: kH, dilation: dH) {
                        let row = plane + (ihStart + kh * dH) * W
                        for kw in 0..<kW {
                            // Output columns whose input column ow*sW + shift lies in 0..<W.
                            let shift = kw * dW - pL
                            let lo = Swift.min(oW, Swift.max(0, KernelSupport.ceilDiv(-shift, sW)))
                            let hi = Swift.max(lo, Swift.min(oW, KernelSupport.ceilDiv(W - shift, sW)))
                            if lo < hi { T.tap(o, row + shift, lo, hi, sW) }
                        }
                    }
                    finish(o, oh, oW)
                }
            }
        }
    }

    /// Mean of each of `planes` contiguous planes of `planeSize` floats.
    public static func globalAveragePool(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, planes: Int, planeSize: Int, pool: ThreadPool? = nil
    ) {
        let scale = planeSize > 0 ? 1 / Float(planeSize) : .nan
        if planeSize == 0 {
            for p in 0..<planes { output[p] = .nan }
            return
        }
        // MobileNetV2's 1280 planes of 7x7: ~15 ns each in Swift SIMD, ~3.5 ns in the
        // AVX-512 kernel (4.4 µs in all, in isolation), too little to split for the
        // arithmetic. But an input that big was written by all the pool's threads (the 1x1
        // convolution before it cut its rows into one share per thread), and a single
        // thread reading it pulls the other cores' shares across: 2 threads took 0.019 ms
        // against 0.010 on 1. So inputs of `localReadBytes` or more are cut into one share
        // per thread, in the pool's affinity order, each read where it was written.
        let means = CPUInfo.current.hasAVX512 ? frugal_plane_means_avx512 : frugal_plane_means_portable
        let threads = pool?.threadCount ?? 1
        if threads > 1, planes >= threads, planes * planeSize * 4 >= localReadBytes {
            KernelSupport.forSlots(planes, slots: threads, pool: pool) { _, range in
                means(input + range.lowerBound * planeSize, output + range.lowerBound, range.count, planeSize, scale)
            }
            return
        }
        KernelSupport.forRanges(planes, costPerItem: planeSize / 16 + 2, pool: pool) { range in
            means(input + range.lowerBound * planeSize, output + range.lowerBound, range.count, planeSize, scale)
        }
    }

    /// Inputs of at least this many bytes are read by every thread of the pool, each its
    /// share (see ``globalAveragePool(input:output:planes:planeSize:pool:)``).
    static let localReadBytes = 128 << 10

    /// Maximum of each of `planes` contiguous planes of `planeSize` floats (-inf if empty).
    public static func globalMaxPool(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, planes: Int, planeSize: Int, pool: ThreadPool? = nil
    ) {
        KernelSupport.forRanges(planes, costPerItem: planeSize / 8 + 1, pool: pool) { range in
            for p in range { output[p] = KernelSupport.maximum(input + p * planeSize, planeSize) }
        }
    }

    // MARK: Tensor API

    static func descriptor(
        _ op: String, _ x: Tensor, kernel: [Int], strides: [Int]?, pads: [Int]?, dilations: [Int]?, ceilMode: Bool
    ) throws -> Pool2DDescriptor {
        try KernelSupport.requireFloat32(x, op: op, name: "input")
        try KernelSupport.requireRank(x, 4, op: op, name: "input", layout: "N, C, H, W")
        let s = strides ?? [1, 1], p = pads ?? [0, 0, 0, 0], dl = dilations ?? [1, 1]
        guard kernel.count == 2, s.count == 2, p.count == 4, dl.count == 2 else {
            throw CoreError.invalidArgument(
                "\(op): expected kernel_shape of 2, 2 strides, 4 pads (top, left, bottom, right) and 2 dilations, got \(kernel), \(s), \(p), \(dl)")
        }
        let dims = x.shape.dims
        let d = Pool2DDescriptor(
            batch: dims[0], channels: dims[1], inHeight: dims[2], inWidth: dims[3],
            kernelHeight: kernel[0], kernelWidth: kernel[1], strides: (s[0], s[1]), dilations: (dl[0], dl[1]),
            pads: (p[0], p[1], p[2], p[3]), ceilMode: ceilMode)
        try d.validate(op: op)
        return d
    }

    /// ONNX MaxPool of an [N,C,H,W] float32 tensor (`pads`: top, left, bottom, right).
    public static func maxPool2D(
        _ x: Tensor, kernel: [Int], strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
        ceilMode: Bool = false, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let d = try descriptor("MaxPool", x, kernel: kernel, strides: strides, pads: pads, dilations: dilations, ceilMode: ceilMode)
        var out = try Tensor(zeros: d.outputShape)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) { maxPool2D(d, input: xp.baseAddress!, output: $0.baseAddress!, pool: pool) }
        }
        return out
    }

    /// ONNX AveragePool of an [N,C,H,W] float32 tensor (`pads`: top, left, bottom, right).
    public static func averagePool2D(
        _ x: Tensor, kernel: [Int], strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
        ceilMode: Bool = false, countIncludePad: Bool = false, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let d = try descriptor("AveragePool", x, kernel: kernel, strides: strides, pads: pads, dilations: dilations, ceilMode: ceilMode)
        var out = try Tensor(zeros: d.outputShape)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) {
                averagePool2D(d, countIncludePad: countIncludePad, input: xp.baseAddress!, output: $0.baseAddress!, pool: pool)
            }
        }
        return out
    }

    static func global(_ op: String, _ x: Tensor, pool: ThreadPool?, max: Bool) throws -> Tensor {
        try KernelSupport.requireFloat32(x, op: op, name: "input")
        guard x.rank >= 3 else {
            throw CoreError.invalidShape("\(op): input has shape \(x.shape) but needs rank 3 or more (N, C, spatial...)")
        }
        let planes = x.shape[0] * x.shape[1]
        let planeSize = x.shape.dims.dropFirst(2).reduce(1, *)
        var out = try Tensor(zeros: Shape([x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.rank - 2)))
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) { op in
                if max {
                    globalMaxPool(input: xp.baseAddress!, output: op.baseAddress!, planes: planes, planeSize: planeSize, pool: pool)
                } else {
                    globalAveragePool(input: xp.baseAddress!, output: op.baseAddress!, planes: planes, planeSize: planeSize, pool: pool)
                }
            }
        }
        return out
    }

    /// ONNX GlobalAveragePool: [N,C,d1,...] -> [N,C,1,...]; NaN for empty spatial planes.
    public static func globalAveragePool(_ x: Tensor, pool: ThreadPool? = nil) throws -> Tensor {
        try global("GlobalAveragePool", x, pool: pool, max: false)
    }

    /// ONNX GlobalMaxPool: [N,C,d1,...] -> [N,C,1,...]; -inf for empty spatial planes.
    public static func globalMaxPool(_ x: Tensor, pool: ThreadPool? = nil) throws -> Tensor {
        try global("GlobalMaxPool", x, pool: pool, max: true)
    }
}
