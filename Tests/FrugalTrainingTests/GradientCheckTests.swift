import Foundation
import FrugalCore
import FrugalEngine
import Testing
@testable import FrugalTraining

/// Numerical-gradient checks of every differentiable op.
@Suite struct GradientCheckTests {
    func expectGradients(_ g: Graph, training: Bool = false, eps: Float = 1e-2, _ what: String) throws {
        let (worst, detail) = try gradientMismatch(g, training: training, eps: eps)
        #expect(worst <= 1, "\(what): \(detail)")
    }

    @Test func gemm() throws {
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            for cShape in [[5], [3, 5], [3, 1], [1, 5], [Int]()] {
                let a = ta == 1 ? [4, 3] : [3, 4], b = tb == 1 ? [5, 4] : [4, 5]
                let g = try singleOpGraph("Gemm", [a, b, cShape], attributes: ["transA": .int(ta), "transB": .int(tb)])
                try expectGradients(g, "Gemm transA \(ta) transB \(tb) C \(cShape)")
            }
        }
        let g = try singleOpGraph("Gemm", [[3, 4], [4, 5], [5]], attributes: ["alpha": .float(0.5), "beta": .float(2)])
        try expectGradients(g, "Gemm alpha/beta")
    }

    @Test func matmul() throws {
        for (a, b) in [([3, 4], [4, 5]), ([2, 3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]), ([4], [4, 3]), ([2, 3, 4], [4])] {
            try expectGradients(try singleOpGraph("MatMul", [a, b]), "MatMul \(a) x \(b)")
        }
    }

    @Test func conv() throws {
        let cases: [([Int], [Int], [String: AttributeValue])] = [
            ([2, 3, 6, 5], [4, 3, 3, 3], [:]),
            ([2, 4, 7, 6], [6, 2, 3, 3], ["group": .int(2), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            ([1, 4, 6, 6], [4, 1, 3, 3], ["group": .int(4), "pads": .ints([1, 0, 1, 2])]),  // depthwise, asymmetric pads
            ([1, 2, 8, 8], [3, 2, 3, 2], ["dilations": .ints([2, 1]), "strides": .ints([1, 2])]),
            ([2, 3, 4, 4], [5, 3, 1, 1], [:]),
            ([1, 2, 5, 5], [2, 2, 3, 3], ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])]),
        ]
        for (x, w, attrs) in cases {
            try expectGradients(try singleOpGraph("Conv", [x, w, [w[0]]], attributes: attrs), "Conv \(x) * \(w) \(attrs.keys.sorted())")
        }
    }

    @Test func broadcastingArithmetic() throws {
        let pairs: [([Int], [Int])] = [([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [3, 1]), ([2, 3, 4], [4]), ([2, 3, 4], []),
                                       ([2, 1, 4], [3, 1]), ([1, 3], [2, 3, 4, 1])]
        for op in ["Add", "Sub", "Mul", "Div"] {
            for (a, b) in pairs {
                // Div: keep denominators away from 0.
                let g = try singleOpGraph(op, [a, b], lo: op == "Div" ? 0.5 : -1, hi: op == "Div" ? 1.5 : 1)
                try expectGradients(g, "\(op) \(a) \(b)")
            }
        }
    }

    @Test func activations() throws {
        let s = [[3, 17]]
        try expectGradients(try singleOpGraph("Relu", s, kinks: [0]), "Relu")
        try expectGradients(try singleOpGraph("LeakyRelu", s, attributes: ["alpha": .float(0.1)], kinks: [0]), "LeakyRelu")
        try expectGradients(try singleOpGraph("Sigmoid", s, lo: -4, hi: 4), "Sigmoid")
        try expectGradients(try singleOpGraph("Tanh", s, lo: -3, hi: 3), "Tanh")
        try expectGradients(try singleOpGraph("Erf", s, lo: -2, hi: 2), "Erf")
        try expectGradients(try singleOpGraph("HardSigmoid", s, lo: -4, hi: 4, kinks: [-2.5, 2.5]), "HardSigmoid")
        try expectGradients(try singleOpGraph("HardSwish", s, lo: -5, hi: 5, kinks: [-3, 3]), "HardSwish")
        try expectGradients(try singleOpGraph("Gelu", s, opset: 20, lo: -3, hi: 3), "Gelu")
        try expectGradients(try singleOpGraph("Gelu", s, attributes: ["approximate": .string("tanh")], opset: 20, lo: -3, hi: 3), "Gelu tanh")
        let relu6 = try singleOpGraph("Clip", s, constants: [("lo", floatScalar(0)), ("hi", floatScalar(6))], lo: -2, hi: 8, kinks: [0, 6])
        try expectGradients(relu6, "Clip (ReLU6)")
        try expectGradients(try singleOpGraph("Softmax", [[2, 3, 5]], attributes: ["axis": .int(1)], lo: -3, hi: 3), "Softmax axis 1")
        try expectGradients(try singleOpGraph("Softmax", [[4, 6]], lo: -3, hi: 3), "Softmax")
        try expectGradients(try singleOpGraph("LogSoftmax", [[4, 6]], lo: -3, hi: 3), "LogSoftmax")
    }

    /// SiLU as Mul(x, Sigmoid(x)) and erf-based GELU as a subgraph: the tape sums the gradients of
    /// a value read twice.
    @Test func composedActivations() throws {
        var rng = SeededGenerator(seed: 3)
        var b = GraphBuilder(name: "silu-gelu")
        let x = b.initializer("x", try Tensor(shape: [4, 9], scalars: randomValues(36, &rng, lo: -3, hi: 3)), trainable: true)
        let silu = b.node("Mul", [x, b.node("Sigmoid", [x])])
        let sqrt2 = b.initializer("sqrt2", floatScalar(Float(2).squareRoot()))
        let one = b.initializer("one", floatScalar(1)), half = b.initializer("half", floatScalar(0.5))
        let erf = b.node("Erf", [b.node("Div", [silu, sqrt2])])
        let gelu = b.node("Mul", [b.node("Mul", [silu, half]), b.node("Add", [erf, one])])
        b.output(gelu, dtype: .float32, shape: nil)
        try expectGradients(b.graph, "SiLU then erf-GELU")
    }

    @Test func pooling() throws {
        // Distinct values 0.1 apart so that no max changes under the perturbation.
        var rng = SeededGenerator(seed: 5)
        var values = (0..<(2 * 3 * 7 * 6)).map { Float($0) * 0.1 }
        values.shuffle(using: &rng)
        var b = GraphBuilder(name: "maxpool")
        let x = b.initializer("x", try Tensor(shape: [2, 3, 7, 6], scalars: values), trainable: true)
        b.output(b.node("MaxPool", [x], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]), dtype: .float32, shape: nil)
        try expectGradients(b.graph, eps: 1e-2, "MaxPool 3x3/2 pad 1")
        var b2 = GraphBuilder(name: "maxpool2")
        let x2 = b2.initializer("x", try Tensor(shape: [2, 3, 7, 6], scalars: values), trainable: true)
        b2.output(b2.node("MaxPool", [x2], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]), dtype: .float32, shape: nil)
        try expectGradients(b2.graph, "MaxPool 2x2 ceil")
        for include in [0, 1] {
            let g = try singleOpGraph("AveragePool", [[2, 2, 7, 6]], attributes: [
                "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "count_include_pad": .int(include)])
            try expectGradients(g, "AveragePool count_include_pad \(include)")
        }
        try expectGradients(try singleOpGraph("GlobalAveragePool", [[2, 3, 4, 5]]), "GlobalAveragePool")
    }

    @Test func shapeOps() throws {
        try expectGradients(try singleOpGraph("Flatten", [[2, 3, 4]], attributes: ["axis": .int(2)]), "Flatten")
        try expectGradients(try singleOpGraph("Reshape", [[2, 3, 4]], constants: [("shape", int64Tensor([0, -1]))]), "Reshape")
        try expectGradients(try singleOpGraph("Transpose", [[2, 3, 4]], attributes: ["perm": .ints([2, 0, 1])]), "Transpose")
        try expectGradients(try singleOpGraph("Concat", [[2, 3, 4], [2, 1, 4], [2, 2, 4]], attributes: ["axis": .int(1)]), "Concat")
        try expectGradients(try singleOpGraph("Unsqueeze", [[2, 3]], constants: [("axes", int64Tensor([1]))]), "Unsqueeze (engine forward)")
        try expectGradients(try singleOpGraph("ReduceMean", [[2, 3, 4]], attributes: ["axes": .ints([1]), "keepdims": .int(0)]), "ReduceMean axis 1")
        try expectGradients(try singleOpGraph("ReduceMean", [[2, 3, 4]], opset: 13), "ReduceMean all")
    }

    @Test func normalization() throws {
        let stats = [("mean", try Tensor(shape: [3], scalars: [0.1, -0.2, 0.3] as [Float])),
                     ("var", try Tensor(shape: [3], scalars: [0.5, 1.5, 2.0] as [Float]))]
        for training in [true, false] {
            let g = try singleOpGraph("BatchNormalization", [[4, 3, 2, 3], [3], [3]], constants: stats)
            try expectGradients(g, training: training, "BatchNormalization training \(training)")
        }
        try expectGradients(try singleOpGraph("BatchNormalization", [[6, 3], [3], [3]], constants: stats), training: true, "BatchNormalization 2-D")
        try expectGradients(try singleOpGraph("LayerNormalization", [[3, 4, 5], [5], [5]]), "LayerNormalization")
        try expectGradients(try singleOpGraph("LayerNormalization", [[3, 4, 5], [4, 5], [4, 5]], attributes: ["axis": .int(1)]), "LayerNormalization axis 1")
    }

    @Test func dropout() throws {
        let g = try singleOpGraph("Dropout", [[8, 50]], constants: [("ratio", floatScalar(0.25))])
        let tape = try GradientTape(graph: g, seed: 3, training: true)
        let x = g.initializers["x0"]!.scalars(as: Float.self)
        let y = try tape.forward([:])[0].scalars(as: Float.self)
        let r = try Tensor(shape: [8, 50], scalars: [Float](repeating: 1, count: 400))
        let dx = try tape.backward([r])["x0"]!.scalars(as: Float.self)
        var dropped = 0
        for i in 0..<400 {
            if y[i] == 0 { dropped += 1; #expect(dx[i] == 0) } else {
                #expect(abs(y[i] - x[i] / 0.75) < 1e-6)
                #expect(abs(dx[i] - 1 / 0.75) < 1e-6)
            }
        }
        #expect(dropped > 60 && dropped < 140)
        tape.training = false
        #expect(try tape.forward([:])[0].scalars(as: Float.self) == x)
    }

    @Test func frozenInitializersGetNoGradient() throws {
        var g = try singleOpGraph("Gemm", [[3, 4], [4, 5], [5]])
        g.trainable.remove("x1")
        let tape = try GradientTape(graph: g)
        _ = try tape.forward([:])
        let grads = try tape.backward([try Tensor(zeros: [3, 5])])
        #expect(Set(grads.keys) == ["x0", "x2"])
    }
}
