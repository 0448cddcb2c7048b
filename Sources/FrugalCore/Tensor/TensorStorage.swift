import Foundation

/// The reference-type buffer under a ``Tensor``: 64-byte aligned, zero-initialised.
final class TensorStorage: @unchecked Sendable {
    let byteCount: Int
    let base: UnsafeMutableRawPointer

    /// Allocates `byteCount` zero bytes. The caller has already checked the size.
    init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    func copy() -> TensorStorage {
        let s = TensorStorage(uninitializedByteCount: byteCount)
        s.base.copyMemory(from: base, byteCount: byteCount)
        return s
    }

    /// Allocates `uninitializedByteCount` bytes whose contents are unspecified.
    init(uninitializedByteCount: Int) {
        byteCount = uninitializedByteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(uninitializedByteCount, 1), alignment: 64)
    }

    deinit { base.deallocate() }
}

/// Refuses allocations that cannot fit in this machine's memory, before allocating.
public enum MemoryLimit {
    /// Physical memory of the machine, the ceiling for any one tensor.
    /// (Read once: every tensor allocation checks against it.)
    public static let physicalBytes: Int = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    /// Byte count for `elements` of `dtype`, or an error naming `what` if it is absurd.
    public static func checkedByteCount(elements: Int, dtype: DType, what: @autoclosure () -> String) throws -> Int {
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        let limit = physicalBytes
        guard !overflow, bytes <= limit else {
            throw CoreError.tooLarge(
                "\(what()) needs \(elements) \(dtype) elements (\(overflow ? "over 2^63" : String(bytes)) bytes), more than this machine's \(limit) bytes of memory; refusing before allocating")
        }
        return bytes
    }
}
