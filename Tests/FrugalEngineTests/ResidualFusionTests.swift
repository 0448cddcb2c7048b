import Foundation
import FrugalCore
@testable import FrugalEngine
import Testing

/// Conv -> Add folded into the Conv (Fusions.fuseResidualAdds) computes what the unfused
/// graph computes: pointwise and 3x3 convolutions, either Add operand order, an activation
/// after the Add, a skip that broadcasts, a depthwise Conv (no GEMM: plain add fallback).
@Suite struct ResidualFusionTests {
    func weights(_ dims: [Int], _ seed: UInt64) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        return try Tensor(shape: Shape(dims), scalars: (0..<dims.reduce(1, *)).map { _ in rng.uniform() - 0.5 })
    }

    /// x [N, C, 6, 5] -> (Relu) -> Conv (+ skip) -> optional activation.
    func graph(c: Int, m: Int, k: Int, group: Int = 1, skipFirst: Bool, activation: String?, broadcastSkip: Bool) throws -> Graph {
        var b = GraphBuilder(name: "residual", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(c), .fixed(6), .fixed(5)])
        let w = b.initializer("w", try weights([m, c / group, k, k], 3))
        let bias = b.initializer("b", try weights([m], 4))
        let h = b.node("Relu", [x])
        let y = b.node("Conv", [h, w, bias], attributes: ["pads": .ints([k / 2, k / 2, k / 2, k / 2]), "group": .int(group)])
        // The skip: the block input itself, or a per-channel value computed at run time.
        let skip = broadcastSkip ? b.node("ReduceMean", [x], attributes: ["axes": .ints([2, 3]), "keepdims": .int(1)]) : x
        var out = b.node("Add", skipFirst ? [skip, y] : [y, skip])
        if let activation { out = b.node(activation, [out]) }
        b.output(out, dtype: .float32, shape: nil)
        return b.graph
    }

    @Test func fusedMatchesUnfused() throws {
        let cases: [(c: Int, m: Int, k: Int, group: Int, skipFirst: Bool, act: String?, bcast: Bool)] = [
            (8, 8, 1, 1, false, nil, false), (8, 8, 1, 1, true, "Relu", false), (6, 6, 3, 1, false, "Relu", false),
            (4, 4, 3, 4, true, nil, false), (8, 8, 1, 1, false, "HardSwish", true), (5, 5, 1, 1, true, nil, true),
        ]
        for cs in cases {
            let g = try graph(c: cs.c, m: cs.m, k: cs.k, group: cs.group, skipFirst: cs.skipFirst, activation: cs.act, broadcastSkip: cs.bcast)
            let optimized = try Planner.optimize(g, context: ExecutionContext(pool: ThreadPool(threadCount: 1), opset: 17))
            #expect(!optimized.nodes.contains { $0.opType == "Add" }, "the Add was not folded: \(cs)")
            #expect(optimized.nodes.contains { $0.attributes[Fusions.residualKey] != nil })
            let x = try weights([2, cs.c, 6, 5], 9)
            for threads in [1, 2] {
                let fused = try Session(graph: g, options: SessionOptions(threads: threads))
                let plain = try Session(graph: g, options: SessionOptions(threads: threads, optimize: false))
                let a = try fused.run(["x": x])[0], b = try plain.run(["x": x])[0]
                #expect(a.shape == b.shape, "\(cs)")
                #expect(maxRelativeError(a, b) < 1e-5, "\(cs) threads \(threads)")
                // Second run on recycled buffers: same result.
                #expect(try fused.run(["x": x])[0] == a)
            }
        }
    }

    @Test func convWithActivationOrSharedOutputIsNotFolded() throws {
        var b = GraphBuilder(name: "nofold", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(3), .fixed(3)])
        let w = b.initializer("w", try weights([4, 4, 1, 1], 1))
        let y = b.node("Relu", [b.node("Conv", [x, w])])  // Conv -> Relu -> Add: the Relu is fused, the Add must stay
        let z = b.node("Conv", [x, w])
        let s = b.node("Add", [y, x])
        let t = b.node("Add", [z, x])
        b.output(s, dtype: .float32, shape: nil)
        b.output(t, dtype: .float32, shape: nil)
        b.output(z, dtype: .float32, shape: nil)  // z has a second reader: no fold
        let g = try Planner.optimize(b.graph, context: ExecutionContext(pool: ThreadPool(threadCount: 1), opset: 17))
        #expect(g.nodes.filter { $0.opType == "Add" }.count == 2)
    }
}
