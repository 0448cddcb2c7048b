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

/// A free list of tensor buffers, by byte size. Safe to use from several threads.
public final class TensorBufferPool: @unchecked Sendable {
    private var free: [Int: [TensorStorage]] = [:]
    private var heldBytes = 0
    private let lock = NSLock()
    /// Most bytes kept for reuse; buffers given back beyond it are freed.
    public let limitBytes: Int
    /// Buffers up to this size are reused oldest-first, larger ones newest-first. With
    /// several threads the newest free buffer has often just been read by every core (a
    /// kernel cut by columns after one cut by channels, as a 1x1 convolution after a
    /// depthwise one), so writing it first invalidates the other cores' copies line by
    /// line; an older one has gone back to the shared L3. Past ~L2/4 the newest one's lines
    /// still in this core's L2 are worth more. Measured on MobileNetV2 batch 1, 2 threads:
    /// oldest-first made the 1x1 convolutions writing 188-451 KB 12-40% faster and those
    /// writing 0.6-1.8 MB 15-60% slower.
    static let oldestFirstBytes = 512 << 10

    public init(limitBytes: Int = 1 << 30) {
        self.limitBytes = limitBytes
    }

    /// Bytes currently kept for reuse.
    public var bytesHeld: Int { lock.withLock { heldBytes } }

    /// A tensor whose elements are unspecified (a recycled buffer, or a new one): the caller
    /// must write every element. Throws like ``Tensor/init(zeros:dtype:)`` for bad shapes.
    public func uninitializedTensor(_ shape: Shape, dtype: DType = .float32) throws -> Tensor {
        let n = try shape.validated()
        let bytes = try MemoryLimit.checkedByteCount(elements: n, dtype: dtype, what: "a tensor of shape \(shape)")
        // The list is changed in place in the dictionary (a copy taken out and put back
        // would reallocate it on every call) and kept when empty, for the next release.
        let reused: TensorStorage? = lock.withLock {
            guard let count = free[bytes]?.count, count > 0 else { return nil }
            let s = bytes <= Self.oldestFirstBytes ? free[bytes]!.removeFirst() : free[bytes]!.removeLast()
            heldBytes -= bytes
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
        lock.withLock {
            guard heldBytes + bytes <= limitBytes else { return }
            free[bytes, default: []].append(storage)
            heldBytes += bytes
        }
    }

    /// Frees every kept buffer.
    public func removeAll() {
        lock.withLock {
            free = [:]
            heldBytes = 0
        }
    }
}
