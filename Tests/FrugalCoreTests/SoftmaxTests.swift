import Foundation
import FrugalCore
import Testing

/// Softmax along `axis` in double precision.
func referenceSoftmax(_ x: [Float], _ dims: [Int], axis: Int, log: Bool) -> [Double] {
    let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *), len = dims[axis]
    var y = [Double](repeating: 0, count: x.count)
    for o in 0..<outer { for j in 0..<inner {
        let idx = (0..<len).map { (o * len + $0) * inner + j }
        let m = idx.map { Double(x[$0]) }.max()!
        let s = idx.map { Foundation.exp(Double(x[$0]) - m) }.reduce(0, +)
        for i in idx { y[i] = log ? Double(x[i]) - m - Foundation.log(s) : Foundation.exp(Double(x[i]) - m) / s }
    } }
    return y
}

@Suite struct SoftmaxTests {
    @Test func everyAxis() throws {
        var rng = TestRNG(seed: 1)
        for dims in [[10], [3, 5, 7], [2, 1, 17], [4, 33], [1, 1000], [2, 3, 2, 5], [257, 3], [6, 300, 2]] {
            let x = rng.tensor(dims, -8, 8)
            for axis in -dims.count..<dims.count {
                let ax = axis < 0 ? axis + dims.count : axis
                for log in [false, true] {
                    let y = log ? try Softmax.logSoftmax(x, axis: axis, pool: testPool) : try Softmax.softmax(x, axis: axis, pool: testPool)
                    #expect(y.shape == x.shape)
                    let ref = referenceSoftmax(x.scalars(), dims, axis: ax, log: log)
                    #expect(closeness(y.scalars(), ref, atol: 1e-6, rtol: 1e-5) <= 1, "\(dims) axis \(axis) log \(log)")
                }
            }
        }
    }

    @Test func stableForLargeValues() throws {
        let x = try Tensor(shape: [2, 3], scalars: [1000, 1001, 1002, -1000, -1e30, -.infinity] as [Float])
        let y = try Softmax.softmax(x).scalars(as: Float.self)
        #expect(y.allSatisfy { !$0.isNaN })
        #expect(abs(y[2] - 0.66524096) < 1e-6 && y[3] == 1 && y[5] == 0)
        let l = try Softmax.logSoftmax(x).scalars(as: Float.self)
        #expect(abs(l[0] - -2.40760596) < 1e-5 && l[3] == 0 && l[5] == -.infinity, "\(l)")
        let col = try Softmax.softmax(x, axis: 0).scalars(as: Float.self)
        #expect(col[0] == 1 && col[3] == 0)
    }

    @Test func emptyAndErrors() throws {
        #expect(try Softmax.softmax(Tensor(zeros: [0, 4])).shape == [0, 4])
        #expect(try Softmax.logSoftmax(Tensor(zeros: [3, 0]), axis: 1).shape == [3, 0])
        expectCoreError("invalidArgument", "axis") { _ = try Softmax.softmax(Tensor(zeros: [2, 3]), axis: 2) }
        expectCoreError("unsupportedDType") { _ = try Softmax.softmax(Tensor(zeros: [2, 3], dtype: .int32)) }
        expectCoreError("invalidShape", "scalar") { _ = try Softmax.softmax(Tensor(scalar: Float(1))) }
    }
}
