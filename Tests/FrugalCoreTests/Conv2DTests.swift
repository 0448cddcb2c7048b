import FrugalCore
import Testing

/// One convolution case: input [n, c, h, w], weight [m, c/g, kh, kw].
struct ConvCase: CustomStringConvertible {
    var n = 1, c = 1, h = 1, w = 1, m = 1, kh = 1, kw = 1
    var stride = (1, 1), dil = (1, 1), pads = [0, 0, 0, 0], groups = 1
    var bias = true
    var clamp: OutputClamp? = nil
    var description: String {
        "x[\(n),\(c),\(h),\(w)] w[\(m),\(c / max(groups, 1)),\(kh),\(kw)] s\(stride) d\(dil) p\(pads) g\(groups) bias \(bias) clamp \(String(describing: clamp))"
    }
}

/// Direct convolution in double precision, straight from the ONNX definition.
func referenceConv(_ cs: ConvCase, _ x: [Float], _ wt: [Float], _ b: [Float]?) -> (dims: [Int], values: [Double]) {
    let effH = (cs.kh - 1) * cs.dil.0 + 1, effW = (cs.kw - 1) * cs.dil.1 + 1
    let oh = cs.h == 0 ? 0 : (cs.h + cs.pads[0] + cs.pads[2] - effH) / cs.stride.0 + 1
    let ow = cs.w == 0 ? 0 : (cs.w + cs.pads[1] + cs.pads[3] - effW) / cs.stride.1 + 1
    let cg = cs.c / cs.groups, mg = cs.m / cs.groups
    var y = [Double](repeating: 0, count: cs.n * cs.m * oh * ow)
    for n in 0..<cs.n { for m in 0..<cs.m { for i in 0..<oh { for j in 0..<ow {
        let g = m / mg
        var s = b.map { Double($0[m]) } ?? 0
        for ci in 0..<cg { for a in 0..<cs.kh { for bb in 0..<cs.kw {
            let ih = i * cs.stride.0 - cs.pads[0] + a * cs.dil.0
            let iw = j * cs.stride.1 - cs.pads[1] + bb * cs.dil.1
            if ih < 0 || ih >= cs.h || iw < 0 || iw >= cs.w { continue }
            let c = g * cg + ci
            s += Double(x[((n * cs.c + c) * cs.h + ih) * cs.w + iw]) * Double(wt[((m * cg + ci) * cs.kh + a) * cs.kw + bb])
        } } }
        if let cl = cs.clamp { s = min(max(s, Double(cl.lower)), Double(cl.upper)) }
        y[((n * cs.m + m) * oh + i) * ow + j] = s
    } } } }
    return ([cs.n, cs.m, oh, ow], y)
}

@Suite struct Conv2DTests {
    func check(_ cs: ConvCase, seed: UInt64 = 1, pool: ThreadPool? = testPool, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRNG(seed: seed)
        let x = rng.tensor([cs.n, cs.c, cs.h, cs.w])
        let w = rng.tensor([cs.m, cs.c / cs.groups, cs.kh, cs.kw])
        let b = cs.bias ? rng.tensor([cs.m]) : nil
        let y = try Conv2D.conv2d(x, weight: w, bias: b, strides: [cs.stride.0, cs.stride.1], dilations: [cs.dil.0, cs.dil.1],
                                  pads: cs.pads, groups: cs.groups, clamp: cs.clamp, pool: pool)
        let ref = referenceConv(cs, x.scalars(), w.scalars(), b?.scalars())
        #expect(y.shape.dims == ref.dims, "\(cs)", sourceLocation: sourceLocation)
        if y.shape.dims == ref.dims {
            let k = Double(cs.c / cs.groups * cs.kh * cs.kw)
            #expect(closeness(y.scalars(), ref.values, atol: 1e-6 * k + 1e-6, rtol: 1e-5) <= 1, "\(cs)", sourceLocation: sourceLocation)
        }
    }

    @Test func generalIm2col() throws {
        try check(ConvCase(n: 1, c: 3, h: 7, w: 9, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1]))
        try check(ConvCase(n: 2, c: 5, h: 11, w: 13, m: 17, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1]))
        try check(ConvCase(n: 1, c: 4, h: 10, w: 12, m: 6, kh: 3, kw: 5, dil: (2, 2), pads: [2, 4, 2, 4], bias: false))
        try check(ConvCase(n: 1, c: 2, h: 9, w: 8, m: 3, kh: 2, kw: 3, stride: (1, 2), pads: [0, 1, 2, 1]))  // asymmetric
        try check(ConvCase(n: 1, c: 3, h: 1, w: 1, m: 2, kh: 1, kw: 1, pads: [1, 1, 1, 1]))  // 1x1 padded: im2col
        try check(ConvCase(n: 2, c: 3, h: 8, w: 8, m: 5, kh: 1, kw: 1, stride: (2, 2)))  // strided 1x1
        try check(ConvCase(n: 1, c: 1, h: 5, w: 5, m: 1, kh: 5, kw: 5))  // kernel == input
        // Shallow reductions (K <= 64) unfold 4 panels at a time: 380 positions = 128 + 128 + 124.
        try check(ConvCase(n: 2, c: 3, h: 40, w: 37, m: 32, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], clamp: .relu6))
        try check(ConvCase(n: 1, c: 7, h: 9, w: 31, m: 13, kh: 3, kw: 3, stride: (1, 2), pads: [0, 1, 0, 1]), pool: nil)
    }

    @Test func pointwiseGEMM() throws {
        try check(ConvCase(n: 1, c: 16, h: 7, w: 7, m: 24, kh: 1, kw: 1))
        try check(ConvCase(n: 3, c: 5, h: 1, w: 17, m: 3, kh: 1, kw: 1, bias: false))
        try check(ConvCase(n: 2, c: 6, h: 4, w: 5, m: 9, kh: 1, kw: 1, groups: 3))  // grouped 1x1 (ShuffleNet)
    }

    @Test func grouped() throws {
        try check(ConvCase(n: 1, c: 6, h: 9, w: 7, m: 9, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3))
        try check(ConvCase(n: 2, c: 8, h: 6, w: 6, m: 4, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1], groups: 2))
        try check(ConvCase(n: 3, c: 4, h: 5, w: 5, m: 4, kh: 2, kw: 2, groups: 2), pool: nil)
    }

    @Test func depthwise() throws {
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
            let p = k / 2
            try check(ConvCase(n: 1, c: 13, h: 17, w: 19, m: 13, kh: k, kw: k, stride: (s, s), pads: [p, p, p, p], groups: 13, clamp: .relu6))
            try check(ConvCase(n: 2, c: 3, h: 8, w: 16, m: 3, kh: k, kw: k, stride: (s, s), pads: [p, p, p, p], groups: 3))
        }
        try check(ConvCase(n: 1, c: 4, h: 12, w: 11, m: 4, kh: 3, kw: 3, dil: (2, 2), pads: [2, 2, 2, 2], groups: 4))
        try check(ConvCase(n: 1, c: 3, h: 7, w: 10, m: 3, kh: 3, kw: 3, stride: (2, 1), pads: [0, 1, 2, 0], groups: 3))
        try check(ConvCase(n: 1, c: 3, h: 9, w: 9, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3))  // multiplier 2
        try check(ConvCase(n: 1, c: 2, h: 9, w: 9, m: 2, kh: 2, kw: 4, stride: (3, 3), pads: [1, 0, 0, 2], groups: 2))
        try check(ConvCase(n: 1, c: 1, h: 6, w: 6, m: 3, kh: 3, kw: 3, bias: false))  // C = 1, groups 1
        try check(ConvCase(n: 1, c: 5, h: 1, w: 1, m: 5, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 5))
        try check(ConvCase(n: 1, c: 5, h: 20, w: 20, m: 5, kh: 7, kw: 7, stride: (2, 2), dil: (1, 2), pads: [3, 6, 3, 6], groups: 5), pool: nil)
    }

    @Test func fusedClamp() throws {
        try check(ConvCase(n: 1, c: 3, h: 6, w: 6, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1], clamp: .relu))
        try check(ConvCase(n: 1, c: 8, h: 5, w: 5, m: 4, kh: 1, kw: 1, clamp: OutputClamp(lower: -0.1, upper: 0.2)))
        try check(ConvCase(n: 1, c: 8, h: 5, w: 5, m: 4, kh: 1, kw: 1, bias: false, clamp: .relu6))
    }

    @Test func randomShapes() throws {
        var rng = TestRNG(seed: 99)
        for i in 0..<40 {
            let groups = [1, 1, 2, 3][rng.int(0, 3)]
            let depthwise = rng.int(0, 3) == 0
            let c = depthwise ? groups * rng.int(1, 3) : groups * rng.int(1, 3)
            var cs = ConvCase(n: rng.int(1, 2), c: c, h: rng.int(1, 12), w: rng.int(1, 12),
                              m: groups * rng.int(1, 3), kh: rng.int(1, 4), kw: rng.int(1, 4),
                              stride: (rng.int(1, 3), rng.int(1, 3)), dil: (rng.int(1, 2), rng.int(1, 2)),
                              pads: (0..<4).map { _ in rng.int(0, 2) }, groups: depthwise ? c : groups, bias: rng.int(0, 1) == 1)
            if depthwise { cs.m = c * rng.int(1, 2) }
            if rng.int(0, 2) == 0 { cs.clamp = .relu }
            // Skip kernels larger than the padded input (tested separately as errors).
            if cs.h + cs.pads[0] + cs.pads[2] < (cs.kh - 1) * cs.dil.0 + 1 || cs.w + cs.pads[1] + cs.pads[3] < (cs.kw - 1) * cs.dil.1 + 1 { continue }
            try check(cs, seed: UInt64(i), pool: i % 2 == 0 ? testPool : nil)
        }
    }

    @Test func emptyTensors() throws {
        try check(ConvCase(n: 0, c: 3, h: 5, w: 5, m: 4, kh: 3, kw: 3))
        try check(ConvCase(n: 1, c: 3, h: 0, w: 5, m: 4, kh: 3, kw: 3))
        try check(ConvCase(n: 1, c: 3, h: 5, w: 0, m: 4, kh: 1, kw: 1))
        try check(ConvCase(n: 1, c: 3, h: 5, w: 5, m: 0, kh: 3, kw: 3))
        try check(ConvCase(n: 1, c: 0, h: 4, w: 4, m: 2, kh: 3, kw: 3, clamp: .relu))  // bias only
        try check(ConvCase(n: 0, c: 4, h: 5, w: 5, m: 4, kh: 3, kw: 3, groups: 4))
    }

    /// The panel path (general convolutions): output widths around the 32-column panels,
    /// row counts around the 12-row panels, reductions deeper than one k block (K > 512),
    /// one input channel without groups (LeNet's first layer), batches, groups, threads.
    @Test func panelPathShapes() throws {
        try check(ConvCase(n: 3, c: 1, h: 28, w: 28, m: 20, kh: 5, kw: 5))  // LeNet-5 conv1
        try check(ConvCase(n: 2, c: 20, h: 12, w: 12, m: 50, kh: 5, kw: 5, clamp: .relu))  // conv2, K = 500
        try check(ConvCase(n: 2, c: 64, h: 7, w: 9, m: 13, kh: 3, kw: 3, pads: [1, 1, 1, 1]))  // K = 576: two k blocks
        try check(ConvCase(n: 1, c: 130, h: 5, w: 6, m: 25, kh: 3, kw: 3, stride: (2, 1), pads: [0, 2, 1, 0]), pool: nil)  // K = 1170
        try check(ConvCase(n: 2, c: 8, h: 9, w: 35, m: 12, kh: 3, kw: 2, stride: (1, 1), pads: [1, 0, 1, 1]))  // oW 35
        try check(ConvCase(n: 1, c: 6, h: 11, w: 13, m: 24, kh: 3, kw: 3, dil: (2, 3), pads: [2, 3, 2, 3], groups: 2))
        try check(ConvCase(n: 4, c: 3, h: 17, w: 16, m: 6, kh: 4, kw: 3, stride: (3, 2), groups: 3, clamp: .relu6))
        try check(ConvCase(n: 1, c: 1, h: 9, w: 9, m: 1, kh: 9, kw: 9))  // one output
        try check(ConvCase(n: 1, c: 32, h: 6, w: 6, m: 70, kh: 3, kw: 3))  // one panel: row blocks per thread
        try check(ConvCase(n: 1, c: 16, h: 8, w: 5, m: 30, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2))
        try check(ConvCase(n: 5, c: 4, h: 3, w: 40, m: 3, kh: 1, kw: 3, stride: (1, 3), pads: [0, 1, 0, 1], bias: false))
    }

    /// A weight packed once serves later calls; a packing of another shape is ignored.
    @Test func packedWeightReuse() throws {
        let cs = ConvCase(n: 2, c: 4, h: 10, w: 10, m: 14, kh: 3, kw: 3, pads: [1, 1, 1, 1])
        let d = Conv2DDescriptor(batch: 2, inChannels: 4, inHeight: 10, inWidth: 10, outChannels: 14, kernelHeight: 3, kernelWidth: 3,
                                 pads: (1, 1, 1, 1))
        #expect(d.takesPackedWeights)
        var rng = TestRNG(seed: 8)
        let x = rng.floats(2 * 4 * 100), w = rng.floats(14 * 4 * 9), b = rng.floats(14)
        let other = Conv2DDescriptor(batch: 1, inChannels: 4, inHeight: 10, inWidth: 10, outChannels: 7, kernelHeight: 3, kernelWidth: 3)
        let ref = referenceConv(cs, x, w, b)
        w.withUnsafeBufferPointer { wp in
            let packed = Conv2D.packWeights(d, weight: wp.baseAddress!)!
            let wrong = Conv2D.packWeights(other, weight: wp.baseAddress!)!
            #expect(Conv2D.weightsFit(packed, d) && !Conv2D.weightsFit(wrong, d))
            for p in [packed, packed, wrong] {
                var y = [Float](repeating: .nan, count: 2 * 14 * 100)
                x.withUnsafeBufferPointer { xp in
                    b.withUnsafeBufferPointer { bp in
                        y.withUnsafeMutableBufferPointer { yp in
                            Conv2D.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                           output: yp.baseAddress!, pool: testPool, packedWeights: p)
                        }
                    }
                }
                #expect(closeness(y, ref.values, atol: 1e-4, rtol: 1e-5) <= 1)
            }
        }
    }

    @Test func callerWorkspaceAndDescriptor() throws {
        let d = Conv2DDescriptor(batch: 1, inChannels: 4, inHeight: 6, inWidth: 6, outChannels: 2, kernelHeight: 3, kernelWidth: 3,
                                 strides: (1, 1), pads: (1, 1, 1, 1), groups: 2)
        try d.validate()
        #expect(d.outputShape == [1, 2, 6, 6])
        let count = max(1, Conv2D.workspaceCount(d, threadCount: 2))
        var rng = TestRNG(seed: 5)
        let x = rng.floats(4 * 36), w = rng.floats(2 * 2 * 9)
        var y = [Float](repeating: 0, count: 72)
        var ws = [Float](repeating: .nan, count: count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    ws.withUnsafeMutableBufferPointer { wsp in
                        Conv2D.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, output: yp.baseAddress!,
                                       workspace: wsp.baseAddress!, workspaceCount: count, pool: testPool)
                    }
                }
            }
        }
        let ref = referenceConv(ConvCase(n: 1, c: 4, h: 6, w: 6, m: 2, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2, bias: false), x, w, nil)
        #expect(closeness(y, ref.values) <= 1)
        #expect(Conv2D.workspaceCount(Conv2DDescriptor(batch: 1, inChannels: 8, inHeight: 4, inWidth: 4, outChannels: 8,
                                                       kernelHeight: 1, kernelWidth: 1), threadCount: 2) == 0)
    }

    @Test func badInputThrows() {
        var rng = TestRNG(seed: 3)
        let x = rng.tensor([1, 4, 5, 5])
        expectCoreError("shapeMismatch", "channels") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 3, 3, 3])) }
        expectCoreError("invalidArgument", "groups do not divide C") { _ = try Conv2D.conv2d(x, weight: rng.tensor([3, 1, 3, 3]), groups: 3) }
        expectCoreError("invalidArgument", "groups do not divide M") { _ = try Conv2D.conv2d(x, weight: rng.tensor([3, 2, 3, 3]), groups: 2) }
        expectCoreError("invalidArgument", "groups 0") { _ = try Conv2D.conv2d(x, weight: rng.tensor([3, 2, 3, 3]), groups: 0) }
        expectCoreError("invalidShape", "kernel larger") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 7, 3])) }
        expectCoreError("invalidShape", "dilated kernel larger") {
            _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3, 3]), dilations: [3, 1])
        }
        expectCoreError("invalidShape", "rank") { _ = try Conv2D.conv2d(rng.tensor([4, 5, 5]), weight: rng.tensor([2, 4, 3, 3])) }
        expectCoreError("invalidShape", "weight rank") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3])) }
        expectCoreError("unsupportedDType") {
            _ = try Conv2D.conv2d(try Tensor(zeros: [1, 4, 5, 5], dtype: .int32), weight: rng.tensor([2, 4, 3, 3]))
        }
        expectCoreError("shapeMismatch", "bias") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3, 3]), bias: rng.tensor([3])) }
        expectCoreError("invalidArgument", "stride 0") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3, 3]), strides: [0, 1]) }
        expectCoreError("invalidArgument", "negative pad") {
            _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3, 3]), pads: [-1, 0, 0, 0])
        }
        expectCoreError("invalidArgument", "pad count") { _ = try Conv2D.conv2d(x, weight: rng.tensor([2, 4, 3, 3]), pads: [1, 1]) }
    }
}
