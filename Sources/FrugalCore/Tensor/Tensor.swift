/// An n-dimensional array: a value type over copy-on-write storage.
///
/// ```swift
/// var a = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float])
/// let b = a            // shares storage
/// a[floatAt: 0] = 10   // copies first: b is unchanged
/// ```
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: Shape
    public let dtype: DType
    var storage: TensorStorage

    /// A zero-filled tensor. Throws if the shape is invalid or cannot fit in memory.
    public init(zeros shape: Shape, dtype: DType = .float32) throws {
        let n = try shape.validated()
        let bytes = try MemoryLimit.checkedByteCount(elements: n, dtype: dtype, what: "a tensor of shape \(shape)")
        self.shape = shape
        self.dtype = dtype
        self.storage = TensorStorage(byteCount: bytes)
    }

    /// A tensor over existing storage (sizes already checked by the caller).
    init(shape: Shape, dtype: DType, storage: TensorStorage) {
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
    }

    /// A tensor holding `scalars` in C order; their count must match the shape.
    public init<T: TensorScalar>(shape: Shape, scalars: [T]) throws {
        let n = try shape.validated()
        guard n == scalars.count else {
            throw CoreError.shapeMismatch("shape \(shape) holds \(n) elements but \(scalars.count) values were given")
        }
        try self.init(zeros: shape, dtype: T.dtype)
        scalars.withUnsafeBytes { src in
            if src.count > 0 { storage.base.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        }
    }

    /// A rank-0 tensor.
    public init<T: TensorScalar>(scalar: T) {
        try! self.init(shape: [], scalars: [scalar])
    }

    public var elementCount: Int { shape.elementCount }
    public var rank: Int { shape.rank }
    public var byteCount: Int { storage.byteCount }

    /// The same data viewed with another shape of equal element count.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        let n = try newShape.validated()
        guard n == elementCount else {
            throw CoreError.shapeMismatch("cannot reshape \(shape) (\(elementCount) elements) to \(newShape) (\(n) elements)")
        }
        var t = self
        t.shape = newShape
        return t
    }

    // MARK: raw access

    /// Read-only access to the elements as `T`, which must be this tensor's storage type.
    public func withUnsafeBufferPointer<T: TensorScalar, R>(
        as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype, "tensor is \(dtype), accessed as \(T.dtype)")
        let p = storage.base.assumingMemoryBound(to: T.self)
        return try body(UnsafeBufferPointer(start: p, count: elementCount))
    }

    /// Mutable access; copies the storage first if it is shared (copy-on-write).
    public mutating func withUnsafeMutableBufferPointer<T: TensorScalar, R>(
        as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype, "tensor is \(dtype), accessed as \(T.dtype)")
        makeUnique()
        let p = storage.base.assumingMemoryBound(to: T.self)
        return try body(UnsafeMutableBufferPointer(start: p, count: elementCount))
    }

    /// Read-only untyped bytes.
    public func withUnsafeRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.byteCount))
    }

    /// Mutable untyped bytes (copy-on-write).
    public mutating func withUnsafeMutableRawBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableRawBufferPointer(start: storage.base, count: storage.byteCount))
    }

    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// True when two tensors share one buffer (for tests of copy-on-write).
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    // MARK: convenience

    /// All elements as `[T]`.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        withUnsafeBufferPointer(as: T.self) { Array($0) }
    }

    /// Elements converted to Float, whatever the dtype.
    public func floatScalars() -> [Float] {
        switch dtype {
        case .float32: return scalars(as: Float.self)
        case .float16: return scalars(as: Half.self).map(\.floatValue)
        case .int8: return scalars(as: Int8.self).map(Float.init)
        case .uint8: return scalars(as: UInt8.self).map(Float.init)
        case .int32: return scalars(as: Int32.self).map(Float.init)
        case .int64: return scalars(as: Int64.self).map(Float.init)
        case .bool: return scalars(as: Bool.self).map { $0 ? 1 : 0 }
        }
    }

    /// Element `i` (flat C-order index) of a float32 tensor.
    public subscript(floatAt i: Int) -> Float {
        get { withUnsafeBufferPointer(as: Float.self) { $0[i] } }
        set { withUnsafeMutableBufferPointer(as: Float.self) { $0[i] = newValue } }
    }

    public var description: String {
        let preview = floatScalars().prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(dtype)>\(shape) [\(preview)\(elementCount > 8 ? ", ..." : "")]"
    }
}

extension Tensor: Equatable {
    /// Equal when dtype, shape and bytes are equal.
    public static func == (a: Tensor, b: Tensor) -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape else { return false }
        if a.storage === b.storage { return true }
        return a.withUnsafeRawBytes { x in b.withUnsafeRawBytes { y in x.elementsEqual(y) } }
    }
}
