import Foundation
import FrugalCore
import FrugalEngine

/// Where training is, for a progress display (the library never prints).
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int
    public var batch: Int, batches: Int
    /// Mean loss and accuracy over the epoch's batches so far.
    public var loss: Float, accuracy: Double
    public var samplesPerSecond: Double
    public var elapsedSeconds: Double
    /// Estimated seconds left for the whole run.
    public var etaSeconds: Double
    public var learningRate: Float
}

/// One finished epoch.
public struct EpochSummary: Sendable {
    public var epoch: Int
    public var loss: Float
    public var accuracy: Double
    public var seconds: Double
}

/// Classification quality on a data set.
public struct Evaluation: Sendable {
    public var accuracy: Double
    public var errorRate: Double { 1 - accuracy }
    public var perClassAccuracy: [Double]
    public var samples: Int
    public var loss: Float
}

/// Trains a graph's trainable initializers on batches: forward, loss, backward, optimizer step,
/// masks, schedule. One seed and one thread give bit-identical parameters run to run.
///
/// ```swift
/// let trainer = try Trainer(graph: model, optimizer: SGD(learningRate: 0.05, momentum: 0.9),
///                           schedule: CosineSchedule(base: 0.05, totalSteps: 10 * data.batchCount))
/// try trainer.fit(data, epochs: 10) { p in show(p) }
/// let trained = trainer.graph
/// ```
public final class Trainer {
    /// The float32 initializers (trainable parameters and running statistics) as they are now.
    public var parameters: [String: Tensor] { buffers.mapValues(\.tensor) }
    /// The parameters themselves: the optimizer updates them in place, the tape reads them.
    private var buffers: [String: FloatBuffer]
    public var optimizer: any Optimizer
    public var schedule: (any LearningRateSchedule)?
    /// 0/1 masks by parameter name, applied after every step (pruned weights stay zero).
    public var masks: [String: Tensor] { didSet { applyMasks() } }
    /// Loss on graph output 0; nil means softmax cross-entropy with the batch labels.
    public var loss: ((_ logits: Tensor, _ labels: [Int32]) throws -> (loss: Float, gradient: Tensor))?
    /// Optimizer steps taken so far.
    public private(set) var step = 0
    let tape: GradientTape
    let baseGraph: Graph
    let inputName: String

    public init(graph: Graph, optimizer: any Optimizer, schedule: (any LearningRateSchedule)? = nil,
                masks: [String: Tensor] = [:], threads: Int = 1, seed: UInt64 = 0) throws {
        guard let input = graph.inputs.first(where: { graph.initializers[$0.name] == nil }) else {
            throw TrainingError.model("graph '\(graph.name)' has no input to feed")
        }
        guard !graph.trainable.isEmpty else { throw TrainingError.model("graph '\(graph.name)' has no trainable initializers") }
        inputName = input.name
        baseGraph = graph
        buffers = try graph.initializers.filter { $0.value.dtype == .float32 }.mapValues { try FloatBuffer($0) }
        self.optimizer = optimizer
        self.schedule = schedule
        self.masks = masks
        tape = try GradientTape(graph: graph, threads: threads, seed: seed)
        applyMasks()
    }

    /// The graph with the current parameters as its initializers.
    public var graph: Graph {
        var g = baseGraph
        for (k, v) in buffers { g.initializers[k] = v.tensor }
        return g
    }

    private func applyMasks() {
        for (name, mask) in masks {
            guard let p = buffers[name], mask.elementCount == p.count, mask.dtype == .float32 else { continue }
            let pp = p.p
            mask.withUnsafeBufferPointer(as: Float.self) { m in for i in 0..<m.count { pp[i] *= m[i] } }
        }
    }

    /// One optimizer step on a batch; returns the loss and how many rows were classified right.
    @discardableResult
    public func trainStep(_ batch: TrainingBatch) throws -> (loss: Float, correct: Int) {
        if let s = schedule { optimizer.learningRate = s.learningRate(step: step) }
        tape.training = true
        let outputs = try tape.forwardBuffers([inputName: .float(try FloatBuffer(batch.inputs))], parameters: buffers)
        guard let logits = outputs.first?.buffer else { throw TrainingError.model("graph output 0 is not float32") }
        let lossValue: Float, grad: FloatBuffer
        if let custom = loss {
            let (l, g) = try custom(logits.tensor, batch.labels)
            (lossValue, grad) = (l, try FloatBuffer(g))
        } else {
            (lossValue, grad) = try Losses.softmaxCrossEntropy(logits, labels: batch.labels)
        }
        guard lossValue.isFinite else {
            throw TrainingError.training("the loss is \(lossValue) at step \(step); training diverged — lower the learning rate or check the data")
        }
        let correct = Self.correctCount(logits, batch.labels)
        for (k, v) in tape.context.stateUpdates { buffers[k] = v }
        let grads = try tape.backwardBuffers([grad])
        if var o = optimizer as? any BufferOptimizer {
            optimizer = NoOptimizer()  // so `o` holds the only reference to its state: updated in place
            o.step(buffers: buffers, gradients: grads)
            optimizer = o
        } else {
            var ps = parameters
            optimizer.step(parameters: &ps, gradients: grads.mapValues(\.tensor))
            for (k, v) in ps where v.dtype == .float32 { buffers[k] = try FloatBuffer(v) }
        }
        applyMasks()
        step += 1
        return (lossValue, correct)
    }

    static func correctCount(_ logits: FloatBuffer, _ labels: [Int32]) -> Int {
        guard logits.shape.count == 2 else { return 0 }
        let C = logits.shape[1]
        var correct = 0
        for (b, label) in labels.enumerated() where b < logits.shape[0] {
            let row = logits.p + b * C
            var best = 0
            for i in 1..<max(C, 1) where row[i] > row[best] { best = i }
            if best == Int(label) { correct += 1 }
        }
        return correct
    }

    /// One epoch over `data`.
    public func trainEpoch(_ data: BatchSource, epoch: Int, epochs: Int = 1,
                           progress: ((TrainingProgress) -> Void)? = nil) throws -> EpochSummary {
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0
        let n = data.batchCount
        for b in 0..<n {
            let batch = try data.batch(b, epoch: epoch)
            let (l, c) = try trainStep(batch)
            lossSum += Double(l) * Double(batch.labels.count)
            correct += c
            seen += batch.labels.count
            if let report = progress {
                let elapsed = Date().timeIntervalSince(start)
                let perBatch = elapsed / Double(b + 1)
                let left = Double(n - b - 1) * perBatch + Double(max(0, epochs - epoch - 1)) * perBatch * Double(n)
                report(TrainingProgress(epoch: epoch, epochs: epochs, batch: b + 1, batches: n,
                                        loss: Float(lossSum / Double(seen)), accuracy: Double(correct) / Double(seen),
                                        samplesPerSecond: Double(seen) / max(elapsed, 1e-9), elapsedSeconds: elapsed,
                                        etaSeconds: left, learningRate: optimizer.learningRate))
            }
        }
        return EpochSummary(epoch: epoch, loss: Float(lossSum / Double(max(seen, 1))),
                            accuracy: Double(correct) / Double(max(seen, 1)), seconds: Date().timeIntervalSince(start))
    }

    /// `epochs` epochs; `epochEnd` sees each summary as it finishes.
    @discardableResult
    public func fit(_ data: BatchSource, epochs: Int, progress: ((TrainingProgress) -> Void)? = nil,
                    epochEnd: ((EpochSummary) -> Void)? = nil) throws -> [EpochSummary] {
        var out: [EpochSummary] = []
        for e in 0..<epochs {
            let s = try trainEpoch(data, epoch: e, epochs: epochs, progress: progress)
            out.append(s)
            epochEnd?(s)
        }
        return out
    }

    /// Accuracy (overall and per class) and mean cross-entropy of the current parameters, in
    /// inference mode.
    public func evaluate(_ data: BatchSource, classes: Int = 10) throws -> Evaluation {
        try Self.evaluate(tape: tape, inputName: inputName, parameters: buffers, data: data, classes: classes)
    }

    /// Evaluates any graph (e.g. one loaded from ONNX) the same way.
    public static func evaluate(graph: Graph, data: BatchSource, classes: Int = 10, threads: Int = 1) throws -> Evaluation {
        guard let input = graph.inputs.first(where: { graph.initializers[$0.name] == nil }) else {
            throw TrainingError.model("graph '\(graph.name)' has no input to feed")
        }
        let tape = try GradientTape(graph: graph, threads: threads, training: false)
        return try evaluate(tape: tape, inputName: input.name, parameters: [:], data: data, classes: classes)
    }

    static func evaluate(tape: GradientTape, inputName: String, parameters: [String: FloatBuffer], data: BatchSource,
                         classes: Int) throws -> Evaluation {
        let wasTraining = tape.training
        tape.training = false
        defer { tape.training = wasTraining }
        var right = [Int](repeating: 0, count: classes), total = [Int](repeating: 0, count: classes)
        var lossSum = 0.0, samples = 0
        for b in 0..<data.batchCount {
            let batch = try data.batch(b, epoch: 0)
            let out = try tape.forwardBuffers([inputName: .float(try FloatBuffer(batch.inputs))], parameters: parameters)
            guard let logits = out.first?.buffer, logits.shape.count == 2 else { throw TrainingError.model("graph output 0 must be logits [batch, classes]") }
            let (l, _) = try Losses.softmaxCrossEntropy(logits, labels: batch.labels)
            lossSum += Double(l) * Double(batch.labels.count)
            let C = logits.shape[1]
            for (i, label) in batch.labels.enumerated() {
                let row = logits.p + i * C
                var best = 0
                for j in 1..<max(C, 1) where row[j] > row[best] { best = j }
                let k = Int(label)
                if k >= 0 && k < classes {
                    total[k] += 1
                    if best == k { right[k] += 1 }
                }
            }
            samples += batch.labels.count
        }
        let correct = right.reduce(0, +)
        return Evaluation(accuracy: Double(correct) / Double(max(samples, 1)),
                          perClassAccuracy: zip(right, total).map { $1 == 0 ? 0 : Double($0) / Double($1) },
                          samples: samples, loss: Float(lossSum / Double(max(samples, 1))))
    }
}

/// Stands in for the trainer's optimizer while a step updates it.
private struct NoOptimizer: Optimizer {
    var learningRate: Float = 0
    mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor]) {}
}
