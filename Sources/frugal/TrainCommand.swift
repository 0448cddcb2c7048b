import ArgumentParser
import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import FrugalTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a zoo model on MNIST and save it as ONNX.",
        discussion: "Defaults per model reach LeNet-300-100 ≤ 1.64 % and LeNet-5 ≤ 0.80 % test error (SGD momentum 0.9, cosine schedule).")

    @Option(help: "Zoo model name (lenet-300-100, lenet-5, ...).") var model: String
    @Option(help: "Epochs (default: the model's recipe).") var epochs: Int?
    @Option(help: "Batch size.") var batchSize: Int?
    @Option(help: "Peak learning rate.") var lr: Float?
    @Option(help: "sgd, adam or adamw.") var optimizer: String?
    @Option(help: "Random shifts of the training images by up to this many pixels (default: the model's recipe; 0 turns augmentation off).") var maxShift: Int?
    @Option(help: "Seed for initialisation, shuffling, augmentation and dropout.") var seed: UInt64 = 1
    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Option(help: "Where to write the trained model (.onnx).") var output: String
    @Option(help: .hidden) var maxBatches: Int?
    @Flag(help: "Print one JSON object: {model, epochs, seconds, seconds_per_epoch, test_accuracy, test_error_rate, output}.") var json = false

    func run() throws {
        try runReportingErrors {
            var recipe = TrainingRecipe.defaults(for: model)
            if let e = epochs { recipe.epochs = e }
            if let b = batchSize { recipe.batchSize = b }
            if let l = lr { recipe.learningRate = l }
            if let s = maxShift {
                guard s >= 0 else { throw ValidationError("--max-shift must be 0 or more, got \(s)") }
                recipe.maxShift = s
            }
            if let o = optimizer {
                guard let k = TrainingRecipe.OptimizerKind(rawValue: o) else { throw ValidationError("--optimizer takes sgd, adam or adamw, got '\(o)'") }
                recipe.optimizer = k
            }
            guard recipe.epochs >= 1, recipe.batchSize >= 1 else { throw ValidationError("--epochs and --batch-size must be at least 1") }
            let graph = try Zoo.build(model, seed: seed)
            let train = try mnist(.train), test = try mnist(.test)
            var data: BatchSource = try InMemoryBatchSource(inputs: train.images, labels: train.labels, batchSize: recipe.batchSize, seed: seed)
            if recipe.maxShift > 0 {
                data = ShiftAugmentedSource(data, maxShift: recipe.maxShift, fill: MNIST.normalizedBackground, seed: seed)
            }
            if let m = maxBatches {  // hidden: short runs for profiling
                guard m >= 1 else { throw ValidationError("--max-batches must be at least 1") }
                data = LimitedBatchSource(data, limit: m)
            }
            let testData = try InMemoryBatchSource(inputs: test.images, labels: test.labels, batchSize: 1000, shuffle: false)
            let trainer = try Trainer(graph: graph, optimizer: recipe.makeOptimizer(),
                                      schedule: recipe.makeSchedule(batchesPerEpoch: data.batchCount),
                                      threads: threads ?? ThreadPool.defaultThreadCount(), seed: seed)
            let bar = ProgressBar(enabled: stderrIsTerminal)
            let start = Date()
            try trainer.fit(data, epochs: recipe.epochs, progress: { bar.update($0) }, epochEnd: { s in
                bar.finishLine()
                let line = String(format: "epoch %d/%d  loss %.4f  train accuracy %.2f%%  %.1f s", s.epoch + 1, recipe.epochs,
                                  s.loss, s.accuracy * 100, s.seconds)
                if json { printError(line) } else { print(line) }
            })
            let seconds = Date().timeIntervalSince(start)
            let eval = try trainer.evaluate(testData)
            try ONNXExporter.write(trainer.graph, path: output)
            if json {
                print(JSON.object([
                    ("model", JSON(model)), ("epochs", JSON(recipe.epochs)), ("seconds", JSON(rounded(seconds, 2))),
                    ("seconds_per_epoch", JSON(rounded(seconds / Double(recipe.epochs), 3))),
                    ("test_accuracy", JSON(rounded(eval.accuracy, 5))), ("test_error_rate", JSON(rounded(eval.errorRate, 5))),
                    ("output", JSON(output)),
                ]).serialized())
            } else {
                print(String(format: "test accuracy %.2f%% (error %.2f%%), %.1f s (%.2f s/epoch) -> %@", eval.accuracy * 100,
                             eval.errorRate * 100, seconds, seconds / Double(recipe.epochs), output))
            }
        }
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Measure an ONNX classifier's accuracy on the MNIST test set.")

    @Argument(help: "The model (.onnx).") var model: String
    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Flag(help: "Print one JSON object: {accuracy, error_rate, per_class_accuracy, samples}.") var json = false

    func run() throws {
        try runReportingErrors {
            let graph = try ONNXImporter.load(path: model)
            let test = try mnist(.test)
            let data = try InMemoryBatchSource(inputs: test.images, labels: test.labels, batchSize: 1000, shuffle: false)
            let e = try Trainer.evaluate(graph: graph, data: data, threads: threads ?? ThreadPool.defaultThreadCount())
            if json {
                print(JSON.object([
                    ("accuracy", JSON(rounded(e.accuracy, 5))), ("error_rate", JSON(rounded(e.errorRate, 5))),
                    ("per_class_accuracy", .array(e.perClassAccuracy.map { JSON(rounded($0, 5)) })), ("samples", JSON(e.samples)),
                ]).serialized())
            } else {
                print(String(format: "accuracy %.2f%% (error %.2f%%) on %d samples", e.accuracy * 100, e.errorRate * 100, e.samples))
                for (i, a) in e.perClassAccuracy.enumerated() { print(String(format: "  class %d: %.2f%%", i, a * 100)) }
            }
        }
    }
}

/// A one-line live progress bar on standard error (only on a terminal).
final class ProgressBar {
    let enabled: Bool
    private var last = Date.distantPast
    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: TrainingProgress) {
        guard enabled, p.batch == p.batches || Date().timeIntervalSince(last) > 0.1 else { return }
        last = Date()
        let width = 24, filled = width * p.batch / max(p.batches, 1)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = Int(p.etaSeconds)
        let line = String(format: "\r\u{1B}[2Kepoch %d/%d %@ %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %d:%02d",
                          p.epoch + 1, p.epochs, bar, p.batch, p.batches, p.loss, p.accuracy * 100, p.samplesPerSecond, eta / 60, eta % 60)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finishLine() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
}

/// MNIST images [N, 1, 28, 28] (normalised) and labels as the trainer takes them.
func mnist(_ split: MNIST.Split) throws -> (images: Tensor, labels: [Int32]) {
    let m = try MNIST(split: split)
    return (m.images, m.labels)
}
