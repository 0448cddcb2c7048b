import FrugalCore
import Testing

@Suite struct NormalizationTests {
    @Test func batchNormPerChannel() throws {
        var rng = TestRNG(seed: 1)
        for dims in [[2, 3, 5, 7], [1, 16, 1, 1], [3, 4], [1, 5, 2, 3, 4], [1, 64, 40, 40], [0, 3, 2, 2], [2, 3, 0, 4]] {
            let C = dims[1]
            let x = rng.tensor(dims, -3, 3), s = rng.tensor([C]), b = rng.tensor([C]), m = rng.tensor([C]), v = rng.tensor([C], 0, 2)
            let y = try Normalization.batchNormalization(x, scale: s, bias: b, mean: m, variance: v, epsilon: 1e-3, pool: testPool)
            #expect(y.shape == x.shape)
            let spatial = dims.dropFirst(2).reduce(1, *)
            let xv = x.scalars(as: Float.self), sv = s.scalars(as: Float.self), bv = b.scalars(as: Float.self)
            let mv = m.scalars(as: Float.self), vv = v.scalars(as: Float.self)
            let ref = (0..<xv.count).map { i -> Double in
                let c = (i / spatial) % C
                return (Double(xv[i]) - Double(mv[c])) / (Double(vv[c]) + 1e-3).squareRoot() * Double(sv[c]) + Double(bv[c])
            }
            #expect(closeness(y.scalars(), ref, atol: 1e-5, rtol: 1e-5) <= 1, "\(dims)")
        }
    }

    @Test func layerNormOverTrailingAxes() throws {
        var rng = TestRNG(seed: 2)
        let cases: [([Int], Int, [Int], Bool)] = [
            ([4, 7], -1, [7], true), ([2, 3, 5], -2, [3, 5], true), ([2, 3, 5], 1, [5], false), ([2, 3, 5], 0, [1, 3, 5], true),
            ([6, 1], -1, [1], true), ([3, 768], -1, [768], true), ([64, 257], 1, [257], true), ([2, 4, 3], 1, [1, 3], true),
            ([0, 5], -1, [5], true), ([3, 0], 1, [0], true),
        ]
        for (dims, axis, scaleDims, hasBias) in cases {
            let ax = axis < 0 ? axis + dims.count : axis
            let normDims = Array(dims[ax...])
            let x = rng.tensor(dims, -2, 5), s = rng.tensor(scaleDims), b = rng.tensor(scaleDims)
            let y = try Normalization.layerNormalization(x, scale: s, bias: hasBias ? b : nil, axis: axis, epsilon: 1e-5, pool: testPool)
            #expect(y.shape == x.shape)
            let size = normDims.reduce(1, *), rows = dims[..<ax].reduce(1, *)
            let xv = x.scalars(as: Float.self), sv = s.scalars(as: Float.self), bv = b.scalars(as: Float.self)
            // Index of normalised position k into the (right-aligned, broadcast) scale.
            let pad = Array(repeating: 1, count: normDims.count - scaleDims.count) + scaleDims, ss = stridesOf(pad)
            func sIndex(_ k: Int) -> Int { zip(unravel(k, normDims), zip(pad, ss)).reduce(0) { $0 + ($1.1.0 == 1 ? 0 : $1.0 * $1.1.1) } }
            var ref: [Double] = []
            for r in 0..<rows {
                let row = (0..<size).map { Double(xv[r * size + $0]) }
                let mean = row.reduce(0, +) / Double(size)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(size)
                for k in 0..<size {
                    ref.append((row[k] - mean) / (variance + 1e-5).squareRoot() * Double(sv[sIndex(k)]) + (hasBias ? Double(bv[sIndex(k)]) : 0))
                }
            }
            #expect(closeness(y.scalars(), ref, atol: 2e-5, rtol: 2e-5) <= 1, "\(dims) axis \(axis)")
        }
    }

    @Test func badInputThrows() {
        var rng = TestRNG(seed: 3)
        let x = rng.tensor([2, 3, 4, 4]), c3 = rng.tensor([3]), c4 = rng.tensor([4])
        expectCoreError("shapeMismatch", "bn channels") { _ = try Normalization.batchNormalization(x, scale: c4, bias: c3, mean: c3, variance: c3) }
        expectCoreError("invalidShape", "bn rank") { _ = try Normalization.batchNormalization(rng.tensor([3]), scale: c3, bias: c3, mean: c3, variance: c3) }
        expectCoreError("unsupportedDType") {
            _ = try Normalization.batchNormalization(x, scale: c3, bias: c3, mean: c3, variance: Tensor(zeros: [3], dtype: .int32))
        }
        expectCoreError("invalidArgument", "negative epsilon") {
            _ = try Normalization.batchNormalization(x, scale: c3, bias: c3, mean: c3, variance: c3, epsilon: -1)
        }
        expectCoreError("shapeMismatch", "ln scale") { _ = try Normalization.layerNormalization(x, scale: c3, axis: -1) }
        expectCoreError("shapeMismatch", "ln bias") { _ = try Normalization.layerNormalization(x, scale: c4, bias: rng.tensor([2, 4]), axis: -1) }
        expectCoreError("invalidArgument", "ln axis") { _ = try Normalization.layerNormalization(x, scale: c4, axis: 4) }
        expectCoreError("unsupportedDType") { _ = try Normalization.layerNormalization(Tensor(zeros: [2, 4], dtype: .int64), scale: c4) }
    }
}
