@testable import FrugalCore
import Testing

struct PoolCase: CustomStringConvertible {
    var n = 1, c = 1, h = 1, w = 1, kh = 1, kw = 1
    var stride = (1, 1), dil = (1, 1), pads = [0, 0, 0, 0]
    var ceil = false, includePad = false
    var description: String { "x[\(n),\(c),\(h),\(w)] k[\(kh),\(kw)] s\(stride) d\(dil) p\(pads) ceil \(ceil) includePad \(includePad)" }
}

/// Output length per ONNX (with the ceil-mode rule that the last window starts in the input or its leading pad).
func referencePoolLength(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ p0: Int, _ p1: Int, _ ceil: Bool) -> Int {
    if n == 0 { return 0 }
    let x = Double(n + p0 + p1 - ((k - 1) * d + 1)) / Double(s)
    var o = Int(ceil ? x.rounded(.up) : x.rounded(.down)) + 1
    if ceil && (o - 1) * s >= n + p0 { o -= 1 }
    return o
}

/// Pooling by enumerating every tap of every window, in double precision.
func referencePool(_ pc: PoolCase, _ x: [Float], max isMax: Bool) -> (dims: [Int], values: [Double]) {
    let oh = referencePoolLength(pc.h, pc.kh, pc.stride.0, pc.dil.0, pc.pads[0], pc.pads[2], pc.ceil)
    let ow = referencePoolLength(pc.w, pc.kw, pc.stride.1, pc.dil.1, pc.pads[1], pc.pads[3], pc.ceil)
    var y: [Double] = []
    for p in 0..<(pc.n * pc.c) { for i in 0..<oh { for j in 0..<ow {
        var m = -Double.infinity, s = 0.0, valid = 0, padded = 0
        for a in 0..<pc.kh { for b in 0..<pc.kw {
            let ih = i * pc.stride.0 - pc.pads[0] + a * pc.dil.0, iw = j * pc.stride.1 - pc.pads[1] + b * pc.dil.1
            if ih >= -pc.pads[0] && ih < pc.h + pc.pads[2] && iw >= -pc.pads[1] && iw < pc.w + pc.pads[3] { padded += 1 }
            guard ih >= 0, ih < pc.h, iw >= 0, iw < pc.w else { continue }
            let v = Double(x[(p * pc.h + ih) * pc.w + iw])
            m = max(m, v); s += v; valid += 1
        } }
        let count = pc.includePad ? padded : valid
        y.append(isMax ? m : count > 0 ? s / Double(count) : 0)
    } } }
    return ([pc.n, pc.c, oh, ow], y)
}

@Suite struct PoolingTests {
    func check(_ pc: PoolCase, seed: UInt64 = 1, pool: ThreadPool? = testPool, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRNG(seed: seed)
        let x = rng.tensor([pc.n, pc.c, pc.h, pc.w])
        let mx = try Pooling.maxPool2D(x, kernel: [pc.kh, pc.kw], strides: [pc.stride.0, pc.stride.1], pads: pc.pads,
                                       dilations: [pc.dil.0, pc.dil.1], ceilMode: pc.ceil, pool: pool)
        let av = try Pooling.averagePool2D(x, kernel: [pc.kh, pc.kw], strides: [pc.stride.0, pc.stride.1], pads: pc.pads,
                                           dilations: [pc.dil.0, pc.dil.1], ceilMode: pc.ceil, countIncludePad: pc.includePad, pool: pool)
        let rm = referencePool(pc, x.scalars(), max: true), ra = referencePool(pc, x.scalars(), max: false)
        #expect(mx.shape.dims == rm.dims && av.shape.dims == ra.dims, "\(pc)", sourceLocation: sourceLocation)
        if mx.shape.dims == rm.dims && av.shape.dims == ra.dims {
            #expect(closeness(mx.scalars(), rm.values) <= 1, "max \(pc)", sourceLocation: sourceLocation)
            #expect(closeness(av.scalars(), ra.values) <= 1, "avg \(pc)", sourceLocation: sourceLocation)
        }
    }

    @Test func onnxExamples() throws {
        let x = try Tensor(shape: [1, 1, 4, 4], scalars: (1...16).map(Float.init))
        let m = try Pooling.maxPool2D(x, kernel: [3, 3], strides: [2, 2], ceilMode: true)
        #expect(m.scalars(as: Float.self) == [11, 12, 15, 16])
        let a = try Pooling.averagePool2D(x, kernel: [3, 3], strides: [2, 2], ceilMode: true)
        #expect(a.scalars(as: Float.self) == [6, 7.5, 12, 13.5])
        let x5 = try Tensor(shape: [1, 1, 5, 5], scalars: (1...25).map(Float.init))
        let inc = try Pooling.averagePool2D(x5, kernel: [3, 3], pads: [2, 2, 2, 2], countIncludePad: true)
        #expect(inc.shape == [1, 1, 7, 7])
        #expect(abs(inc[floatAt: 0] - 1 / 9) < 1e-6)
        let exc = try Pooling.averagePool2D(x5, kernel: [3, 3], pads: [2, 2, 2, 2], countIncludePad: false)
        #expect(exc[floatAt: 0] == 1)
    }

    @Test func windowsStridesPadsDilations() throws {
        try check(PoolCase(n: 1, c: 3, h: 7, w: 9, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1]))
        try check(PoolCase(n: 2, c: 5, h: 13, w: 11, kh: 2, kw: 2, stride: (2, 2)))
        try check(PoolCase(n: 1, c: 2, h: 10, w: 9, kh: 3, kw: 2, stride: (1, 3), dil: (2, 2), pads: [2, 0, 1, 1]))
        try check(PoolCase(n: 1, c: 1, h: 1, w: 1, kh: 1, kw: 1))
        try check(PoolCase(n: 1, c: 1, h: 6, w: 6, kh: 6, kw: 6))
        try check(PoolCase(n: 1, c: 4, h: 8, w: 8, kh: 3, kw: 3, pads: [0, 2, 2, 0], includePad: true))  // asymmetric
    }

    @Test func ceilModeAndCountIncludePad() throws {
        for ceil in [false, true] {
            for inc in [false, true] {
                try check(PoolCase(n: 1, c: 2, h: 8, w: 7, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], ceil: ceil, includePad: inc))
                try check(PoolCase(n: 1, c: 2, h: 10, w: 11, kh: 2, kw: 3, stride: (3, 2), pads: [0, 1, 1, 0], ceil: ceil, includePad: inc))
                try check(PoolCase(n: 1, c: 1, h: 5, w: 5, kh: 2, kw: 2, stride: (2, 2), dil: (2, 1), ceil: ceil, includePad: inc))
            }
        }
    }

    @Test func randomShapes() throws {
        var rng = TestRNG(seed: 7)
        for i in 0..<60 {
            let pc = PoolCase(n: rng.int(1, 2), c: rng.int(1, 3), h: rng.int(1, 13), w: rng.int(1, 13), kh: rng.int(1, 4), kw: rng.int(1, 4),
                              stride: (rng.int(1, 3), rng.int(1, 3)), dil: (rng.int(1, 2), rng.int(1, 2)),
                              pads: (0..<4).map { _ in rng.int(0, 1) }, ceil: rng.int(0, 1) == 1, includePad: rng.int(0, 1) == 1)
            if pc.h + pc.pads[0] + pc.pads[2] < (pc.kh - 1) * pc.dil.0 + 1 || pc.w + pc.pads[1] + pc.pads[3] < (pc.kw - 1) * pc.dil.1 + 1 { continue }
            try check(pc, seed: UInt64(i), pool: i % 2 == 0 ? testPool : nil)
        }
    }

    /// The 2-wide, stride-2 max path (C pair kernel): every output width around the
    /// 16-lane steps, kernel heights 1-3, vertical strides and padding, ceil mode (whose
    /// last window hangs off the row and takes the general path), batch > 1, both threadings.
    @Test func pairedMaxWidthsAndHeights() throws {
        for w in [2, 3, 4, 5, 15, 16, 17, 30, 31, 32, 33, 34, 47, 63, 64, 66, 80] {
            for (kh, sh) in [(2, 2), (1, 1), (3, 2), (2, 1)] {
                try check(PoolCase(n: 2, c: 3, h: 5, w: w, kh: kh, kw: 2, stride: (sh, 2)), seed: UInt64(w * 10 + kh), pool: w % 2 == 0 ? testPool : nil)
            }
            try check(PoolCase(n: 1, c: 2, h: 6, w: w, kh: 2, kw: 2, stride: (2, 2), pads: [1, 0, 1, 1], ceil: true))
            try check(PoolCase(n: 1, c: 2, h: 7, w: w, kh: 3, kw: 2, stride: (2, 2), dil: (2, 1), pads: [2, 0, 0, 0]))
        }
        try check(PoolCase(n: 64, c: 20, h: 24, w: 24, kh: 2, kw: 2, stride: (2, 2)))  // LeNet-5, threaded
    }

    /// The portable pair loop gives bit-identical results to the vector one (NaNs included).
    @Test func pairedMaxPortableMatchesVector() throws {
        var rng = TestRNG(seed: 21)
        for w in [2, 9, 32, 33, 70] {
            let d = Pool2DDescriptor(batch: 2, channels: 3, inHeight: 6, inWidth: w, kernelHeight: 3, kernelWidth: 2,
                                     strides: (2, 2), pads: (1, 0, 1, 0))
            var x = rng.floats(2 * 3 * 6 * w)
            x[w + 1] = .nan
            let count = 2 * 3 * d.outHeight * d.outWidth
            var a = [Float](repeating: 0, count: count), b = a
            x.withUnsafeBufferPointer { xp in
                a.withUnsafeMutableBufferPointer { #expect(Pooling.pairedMax(d, input: xp.baseAddress!, output: $0.baseAddress!, pool: nil)) }
                b.withUnsafeMutableBufferPointer {
                    #expect(Pooling.pairedMax(d, input: xp.baseAddress!, output: $0.baseAddress!, pool: testPool, isa: .portable))
                }
            }
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "width \(w)")
            #expect(a.contains { $0.isNaN })
        }
    }

    /// NaN anywhere in a window makes its maximum NaN, in every lane of the vector path.
    @Test func pairedMaxPropagatesNaN() throws {
        let w = 40, h = 4
        for pos in [0, 1, 17, 31, 32, 39, w + 5, 2 * w + 38, 3 * w + 1] {
            var v = (0..<(h * w)).map { Float($0 % 7) - 3 }
            v[pos] = .nan
            let x = try Tensor(shape: [1, 1, h, w], scalars: v)
            let y = try Pooling.maxPool2D(x, kernel: [2, 2], strides: [2, 2]).scalars(as: Float.self)
            let nanAt = ((pos / w) / 2) * (w / 2) + (pos % w) / 2
            for (i, e) in y.enumerated() {
                #expect(e.isNaN == (i == nanAt), "NaN at input \(pos): output \(i) is \(e)")
            }
        }
    }

    @Test func bigPlanesThreaded() throws {
        try check(PoolCase(n: 1, c: 32, h: 56, w: 56, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1]))
    }

    @Test func globalPools() throws {
        var rng = TestRNG(seed: 11)
        for dims in [[2, 3, 5, 7], [1, 1, 1, 1], [1, 4, 17], [2, 3, 2, 3, 4], [1, 64, 33, 33]] {
            let x = rng.tensor(dims)
            let a = try Pooling.globalAveragePool(x, pool: testPool), m = try Pooling.globalMaxPool(x, pool: testPool)
            let outDims = [dims[0], dims[1]] + Array(repeating: 1, count: dims.count - 2)
            #expect(a.shape.dims == outDims && m.shape.dims == outDims)
            let plane = dims.dropFirst(2).reduce(1, *), v = x.scalars(as: Float.self)
            let ra = (0..<(dims[0] * dims[1])).map { p in v[(p * plane)..<((p + 1) * plane)].reduce(0.0) { $0 + Double($1) } / Double(plane) }
            let rm = (0..<(dims[0] * dims[1])).map { p in Double(v[(p * plane)..<((p + 1) * plane)].max()!) }
            #expect(closeness(a.scalars(), ra) <= 1, "\(dims)")
            #expect(closeness(m.scalars(), rm, atol: 0, rtol: 0) <= 1, "\(dims)")
        }
    }

    @Test func globalAveragePlaneSizesAroundVectors() throws {
        // Plane sizes around the 16-float vectors and 32-float unrolled steps of the AVX-512
        // kernel (full vectors, masked tail, both), 7x7 = 49 as in MobileNetV2, 1 and more threads.
        var rng = TestRNG(seed: 23)
        // (2 x 2100 planes of 49 are enough work to be split over the threads.)
        let cases = [1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100].map { ($0, 1300 / $0 + 3) } + [(49, 2100)]
        for (plane, channels) in cases {
            for pool in [ThreadPool(threadCount: 1), testPool] {
                let x = rng.tensor([2, channels, plane])
                let a = try Pooling.globalAveragePool(x, pool: pool), v = x.scalars(as: Float.self)
                let planes = x.shape[0] * x.shape[1]
                let want = (0..<planes).map { p in
                    v[(p * plane)..<((p + 1) * plane)].reduce(0.0) { $0 + Double($1) } / Double(plane)
                }
                #expect(a.shape.dims == [2, x.shape[1], 1])
                #expect(closeness(a.scalars(), want) <= 1, "plane \(plane)")
            }
        }
    }

    @Test func emptyTensors() throws {
        try check(PoolCase(n: 0, c: 3, h: 5, w: 5, kh: 2, kw: 2))
        try check(PoolCase(n: 1, c: 0, h: 5, w: 5, kh: 2, kw: 2))
        try check(PoolCase(n: 1, c: 2, h: 0, w: 5, kh: 2, kw: 2))
        #expect(try Pooling.globalAveragePool(Tensor(zeros: [0, 3, 4, 4])).shape == [0, 3, 1, 1])
        #expect(try Pooling.globalMaxPool(Tensor(zeros: [2, 0, 4, 4])).shape == [2, 0, 1, 1])
    }

    @Test func badInputThrows() {
        var rng = TestRNG(seed: 2)
        let x = rng.tensor([1, 2, 4, 4])
        expectCoreError("invalidShape", "window larger") { _ = try Pooling.maxPool2D(x, kernel: [5, 2]) }
        expectCoreError("invalidShape", "dilated window larger") { _ = try Pooling.averagePool2D(x, kernel: [2, 2], dilations: [4, 1]) }
        expectCoreError("invalidArgument", "kernel count") { _ = try Pooling.maxPool2D(x, kernel: [2]) }
        expectCoreError("invalidArgument", "stride 0") { _ = try Pooling.maxPool2D(x, kernel: [2, 2], strides: [0, 1]) }
        expectCoreError("invalidArgument", "kernel 0") { _ = try Pooling.maxPool2D(x, kernel: [0, 2]) }
        expectCoreError("invalidArgument", "negative pads") { _ = try Pooling.averagePool2D(x, kernel: [2, 2], pads: [0, -1, 0, 0]) }
        expectCoreError("invalidShape", "rank") { _ = try Pooling.maxPool2D(rng.tensor([2, 4, 4]), kernel: [2, 2]) }
        expectCoreError("invalidShape", "global rank") { _ = try Pooling.globalAveragePool(rng.tensor([2, 4])) }
        expectCoreError("unsupportedDType") { _ = try Pooling.maxPool2D(try Tensor(zeros: [1, 1, 4, 4], dtype: .int64), kernel: [2, 2]) }
        expectCoreError("unsupportedDType") { _ = try Pooling.globalMaxPool(try Tensor(zeros: [1, 1, 4, 4], dtype: .uint8)) }
    }
}
