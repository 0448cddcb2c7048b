import Foundation
import FrugalCore
import FrugalEngine
@testable import FrugalTraining

/// Random values for tests, avoiding `kinks` (points where the op is not differentiable) by 0.1.
func randomValues(_ n: Int, _ rng: inout SeededGenerator, lo: Float = -1, hi: Float = 1, kinks: [Float] = []) -> [Float] {
    (0..<n).map { _ in
        while true {
            let v = lo + (hi - lo) * rng.nextFloat()
            if kinks.allSatisfy({ abs(v - $0) > 0.1 }) { return v }
        }
    }
}

/// Builds a graph around one op: every float input is a trainable initializer; `constants` are
/// frozen extra inputs (shapes, bounds, running statistics).
func singleOpGraph(_ op: String, _ shapes: [[Int]], attributes: [String: AttributeValue] = [:],
                   constants: [(String, Tensor)] = [], trailingConstants: Bool = true, opset: Int = 17,
                   seed: UInt64 = 1, lo: Float = -1, hi: Float = 1, kinks: [Float] = []) throws -> Graph {
    var rng = SeededGenerator(seed: seed)
    var b = GraphBuilder(name: op, opset: opset)
    var names: [String] = []
    for (i, s) in shapes.enumerated() {
        let t = try Tensor(shape: Shape(s), scalars: randomValues(s.reduce(1, *), &rng, lo: lo, hi: hi, kinks: kinks))
        names.append(b.initializer("x\(i)", t, trainable: true))
    }
    let consts = constants.map { b.initializer($0.0, $0.1) }
    let y = b.node(op, trailingConstants ? names + consts : consts + names, attributes: attributes)
    b.output(y, dtype: .float32, shape: nil)
    return b.graph
}

/// Largest mismatch between the tape's gradient and central differences of L = Σ y·R, over up to
/// `samples` elements of every trainable initializer; each mismatch is measured as
/// |analytic − numeric| / (atol + rtol·|numeric|), so a value ≤ 1 passes.
func gradientMismatch(_ graph: Graph, training: Bool = false, eps: Float = 1e-2, atol: Double = 1e-2, rtol: Double = 2e-2,
                      samples: Int = 24, seed: UInt64 = 7) throws -> (worst: Double, detail: String) {
    let tape = try GradientTape(graph: graph, threads: 1, training: training)
    let y = try tape.forward([:])[0]
    var rng = SeededGenerator(seed: seed)
    let r = try Tensor(shape: y.shape, scalars: randomValues(y.elementCount, &rng))
    let grads = try tape.backward([r])
    let rs = r.scalars(as: Float.self)
    func loss(_ params: [String: Tensor]) throws -> Double {
        let out = try tape.forward([:], parameters: params)[0].scalars(as: Float.self)
        return zip(out, rs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    var worst = 0.0, detail = ""
    for name in graph.trainable.sorted() {
        let p = graph.initializers[name]!
        guard let g = grads[name] else { return (.infinity, "no gradient for \(name)") }
        guard g.shape == p.shape else { return (.infinity, "gradient of \(name) has shape \(g.shape), not \(p.shape)") }
        let gs = g.scalars(as: Float.self)
        let n = p.elementCount
        let picks = n <= samples ? Array(0..<n) : (0..<samples).map { _ in Int(rng.next() % UInt64(n)) }
        for i in picks {
            var plus = p, minus = p
            plus[floatAt: i] += eps
            minus[floatAt: i] -= eps
            let num = (try loss([name: plus]) - loss([name: minus])) / Double(2 * eps)
            let m = abs(Double(gs[i]) - num) / (atol + rtol * abs(num))
            if m > worst { worst = m; detail = "\(name)[\(i)]: analytic \(gs[i]), numeric \(num)" }
        }
    }
    return (worst, detail)
}

func int64Tensor(_ v: [Int]) -> Tensor { try! Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
func floatScalar(_ v: Float) -> Tensor { Tensor(scalar: v) }
