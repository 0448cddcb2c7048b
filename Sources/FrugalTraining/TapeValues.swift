import FrugalCore
import FrugalEngine

/// A value on the tape: float32 data the training kernels compute with, or any other tensor
/// (shapes, indices, masks) that only flows forward.
enum TapeValue {
    case float(FloatBuffer)
    case other(Tensor)

    var buffer: FloatBuffer? { if case .float(let b) = self { return b } else { return nil } }

    var tensor: Tensor {
        switch self {
        case .float(let b): return b.tensor
        case .other(let t): return t
        }
    }

    var shape: [Int] {
        switch self {
        case .float(let b): return b.shape
        case .other(let t): return t.shape.dims
        }
    }
}

/// What a node's backward needs beyond its inputs and outputs.
enum SavedState {
    case none
    /// MaxPool: the flat input index of each output's maximum.
    case indices([Int32])
    /// Dropout: the scaled keep mask (0 or 1/(1-ratio)).
    case mask(FloatBuffer)
    /// Conv: the im2col matrices of all groups, chunk by chunk (see ``ConvTraining``).
    case columns(FloatBuffer)
    /// BatchNormalization / LayerNormalization: per-channel (per-row) mean and 1/σ.
    case statistics(mean: [Float], invStd: [Float])
}

/// Shared state of one forward pass.
final class TapeContext {
    let pool: ThreadPool
    /// A one-thread pool for products run inside a `parallelFor` of `pool`.
    let serial = TK.serialPool
    let opset: Int
    var training: Bool
    var rng: SeededGenerator
    /// Running statistics that a training-mode BatchNormalization produced, by initializer name.
    var stateUpdates: [String: FloatBuffer] = [:]

    init(pool: ThreadPool, opset: Int, training: Bool, seed: UInt64) {
        self.pool = pool
        self.opset = opset
        self.training = training
        rng = SeededGenerator(seed: seed)
    }
}

/// The inputs a forward implementation reads.
struct OpInputs {
    let node: Node
    let values: [TapeValue?]

    func float(_ i: Int) throws -> FloatBuffer {
        guard i < values.count, let v = values[i] else {
            throw TrainingError.model("node '\(node.name)' (\(node.opType)): input \(i) is required but missing")
        }
        guard let b = v.buffer else {
            throw TrainingError.model("node '\(node.name)' (\(node.opType)): input \(i) must be float32 for training")
        }
        return b
    }

    func optionalFloat(_ i: Int) throws -> FloatBuffer? {
        i < values.count && values[i] != nil ? try float(i) : nil
    }

    func tensor(_ i: Int) -> Tensor? { i < values.count ? values[i]?.tensor : nil }

    /// An integer-list input (shapes, axes), whatever its integer type.
    func ints(_ i: Int) -> [Int]? { tensor(i).map { $0.floatScalars().map { Int($0) } } }

    /// A scalar input as Float.
    func scalar(_ i: Int) -> Float? { tensor(i).flatMap { $0.floatScalars().first } }
}
