import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// A graph Frugal builds is exported as ONNX (opset 17), loads back identically, and runs in
/// ONNX Runtime with the same outputs.
@Suite struct ExportTests {
    func builtGraph() throws -> Graph {
        var rng = SeededRandom(seed: 7)
        var b = GraphBuilder(name: "exported", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(4), .fixed(6)])
        let w = b.initializer("w", try Tensor(shape: [1, 4, 6], scalars: (0..<24).map { _ in rng.uniform() }), trainable: true)
        let c = b.initializer("c", try Tensor(shape: [6], scalars: (0..<6).map { _ in rng.uniform() }))
        let h = b.node("Relu", [b.node("Add", [b.node("Mul", [x, w]), c])])
        let t = b.node("Transpose", [h], attributes: ["perm": .ints([0, 2, 1])])
        let s = b.node("Softmax", [t], attributes: ["axis": .int(-1)])
        let m = b.node("ReduceMean", [s], attributes: ["axes": .ints([1]), "keepdims": .int(0)])  // axes attribute until opset 18
        let y = b.node("Concat", [m, b.node("Sigmoid", [m])], attributes: ["axis": .int(1)])
        b.output(y, dtype: .float32, shape: [.symbolic("N"), .fixed(8)])
        b.setMetadata("frugal.recipe", "test")
        return b.graph
    }

    /// The optimised graph (activation fused into Gemm as an attribute) is not valid ONNX:
    /// exporting it is refused with the node and the attribute named.
    @Test func optimisedGraphIsRefused() throws {
        var b = GraphBuilder(name: "fused", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.fixed(2), .fixed(3)])
        let w = b.initializer("w", try Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0) * 0.1 }))
        let y = b.node("Relu", [b.node("Gemm", [x, w])])
        b.output(y, dtype: .float32, shape: [.fixed(2), .fixed(4)])
        _ = try ONNXExporter.encode(b.graph)  // as built: fine
        let optimised = try Session(graph: b.graph, options: SessionOptions(threads: 1)).graph
        #expect(optimised.nodes.contains { $0.attributes.keys.contains("frugal.activation") })
        #expect(throws: ONNXError.self) { try ONNXExporter.encode(optimised) }
        do { _ = try ONNXExporter.encode(optimised) } catch {
            #expect("\(error)".contains("frugal.activation"))
        }
    }

    @Test func roundTripKeepsGraphAndOutputs() throws {
        let g = try builtGraph()
        let data = try ONNXExporter.encode(g)
        let back = try ONNXImporter.decode(data)
        #expect(back.opset == 17)
        #expect(back.nodes.map(\.opType) == g.nodes.map(\.opType))
        #expect(back.metadata["frugal.recipe"] == "test")
        #expect(back.trainable == ["w"])
        for (k, t) in g.initializers { #expect(back.initializers[k] == t) }
        let x = try Tensor(shape: [3, 4, 6], scalars: (0..<72).map { Float($0 % 11) * 0.1 - 0.5 })
        let a = try Session(graph: g, options: SessionOptions(threads: 1)).run(["x": x])
        let b = try Session(graph: back, options: SessionOptions(threads: 1)).run(["x": x])
        #expect(a == b)
    }

    @Test(.enabled(if: ORTOracle.isAvailable, "needs .venv with onnxruntime (scripts/setup_python.sh)"))
    func onnxRuntimeAgrees() throws {
        let g = try builtGraph()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-export-\(UUID().uuidString).onnx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ONNXExporter.write(g, path: path)
        let x = try Tensor(shape: [2, 4, 6], scalars: (0..<48).map { Float(($0 * 7) % 13) * 0.2 - 1 })
        let ours = try Session(graph: g, options: SessionOptions(threads: 1)).run(["x": x])
        let theirs = try ORTOracle.run(model: path, inputs: ["x": x])
        #expect(ours.count == theirs.count)
        for (a, b) in zip(ours, theirs) {
            #expect(a.shape == b.shape)
            #expect(maxRelativeError(a, b) < 1e-4)
        }
    }
}

/// A seeded generator for test data: FrugalCore's SplitMix64 from a raw seed.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    init(seed: UInt64) { self.init(state: seed) }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}
