import FrugalCore

/// One mini-batch: inputs [B, ...] (float32, NCHW for images) and one class label per row.
public struct TrainingBatch {
    public var inputs: Tensor
    public var labels: [Int32]

    public init(inputs: Tensor, labels: [Int32]) {
        self.inputs = inputs
        self.labels = labels
    }
}

/// Where the ``Trainer`` gets its batches. Random access by (index, epoch) so that shuffling and
/// augmentation are a pure function of the epoch (and the source's seed): one seed, one run.
///
/// A dataset conforms by telling how many batches an epoch has and building batch `index` of
/// epoch `epoch`; ``InMemoryBatchSource`` does it for tensors already in memory.
public protocol BatchSource {
    /// Batches per epoch.
    var batchCount: Int { get }
    /// TrainingBatch `index` (0..<batchCount) of epoch `epoch` (0-based).
    func batch(_ index: Int, epoch: Int) throws -> TrainingBatch
}

/// Samples held in one tensor [N, ...] with labels, served in batches; reshuffled every epoch
/// from `seed` when `shuffle` is on. The last batch may be smaller.
public final class InMemoryBatchSource: BatchSource {
    public let inputs: Tensor
    public let labels: [Int32]
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    private let sampleSize: Int
    private var cachedEpoch = -1
    private var order: [Int] = []

    public init(inputs: Tensor, labels: [Int32], batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0) throws {
        guard inputs.rank >= 1, inputs.shape[0] == labels.count, inputs.dtype == .float32 else {
            throw TrainingError.data(path: "<memory>", reason: "inputs \(inputs.shape) (\(inputs.dtype)) must be float32 with one row per label (\(labels.count) labels)")
        }
        guard batchSize >= 1 else { throw TrainingError.data(path: "<memory>", reason: "batch size must be at least 1, got \(batchSize)") }
        self.inputs = inputs
        self.labels = labels
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        sampleSize = inputs.elementCount / max(labels.count, 1)
    }

    public var sampleCount: Int { labels.count }
    public var batchCount: Int { (labels.count + batchSize - 1) / batchSize }

    /// The sample order of `epoch` (a seeded Fisher-Yates shuffle, or 0..<N).
    public func permutation(epoch: Int) -> [Int] {
        if cachedEpoch == epoch { return order }
        var p = Array(0..<labels.count)
        if shuffle {
            var rng = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x2545_F491_4F6C_DD1D)
            for i in stride(from: p.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        cachedEpoch = epoch
        order = p
        return p
    }

    public func batch(_ index: Int, epoch: Int) throws -> TrainingBatch {
        let p = permutation(epoch: epoch)
        let lo = index * batchSize, hi = min(lo + batchSize, labels.count)
        guard lo < hi else { throw TrainingError.data(path: "<memory>", reason: "batch \(index) is past the end (\(batchCount) batches)") }
        var dims = inputs.shape.dims
        dims[0] = hi - lo
        var x = try Tensor(zeros: Shape(dims))
        let s = sampleSize
        x.withUnsafeMutableBufferPointer(as: Float.self) { dst in
            inputs.withUnsafeBufferPointer(as: Float.self) { src in
                for (row, i) in (lo..<hi).enumerated() {
                    (dst.baseAddress! + row * s).update(from: src.baseAddress! + p[i] * s, count: s)
                }
            }
        }
        return TrainingBatch(inputs: x, labels: (lo..<hi).map { labels[p[$0]] })
    }
}

/// Shifts each image of a batch [B, C, H, W] by a random (dy, dx) in -maxShift...maxShift,
/// filling with `fill`: cheap augmentation for digits. Seeded by (seed, epoch, batch).
public struct ShiftAugmentedSource: BatchSource {
    public let base: BatchSource
    public let maxShift: Int
    public let fill: Float
    public let seed: UInt64

    public init(_ base: BatchSource, maxShift: Int, fill: Float = 0, seed: UInt64 = 0) {
        self.base = base
        self.maxShift = maxShift
        self.fill = fill
        self.seed = seed
    }

    public var batchCount: Int { base.batchCount }

    public func batch(_ index: Int, epoch: Int) throws -> TrainingBatch {
        var b = try base.batch(index, epoch: epoch)
        guard maxShift > 0, b.inputs.rank == 4 else { return b }
        var rng = SeededGenerator(seed: seed ^ (UInt64(epoch) &* 0x9E37_79B9) ^ (UInt64(index) &* 0xC2B2_AE3D_27D4_EB4F))
        let d = b.inputs.shape.dims, C = d[1], H = d[2], W = d[3], span = UInt64(2 * maxShift + 1)
        let src = b.inputs
        let fill = self.fill
        b.inputs.withUnsafeMutableBufferPointer(as: Float.self) { dst in
            src.withUnsafeBufferPointer(as: Float.self) { s in
                for n in 0..<d[0] {
                    let dy = Int(rng.next() % span) - maxShift, dx = Int(rng.next() % span) - maxShift
                    // Row by row: columns x0..<x1 come from x − dx, the rest is fill.
                    let x0 = max(0, dx), x1 = min(W, W + dx)
                    for c in 0..<C {
                        let base = (n * C + c) * H * W
                        for y in 0..<H {
                            let sy = y - dy, row = base + y * W
                            if sy < 0 || sy >= H || x0 >= x1 {
                                for x in 0..<W { dst[row + x] = fill }
                                continue
                            }
                            for x in 0..<x0 { dst[row + x] = fill }
                            for x in x0..<x1 { dst[row + x] = s[base + sy * W + x - dx] }
                            for x in x1..<W { dst[row + x] = fill }
                        }
                    }
                }
            }
        }
        return b
    }
}

/// The first `limit` batches of another source: short runs for profiling and benchmarks.
public struct LimitedBatchSource: BatchSource {
    public let base: BatchSource
    public let limit: Int

    public init(_ base: BatchSource, limit: Int) {
        self.base = base
        self.limit = max(0, limit)
    }

    public var batchCount: Int { min(limit, base.batchCount) }

    public func batch(_ index: Int, epoch: Int) throws -> TrainingBatch {
        guard index < batchCount else {
            throw TrainingError.data(path: "<memory>", reason: "batch \(index) is past the end (\(batchCount) batches)")
        }
        return try base.batch(index, epoch: epoch)
    }
}
