@testable import FrugalCore
import Testing

/// The direct path for shallow reductions (Conv2DDirect.swift, convsmall_avx512.c): groups 1,
/// at most 4 input channels, against the double-precision reference of Conv2DTests.
@Suite struct Conv2DDirectTests {
    /// Runs `cs` through Conv2D.forward into an output filled with NaN (so a position the
    /// kernel skips fails) and compares with referenceConv; on AVX-512 CPUs also requires that
    /// the direct path is the one taken.
    func check(_ cs: ConvCase, seed: UInt64 = 1, pool: ThreadPool? = testPool, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let d = Conv2DDescriptor(
            batch: cs.n, inChannels: cs.c, inHeight: cs.h, inWidth: cs.w, outChannels: cs.m, kernelHeight: cs.kh, kernelWidth: cs.kw,
            strides: cs.stride, dilations: cs.dil, pads: (cs.pads[0], cs.pads[1], cs.pads[2], cs.pads[3]), groups: cs.groups)
        try d.validate()
        let avx512 = KernelISA.best == .avx512 || KernelISA.best == .avx512Vnni
        #expect(d.path == (avx512 ? .direct : .im2col), "\(cs)", sourceLocation: sourceLocation)
        var rng = TestRNG(seed: seed)
        let x = rng.floats(cs.n * cs.c * cs.h * cs.w), w = rng.floats(cs.m * cs.c * cs.kh * cs.kw), b = rng.floats(cs.m)
        let ref = referenceConv(cs, x, w, cs.bias ? b : nil)
        var y = [Float](repeating: .nan, count: ref.values.count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Conv2D.forward(d, input: xp.baseAddress!, weight: wp.baseAddress!, bias: cs.bias ? bp.baseAddress! : nil,
                                       output: yp.baseAddress!, clamp: cs.clamp, pool: pool)
                    }
                }
            }
        }
        let k = Double(cs.c * cs.kh * cs.kw)
        // (closeness skips NaN in the result where the reference is finite: count them here.)
        #expect(y.filter(\.isNaN).count == 0, "\(cs): outputs not written", sourceLocation: sourceLocation)
        #expect(closeness(y, ref.values, atol: 1e-6 * k + 1e-6, rtol: 1e-5) <= 1, "\(cs)", sourceLocation: sourceLocation)
    }

    @Test func networkStems() throws {
        // MobileNetV2's stem (Clip 0..6 fused), on 2 threads (one image cut into bands) and 1.
        let stem = ConvCase(n: 1, c: 3, h: 224, w: 224, m: 32, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], clamp: .relu6)
        try check(stem)
        try check(stem, seed: 2, pool: nil)
        // LeNet-5's first convolution (1 -> 6, 5x5, padded to keep 28x28), batch 2, Relu.
        try check(ConvCase(n: 2, c: 1, h: 28, w: 28, m: 6, kh: 5, kw: 5, pads: [2, 2, 2, 2], clamp: .relu))
        try check(ConvCase(n: 3, c: 1, h: 32, w: 32, m: 6, kh: 5, kw: 5), pool: nil)
        // A 7x7 stride-2 stem (ResNet-like), 4 input channels: 196 taps.
        try check(ConvCase(n: 1, c: 4, h: 37, w: 41, m: 9, kh: 7, kw: 7, stride: (2, 2), pads: [3, 3, 3, 3]))
    }

    @Test func stridesPadsDilations() throws {
        for (i, cin) in [1, 3, 4].enumerated() {
            for k in [3, 5, 7] {
                for s in [1, 2] {
                    let seed = UInt64(100 * i + 10 * k + s)
                    try check(ConvCase(n: 2, c: cin, h: 19, w: 23, m: 17, kh: k, kw: k, stride: (s, s), pads: [k / 2, k / 2, k / 2, k / 2]),
                              seed: seed)
                    try check(ConvCase(n: 1, c: cin, h: 21, w: 35, m: 8, kh: k, kw: k, stride: (s, s), dil: (2, 2), pads: [1, 0, 2, 3],
                                       bias: false, clamp: .relu), seed: seed + 1, pool: nil)
                }
            }
        }
        // Mixed strides and dilations, stride 3 (the generic column split), pads wider than a vector.
        try check(ConvCase(n: 2, c: 3, h: 15, w: 50, m: 5, kh: 3, kw: 5, stride: (1, 2), dil: (2, 1), pads: [0, 2, 1, 0]))
        try check(ConvCase(n: 1, c: 2, h: 30, w: 61, m: 12, kh: 4, kw: 3, stride: (2, 3), dil: (1, 2), pads: [2, 1, 0, 2],
                           clamp: OutputClamp(lower: -0.25, upper: 0.5)))
        try check(ConvCase(n: 1, c: 1, h: 12, w: 20, m: 3, kh: 3, kw: 3, pads: [20, 18, 1, 17]))
        try check(ConvCase(n: 1, c: 4, h: 9, w: 9, m: 1, kh: 2, kw: 2, stride: (3, 1)))  // one output channel, 8 wide
    }

    @Test func outputWidthsAndChannels() throws {
        // Widths around the 16-lane vectors (8 is the narrowest taken), channel counts around
        // the 8-channel blocks, heights over several row chunks.
        var seed: UInt64 = 7
        for ow in [8, 15, 16, 17, 31, 33, 48, 112] {
            for m in [1, 7, 8, 9, 16, 24, 33] where (ow + m) % 3 == 0 || m == 8 {
                seed += 1
                try check(ConvCase(n: 1 + Int(seed % 2), c: 3, h: 70, w: ow, m: m, kh: 3, kw: 3, pads: [1, 1, 1, 1],
                                   bias: seed % 3 != 0, clamp: seed % 2 == 0 ? .relu6 : nil), seed: seed, pool: seed % 4 == 0 ? nil : testPool)
            }
        }
    }

    @Test func otherShapesTakeOtherPaths() {
        func path(c: Int, w: Int, groups: Int = 1, k: Int = 3) -> Conv2DDescriptor.Path {
            Conv2DDescriptor(batch: 1, inChannels: c, inHeight: 9, inWidth: w, outChannels: 4, kernelHeight: k, kernelWidth: k,
                             groups: groups).path
        }
        #expect(path(c: 5, w: 20) == .im2col)  // deeper reductions: the GEMM path
        #expect(path(c: 3, w: 9) == .im2col)  // 7-wide output rows
        #expect(path(c: 4, w: 20, groups: 2) == .im2col)
        #expect(path(c: 4, w: 20, groups: 4) == .depthwise)
        #expect(path(c: 4, w: 20, k: 1) == .pointwise)
    }
}
