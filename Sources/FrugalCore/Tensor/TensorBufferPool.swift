// Recycled tensor buffers for repeated graph runs.
//
// A graph run allocates every intermediate value afresh; at MobileNetV2 sizes (~24 MB of
// activations per image) that is a memset of every output plus page faults on freshly
// mapped memory on each run (measured with perf at batch 1, 1 thread: memset of new
// outputs ~11% of the run, page faults ~1-2%). The executor gives a value's buffer back
// here once its last reader has run, and ops take their outputs from here: for large
// buffers the most recently released one of the same size first, which is still warm in
// cache; small ones oldest-first (see `oldestFirstBytes`).
// A buffer is only taken back when no other tensor refers to it (copy-on-write storage
// is uniquely referenced), so outputs handed to a caller, views and cached tensors are
// never reused behind their owners' backs.
import Foundation
import Synchronization

/// A free list of tensor buffers, by byte size. Safe to use from several threads.
///
/// At most `maximumPerSize` buffers of one size are kept: ops that make their outputs
/// elsewhere still give them back here when they die, so without a bound a graph whose
/// values are released more often than taken would pile up buffers run after run (measured:
/// a 65-node graph of 512-byte values held ~50,000 after 1,000 runs, and taking the oldest
/// one, a shift of the whole list, was three quarters of the run). A run needs at most as
/// many buffers of one size as it has values of that size alive at once.
public final class TensorBufferPool: @unchecked Sendable {
    private struct Lists {
        /// Free buffers by byte size: a graph has a few dozen sizes at most, and a linear
        /// search of them costs less than hashing the size.
        var sizes: [Int] = []
        var free: [[TensorStorage]] = []
        var heldBytes = 0

        mutating func index(of bytes: Int) -> Int {
            if let i = sizes.firstIndex(of: bytes) { return i }
            if sizes.count >= 64 {
                // Shapes that change from run to run: forget the sizes with no buffer kept.
                let kept = free.indices.filter { !free[$0].isEmpty }
                sizes = kept.map { sizes[$0] }
                free = kept.map { free[$0] }
            }
            sizes.append(bytes)
            free.append([])
            return sizes.count - 1
        }
    }
    private let lists = Mutex(Lists())
    /// Most bytes kept for reuse; buffers given back beyond it are freed.
    public let limitBytes: Int
    /// Most buffers of one byte size kept for reuse; more given back are freed.
    public let maximumPerSize: Int
    /// Buffers up to this size are reused oldest-first, larger ones newest-first. With
    /// several threads the newest free buffer has often just been read by every core (a
    /// kernel cut by columns after one cut by channels, as a 1x1 convolution after a
    /// depthwise one), so writing it first invalidates the other cores' copies line by
    /// line; an older one has gone back to the shared L3. Past ~L2/4 the newest one's lines
    /// still in this core's L2 are worth more. Measured on MobileNetV2 batch 1, 2 threads:
    /// oldest-first made the 1x1 convolutions writing 188-451 KB 12-40% faster and those
    /// writing 0.6-1.8 MB 15-60% slower.
    static let oldestFirstBytes = 512 << 10

    public init(limitBytes: Int = 1 << 30, maximumPerSize: Int = 16) {
        self.limitBytes = limitBytes
        self.maximumPerSize = max(1, maximumPerSize)
    }

    /// Bytes currently kept for reuse.
    public var bytesHeld: Int { lists.withLock { $0.heldBytes } }

    /// Buffers currently kept for reuse.
    public var buffersHeld: Int { lists.withLock { $0.free.reduce(0) { $0 + $1.count } } }

    /// A tensor whose elements are unspecified (a recycled buffer, or a new one): the caller
    /// must write every element. Throws like ``Tensor/init(zeros:dtype:)`` for bad shapes.
    public func uninitializedTensor(_ shape: Shape, dtype: DType = .float32) throws -> Tensor {
        let n = try shape.validated()
        let bytes = try MemoryLimit.checkedByteCount(elements: n, dtype: dtype, what: "a tensor of shape \(shape)")
        // The list is changed in place (a copy taken out and put back would reallocate it
        // on every call) and kept when empty, for the next release.
        let reused: TensorStorage? = lists.withLock { l in
            guard let i = l.sizes.firstIndex(of: bytes), !l.free[i].isEmpty else { return nil }
            let s = bytes <= Self.oldestFirstBytes ? l.free[i].removeFirst() : l.free[i].removeLast()
            l.heldBytes -= bytes
            return s
        }
        return Tensor(shape: shape, dtype: dtype, storage: reused ?? TensorStorage(uninitializedByteCount: bytes))
    }

    /// A zero-filled tensor, on a recycled buffer when one of its size is free.
    public func zeroedTensor(_ shape: Shape, dtype: DType = .float32) throws -> Tensor {
        let t = try uninitializedTensor(shape, dtype: dtype)
        t.storage.base.initializeMemory(as: UInt8.self, repeating: 0, count: max(t.storage.byteCount, 1))
        return t
    }

    /// Takes the buffer of `tensor` (set to nil) for reuse when nothing else refers to it.
    public func recycle(_ tensor: inout Tensor?) {
        guard var t = tensor else { return }
        tensor = nil
        guard isKnownUniquelyReferenced(&t.storage) else { return }
        let bytes = t.storage.byteCount
        if bytes == 0 { return }
        let storage = t.storage
        let limit = limitBytes, perSize = maximumPerSize
        lists.withLock { l in
            guard l.heldBytes + bytes <= limit else { return }
            let i = l.index(of: bytes)
            guard l.free[i].count < perSize else { return }
            l.free[i].append(storage)
            l.heldBytes += bytes
        }
    }

    /// Frees every kept buffer.
    public func removeAll() {
        lists.withLock { l in
            l.sizes = []
            l.free = []
            l.heldBytes = 0
        }
    }
}
