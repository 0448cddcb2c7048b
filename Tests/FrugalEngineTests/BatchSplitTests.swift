import Foundation
import FrugalCore
@testable import FrugalEngine
import Testing

/// Batches run sample by sample: only graphs that keep samples apart are split, and a split
/// run gives the whole run's outputs (1 and 2 threads).
@Suite struct BatchSplitTests {
    /// A small conv net: Conv (+bias) -> Relu -> residual Add -> GlobalAveragePool ->
    /// Flatten -> Gemm -> Softmax, on [N, 4, 64, 64] inputs (16384 elements per sample).
    func convNet(_ extra: [Node] = [], output: String = "probs") throws -> Graph {
        func ramp(_ dims: [Int], _ k: Float) throws -> Tensor {
            let n = dims.reduce(1, *)
            return try Tensor(shape: Shape(dims), scalars: (0..<n).map { sin(Float($0) * 0.37 + k) * 0.3 })
        }
        let nodes = [
            Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "relu", opType: "Relu", inputs: ["c"], outputs: ["r"]),
            Node(name: "add", opType: "Add", inputs: ["r", "x"], outputs: ["s"]),
            Node(name: "scale", opType: "Mul", inputs: ["s", "k"], outputs: ["m"]),
            Node(name: "gap", opType: "GlobalAveragePool", inputs: ["m"], outputs: ["g"]),
            Node(name: "flat", opType: "Flatten", inputs: ["g"], outputs: ["f"]),
            Node(name: "fc", opType: "Gemm", inputs: ["f", "fw", "fb"], outputs: ["logits"], attributes: ["transB": .int(1)]),
            Node(name: "sm", opType: "Softmax", inputs: ["logits"], outputs: ["probs"]),
        ] + extra
        return Graph(nodes: nodes,
                     inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.symbolic("N"), .fixed(4), .fixed(64), .fixed(64)])],
                     outputs: [ValueInfo(name: output, dtype: .float32, shape: nil)],
                     initializers: ["w": try ramp([4, 4, 3, 3], 1), "b": try ramp([4], 2), "k": try ramp([4, 1, 1], 3),
                                    "fw": try ramp([5, 4], 4), "fb": try ramp([5], 5)])
    }

    func input(_ n: Int) throws -> Tensor {
        try Tensor(shape: [n, 4, 64, 64], scalars: (0..<(n * 4 * 4096)).map { cos(Float($0) * 0.011) })
    }

    @Test func separableGraphsAreRecognised() throws {
        #expect(BatchSplit.isSeparable(try convNet()))
        // Mixing samples: a mean over axis 0, a Shape, a Concat along axis 0, a transposed Gemm input.
        let mean = Node(name: "mean", opType: "ReduceMean", inputs: ["probs"], outputs: ["avg"], attributes: ["axes": .ints([0])])
        #expect(!BatchSplit.isSeparable(try convNet([mean], output: "avg")))
        let shape = Node(name: "shape", opType: "Shape", inputs: ["probs"], outputs: ["sh"])
        #expect(!BatchSplit.isSeparable(try convNet([shape], output: "sh")))
        let cat = Node(name: "cat", opType: "Concat", inputs: ["probs", "probs"], outputs: ["cc"], attributes: ["axis": .int(0)])
        #expect(!BatchSplit.isSeparable(try convNet([cat], output: "cc")))
        let t = Node(name: "t", opType: "Transpose", inputs: ["probs"], outputs: ["tt"], attributes: ["perm": .ints([1, 0])])
        #expect(!BatchSplit.isSeparable(try convNet([t], output: "tt")))
        // A constant as tall as the batch broadcast along axis 0 would pair rows with samples.
        var g = try convNet([Node(name: "bias", opType: "Add", inputs: ["probs", "rows"], outputs: ["pb"])], output: "pb")
        g.initializers["rows"] = try Tensor(zeros: [3, 5])
        #expect(!BatchSplit.isSeparable(g))
        g.initializers["rows"] = try Tensor(zeros: [1, 5])
        #expect(BatchSplit.isSeparable(g))
    }

    @Test(arguments: [1, 2])
    func splitRunsMatchWholeRuns(threads: Int) throws {
        let graph = try convNet()
        let x = try input(5)
        let whole = try Session(graph: graph, options: SessionOptions(threads: threads, splitBatch: false)).run(["x": x])[0]
        let split = try Session(graph: graph, options: SessionOptions(threads: threads))
        for _ in 0..<2 {  // the second run reuses the worker contexts and their buffers
            let y = try split.run(["x": x])[0]
            #expect(y.shape == whole.shape)
            let worst = zip(y.floatScalars(), whole.floatScalars()).map { abs($0 - $1) }.max() ?? 1
            #expect(worst <= 1e-6, "max |diff| \(worst)")
        }
        // Small samples run whole: same answer either way.
        let small = try Tensor(shape: [3, 4, 8, 8], scalars: (0..<768).map { Float($0 % 7) })
        #expect(BatchSplit.sampleCount(["x": small]) == nil)
        #expect(BatchSplit.sampleCount(["x": x]) == 5)
    }
}
