@testable import FrugalCore
import Foundation
import Testing

@Suite struct RequantizationTests {
    typealias QM = QuantizedMultiplier

    @Test func multiplierRepresentation() throws {
        #expect(try QM(0.5) == QM(multiplier: 1 << 30, exponent: 0))
        #expect(try QM(0.25) == QM(multiplier: 1 << 30, exponent: -1))
        #expect(try QM(1.0) == QM(multiplier: 1 << 30, exponent: 1))
        #expect(try QM(1.5) == QM(multiplier: 3 << 29, exponent: 1))
        #expect(try QM(3.0) == QM(multiplier: 3 << 29, exponent: 2))
        #expect(try QM(0) == QM(multiplier: 0, exponent: 0))
        #expect(try QM(0x1p-40) == QM(multiplier: 0, exponent: 0))  // below 2^-32: always 0
        #expect(try QM(0x1p-32) == QM(multiplier: 1 << 30, exponent: -31))
        // 1 − 2^-40 rounds up to 2^31: renormalised.
        #expect(try QM(1 - 0x1p-40) == QM(multiplier: 1 << 30, exponent: 1))
        #expect(throws: CoreError.self) { try QM(-0.1) }
        #expect(throws: CoreError.self) { try QM(.nan) }
        #expect(throws: CoreError.self) { try QM(0x1p31) }
        let m = try QM(0.0123456789)
        #expect(abs(m.realValue / 0.0123456789 - 1) < 0x1p-30)
    }

    /// Values worked out by hand.
    @Test func knownValues() throws {
        let half = try QM(0.5)
        #expect(half.apply(4) == 2)
        #expect(half.apply(3) == 2)     // 1.5: the high multiply rounds ties up
        #expect(half.apply(-3) == -1)   // -1.5: ties up (toward +inf), as gemmlowp / SQRDMULH
        let quarter = try QM(0.25)
        #expect(quarter.apply(10) == 3)    // 2.5: the final shift rounds ties away from zero
        #expect(quarter.apply(-10) == -3)
        #expect(quarter.apply(9) == 3)     // 2.25: 4.5 → 5 (high multiply), 2.5 → 3 (shift): double rounding
        #expect(quarter.apply(-11) == -3)  // -2.75
        let three = try QM(3.0)            // M >= 1: left shift
        #expect(three.apply(7) == 21)
        #expect(three.apply(-40) == -120)
        #expect(three.apply(Int32.max / 2) == 1_610_612_735)  // << 2 saturates to 2^31 − 1, then · 0.75
        #expect(try QM(0x1p-33).apply(.max) == 0)
        #expect(QM.saturatingRoundingDoublingHighMul(.min, .min) == .max)
        #expect(QM.roundingDivideByPOT(-5, 1) == -3 && QM.roundingDivideByPOT(5, 1) == 3)
        #expect(QM.roundingDivideByPOT(.min, 31) == -1 && QM.roundingDivideByPOT(.max, 31) == 1)

        // acc 1000, bias 24, M = 0.05 → 51.2 → 51, + zero point 10 = 61.
        let rq = try Requantizer(multipliers: [0.05], bias: [24], outputZeroPoint: 10)
        #expect(rq.requantize(1000, channel: 0, as: Int8.self) == 61)
        #expect(rq.requantize(100_000, channel: 0, as: Int8.self) == 127)    // saturates
        #expect(rq.requantize(-100_000, channel: 0, as: UInt8.self) == 0)
        #expect(rq.requantize(-400, channel: 0, as: Int8.self) == -9)        // -18.8 → -19, +10
        let relu = try Requantizer(multipliers: [0.05], outputZeroPoint: 10, relu: true)
        #expect(relu.requantize(-400, channel: 0, as: Int8.self) == 10)      // clamped at the zero point
        #expect(relu.requantize(400, channel: 0, as: UInt8.self) == 30)
    }

    /// Random multipliers (tiny, typical, ≥ 1) and accumulators over the whole Int32 range:
    /// the C rows of every ISA equal the scalar gemmlowp reference bit for bit.
    @Test(arguments: [KernelISA.avx512Vnni, .avx2, .portable].filter { $0.isSupported })
    func vectorRowsAreBitExact(isa: KernelISA) throws {
        var rng = QRandom(seed: 11)
        let rows = 7, cols = 53
        let specials: [Int32] = [.min, .max, .min + 1, .max - 1, 0, 1, -1, 1 << 30, -(1 << 30)]
        for trial in 0..<24 {
            let perChannel = trial % 2 == 0
            let count = perChannel ? cols : 1
            let reals: [Double] = (0..<count).map { _ in
                switch rng.int(0...3) {
                case 0: return Double(rng.int(1...1000)) * 0x1p-36                  // tiny
                case 1: return Double(rng.int(1...1_000_000)) * 1e-7                 // typical
                case 2: return Double(rng.int(1...64)) / 8                            // ≥ 1, exact ties
                default: return Double(rng.int(1...1 << 20)) * 0x1p-20 * 100         // large
                }
            }
            let bias: [Int32]? = trial % 3 == 0 ? nil : (0..<count).map { _ in Int32(rng.int(-100_000...100_000)) }
            let zp = Int32(rng.int(-20...20))
            let rq = try Requantizer(multipliers: reals, bias: bias, outputZeroPoint: zp, relu: trial % 5 == 0)
            var acc = (0..<(rows * cols)).map { _ in Int32(truncatingIfNeeded: rng.int(-(1 << 33)...(1 << 33))) }
            for (i, s) in specials.enumerated() { acc[i * 3] = s }
            for i in stride(from: 1, to: acc.count, by: 4) { acc[i] = Int32(rng.int(-5000...5000)) }
            var s8 = [Int8](repeating: 0, count: rows * cols)
            try rq.requantize(acc, rows: rows, columns: cols, ldSrc: cols, to: &s8, ldDst: cols, isa: isa)
            let u8rq = try Requantizer(multipliers: reals, bias: bias, outputZeroPoint: zp + 100, relu: trial % 5 == 0)
            var u8 = [UInt8](repeating: 0, count: rows * cols)
            try u8rq.requantize(acc, rows: rows, columns: cols, ldSrc: cols, to: &u8, ldDst: cols, isa: isa)
            for i in 0..<(rows * cols) {
                let c = i % cols
                #expect(s8[i] == rq.requantize(acc[i], channel: c, as: Int8.self), "\(isa) acc \(acc[i]) M \(reals[perChannel ? c : 0])")
                #expect(u8[i] == u8rq.requantize(acc[i], channel: c, as: UInt8.self))
            }
            // Channels along rows (NCHW).
            if trial < 4 {
                let rowReals = Array(reals.prefix(rows)) + [Double](repeating: reals[0], count: max(0, rows - reals.count))
                let rrq = try Requantizer(multipliers: perChannel ? rowReals : [reals[0]], bias: bias.map { Array($0.prefix(perChannel ? rows : 1)) },
                                          outputZeroPoint: zp)
                try rrq.requantize(acc, rows: rows, columns: cols, ldSrc: cols, to: &s8, ldDst: cols, channelAxis: .rows, isa: isa)
                for i in 0..<(rows * cols) { #expect(s8[i] == rrq.requantize(acc[i], channel: i / cols, as: Int8.self)) }
            }
        }
    }

    /// Against real arithmetic rounded half to even (double, and ONNX Runtime's float formula):
    /// never more than 1 apart, and equal except near ties.
    @Test func withinOneOfFloatReference() throws {
        var rng = QRandom(seed: 12)
        var worst = 0, differing = 0, total = 0
        for _ in 0..<200 {
            let real = Double(rng.int(1...1 << 24)) * 0x1p-24 * [1e-4, 1e-3, 1e-2, 0.1, 1, 3][rng.int(0...5)]
            let zp = Int32(rng.int(-128...127))
            let rq = try Requantizer(multipliers: [real], outputZeroPoint: zp)
            for _ in 0..<200 {
                let acc = Int32(rng.int(-3_000_000...3_000_000)) / Int32([1, 10, 1000][rng.int(0...2)])
                let got = Int(rq.requantize(acc, channel: 0, as: Int8.self))
                let exact = (Double(acc) * real).rounded(.toNearestOrEven) + Double(zp)
                let ort = Float(acc) * Float(real)  // ONNX Runtime: float scale, nearbyint
                let ortQ = Double(ort.rounded(.toNearestOrEven)) + Double(zp)
                for ref in [exact, ortQ] {
                    let r = Int(min(max(ref, -128), 127))
                    worst = max(worst, abs(r - got))
                    if r != got { differing += 1 }
                    total += 1
                }
            }
        }
        #expect(worst <= 1)
        #expect(differing * 100 < total)  // rare: only near ties (measured 224 of 80000)
    }

    /// A tie: exact 2.5 rounds to 2 (half to even) in ONNX, 3 here (away from zero).
    @Test func documentedTieDifference() throws {
        let rq = try Requantizer(multipliers: [0.25], outputZeroPoint: 0)
        #expect(rq.requantize(10, channel: 0, as: Int8.self) == 3)
        #expect(Float(10 * 0.25).rounded(.toNearestOrEven) == 2)
    }

    /// GEMM + requantization in one call equals the int32 GEMM followed by the scalar reference.
    @Test(arguments: qgemmISAs)
    func fusedGEMMMatchesReference(isa: KernelISA) throws {
        var rng = QRandom(seed: 13)
        for (s, (m, n, k)) in [(1, 10, 27), (17, 45, 100), (150, 290, 301), (3, 1, 5)].enumerated() {
            for pool in QGEMMTests.pools {
                let p = QProblem<UInt8, Int8>(m: m, n: n, k: k, transB: s % 2 == 0, aZero: Int32(rng.int(0...255)),
                                              bZeros: s == 1 ? (0..<n).map { _ in Int32(rng.int(-3...3)) } : [Int32(s)],
                                              rng: &rng)
                let ref = p.reference()
                let scales = (0..<(s % 2 == 0 ? n : 1)).map { _ in Float(rng.int(1...100)) * 1e-4 }
                let bias = (0..<n).map { _ in Int32(rng.int(-5000...5000)) }
                let rq = try Requantizer(inputScale: 0.02, weightScales: scales, outputScale: 0.05, bias: bias,
                                         outputZeroPoint: Int32(rng.int(0...255)), relu: s == 2)
                let packed = try p.packed(isa: isa)
                let ldc = n + 1
                var out = [UInt8](repeating: 0, count: m * ldc)
                try p.a.withUnsafeBufferPointer { ab in
                    try QGEMM.gemm(m: m, a: ab.baseAddress!, lda: p.lda, aZeroPoint: p.aZero, b: packed,
                                   requantizer: rq, c: &out, ldc: ldc, pool: pool)
                }
                var mismatches = 0
                for i in 0..<m {
                    for j in 0..<n where out[i * ldc + j] != rq.requantize(ref[i * n + j], channel: j, as: UInt8.self) {
                        mismatches += 1
                    }
                }
                #expect(mismatches == 0, "\(isa) m\(m) n\(n) k\(k) threads \(pool.threadCount)")
                // int8 output with a scalar bias.
                let rq8 = try Requantizer(inputScale: 0.02, weightScales: [0.003], outputScale: 0.05, bias: [77],
                                          outputZeroPoint: -5)
                var out8 = [Int8](repeating: 0, count: m * n)
                try p.a.withUnsafeBufferPointer { ab in
                    try QGEMM.gemm(m: m, a: ab.baseAddress!, lda: p.lda, aZeroPoint: p.aZero, b: packed,
                                   requantizer: rq8, c: &out8, ldc: n, pool: pool)
                }
                #expect(out8 == ref.map { rq8.requantize($0, channel: 0, as: Int8.self) })
            }
        }
    }

    /// NCHW convolution as W · im2col: int8 weights as A, uint8 activations as the packed B,
    /// channels along the rows of C.
    @Test(arguments: qgemmISAs)
    func fusedGEMMChannelsAlongRows(isa: KernelISA) throws {
        var rng = QRandom(seed: 14)
        for (m, n, k) in [(16, 49, 72), (37, 200, 9), (1, 30, 64)] {
            for pool in QGEMMTests.pools {
                let p = QProblem<Int8, UInt8>(m: m, n: n, k: k, aZero: 0, bZeros: [Int32(rng.int(0...255))], rng: &rng)
                let ref = p.reference()
                let perRow = m > 1
                let scales = (0..<(perRow ? m : 1)).map { _ in Float(rng.int(1...100)) * 1e-4 }
                let bias = (0..<(perRow ? m : 1)).map { _ in Int32(rng.int(-5000...5000)) }
                let rq = try Requantizer(inputScale: 0.02, weightScales: scales, outputScale: 0.05, bias: bias,
                                         outputZeroPoint: Int32(rng.int(-128...127)))
                let packed = try p.packed(isa: isa)
                var out = [Int8](repeating: 0, count: m * n)
                try p.a.withUnsafeBufferPointer { ab in
                    try QGEMM.gemm(m: m, a: ab.baseAddress!, lda: p.lda, aZeroPoint: p.aZero, b: packed,
                                   requantizer: rq, channelAxis: .rows, c: &out, ldc: n, pool: pool)
                }
                let want = (0..<(m * n)).map { rq.requantize(ref[$0], channel: $0 / n, as: Int8.self) }
                #expect(out == want, "\(isa) m\(m) n\(n) k\(k) threads \(pool.threadCount)")
            }
        }
    }
}
