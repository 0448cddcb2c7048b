import FrugalCore

/// Cast and CastLike between all Frugal element types. Float to integer truncates toward zero
/// as C does (NaN becomes 0, out-of-range values saturate to int64 and then wrap to the narrower
/// type, as x86 conversion does); integers narrow by wrapping; anything to bool is `!= 0`.
/// `saturate` only concerns float8 types, which Frugal does not have.
enum CastOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Cast", since: 6, dtypes: .all) { call in
            guard let code = try call.node.int("to") else { throw call.fail("attribute 'to' is required") }
            guard let to = ONNXDataType.dtype(for: code) else {
                throw call.fail("cannot cast to \(ONNXDataType.name(code)): Frugal computes with \(DType.allCases.map(\.rawValue))")
            }
            return [try call.kernel { try cast(try call.input(0), to: to) }]
        },
        OperatorSchema("CastLike", since: 15, dtypes: .all) { call in
            let target = try call.input(1)
            return [try call.kernel { try cast(try call.input(0), to: target.dtype) }]
        },
    ]

    /// `x` converted to `dtype` (x itself when it already is).
    static func cast(_ x: Tensor, to dtype: DType) throws -> Tensor {
        if x.dtype == dtype { return x }
        var out = try Tensor(zeros: x.shape, dtype: dtype)
        let n = x.elementCount
        x.withUnsafeRawBytes { s in
            out.withUnsafeMutableRawBytes { d in
                convert(s.baseAddress!, x.dtype, d.baseAddress!, dtype, n)
            }
        }
        return out
    }

    private static func convert(_ src: UnsafeRawPointer, _ from: DType, _ dst: UnsafeMutableRawPointer, _ to: DType, _ n: Int) {
        switch from {
        case .float32: fromFloat(src.assumingMemoryBound(to: Float.self), dst, to, n) { $0 }
        case .float16: fromFloat(src.assumingMemoryBound(to: Half.self), dst, to, n) { $0.floatValue }
        case .int8: fromInt(src.assumingMemoryBound(to: Int8.self), dst, to, n)
        case .uint8: fromInt(src.assumingMemoryBound(to: UInt8.self), dst, to, n)
        case .int32: fromInt(src.assumingMemoryBound(to: Int32.self), dst, to, n)
        case .int64: fromInt(src.assumingMemoryBound(to: Int64.self), dst, to, n)
        case .bool: fromInt(src.assumingMemoryBound(to: UInt8.self), dst, to, n)  // bool is stored as 0/1 bytes
        }
    }

    @inline(__always)
    private static func map<S, D>(_ s: UnsafePointer<S>, _ d: UnsafeMutableRawPointer, _ n: Int, _ f: (S) -> D) {
        let p = d.assumingMemoryBound(to: D.self)
        for i in 0..<n { p[i] = f(s[i]) }
    }

    /// C-style float to int64: truncation, NaN to 0, saturating out of range.
    @inline(__always)
    static func truncate(_ v: Float) -> Int64 {
        if v.isNaN { return 0 }
        if v >= 9.223372e18 { return .max }
        if v <= -9.223372e18 { return .min }
        return Int64(v)
    }

    private static func fromFloat<S>(_ s: UnsafePointer<S>, _ d: UnsafeMutableRawPointer, _ to: DType, _ n: Int,
                                     _ f: (S) -> Float) {
        switch to {
        case .float32: map(s, d, n) { f($0) }
        case .float16: map(s, d, n) { Half(f($0)) }
        case .int8: map(s, d, n) { Int8(truncatingIfNeeded: truncate(f($0))) }
        case .uint8: map(s, d, n) { UInt8(truncatingIfNeeded: truncate(f($0))) }
        case .int32: map(s, d, n) { Int32(truncatingIfNeeded: truncate(f($0))) }
        case .int64: map(s, d, n) { truncate(f($0)) }
        case .bool: map(s, d, n) { f($0) != 0 }
        }
    }

    private static func fromInt<S: BinaryInteger>(_ s: UnsafePointer<S>, _ d: UnsafeMutableRawPointer, _ to: DType, _ n: Int) {
        switch to {
        case .float32: map(s, d, n) { Float($0) }
        case .float16: map(s, d, n) { Half(Float($0)) }
        case .int8: map(s, d, n) { Int8(truncatingIfNeeded: $0) }
        case .uint8: map(s, d, n) { UInt8(truncatingIfNeeded: $0) }
        case .int32: map(s, d, n) { Int32(truncatingIfNeeded: $0) }
        case .int64: map(s, d, n) { Int64(truncatingIfNeeded: $0) }
        case .bool: map(s, d, n) { $0 != 0 }
        }
    }
}
