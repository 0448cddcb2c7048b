import Foundation
@testable import FrugalCore
import Testing

/// Broadcast `a op b` by explicit multi-index arithmetic, in double precision.
func referenceBinary(_ a: [Double], _ ad: [Int], _ b: [Double], _ bd: [Int], _ f: (Double, Double) -> Double) -> ([Int], [Double]) {
    let r = max(ad.count, bd.count)
    let pa = Array(repeating: 1, count: r - ad.count) + ad, pb = Array(repeating: 1, count: r - bd.count) + bd
    let od = zip(pa, pb).map { $0 == 1 ? $1 : $0 }
    let sa = stridesOf(pa), sb = stridesOf(pb)
    let n = od.reduce(1, *)
    let out = (0..<n).map { i -> Double in
        let idx = unravel(i, od)
        var ia = 0, ib = 0
        for d in 0..<r {
            ia += (pa[d] == 1 ? 0 : idx[d]) * sa[d]
            ib += (pb[d] == 1 ? 0 : idx[d]) * sb[d]
        }
        return f(a[ia], b[ib])
    }
    return (od, out)
}

@Suite struct ElementwiseTests {
    static let patterns: [([Int], [Int])] = [
        ([2, 3, 4], [2, 3, 4]),  // same shape
        ([17], [17]),
        ([], [2, 3]), ([2, 3], []), ([1], [5]), ([7, 1, 1], [1]),  // scalars
        ([2, 5, 3, 3], [1, 5, 1, 1]), ([2, 5, 3, 3], [5, 1, 1]), ([1, 5, 1, 1], [3, 5, 2, 7]),  // per channel
        ([4, 13], [13]), ([13], [4, 13]),  // row
        ([6, 1], [1, 5]), ([6, 1], [5]),  // outer product
        ([2, 1, 3], [1, 4, 1]), ([3, 1, 4, 1, 2], [1, 5, 1, 6, 1]),  // both broadcast, rank 5
        ([1, 1, 1], [1]), ([2, 3, 1, 5], [3, 4, 1]),
        ([0, 3], [3]), ([2, 0], [1]), ([0], [1]), ([3, 0, 2], [3, 1, 2]),  // empty
        ([64, 1000], [1000]), ([3, 100_003], [3, 100_003]), ([100_003], []),  // large: threaded
    ]

    @Test func floatOpsAllPatterns() throws {
        var rng = TestRNG(seed: 1)
        let ops: [(BinaryOp, (Double, Double) -> Double)] = [
            (.add, +), (.sub, -), (.mul, *), (.div, /), (.pow, { Foundation.pow($0, $1) }), (.max, { max($0, $1) }), (.min, { min($0, $1) }),
        ]
        for (ad, bd) in Self.patterns {
            let a = rng.tensor(ad, 0.1, 2), b = rng.tensor(bd, -2, 2)
            for (op, f) in ops {
                let y = try Elementwise.binary(op, a, b, pool: testPool)
                let (od, ref) = referenceBinary(a.scalars(as: Float.self).map(Double.init), ad, b.scalars(as: Float.self).map(Double.init), bd, f)
                #expect(y.shape.dims == od && y.dtype == .float32, "\(op) \(ad) \(bd)")
                if y.shape.dims == od { #expect(closeness(y.scalars(), ref, atol: 1e-6, rtol: 3e-6) <= 1, "\(op) \(ad) \(bd)") }
            }
        }
    }

    @Test func integerOps() throws {
        var rng = TestRNG(seed: 2)
        for (ad, bd) in Self.patterns where ad.reduce(1, *) < 10_000 && bd.reduce(1, *) < 10_000 {
            let av = (0..<ad.reduce(1, *)).map { _ in Int64(rng.int(-1000, 1000)) }
            let bv = (0..<bd.reduce(1, *)).map { _ in Int64(rng.int(1, 50) * (rng.int(0, 1) == 0 ? -1 : 1)) }
            let ops: [(BinaryOp, (Int64, Int64) -> Int64)] = [(.add, +), (.sub, -), (.mul, *), (.div, /), (.max, max), (.min, min)]
            for (op, f) in ops {
                let ref = referenceBinary(av.map(Double.init), ad, bv.map(Double.init), bd) { Double(f(Int64($0), Int64($1))) }
                let y64 = try Elementwise.binary(op, Tensor(shape: Shape(ad), scalars: av), Tensor(shape: Shape(bd), scalars: bv))
                #expect(y64.dtype == .int64 && y64.scalars(as: Int64.self).map(Double.init) == ref.1, "\(op) \(ad) \(bd)")
                let y32 = try Elementwise.binary(op, Tensor(shape: Shape(ad), scalars: av.map { Int32($0) }),
                                                 Tensor(shape: Shape(bd), scalars: bv.map { Int32($0) }), pool: testPool)
                #expect(y32.dtype == .int32 && y32.scalars(as: Int32.self).map(Double.init) == ref.1, "\(op) \(ad) \(bd)")
            }
        }
    }

    @Test func integerEdgeCases() throws {
        let a = try Tensor(shape: [6], scalars: [-7, 7, -7, 5, Int32.min, Int32.max] as [Int32])
        let b = try Tensor(shape: [6], scalars: [2, -2, -2, 0, -1, 1] as [Int32])
        #expect(try Elementwise.div(a, b).scalars(as: Int32.self) == [-3, -3, 3, 5, Int32.min, Int32.max])  // truncation, no trap
        #expect(try Elementwise.add(a, b).scalars(as: Int32.self)[5] == Int32.min)  // wraps
        let p = try Elementwise.pow(Tensor(shape: [4], scalars: [3, -2, 2, 5] as [Int64]), Tensor(shape: [4], scalars: [4, 3, -1, 0] as [Int64]))
        #expect(p.scalars(as: Int64.self) == [81, -8, 0, 1])
    }

    @Test func floatSpecialValues() throws {
        let a = try Tensor(shape: [4], scalars: [Float.nan, 1, -.infinity, 0] as [Float])
        let b = try Tensor(shape: [4], scalars: [1, Float.nan, 2, 0] as [Float])
        #expect(try Elementwise.max(a, b).scalars(as: Float.self).prefix(2).allSatisfy(\.isNaN))
        #expect(try Elementwise.min(a, b).scalars(as: Float.self)[2] == -.infinity)
        #expect(try Elementwise.div(a, b).scalars(as: Float.self)[3].isNaN)
    }

    @Test func singleRunPlansMatchTheGeneralOnes() throws {
        let pairs: [(Shape, Shape)] = [
            ([2, 3], [2, 3]), ([1, 8, 4, 4], [1, 8, 4, 4]), ([2, 3], []), ([], [2, 3]), ([2, 3], [1]),
            ([1], [4, 1, 5]), ([1, 1], [1]), ([], []), ([1, 1], [1, 1]), ([0, 3], [1]), ([0, 3], [0, 3]),
            ([5], [1, 1]), ([1, 1, 1], [3]),
        ]
        for (a, b) in pairs {
            #expect(try BroadcastPlan(a, b) == BroadcastPlan(collapsing: a, b), "\(a) \(b)")
        }
        #expect(throws: CoreError.self) { try BroadcastPlan([-1, 2], [-1, 2]) }
        #expect(throws: CoreError.self) { try BroadcastPlan([3], [-1]) }
    }

    @Test func planCollapsesAndIsReusable() throws {
        let plan = try BroadcastPlan([2, 5, 3, 3], [1, 5, 1, 1])
        #expect(plan.outputShape == [2, 5, 3, 3] && plan.elementCount == 90)
        var rng = TestRNG(seed: 3)
        let a = rng.floats(90), b = rng.floats(5)
        var y = [Float](repeating: 0, count: 90)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { Elementwise.binary(.mul, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!) }
            }
        }
        #expect((0..<90).allSatisfy { y[$0] == a[$0] * b[($0 / 9) % 5] })
    }

    @Test func badInputThrows() {
        var rng = TestRNG(seed: 4)
        expectCoreError("shapeMismatch", "not broadcastable") { _ = try Elementwise.add(rng.tensor([2, 3]), rng.tensor([3, 2])) }
        expectCoreError("shapeMismatch", "not broadcastable") { _ = try Elementwise.mul(rng.tensor([4, 5, 6]), rng.tensor([4, 6])) }
        expectCoreError("unsupportedDType", "mixed dtypes") {
            _ = try Elementwise.add(rng.tensor([2]), Tensor(shape: [2], scalars: [1, 2] as [Int32]))
        }
        expectCoreError("unsupportedDType", "bool") {
            _ = try Elementwise.add(Tensor(shape: [1], scalars: [true]), Tensor(shape: [1], scalars: [false]))
        }
    }
}
