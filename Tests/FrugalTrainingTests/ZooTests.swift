import Foundation
import Testing
import FrugalCore
import FrugalEngine
@testable import FrugalTraining

@Suite struct ZooTests {
    func within(_ value: Int, _ reference: Int, _ tolerance: Double = 0.02) -> Bool {
        abs(Double(value) - Double(reference)) <= tolerance * Double(reference)
    }

    func stats(_ name: String) throws -> ModelStats { ModelStats(graph: try Zoo.build(name)) }

    @Test func lenet300100IsExact() throws {
        let s = try stats("lenet-300-100")
        #expect(s.parameters == 266_610)
        #expect(s.macs == 266_200)
    }

    @Test func lenet5MatchesDeepCompression() throws {
        let s = try stats("lenet-5")
        #expect(s.parameters == 431_080)  // "431K"
        #expect(s.macs == 24 * 24 * 20 * 25 + 8 * 8 * 50 * 500 + 800 * 500 + 500 * 10)
    }

    @Test func mlps() throws {
        #expect(try stats("mlp-1200").parameters == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10)
        #expect(try stats("mlp-800").parameters == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10)
        #expect(try stats("mlp-800").macs == 784 * 800 + 800 * 800 + 800 * 10)
        #expect(try Zoo.build("mlp-1200").nodes.filter { $0.opType == "Dropout" }.count == 3)
    }

    @Test(arguments: ["mobilenet-v1", "mobilenet-v2", "efficientnet-b0"])
    func imagenetModelsMatchTheirPapersWithinTwoPercent(name: String) throws {
        let model = try Zoo.model(named: name)
        let s = ModelStats(graph: try model.build())
        let paper = try #require(model.paper)
        print("\(name): \(s.parameters) params (paper \(paper.parameters)), \(s.macs) MACs (paper \(paper.macs))")
        #expect(within(s.parameters, paper.parameters), "\(name) params \(s.parameters) vs \(paper.parameters)")
        #expect(within(s.macs, paper.macs), "\(name) MACs \(s.macs) vs \(paper.macs)")
        #expect(s.uncountedNodes.isEmpty)
    }

    @Test func mobileNetV2ParametersEqualTorchvision() throws {
        #expect(try stats("mobilenet-v2").parameters == 3_504_872)
    }

    @Test func efficientNetB0ParametersEqualTorchvision() throws {
        #expect(try stats("efficientnet-b0").parameters == 5_288_548)
    }

    @Test func multipliersMatchThePapers() throws {
        // MobileNetV1 Table 6 and 7: 0.50 MobileNet-224 1.3M / 149M; 1.0 MobileNet-128 4.2M / 186M;
        // 0.75 MobileNet-224 2.6M / 325M.
        let half = ModelStats(graph: try MobileNetV1(width: 0.5).build())
        #expect(within(half.parameters, 1_300_000, 0.03) && within(half.macs, 149_000_000), "\(half)")
        let r128 = ModelStats(graph: try MobileNetV1(resolution: 128).build())
        #expect(within(r128.macs, 186_000_000), "\(r128)")
        let q = ModelStats(graph: try MobileNetV1(width: 0.75).build())
        #expect(within(q.parameters, 2_600_000, 0.03) && within(q.macs, 325_000_000), "\(q)")
        // MobileNetV2 Table 6 / torchvision: 1.4 width at 224: 6.9M params, 585M MACs.
        let wide = ModelStats(graph: try MobileNetV2(width: 1.4).build())
        // (The paper's Table 6 says 6.9M parameters for 1.4; TF-Slim's released 1.4 model, which
        // this architecture reproduces, lists 6.06M parameters and 582M MACs.)
        #expect(within(wide.parameters, 6_060_000) && within(wide.macs, 582_000_000), "\(wide)")
        // Depth multipliers add blocks; class counts size the head.
        let deep = try MobileNetV2(depth: 1.5).build()
        #expect(deep.nodes.filter { $0.opType == "Conv" }.count > (try Zoo.build("mobilenet-v2")).nodes.filter { $0.opType == "Conv" }.count)
        let ten = try EfficientNet(classes: 10).build()
        #expect(ten.outputs[0].shape == [.symbolic("N"), .fixed(10)])
        #expect(throws: TrainingError.self) { _ = try MobileNetV1(width: 0).build() }
    }

    @Test func efficientNetCompoundScaling() throws {
        let b0 = EfficientNet.compound(phi: 0)
        #expect(b0.width == 1 && b0.depth == 1 && b0.resolution == 224)
        let b1 = EfficientNet.compound(phi: 1)
        #expect(abs(b1.depth - 1.2) < 1e-12 && abs(b1.width - 1.1) < 1e-12 && b1.resolution == 258)
        let s0 = ModelStats(graph: try b0.build()), s1 = ModelStats(graph: try b1.build())
        let ratio = Double(s1.macs) / Double(s0.macs)
        // α·β²·γ² ≈ 2 holds for continuous multipliers; rounding repeats up (⌈1.2·1⌉ = 2 blocks
        // for the one-block stages) and channels to multiples of 8 makes φ = 1 cost ~2.6x.
        #expect(ratio > 1.9 && ratio < 3.0, "FLOPs ratio \(ratio)")
        // The published B1 and B2 (Table 2: 7.8M / 0.70B, 9.2M / 1.0B; torchvision 7,794,184 and 9,109,994 parameters).
        let e1 = ModelStats(graph: try EfficientNet.b(1).build()), e2 = ModelStats(graph: try EfficientNet.b(2).build())
        #expect(e1.parameters == 7_794_184 && within(e1.macs, 700_000_000), "\(e1)")
        #expect(e2.parameters == 9_109_994 && within(e2.macs, 1_000_000_000), "\(e2)")
        #expect(throws: TrainingError.self) { _ = try EfficientNet.b(8) }
    }

    @Test(arguments: Zoo.names)
    func graphsAreWellFormed(name: String) throws {
        let model = try Zoo.model(named: name)
        let g = try model.build(seed: 1)
        #expect(g.inputs.count == 1)
        #expect(g.inputs[0].shape == [.symbolic("N")] + model.inputDims.map { .fixed($0) })
        #expect(g.outputs.count == 1)
        #expect(g.outputs[0].shape == [.symbolic("N"), .fixed(model.classes)])
        #expect(g.opset == 17)
        #expect(g.trainable.isSubset(of: Set(g.initializers.keys)))
        #expect(Set(g.nodes.map(\.name)).count == g.nodes.count)
        _ = try Planner.topologicalOrder(g)
        let produced = Set(g.nodes.flatMap(\.outputs)).union(g.initializers.keys).union(g.inputs.map(\.name))
        for n in g.nodes { for i in n.inputs where !i.isEmpty { #expect(produced.contains(i), "\(n.name) reads \(i)") } }
        // Same seed, same weights; another seed, other weights.
        let again = try model.build(seed: 1), other = try model.build(seed: 2)
        let w = g.trainable.sorted().first { g.initializers[$0]!.elementCount > 100 }!
        #expect(g.initializers[w] == again.initializers[w])
        #expect(g.initializers[w] != other.initializers[w])
    }

    @Test func unknownModelNamesTheZoo() {
        #expect(throws: TrainingError.self) { _ = try Zoo.build("resnet-50") }
    }

    @Test func statsCountMatMul() throws {
        var b = GraphBuilder(name: "mm")
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(4), .fixed(6)])
        let w = b.initializer("w", try Tensor(zeros: [6, 5]), trainable: true)
        let y = b.node("MatMul", [x, w])
        b.output(y, dtype: .float32, shape: nil)
        let s = ModelStats(graph: b.graph)
        #expect(s.macs == 4 * 6 * 5)
        #expect(s.parameters == 30)
    }

    /// The op types the zoo uses that the engine does not run yet (other engineers are landing them).
    static let missingOps: [String] = {
        let used = Set(Zoo.models.flatMap { m in (try? m.build())?.nodes.map(\.opType) ?? [] })
        return used.filter { OperatorRegistry.schema($0) == nil }.sorted()
    }()

    /// Runs every zoo graph in a Session on random input. Enabled once main's OperatorRegistry
    /// has every op the zoo uses (Conv, Gemm, BatchNormalization, pooling and activations were
    /// still landing when the zoo was written).
    @Test(.enabled(if: missingOps.isEmpty, "the engine does not run all zoo ops yet: \(missingOps.joined(separator: ", "))"),
          arguments: Zoo.names)
    func graphsRunInTheEngine(name: String) throws {
        let model = try Zoo.model(named: name)
        let g = try model.build(seed: 3)
        let batch = model.inputDims[0] == 3 ? 1 : 2
        var rng = SeededGenerator(seed: 4)
        let n = batch * model.inputDims.reduce(1, *)
        let x = try Tensor(shape: Shape([batch] + model.inputDims), scalars: (0..<n).map { _ in rng.uniform(-1, 1) })
        let out = try Session(graph: g, options: SessionOptions(threads: 2)).run(["input": x])
        #expect(out.count == 1)
        #expect(out[0].shape == [batch, model.classes])
        #expect(out[0].scalars(as: Float.self).allSatisfy { $0.isFinite })
    }

    @Test func missingOpsNoted() {
        if !Self.missingOps.isEmpty { print("note: zoo graphs not run in the engine yet; missing ops: \(Self.missingOps)") }
    }
}
