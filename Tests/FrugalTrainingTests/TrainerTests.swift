import Foundation
import FrugalCore
import FrugalEngine
import Testing
@testable import FrugalTraining

/// A 2-16-2 MLP (Gemm, Relu, Gemm) with seeded initial weights.
func tinyMLP(seed: UInt64 = 1, hidden: Int = 16, dropout: Bool = false) throws -> Graph {
    var rng = SeededGenerator(seed: seed)
    var b = GraphBuilder(name: "mlp")
    let x = b.input("input", dtype: .float32, shape: [.symbolic("N"), .fixed(2)])
    let w1 = b.initializer("w1", try Tensor(shape: [hidden, 2], scalars: (0..<(2 * hidden)).map { _ in rng.nextGaussian() }), trainable: true)
    let b1 = b.initializer("b1", try Tensor(zeros: [hidden]), trainable: true)
    let w2 = b.initializer("w2", try Tensor(shape: [2, hidden], scalars: (0..<(2 * hidden)).map { _ in rng.nextGaussian() * 0.3 }), trainable: true)
    let b2 = b.initializer("b2", try Tensor(zeros: [2]), trainable: true)
    var h = b.node("Relu", [b.node("Gemm", [x, w1, b1], attributes: ["transB": .int(1)])])
    if dropout { h = b.node("Dropout", [h, b.initializer("ratio", Tensor(scalar: Float(0.1)))]) }
    b.output(b.node("Gemm", [h, w2, b2], attributes: ["transB": .int(1)]), dtype: .float32, shape: nil)
    return b.graph
}

/// XOR on noisy corners: 4 clusters, label = x0 > 0 xor x1 > 0.
func xorData(count: Int, seed: UInt64, batchSize: Int = 16) throws -> InMemoryBatchSource {
    var rng = SeededGenerator(seed: seed)
    var xs: [Float] = [], ys: [Int32] = []
    for i in 0..<count {
        let a = i % 2, c = (i / 2) % 2
        xs += [Float(a * 2 - 1) + 0.2 * rng.nextGaussian(), Float(c * 2 - 1) + 0.2 * rng.nextGaussian()]
        ys.append(Int32(a ^ c))
    }
    return try InMemoryBatchSource(inputs: try Tensor(shape: [count, 2], scalars: xs), labels: ys, batchSize: batchSize, seed: seed)
}

@Suite struct TrainerTests {
    @Test func mlpLearnsXOR() throws {
        let data = try xorData(count: 256, seed: 1)
        let trainer = try Trainer(graph: try tinyMLP(), optimizer: SGD(learningRate: 0.1, momentum: 0.9),
                                  schedule: CosineSchedule(base: 0.1, totalSteps: 30 * data.batchCount))
        let history = try trainer.fit(data, epochs: 30)
        #expect(history.last!.loss < 0.05, "final loss \(history.last!.loss)")
        let eval = try trainer.evaluate(try xorData(count: 200, seed: 9))
        #expect(eval.accuracy > 0.98 && eval.samples == 200 && eval.perClassAccuracy.count == 10)
        // The exported graph evaluates the same.
        let again = try Trainer.evaluate(graph: trainer.graph, data: try xorData(count: 200, seed: 9))
        #expect(again.accuracy == eval.accuracy)
    }

    @Test func seededRunsAreBitIdentical() throws {
        func run() throws -> [String: Tensor] {
            let t = try Trainer(graph: try tinyMLP(dropout: true), optimizer: Adam(learningRate: 0.01), threads: 1, seed: 42)
            try t.fit(try xorData(count: 64, seed: 3), epochs: 3)
            return t.parameters
        }
        let a = try run(), b = try run()
        #expect(a.keys.sorted() == b.keys.sorted())
        for k in a.keys { #expect(a[k]! == b[k]!, "\(k) differs") }
        #expect(a["w1"]! != (try tinyMLP()).initializers["w1"]!)
    }

    @Test func divergenceStopsWithTheStep() throws {
        let t = try Trainer(graph: try tinyMLP(), optimizer: SGD(learningRate: 1e12))
        do {
            try t.fit(try xorData(count: 64, seed: 3), epochs: 5)
            Issue.record("training should have stopped")
        } catch let e as TrainingError {
            #expect("\(e)".contains("at step "), "\(e)")
            #expect(t.step >= 1)
        }
    }

    @Test func masksKeepPrunedWeightsZero() throws {
        var m = [Float](repeating: 1, count: 32)
        for i in stride(from: 0, to: 32, by: 2) { m[i] = 0 }
        let mask = try Tensor(shape: [16, 2], scalars: m)
        let t = try Trainer(graph: try tinyMLP(), optimizer: SGD(learningRate: 0.1, momentum: 0.9), masks: ["w1": mask])
        try t.fit(try xorData(count: 64, seed: 3), epochs: 2)
        let w = t.parameters["w1"]!.scalars(as: Float.self)
        #expect(stride(from: 0, to: 32, by: 2).allSatisfy { w[$0] == 0 })
        #expect(stride(from: 1, to: 32, by: 2).allSatisfy { w[$0] != 0 })
    }

    @Test func batchNormRunningStatisticsUpdate() throws {
        var b = GraphBuilder(name: "bn")
        let x = b.input("input", dtype: .float32, shape: [.symbolic("N"), .fixed(2)])
        let s = b.initializer("scale", try Tensor(shape: [2], scalars: [1, 1] as [Float]), trainable: true)
        let bias = b.initializer("bias", try Tensor(zeros: [2]), trainable: true)
        let mean = b.initializer("mean", try Tensor(zeros: [2]))
        let v = b.initializer("var", try Tensor(shape: [2], scalars: [1, 1] as [Float]))
        b.output(b.node("BatchNormalization", [x, s, bias, mean, v], attributes: ["momentum": .float(0.5)]), dtype: .float32, shape: nil)
        let t = try Trainer(graph: b.graph, optimizer: SGD(learningRate: 0))
        let batch = TrainingBatch(inputs: try Tensor(shape: [2, 2], scalars: [1, 2, 3, 6] as [Float]), labels: [0, 1])
        try t.trainStep(batch)
        // batch mean [2, 4]; unbiased variance [2, 8]; running = 0.5·old + 0.5·batch
        #expect(t.parameters["mean"]!.scalars(as: Float.self) == [1, 2])
        #expect(t.parameters["var"]!.scalars(as: Float.self) == [1.5, 4.5])
    }
}
