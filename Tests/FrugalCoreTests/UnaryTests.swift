import Foundation
import FrugalCore
import Testing

@Suite struct UnaryTests {
    static func sigmoidD(_ x: Double) -> Double { x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }

    static let cases: [(UnaryOp, (Double) -> Double, ClosedRange<Float>)] = [
        (.relu, { max($0, 0) }, -5...5),
        (.leakyRelu(alpha: 0.1), { $0 >= 0 ? $0 : 0.1 * $0 }, -5...5),
        (.clip(min: -0.5, max: 2), { min(max($0, -0.5), 2) }, -5...5),
        (.sigmoid, sigmoidD, -30...30),
        (.hardSigmoid(alpha: 0.2, beta: 0.5), { min(max(0.2 * $0 + 0.5, 0), 1) }, -6...6),
        (.hardSwish, { $0 * min(max($0 / 6 + 0.5, 0), 1) }, -6...6),
        (.tanh, { Foundation.tanh($0) }, -10...10),
        (.tanh, { Foundation.tanh($0) }, -0.7...0.7),
        (.exp, { Foundation.exp($0) }, -80...80),
        (.log, { Foundation.log($0) }, 1e-6...1e6),
        (.sqrt, { $0.squareRoot() }, 0...1e4),
        (.abs, { Swift.abs($0) }, -3...3),
        (.neg, { -$0 }, -3...3),
        (.reciprocal, { 1 / $0 }, 0.01...100),
        (.erf, { Foundation.erf($0) }, -5...5),
        (.gelu, { 0.5 * $0 * Foundation.erfc(-$0 / 2.0.squareRoot()) }, -8...8),
        (.silu, { $0 * sigmoidD($0) }, -30...30),
        (.softplus, { max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }, -40...40),
        (.elu(alpha: 1.5), { $0 > 0 ? $0 : 1.5 * Foundation.expm1($0) }, -10...5),
    ]

    @Test func everyOpAgainstDouble() throws {
        var rng = TestRNG(seed: 1)
        for (op, f, range) in Self.cases {
            for n in [1, 15, 16, 17, 1000, 70_001] {
                let x = rng.tensor([n], range.lowerBound, range.upperBound)
                let y = try Unary.apply(op, x, pool: n > 1000 ? testPool : nil)
                let ref = x.scalars(as: Float.self).map { f(Double($0)) }
                #expect(y.shape == x.shape)
                #expect(closeness(y.scalars(), ref, atol: 1e-6, rtol: 3e-7) <= 1, "\(op) n=\(n)")
            }
        }
    }

    @Test func expAccuracyOverTheWholeRange() {
        var worst = 0.0
        var x: Float = -103
        while x < 88.7 {
            let r = Double(Unary.exp(x)), t = Foundation.exp(Double(x))
            if t > 1.2e-38 { worst = max(worst, abs(r - t) / t) }
            x += 0.0137
        }
        #expect(worst < 2.5e-7, "max relative error \(worst)")
        #expect(Unary.exp(89) == .infinity && Unary.exp(-200) == 0 && Unary.exp(0) == 1 && Unary.exp(.nan).isNaN)
        #expect(Unary.exp(-100) > 0)  // denormal results are kept
    }

    @Test func stableAtExtremes() throws {
        let x = try Tensor(shape: [6], scalars: [-1e30, -200, -88, 88, 200, 1e30] as [Float])
        for op in [UnaryOp.sigmoid, .tanh, .silu, .softplus, .gelu, .erf, .elu(alpha: 1), .hardSwish] {
            let y = try Unary.apply(op, x).scalars(as: Float.self)
            #expect(y.allSatisfy { !$0.isNaN }, "\(op) \(y)")
        }
        #expect(try Unary.apply(.sigmoid, x).scalars(as: Float.self) == [0, 0, Float(Self.sigmoidD(-88)), 1, 1, 1])
        #expect(try Unary.apply(.tanh, x).scalars(as: Float.self) == [-1, -1, -1, 1, 1, 1])
        let tiny = try Unary.apply(.tanh, Tensor(shape: [1], scalars: [1e-5] as [Float]))[floatAt: 0]
        #expect(abs(Double(tiny) - 1e-5) / 1e-5 < 1e-6)
        let nan = try Unary.apply(.sigmoid, Tensor(shape: [1], scalars: [Float.nan]))[floatAt: 0]
        #expect(nan.isNaN)
    }

    @Test func inPlaceAndEmpty() throws {
        var buf: [Float] = [-1, 2, -3, 4]
        buf.withUnsafeMutableBufferPointer { p in Unary.apply(.relu, input: p.baseAddress!, output: p.baseAddress!, count: 4) }
        #expect(buf == [0, 2, 0, 4])
        let e = try Unary.apply(.sigmoid, Tensor(zeros: [3, 0, 2]))
        #expect(e.shape == [3, 0, 2] && e.elementCount == 0)
    }

    @Test func badDTypeThrows() {
        expectCoreError("unsupportedDType") { _ = try Unary.apply(.relu, Tensor(zeros: [2], dtype: .int32)) }
    }
}
