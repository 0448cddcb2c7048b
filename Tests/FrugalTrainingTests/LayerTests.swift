import Foundation
import Testing
import FrugalCore
import FrugalEngine
@testable import FrugalTraining

@Suite struct LayerTests {
    func ops(_ g: Graph) -> [String] { g.nodes.map(\.opType) }

    @Test func linearIsGemmWithTransposedPyTorchWeight() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        let y = try m.apply(Linear(784, 300, name: "fc1"), m.input(dims: [784]))
        m.output(y)
        let g = m.finish()
        #expect(y.dims == [300])
        #expect(ops(g) == ["Gemm"])
        if case .int(let t)? = g.nodes[0].attributes["transB"] { #expect(t == 1) } else { Issue.record("transB missing") }
        #expect(g.initializers["fc1.weight"]?.shape == [300, 784])
        #expect(g.initializers["fc1.bias"]?.shape == [300])
        #expect(g.trainable == ["fc1.weight", "fc1.bias"])
        // PyTorch's default init: U(±1/√784).
        let w = g.initializers["fc1.weight"]!.scalars(as: Float.self)
        let bound = 1 / Float(784).squareRoot()
        #expect(w.allSatisfy { abs($0) <= bound })
        #expect(w.map(abs).max()! > 0.9 * bound)
        #expect(g.outputs[0].shape == [.symbolic("N"), .fixed(300)])
    }

    @Test func initialisationIsSeeded() throws {
        func weights(_ seed: UInt64) throws -> Tensor {
            var m = ModelBuilder(name: "t", seed: seed)
            _ = try m.apply(Conv2D(3, 8, kernel: 3, initialization: .he, name: "c"), m.input(dims: [3, 8, 8]))
            return m.finish().initializers["c.weight"]!
        }
        #expect(try weights(5) == weights(5))
        #expect(try weights(5) != weights(6))
        let w = try weights(5).scalars(as: Float.self)
        #expect(w.allSatisfy { abs($0) <= (6 / Float(27)).squareRoot() })
    }

    @Test func convShapesGroupsAndDepthwise() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        let x = m.input(dims: [32, 112, 112])
        let a = try m.apply(Conv2D(32, 64, kernel: 3, stride: 2, padding: 1, name: "c1"), x)
        #expect(a.dims == [64, 56, 56])
        let d = try m.apply(Conv2D.depthwise(64, kernel: 3, stride: 2, name: "dw"), a)
        #expect(d.dims == [64, 28, 28])
        let gr = try m.apply(Conv2D(64, 32, kernel: 1, groups: 4, name: "g"), d)
        #expect(gr.dims == [32, 28, 28])
        let g = m.finish()
        #expect(g.initializers["dw.weight"]?.shape == [64, 1, 3, 3])
        #expect(g.initializers["g.weight"]?.shape == [32, 16, 1, 1])
        #expect(g.initializers["dw.bias"] == nil)
        let dw = g.nodes.first { $0.name == "dw" }!
        if case .int(let v)? = dw.attributes["group"] { #expect(v == 64) } else { Issue.record("group missing") }
        #expect(throws: TrainingError.self) { _ = try m.apply(Conv2D(30, 8, kernel: 3), x) }
        #expect(throws: TrainingError.self) { _ = try m.apply(Conv2D(32, 8, kernel: 3, groups: 3), x) }
        #expect(throws: TrainingError.self) { _ = try m.apply(Linear(10, 2), x) }
    }

    @Test func batchNormHasTrainableAffineAndFrozenStatistics() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        let y = try m.apply(BatchNorm(16, name: "bn"), m.input(dims: [16, 4, 4]))
        let g = m.finish()
        #expect(y.dims == [16, 4, 4])
        #expect(ops(g) == ["BatchNormalization"])
        #expect(g.nodes[0].inputs.dropFirst() == ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"])
        #expect(g.trainable == ["bn.weight", "bn.bias"])
        #expect(g.initializers["bn.running_var"]!.scalars(as: Float.self).allSatisfy { $0 == 1 })
        #expect(ModelStats(graph: g).parameters == 32)
    }

    @Test func activationsEmitTheirONNXOps() throws {
        let cases: [(Activation, [String])] = [
            (.relu, ["Relu"]), (.relu6, ["Clip"]), (.hardSigmoid, ["HardSigmoid"]), (.hardSwish, ["HardSwish"]),
            (.sigmoid, ["Sigmoid"]), (.tanh, ["Tanh"]), (.silu, ["Sigmoid", "Mul"]),
            (.gelu, ["Div", "Erf", "Add", "Mul", "Mul"]), (.leakyReLU(alpha: 0.1), ["LeakyRelu"]), (.softmax(), ["Softmax"]),
        ]
        for (act, expected) in cases {
            var m = ModelBuilder(name: "t", seed: 1)
            let y = try m.apply(act, m.input(dims: [8, 5]))
            let g = m.finish()
            #expect(ops(g) == expected, "\(act)")
            #expect(y.dims == [8, 5])
        }
        // Clip takes its bounds as inputs; GELU is one op from opset 20.
        var m = ModelBuilder(name: "t", seed: 1)
        _ = try m.apply(Activation.relu6, m.input(dims: [4]))
        let clip = m.finish()
        #expect(clip.nodes[0].inputs.count == 3)
        #expect(clip.initializers[clip.nodes[0].inputs[2]]?.scalars(as: Float.self) == [6])
        var m20 = ModelBuilder(name: "t", seed: 1, opset: 20)
        _ = try m20.apply(Activation.gelu, m20.input(dims: [4]))
        #expect(ops(m20.finish()) == ["Gelu"])
        var m13 = ModelBuilder(name: "t", seed: 1, opset: 13)
        _ = try m13.apply(Activation.hardSwish, m13.input(dims: [4]))
        #expect(ops(m13.finish()) == ["HardSigmoid", "Mul"])
    }

    @Test func poolingFlattenDropoutLayerNorm() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        var v = m.input(dims: [20, 24, 24])
        v = try m.apply(Pool2D.max(2), v)
        #expect(v.dims == [20, 12, 12])
        let avg = try m.apply(Pool2D.average(3, stride: 1, padding: 1), v)
        #expect(avg.dims == [20, 12, 12])
        let gap = try m.apply(GlobalAveragePool(), v)
        #expect(gap.dims == [20, 1, 1])
        v = try m.apply([Flatten(), Dropout(0.5)], v)
        #expect(v.dims == [2880])
        let ln = try m.apply(LayerNorm([2880], name: "ln"), v)
        #expect(ln.dims == [2880])
        let g = m.finish()
        #expect(ops(g) == ["MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Dropout", "LayerNormalization"])
        #expect(g.trainable == ["ln.weight", "ln.bias"])
        #expect(throws: TrainingError.self) { _ = try m.apply(Dropout(1.0), v) }
    }

    @Test func squeezeExcitationAndResidual() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        let x = m.input(dims: [32, 7, 7])
        let s = try m.apply(SqueezeExcitation(32, squeeze: 8, name: "se"), x)
        #expect(s.dims == [32, 7, 7])
        let r = try m.add(x, s)
        #expect(r.dims == [32, 7, 7])
        let g = m.finish()
        #expect(ops(g) == ["GlobalAveragePool", "Conv", "Relu", "Conv", "Sigmoid", "Mul", "Add"])
        #expect(ModelStats(graph: g).parameters == 32 * 8 + 8 + 8 * 32 + 32)
        #expect(throws: TrainingError.self) { _ = try m.add(x, m.input("other", dims: [16, 7, 7])) }
    }

    @Test func statsCountConvGemmMatMul() throws {
        var m = ModelBuilder(name: "t", seed: 1)
        var v = try m.apply(Conv2D(3, 8, kernel: 3, padding: 1, groups: 1), m.input(dims: [3, 10, 10]))
        v = try m.apply(Conv2D.depthwise(8, kernel: 3), v)
        v = try m.apply([Flatten(), Linear(800, 10)], v)
        m.output(v)
        let stats = ModelStats(graph: m.finish())
        #expect(stats.macs == 10 * 10 * 8 * 3 * 9 + 10 * 10 * 8 * 9 + 800 * 10)
        #expect(stats.parameters == 8 * 27 + 8 + 8 * 9 + 8000 + 10)
        #expect(stats.uncountedNodes.isEmpty)
        // Without the builder's value shapes (as for an imported graph), inference alone counts the same.
        var bare = m.finish()
        bare.valueInfo = [:]
        #expect(ModelStats(graph: bare).macs == stats.macs)
        bare.trainable = []
        #expect(ModelStats(graph: bare).parameters == stats.parameters)
    }
}
