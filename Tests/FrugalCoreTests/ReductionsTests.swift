import Foundation
import FrugalCore
import Testing

/// Reduction by scattering every element into its output cell, in double precision.
func referenceReduce(_ op: ReduceOp, _ x: [Float], _ dims: [Int], axes: Set<Int>, keepDims: Bool) -> ([Int], [Double]) {
    let outFull = dims.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    let outDims = keepDims ? outFull : dims.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    let n = outFull.reduce(1, *)
    var acc = [Double](repeating: op == .max ? -.infinity : op == .min ? .infinity : op == .prod ? 1 : 0, count: n)
    let so = stridesOf(outFull)
    for i in 0..<x.count {
        let idx = unravel(i, dims)
        var o = 0
        for d in 0..<dims.count where !axes.contains(d) { o += idx[d] * so[d] }
        let v = Double(x[i])
        switch op {
        case .sum, .mean, .logSum: acc[o] += v
        case .sumSquare, .l2: acc[o] += v * v
        case .l1: acc[o] += abs(v)
        case .prod: acc[o] *= v
        case .max: acc[o] = max(acc[o], v)
        case .min: acc[o] = min(acc[o], v)
        }
    }
    let count = dims.enumerated().filter { axes.contains($0.offset) }.map(\.element).reduce(1, *)
    switch op {
    case .mean: acc = acc.map { $0 / Double(count) }
    case .l2: acc = acc.map { $0.squareRoot() }
    case .logSum: acc = acc.map { Foundation.log($0) }
    default: break
    }
    return (outDims, acc)
}

@Suite struct ReductionsTests {
    static let cases: [([Int], [Int]?)] = [
        ([2, 3, 4], [1]), ([2, 3, 4], [0, 2]), ([2, 3, 4], [-1]), ([2, 3, 4], [-3, -2]), ([2, 3, 4], nil), ([2, 3, 4], [0, 1, 2]),
        ([5, 1, 7], [1]), ([5, 1, 7], [0]), ([1, 1], [0]), ([17], [0]), ([3, 5, 2, 7], [1, 3]), ([3, 5, 2, 7], [0, 2]),
        ([2, 3, 5, 4, 3], [0, 2, 4]), ([2, 3, 5, 4, 3], [1, 3]), ([4, 0, 3], [1]), ([4, 0, 3], [0]), ([0], [0]), ([0, 5], [1]),
        ([1000, 64], [0]), ([64, 1000], [1]), ([8, 300, 20], [1]),
    ]

    @Test func allOpsAxesKeepDims() throws {
        var rng = TestRNG(seed: 1)
        for (dims, axes) in Self.cases {
            let x = rng.tensor(dims, 0.5, 1.5)  // positive so prod / logSum stay finite
            let set = Set((axes ?? Array(0..<dims.count)).map { $0 < 0 ? $0 + dims.count : $0 })
            for op in ReduceOp.allCases {
                for keep in [true, false] {
                    if op == .prod && dims.reduce(1, *) > 100 && set.count == dims.count { continue }
                    let y = try Reduction.reduce(op, x, axes: axes, keepDims: keep, pool: testPool)
                    let (od, ref) = referenceReduce(op, x.scalars(), dims, axes: set, keepDims: keep)
                    #expect(y.shape.dims == od, "\(op) \(dims) \(String(describing: axes)) keep \(keep)")
                    if y.shape.dims == od {
                        #expect(closeness(y.scalars(), ref, atol: 1e-5, rtol: 1e-5) <= 1, "\(op) \(dims) \(String(describing: axes))")
                    }
                }
            }
        }
    }

    @Test func emptyReductionsFollowONNX() throws {
        let x = try Tensor(zeros: [3, 0])
        let expected: [ReduceOp: Float] = [.sum: 0, .prod: 1, .max: -.infinity, .min: .infinity, .sumSquare: 0, .l1: 0, .l2: 0, .logSum: -.infinity]
        for (op, v) in expected {
            #expect(try Reduction.reduce(op, x, axes: [1]).scalars(as: Float.self) == [v, v, v], "\(op)")
        }
        #expect(try Reduction.reduce(.mean, x, axes: [1], keepDims: false).scalars(as: Float.self).allSatisfy(\.isNaN))
        #expect(try Reduction.reduce(.sum, x, axes: [0]).shape == [1, 0])
    }

    @Test func noopAndNaN() throws {
        let x = try Tensor(shape: [2, 2], scalars: [1, .nan, 3, 4] as [Float])
        #expect(try Reduction.reduce(.sum, x, axes: [], noopWithEmptyAxes: true) == x)
        #expect(try Reduction.reduce(.max, x, axes: [1]).scalars(as: Float.self)[0].isNaN)
        #expect(try Reduction.reduce(.min, x, axes: [0]).scalars(as: Float.self)[1].isNaN)
        #expect(try Reduction.reduce(.max, x, axes: [1]).scalars(as: Float.self)[1] == 4)
        var long = [Float](repeating: 1, count: 40)
        long[21] = .nan
        let lt = try Tensor(shape: [2, 20], scalars: long)
        #expect(try Reduction.reduce(.max, lt, axes: nil).scalars(as: Float.self)[0].isNaN)  // NaN in a vector lane
        #expect(try Reduction.reduce(.min, lt, axes: [1], keepDims: false).scalars(as: Float.self).map(\.isNaN) == [false, true])
    }

    @Test func argMaxArgMin() throws {
        var rng = TestRNG(seed: 5)
        for dims in [[7], [3, 5], [2, 4, 3], [3, 1, 300], [1, 1]] {
            let x = rng.tensor(dims)
            let v = x.scalars(as: Float.self)
            for axis in -dims.count..<dims.count {
                let ax = axis < 0 ? axis + dims.count : axis
                for keep in [true, false] {
                    let am = try ArgReduce.argMax(x, axis: axis, keepDims: keep, pool: testPool)
                    let an = try ArgReduce.argMin(x, axis: axis, keepDims: keep)
                    var od = dims
                    if keep { od[ax] = 1 } else { od.remove(at: ax) }
                    #expect(am.shape.dims == od && am.dtype == .int64)
                    let outer = dims[..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *), len = dims[ax]
                    var rmax: [Int64] = [], rmin: [Int64] = []
                    for o in 0..<outer { for j in 0..<inner {
                        let col = (0..<len).map { v[(o * len + $0) * inner + j] }
                        rmax.append(Int64(col.firstIndex(of: col.max()!)!))
                        rmin.append(Int64(col.firstIndex(of: col.min()!)!))
                    } }
                    #expect(am.scalars(as: Int64.self) == rmax, "\(dims) axis \(axis)")
                    #expect(an.scalars(as: Int64.self) == rmin, "\(dims) axis \(axis)")
                }
            }
        }
        let ties = try Tensor(shape: [2, 3], scalars: [1, 5, 5, 2, 2, 0] as [Float])
        #expect(try ArgReduce.argMax(ties, axis: 1).scalars(as: Int64.self) == [1, 0])
        #expect(try ArgReduce.argMax(ties, axis: 1, selectLastIndex: true).scalars(as: Int64.self) == [2, 1])
        #expect(try ArgReduce.argMin(ties, axis: -1, selectLastIndex: true).scalars(as: Int64.self) == [0, 2])
        #expect(try ArgReduce.argMax(Tensor(zeros: [0, 3]), axis: 1).shape == [0, 1])
    }

    @Test func badInputThrows() {
        var rng = TestRNG(seed: 6)
        let x = rng.tensor([2, 3])
        expectCoreError("invalidArgument", "axis out of range") { _ = try Reduction.reduce(.sum, x, axes: [2]) }
        expectCoreError("invalidArgument", "negative axis out of range") { _ = try Reduction.reduce(.sum, x, axes: [-3]) }
        expectCoreError("invalidArgument", "duplicate axes") { _ = try Reduction.reduce(.max, x, axes: [1, -1]) }
        expectCoreError("unsupportedDType") { _ = try Reduction.reduce(.sum, Tensor(zeros: [2], dtype: .int64), axes: nil) }
        expectCoreError("invalidShape", "argmax over empty axis") { _ = try ArgReduce.argMax(Tensor(zeros: [3, 0]), axis: 1) }
        expectCoreError("invalidArgument", "argmax axis") { _ = try ArgReduce.argMin(x, axis: 5) }
        expectCoreError("invalidShape", "argmax scalar") { _ = try ArgReduce.argMin(Tensor(scalar: Float(1)), axis: 0) }
    }
}
