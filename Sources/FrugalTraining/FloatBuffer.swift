import Foundation
import FrugalCore

/// A float32 array with a shape, owned by the training tape: values and gradients of one step.
/// A class over a raw pointer so kernels index it directly; converted to ``Tensor`` only at the
/// boundaries (inputs, parameters, outputs).
final class FloatBuffer {
    let shape: [Int]
    let count: Int
    let p: UnsafeMutablePointer<Float>

    /// Zero-filled.
    init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        p = BufferRecycler.shared.take(max(count, 1))
        p.update(repeating: 0, count: max(count, 1))
    }

    /// Uninitialised contents: the caller writes every element.
    init(uninitialized shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        p = BufferRecycler.shared.take(max(count, 1))
    }

    convenience init(_ t: Tensor) throws {
        guard t.dtype == .float32 else {
            throw TrainingError.training("training needs float32 values, got \(t.dtype) \(t.shape)")
        }
        self.init(uninitialized: t.shape.dims)
        t.withUnsafeBufferPointer(as: Float.self) { src in
            if count > 0 { p.update(from: src.baseAddress!, count: count) }
        }
    }

    /// Same data, another shape (a copy: buffers are never aliased).
    func reshaped(_ s: [Int]) -> FloatBuffer {
        let r = FloatBuffer(uninitialized: s)
        r.p.update(from: p, count: count)
        return r
    }

    func copy() -> FloatBuffer { reshaped(shape) }

    var tensor: Tensor {
        var t = try! Tensor(zeros: Shape(shape))
        t.withUnsafeMutableBufferPointer(as: Float.self) { dst in
            if count > 0 { dst.baseAddress!.update(from: p, count: count) }
        }
        return t
    }

    /// self += other (same count).
    func add(_ o: FloatBuffer) {
        let a = p, b = o.p
        for i in 0..<count { a[i] += b[i] }
    }

    deinit { BufferRecycler.shared.give(p, max(count, 1)) }
}

/// Keeps freed buffer memory by element count for the next buffer of that size. Training
/// steps allocate the same sizes every step, so the large activations, im2col matrices and
/// gradients of one step reuse the memory of the last one instead of going back to the
/// system (which costs page faults on every fresh mapping). Small buffers go straight to
/// malloc; at most `limit` bytes are kept.
final class BufferRecycler: @unchecked Sendable {
    static let shared = BufferRecycler()
    /// Buffers under this many floats are not kept (malloc serves them well).
    let minimumCount = 4096
    let limit = 256 << 20
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var bytes = 0
    private let lock = NSLock()

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count >= minimumCount {
            lock.lock()
            if let q = free[count]?.popLast() {
                bytes -= count * 4
                lock.unlock()
                return q
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
    }

    func give(_ q: UnsafeMutablePointer<Float>, _ count: Int) {
        if count >= minimumCount {
            lock.lock()
            if bytes + count * 4 <= limit {
                free[count, default: []].append(q)
                bytes += count * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        q.deallocate()
    }
}
