/// Element types of a ``Tensor``. Names follow numpy and ONNX.
public enum DType: String, CaseIterable, Sendable, CustomStringConvertible {
    case float32, float16, int8, uint8, int32, int64, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16: return 2
        case .int8, .uint8, .bool: return 1
        case .int64: return 8
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float16 }

    public var description: String { rawValue }
}

/// A Swift scalar type that is the storage type of one ``DType``.
public protocol TensorScalar: Sendable {
    static var dtype: DType { get }
}
extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Int8: TensorScalar { public static var dtype: DType { .int8 } }
extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Bool: TensorScalar { public static var dtype: DType { .bool } }

/// IEEE 754 binary16 stored as its bit pattern. Swift's `Float16` is not available on every
/// platform Frugal builds on (Intel macOS), so half floats are kept as bits and converted.
public struct Half: TensorScalar, Equatable, Hashable {
    public static var dtype: DType { .float16 }
    public var bitPattern: UInt16
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds to nearest even, as IEEE 754 requires.
    public init(_ value: Float) {
        let x = value.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xFF)
        var mant = x & 0x7F_FFFF
        if exp == 0xFF {  // Inf or NaN
            bitPattern = sign | 0x7C00 | (mant != 0 ? 0x200 | UInt16(mant >> 13) : 0)
            return
        }
        let e = exp - 127 + 15
        if e >= 31 { bitPattern = sign | 0x7C00; return }
        if e <= 0 {
            if e < -10 { bitPattern = sign; return }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var h = mant >> shift
            let rem = mant & ((1 << shift) - 1)
            let half = UInt32(1) << (shift - 1)
            if rem > half || (rem == half && (h & 1) == 1) { h += 1 }
            bitPattern = sign | UInt16(h)
            return
        }
        var h = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }
        bitPattern = sign | UInt16(truncatingIfNeeded: h)
    }

    public var floatValue: Float {
        let h = UInt32(bitPattern)
        let sign = (h & 0x8000) << 16
        let exp = (h >> 10) & 0x1F
        let mant = h & 0x3FF
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * 0x1p-24
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }
}
