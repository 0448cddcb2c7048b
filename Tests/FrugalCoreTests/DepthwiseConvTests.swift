@testable import FrugalCore
import Testing

/// The depthwise plane kernels (AVX-512 and portable C) against the double-precision
/// reference convolution, each ISA forced, over edges the masked loads must get right:
/// widths around 16 and 32, asymmetric pads larger than the kernel reach, strides 1-3,
/// dilations, channel multipliers, bias/clamp, one and two threads.
@Suite struct DepthwiseConvTests {
    func check(_ cs: ConvCase, isa: KernelISA, seed: UInt64, pool: ThreadPool?,
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRNG(seed: seed)
        let x = rng.floats(cs.n * cs.c * cs.h * cs.w)
        let w = rng.floats(cs.m * cs.kh * cs.kw)
        let b = cs.bias ? rng.floats(cs.m) : nil
        let d = Conv2DDescriptor(
            batch: cs.n, inChannels: cs.c, inHeight: cs.h, inWidth: cs.w, outChannels: cs.m,
            kernelHeight: cs.kh, kernelWidth: cs.kw, strides: cs.stride, dilations: cs.dil,
            pads: (cs.pads[0], cs.pads[1], cs.pads[2], cs.pads[3]), groups: cs.groups)
        try d.validate()
        // (The kernel serves any one-input-channel-per-group convolution; Conv2D routes a single
        // channel with groups = 1 to the general path instead.)
        #expect(d.groupInChannels == 1)
        let ref = referenceConv(cs, x, w, b)
        // Poisoned output: every element must be written.
        var y = [Float](repeating: .nan, count: ref.values.count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    if let b {
                        b.withUnsafeBufferPointer { bp in
                            DepthwiseConv.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                                  output: yp.baseAddress!, clamp: cs.clamp, pool: pool, isa: isa)
                        }
                    } else {
                        DepthwiseConv.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: nil,
                                              output: yp.baseAddress!, clamp: cs.clamp, pool: pool, isa: isa)
                    }
                }
            }
        }
        let k = Double(cs.kh * cs.kw)
        #expect(closeness(y, ref.values, atol: 1e-6 * k + 1e-6, rtol: 1e-5) <= 1, "\(isa) \(cs)", sourceLocation: sourceLocation)
    }

    static var isas: [KernelISA] { [.portable, .avx512].filter(\.isSupported) }

    @Test func mobileNetShapes() throws {
        for isa in Self.isas {
            for (hw, s) in [(112, 1), (112, 2), (56, 1), (56, 2), (28, 2), (14, 1), (7, 1)] {
                try check(ConvCase(n: 1, c: 3, h: hw, w: hw, m: 3, kh: 3, kw: 3, stride: (s, s), pads: [1, 1, 1, 1],
                                   groups: 3, clamp: .relu6), isa: isa, seed: UInt64(hw * s), pool: testPool)
            }
            try check(ConvCase(n: 2, c: 4, h: 14, w: 14, m: 4, kh: 5, kw: 5, stride: (2, 2), pads: [2, 2, 2, 2], groups: 4),
                      isa: isa, seed: 7, pool: testPool)
        }
    }

    @Test func rowEdges() throws {
        // Widths that leave 0, 1 and 15 outputs in the last vector, with and without pads.
        for isa in Self.isas {
            for w in [1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 65] {
                for s in 1...3 {
                    for pads in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 2, 1, 0], [2, 0, 0, 3]] {
                        let cs = ConvCase(n: 1, c: 2, h: 5, w: w, m: 2, kh: 3, kw: 3, stride: (s, s), pads: pads, groups: 2,
                                          clamp: s == 2 ? .relu : nil)
                        if w + pads[1] + pads[3] < 3 { continue }
                        try check(cs, isa: isa, seed: UInt64(w * 10 + s), pool: nil)
                    }
                }
            }
        }
    }

    @Test func kernelsDilationsMultipliers() throws {
        for isa in Self.isas {
            try check(ConvCase(n: 1, c: 3, h: 19, w: 40, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3),
                      isa: isa, seed: 1, pool: testPool)  // multiplier 2
            try check(ConvCase(n: 1, c: 2, h: 21, w: 37, m: 2, kh: 7, kw: 7, stride: (2, 2), dil: (2, 3), pads: [6, 9, 6, 9], groups: 2, bias: false),
                      isa: isa, seed: 2, pool: nil)
            try check(ConvCase(n: 1, c: 2, h: 9, w: 35, m: 2, kh: 1, kw: 4, stride: (1, 2), dil: (1, 2), pads: [0, 3, 0, 0], groups: 2),
                      isa: isa, seed: 3, pool: nil)
            try check(ConvCase(n: 1, c: 2, h: 3, w: 3, m: 2, kh: 3, kw: 3, pads: [5, 5, 5, 5], groups: 2),  // pads past the kernel reach
                      isa: isa, seed: 4, pool: nil)
            try check(ConvCase(n: 3, c: 5, h: 11, w: 70, m: 5, kh: 2, kw: 5, stride: (3, 2), dil: (2, 1), pads: [1, 2, 0, 4], groups: 5,
                               clamp: OutputClamp(lower: -0.2, upper: 0.3)), isa: isa, seed: 5, pool: testPool)
        }
    }

    @Test func blocked3x3AllSmallSizes() throws {
        // 3x3 undilated with equal strides: the blocked AVX-512 paths (four output rows at a
        // time and their tails; stride 2 through even/odd scratch lines) and, for outputs at
        // most 8 wide from inputs at most 16, the two-rows-per-vector narrow kernel. Every
        // size 1...20 with asymmetric pads, bias/no bias, clamp/no clamp, two images of three
        // channels (runs of channels per call), one and two threads.
        var seed: UInt64 = 100
        for isa in Self.isas {
            for h in 1...20 {
                for w in 1...20 {
                    for s in 1...2 {
                        let pads = [(h + w) % 3, (h * w) % 2, (h + 2 * w) % 2, w % 3]
                        if h + pads[0] + pads[2] < 3 || w + pads[1] + pads[3] < 3 { continue }
                        let cs = ConvCase(n: 2, c: 3, h: h, w: w, m: 3, kh: 3, kw: 3, stride: (s, s), pads: pads, groups: 3,
                                          bias: w % 4 != 0, clamp: (h + w) % 2 == 0 ? .relu6 : nil)
                        try check(cs, isa: isa, seed: seed, pool: (h + w) % 3 == 0 ? testPool : nil)
                        seed += 1
                    }
                }
            }
        }
    }

    @Test func narrowPlanesOtherKernels() throws {
        // The narrow kernel takes any kernel, stride and dilation when output rows are at most
        // 8 and input rows at most 16 wide; and wider rows of the same shapes (strip paths).
        var seed: UInt64 = 900
        for isa in Self.isas {
            for (kh, kw) in [(5, 5), (1, 3), (2, 4), (3, 1), (3, 3)] {
                for (sh, sw) in [(1, 1), (2, 2), (3, 2), (1, 3), (2, 1)] {
                    for (dh, dw) in [(1, 1), (2, 2), (1, 3)] {
                        for (h, w) in [(7, 7), (9, 16), (14, 14), (5, 11), (16, 3), (11, 30)] {
                            let pads = [kh / 2, (kw + 1) / 2, (kh - 1) / 2, kw / 2]
                            if h + pads[0] + pads[2] < (kh - 1) * dh + 1 || w + pads[1] + pads[3] < (kw - 1) * dw + 1 { continue }
                            let cs = ConvCase(n: 1, c: 4, h: h, w: w, m: 4, kh: kh, kw: kw, stride: (sh, sw), dil: (dh, dw),
                                              pads: pads, groups: 4, clamp: seed % 2 == 0 ? .relu6 : nil)
                            try check(cs, isa: isa, seed: seed, pool: nil)
                            seed += 1
                        }
                    }
                }
            }
        }
    }

    @Test func wideStride2AndThreadedRuns() throws {
        for isa in Self.isas {
            // Output rows of 128 (the widest the stride-2 scratch lines take) and past it.
            for w in [255, 256, 257, 290] {
                try check(ConvCase(n: 1, c: 2, h: 9, w: w, m: 2, kh: 3, kw: 3, stride: (2, 2), pads: [1, 0, 2, 1], groups: 2,
                                   clamp: .relu6), isa: isa, seed: UInt64(w), pool: nil)
            }
            // Enough work for several threaded chunks, whose bounds fall inside images.
            try check(ConvCase(n: 3, c: 8, h: 40, w: 40, m: 8, kh: 3, kw: 3, stride: (1, 1), pads: [1, 1, 1, 1], groups: 8,
                               clamp: .relu6), isa: isa, seed: 11, pool: testPool)
            try check(ConvCase(n: 3, c: 7, h: 41, w: 43, m: 7, kh: 3, kw: 3, stride: (2, 2), pads: [0, 1, 1, 0], groups: 7),
                      isa: isa, seed: 12, pool: testPool)
        }
    }

    @Test func randomShapes() throws {
        var rng = TestRNG(seed: 2024)
        for i in 0..<60 {
            let c = rng.int(1, 4)
            var cs = ConvCase(n: rng.int(1, 2), c: c, h: rng.int(1, 20), w: rng.int(1, 70), m: c * rng.int(1, 2),
                              kh: rng.int(1, 5), kw: rng.int(1, 5), stride: (rng.int(1, 3), rng.int(1, 3)),
                              dil: (rng.int(1, 2), rng.int(1, 3)), pads: (0..<4).map { _ in rng.int(0, 3) }, groups: c,
                              bias: rng.int(0, 1) == 1)
            if rng.int(0, 1) == 0 { cs.clamp = .relu6 }
            if cs.h + cs.pads[0] + cs.pads[2] < (cs.kh - 1) * cs.dil.0 + 1 || cs.w + cs.pads[1] + cs.pads[3] < (cs.kw - 1) * cs.dil.1 + 1 { continue }
            for isa in Self.isas { try check(cs, isa: isa, seed: UInt64(i), pool: i % 2 == 0 ? testPool : nil) }
        }
    }
}

/// Convolutions run with weights packed once (Conv2D.packWeights) against the reference.
@Suite struct PackedWeightConvTests {
    @Test func packedWeightsMatchReference() throws {
        let cases = [
            ConvCase(n: 1, c: 16, h: 7, w: 7, m: 24, kh: 1, kw: 1, clamp: .relu6),       // pointwise, narrow GEMM
            ConvCase(n: 3, c: 40, h: 5, w: 9, m: 200, kh: 1, kw: 1),                     // pointwise, blocked GEMM
            ConvCase(n: 2, c: 6, h: 4, w: 5, m: 9, kh: 1, kw: 1, groups: 3),             // grouped 1x1
            ConvCase(n: 2, c: 5, h: 11, w: 13, m: 17, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], bias: false),  // im2col
            ConvCase(n: 1, c: 8, h: 6, w: 6, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2, clamp: .relu),
            ConvCase(n: 1, c: 3, h: 1, w: 1, m: 5, kh: 1, kw: 1),                        // m <= MR: single pass
            // Small maps: output channels in the lanes (column-panel weights) with AVX-512.
            ConvCase(n: 1, c: 37, h: 7, w: 7, m: 70, kh: 1, kw: 1, clamp: .relu6),
            ConvCase(n: 3, c: 160, h: 7, w: 7, m: 48, kh: 1, kw: 1),
            ConvCase(n: 2, c: 12, h: 3, w: 5, m: 64, kh: 1, kw: 1, groups: 2, bias: false),
            ConvCase(n: 1, c: 8, h: 1, w: 1, m: 33, kh: 1, kw: 1, clamp: .relu),
            ConvCase(n: 1, c: 9, h: 8, w: 8, m: 20, kh: 1, kw: 1),
        ]
        for (i, cs) in cases.enumerated() {
            var rng = TestRNG(seed: UInt64(40 + i))
            let x = rng.floats(cs.n * cs.c * cs.h * cs.w)
            let w = rng.floats(cs.m * cs.c / cs.groups * cs.kh * cs.kw)
            let b = rng.floats(cs.m)
            let d = Conv2DDescriptor(
                batch: cs.n, inChannels: cs.c, inHeight: cs.h, inWidth: cs.w, outChannels: cs.m,
                kernelHeight: cs.kh, kernelWidth: cs.kw, strides: cs.stride, dilations: cs.dil,
                pads: (cs.pads[0], cs.pads[1], cs.pads[2], cs.pads[3]), groups: cs.groups)
            try d.validate()
            let ref = referenceConv(cs, x, w, cs.bias ? b : nil)
            for pool in [testPool, nil] {
                var y = [Float](repeating: .nan, count: ref.values.count)
                w.withUnsafeBufferPointer { wp in
                    let packed = Conv2D.packWeights(d, weight: wp.baseAddress!, pool: pool)
                    #expect(packed?.count == cs.groups)
                    #expect(packed?.first?.layout == d.weightLayout)
                    x.withUnsafeBufferPointer { xp in
                        b.withUnsafeBufferPointer { bp in
                            y.withUnsafeMutableBufferPointer { yp in
                                Conv2D.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: cs.bias ? bp.baseAddress! : nil,
                                               output: yp.baseAddress!, clamp: cs.clamp, pool: pool, packedWeights: packed)
                            }
                        }
                    }
                }
                let k = Double(cs.c / cs.groups * cs.kh * cs.kw)
                #expect(closeness(y, ref.values, atol: 1e-6 * k + 1e-6, rtol: 1e-5) <= 1, "\(cs)")
            }
        }
        // Depthwise convolutions do not use GEMMs: nothing to pack.
        let dw = Conv2DDescriptor(batch: 1, inChannels: 4, inHeight: 5, inWidth: 5, outChannels: 4, kernelHeight: 3, kernelWidth: 3, groups: 4)
        let wts = [Float](repeating: 1, count: 36)
        #expect(wts.withUnsafeBufferPointer { Conv2D.packWeights(dw, weight: $0.baseAddress!) } == nil)
    }
}
