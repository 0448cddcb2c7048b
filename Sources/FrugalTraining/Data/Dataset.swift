import FrugalCore

/// One mini-batch: inputs [B, ...] (float32, NCHW for images) and one class label per row.
///
/// (The train-core branch defines the same struct; when both are in main, keep one definition.)
public struct Batch {
    public var inputs: Tensor
    public var labels: [Int32]

    public init(inputs: Tensor, labels: [Int32]) {
        self.inputs = inputs
        self.labels = labels
    }
}

extension Batch {
    /// Examples in the batch.
    public var count: Int { labels.count }
}

/// A finite set of labelled examples that training and evaluation read in batches.
///
/// Two requirements: the example count and gathering a batch by example indices. Loading
/// errors surface when the dataset is made, so gathering does not throw.
///
/// ```swift
/// let train = try MNIST(split: .train)
/// for batch in train.batches(size: 128, shuffle: true, seed: 1, epoch: 0) { ... }
/// ```
public protocol Dataset: Sendable {
    /// Number of examples.
    var count: Int { get }
    /// The examples at `indices` (each in 0..<count), in that order.
    func batch(_ indices: [Int]) -> Batch
}

extension Dataset {
    /// Batches over one epoch. With `shuffle`, the order is a permutation drawn from
    /// `SeededGenerator(seed: seed, stream: epoch)`: equal (seed, epoch) give equal orders,
    /// different epochs different ones. The last batch is partial unless `dropLast`.
    public func batches(size: Int, shuffle: Bool = false, seed: UInt64 = 0, epoch: Int = 0,
                        dropLast: Bool = false, augmentation: RandomShift? = nil) -> BatchSequence {
        BatchSequence(dataset: self, size: size, shuffle: shuffle, seed: seed, epoch: epoch,
                      dropLast: dropLast, augmentation: augmentation)
    }

    /// All examples as one batch (for evaluation of small datasets).
    public func all() -> Batch { batch(Array(0..<count)) }
}

/// The batches of one epoch: a `Sequence` of ``Batch``, plus the index plan behind it.
public struct BatchSequence: Sequence {
    public let dataset: any Dataset
    public let size: Int
    public let seed: UInt64
    public let epoch: Int
    public let augmentation: RandomShift?
    /// Example indices of each batch, in order.
    public let indexBatches: [[Int]]

    public init(dataset: any Dataset, size: Int, shuffle: Bool, seed: UInt64, epoch: Int, dropLast: Bool,
                augmentation: RandomShift?) {
        precondition(size > 0, "batch size must be positive, got \(size)")
        self.dataset = dataset
        self.size = size
        self.seed = seed
        self.epoch = epoch
        self.augmentation = augmentation
        var order = Array(0..<dataset.count)
        if shuffle {
            var rng = SeededGenerator(seed: seed, stream: UInt64(truncatingIfNeeded: epoch))
            order = Shuffle.permuted(order, using: &rng)
        }
        var batches: [[Int]] = []
        var start = 0
        while start < order.count {
            let end = Swift.min(start + size, order.count)
            if end - start < size && dropLast { break }
            batches.append(Array(order[start..<end]))
            start = end
        }
        indexBatches = batches
    }

    /// Number of batches in the epoch.
    public var count: Int { indexBatches.count }

    /// Batch `i` of the epoch, augmented if asked (augmentation is seeded by seed, epoch and `i`).
    public func batch(at i: Int) -> Batch {
        var b = dataset.batch(indexBatches[i])
        if let aug = augmentation {
            var rng = SeededGenerator(seed: seed ^ 0xA5A5_5A5A_0F0F_F0F0,
                                      stream: UInt64(truncatingIfNeeded: epoch) << 32 | UInt64(i))
            b.inputs = aug.apply(b.inputs, using: &rng)
        }
        return b
    }

    public struct Iterator: IteratorProtocol {
        let sequence: BatchSequence
        var i = 0
        public mutating func next() -> Batch? {
            guard i < sequence.count else { return nil }
            defer { i += 1 }
            return sequence.batch(at: i)
        }
    }

    public func makeIterator() -> Iterator { Iterator(sequence: self) }
}

/// Seeded shuffling with a fixed algorithm (Fisher-Yates with unbiased bounded draws), so
/// orders do not depend on the standard library's shuffle implementation.
public enum Shuffle {
    /// A uniform integer in 0..<bound (rejection sampling, no modulo bias).
    public static func index<G: RandomNumberGenerator>(below bound: Int, using rng: inout G) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        let limit = UInt64.max - (UInt64.max % b)
        while true {
            let r = rng.next()
            if r < limit { return Int(r % b) }
        }
    }

    /// `items` in a random order drawn from `rng`.
    public static func permuted<T, G: RandomNumberGenerator>(_ items: [T], using rng: inout G) -> [T] {
        var a = items
        if a.count < 2 { return a }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, index(below: i + 1, using: &rng))
        }
        return a
    }
}

/// Random translation of images by up to `maxShift` pixels in each direction (default ±2),
/// filling uncovered pixels with `fill`. Each image of a batch draws its own (dy, dx).
public struct RandomShift: Sendable {
    public var maxShift: Int
    /// The value of uncovered pixels: the background in the images' own scale.
    public var fill: Float

    public init(maxShift: Int = 2, fill: Float = 0) {
        precondition(maxShift >= 0)
        self.maxShift = maxShift
        self.fill = fill
    }

    /// For MNIST as ``MNIST`` normalises it: the fill is the normalised black background.
    public static let mnist = RandomShift(maxShift: 2, fill: MNIST.normalizedBackground)

    /// Shifts every image of a float32 [B, C, H, W] (or [B, H, W]) tensor.
    public func apply<G: RandomNumberGenerator>(_ images: Tensor, using rng: inout G) -> Tensor {
        precondition(images.dtype == .float32 && images.rank >= 3, "RandomShift takes float32 [B, (C,) H, W] images")
        let dims = images.shape.dims
        let b = dims[0], h = dims[dims.count - 2], w = dims[dims.count - 1]
        let planes = dims.dropFirst().dropLast(2).reduce(1, *)
        let span = 2 * maxShift + 1
        var out = images
        images.withUnsafeBufferPointer(as: Float.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for n in 0..<b {
                    let dy = Shuffle.index(below: span, using: &rng) - maxShift
                    let dx = Shuffle.index(below: span, using: &rng) - maxShift
                    for p in 0..<planes {
                        let base = (n * planes + p) * h * w
                        for y in 0..<h {
                            let sy = y - dy
                            for x in 0..<w {
                                let sx = x - dx
                                dst[base + y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[base + sy * w + sx] : fill
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// An in-memory dataset: inputs [N, ...] float32 and one class label per example.
public struct TensorDataset: Dataset {
    public let inputs: Tensor
    public let labels: [Int32]

    /// Checks that inputs are float32 with the examples first, labels are non-negative, and the counts agree.
    public init(inputs: Tensor, labels: [Int32], name: String = "dataset") throws {
        guard inputs.dtype == .float32, inputs.rank >= 1 else {
            throw TrainingError.data(path: name, reason: "inputs must be float32 with the examples first; got \(inputs.dtype) \(inputs.shape)")
        }
        guard inputs.shape[0] == labels.count else {
            throw TrainingError.data(path: name, reason: "\(inputs.shape[0]) inputs but \(labels.count) labels")
        }
        if let i = labels.firstIndex(where: { $0 < 0 }) {
            throw TrainingError.data(path: name, reason: "label \(labels[i]) at index \(i) is negative")
        }
        self.inputs = inputs
        self.labels = labels
    }

    public var count: Int { labels.count }

    public func batch(_ indices: [Int]) -> Batch {
        let row = inputs.elementCount / max(count, 1)
        var x = try! Tensor(zeros: Shape([indices.count] + inputs.shape.dims.dropFirst()), dtype: .float32)
        inputs.withUnsafeBufferPointer(as: Float.self) { src in
            x.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for (j, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "example index \(i) out of range 0..<\(count)")
                    dst.baseAddress!.advanced(by: j * row).update(from: src.baseAddress!.advanced(by: i * row), count: row)
                }
            }
        }
        return Batch(inputs: x, labels: indices.map { labels[$0] })
    }
}

/// Serves a ``Dataset`` by (batch index, epoch), the random access a trainer needs so that
/// shuffling and augmentation are a pure function of the seed and the epoch. This is the
/// shape of train-core's `BatchSource` (`batchCount`, `batch(_:epoch:)`): once both are in
/// main, `extension DatasetBatchSource: BatchSource {}` connects them.
public final class DatasetBatchSource: @unchecked Sendable {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    public let augmentation: RandomShift?
    private var cached: BatchSequence?

    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false,
                augmentation: RandomShift? = nil) throws {
        guard batchSize >= 1 else { throw TrainingError.data(path: "<dataset>", reason: "batch size must be at least 1, got \(batchSize)") }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.augmentation = augmentation
    }

    /// Examples in the dataset.
    public var sampleCount: Int { dataset.count }

    /// Batches per epoch.
    public var batchCount: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The batches of `epoch`, in order.
    public func epoch(_ epoch: Int) -> BatchSequence {
        if let c = cached, c.epoch == epoch { return c }
        let s = dataset.batches(size: batchSize, shuffle: shuffle, seed: seed, epoch: epoch, dropLast: dropLast,
                                augmentation: augmentation)
        cached = s
        return s
    }

    /// Batch `index` (0..<batchCount) of epoch `epoch`.
    public func batch(_ index: Int, epoch: Int) throws -> Batch {
        let s = self.epoch(epoch)
        guard index >= 0 && index < s.count else {
            throw TrainingError.data(path: "<dataset>", reason: "batch \(index) is past the end (\(s.count) batches)")
        }
        return s.batch(at: index)
    }
}
