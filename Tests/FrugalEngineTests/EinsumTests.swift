import Foundation
import FrugalCore
import FrugalEngine
import Testing

/// Einsum against loops written out here (ONNX's own Einsum node tests are all float64,
/// which Frugal does not claim), and NonZero on integer and bool inputs.
@Suite struct EinsumTests {
    func run(_ op: String, _ inputs: [Tensor], _ attributes: [String: AttributeValue] = [:]) throws -> Tensor {
        let names = inputs.indices.map { "x\($0)" }
        let g = Graph(nodes: [Node(name: "e", opType: op, inputs: names, outputs: ["y"], attributes: attributes)],
                      inputs: zip(names, inputs).map { ValueInfo(name: $0, dtype: $1.dtype, shape: nil) },
                      outputs: [ValueInfo(name: "y", dtype: nil, shape: nil)], opsetImports: ["": 17])
        return try Session(graph: g, options: SessionOptions(threads: 1, optimize: false))
            .run(Dictionary(uniqueKeysWithValues: zip(names, inputs)))[0]
    }
    func einsum(_ eq: String, _ xs: Tensor...) throws -> Tensor { try run("Einsum", xs, ["equation": .string(eq)]) }

    /// A tensor of small distinct values (exact in float sums).
    func ramp(_ dims: [Int], _ k: Float) throws -> Tensor {
        let n = dims.reduce(1, *)
        return try Tensor(shape: Shape(dims), scalars: (0..<n).map { Float(($0 * 7 + Int(k)) % 11) - 5 + k / 4 })
    }
    func same(_ a: Tensor, _ dims: [Int], _ v: [Float]) -> Bool {
        a.shape.dims == dims && zip(a.floatScalars(), v).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) } && a.elementCount == v.count
    }

    @Test func contractionsAgainstLoops() throws {
        let a = try ramp([3, 4], 1), b = try ramp([4, 5], 2)
        let av = a.floatScalars(), bv = b.floatScalars()
        var mm = [Float](repeating: 0, count: 15)
        for i in 0..<3 { for j in 0..<5 { for k in 0..<4 { mm[i * 5 + j] += av[i * 4 + k] * bv[k * 5 + j] } } }
        #expect(same(try einsum("ij,jk->ik", a, b), [3, 5], mm))
        #expect(same(try einsum("ij,jk", a, b), [3, 5], mm))  // implicit output: i, k sorted
        var t = [Float](repeating: 0, count: 12)
        for i in 0..<3 { for j in 0..<4 { t[j * 3 + i] = av[i * 4 + j] } }
        #expect(same(try einsum("ij->ji", a), [4, 3], t))
        #expect(same(try einsum("ji", a), [4, 3], t))  // implicit: letters sorted, so a transpose
        #expect(same(try einsum("ij->", a), [], [av.reduce(0, +)]))
        #expect(same(try einsum("ij->j", a), [4], (0..<4).map { j in (0..<3).map { av[$0 * 4 + j] }.reduce(0, +) }))
        // Batched product and a bilinear form with three operands.
        let x = try ramp([2, 3, 4], 3), y = try ramp([2, 4, 2], 4)
        let xv = x.floatScalars(), yv = y.floatScalars()
        var bmm = [Float](repeating: 0, count: 12)
        for n in 0..<2 { for i in 0..<3 { for j in 0..<2 { for k in 0..<4 {
            bmm[(n * 3 + i) * 2 + j] += xv[(n * 3 + i) * 4 + k] * yv[(n * 4 + k) * 2 + j]
        } } } }
        #expect(same(try einsum("bij,bjk->bik", x, y), [2, 3, 2], bmm))
        let u = try ramp([3], 5), w = try ramp([4], 6)
        let uv = u.floatScalars(), wv = w.floatScalars()
        var bil: Float = 0
        for i in 0..<3 { for j in 0..<4 { bil += uv[i] * av[i * 4 + j] * wv[j] } }
        #expect(same(try einsum("i,ij,j->", u, a, w), [], [bil]))
        #expect(same(try einsum("i,j->ij", u, w), [3, 4], (0..<12).map { uv[$0 / 4] * wv[$0 % 4] }))
    }

    @Test func diagonalsAndEllipsis() throws {
        let s = try ramp([4, 4], 7)
        let sv = s.floatScalars()
        #expect(same(try einsum("ii->i", s), [4], (0..<4).map { sv[$0 * 5] }))
        #expect(same(try einsum("ii", s), [], [(0..<4).map { sv[$0 * 5] }.reduce(0, +)]))
        // "...ij,...jk->...ik" with broadcasting of the leading dimensions: [2,1,3,4] · [5,4,2].
        let a = try ramp([2, 1, 3, 4], 8), b = try ramp([5, 4, 2], 9)
        let av = a.floatScalars(), bv = b.floatScalars()
        var want = [Float](repeating: 0, count: 2 * 5 * 3 * 2)
        for p in 0..<2 { for q in 0..<5 { for i in 0..<3 { for k in 0..<2 { for j in 0..<4 {
            want[((p * 5 + q) * 3 + i) * 2 + k] += av[(p * 3 + i) * 4 + j] * bv[(q * 4 + j) * 2 + k]
        } } } } }
        #expect(same(try einsum("...ij,...jk->...ik", a, b), [2, 5, 3, 2], want))
    }

    @Test func badEquationsNameTheNode() throws {
        let a = try ramp([3, 4], 1)
        for eq in ["ij,jk->ik", "ijk->i", "ij->ik", "i$->i", "ij->ii"] {
            do {
                _ = try einsum(eq, a)
                Issue.record("'\(eq)' on one [3, 4] input was accepted")
            } catch {
                #expect("\(error)".contains("node 'e' (Einsum)"), "\(error)")
            }
        }
        #expect(throws: EngineError.self) { try einsum("ij,jk->ik", a, try ramp([5, 2], 1)) }  // j: 4 vs 5
    }

    @Test func nonZeroIndicesRowMajor() throws {
        let x = try Tensor(shape: [2, 3], scalars: [0, 5, 0, -1, 0, 7] as [Int32])
        let y = try run("NonZero", [x])
        #expect(y.dtype == .int64 && y.shape == [2, 3])
        #expect(y.scalars(as: Int64.self) == [0, 1, 1, 1, 0, 2])
        let b = try run("NonZero", [try Tensor(shape: [3], scalars: [false, true, true])])
        #expect(b.shape == [1, 2] && b.scalars(as: Int64.self) == [1, 2])
        let none = try run("NonZero", [try Tensor(shape: [2, 2], scalars: [Float](repeating: 0, count: 4))])
        #expect(none.shape == [2, 0])
    }
}
