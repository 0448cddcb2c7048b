import FrugalCore

/// Helpers shared by the math, activation, reduction and softmax op families: float16
/// handled by computing in float32, integer-list inputs (axes, k), axis normalisation and
/// elementwise maps over any element type.
enum MathSupport {
    /// Float32 and float16 (computed in float32).
    static let floats: Set<DType> = [.float32, .float16]
    /// Every numeric type Frugal stores.
    static let numeric: Set<DType> = [.float32, .float16, .int32, .int64, .int8, .uint8]
    /// Signed integer types.
    static let signedInts: Set<DType> = [.int32, .int64, .int8]

    /// `t` as float32 (float16 converted; float32 unchanged).
    static func widened(_ t: Tensor) throws -> Tensor {
        t.dtype == .float16 ? try Tensor(shape: t.shape, scalars: t.floatScalars()) : t
    }

    /// A float32 tensor rounded to float16.
    static func narrowed(_ t: Tensor) throws -> Tensor {
        try Tensor(shape: t.shape, scalars: t.scalars(as: Float.self).map(Half.init))
    }

    /// Runs a float32 computation on float32 or float16 inputs: float16 inputs are widened,
    /// and the results that are float32 are narrowed back when the first input was float16.
    static func floatCompute(_ call: OpCall, _ inputs: [Tensor], _ body: ([Tensor]) throws -> [Tensor]) throws -> [Tensor] {
        guard let first = inputs.first else { throw call.fail("the op needs at least one input") }
        for (i, t) in inputs.enumerated() where t.dtype != first.dtype {
            throw call.fail("input \(i) is \(t.dtype) \(t.shape) but input 0 is \(first.dtype); all inputs must have the same type")
        }
        guard first.dtype == .float32 || first.dtype == .float16 else {
            throw call.fail("input is \(first.dtype) \(first.shape); this op takes float32 or float16")
        }
        let half = first.dtype == .float16
        let results = try call.kernel { try body(try inputs.map(widened)) }
        return half ? try results.map { $0.dtype == .float32 ? try narrowed($0) : $0 } : results
    }

    /// Single input, single output form of ``floatCompute(_:_:_:)``.
    static func floatUnary(_ call: OpCall, _ body: (Tensor) throws -> Tensor) throws -> [Tensor] {
        let x = try call.input(0)
        // float32 needs no conversion: no argument and result arrays to build.
        if x.dtype == .float32 { return [try call.kernel { try body(x) }] }
        return try floatCompute(call, [x]) { [try body($0[0])] }
    }

    /// Maps an ONNX axis in `-rank..<rank` to `0..<rank`, or fails naming the node.
    static func axis(_ call: OpCall, _ axis: Int, rank: Int, what: String = "axis") throws -> Int {
        guard axis >= -rank, axis < rank else {
            throw call.fail("\(what) \(axis) is out of range for an input of rank \(rank); use a value in \(-rank)..<\(rank)")
        }
        return axis < 0 ? axis + rank : axis
    }

    /// The values of an int32 / int64 tensor input (axes, k, the CumSum axis).
    static func ints(_ call: OpCall, _ t: Tensor, what: String) throws -> [Int] {
        switch t.dtype {
        case .int64: return t.scalars(as: Int64.self).map { Int($0) }
        case .int32: return t.scalars(as: Int32.self).map { Int($0) }
        default: throw call.fail("\(what) is \(t.dtype) \(t.shape); it must be int64 (or int32)")
        }
    }

    /// `f` applied to every element of a tensor of element type `T`.
    static func map<T: TensorScalar, R: TensorScalar>(_ x: Tensor, _: T.Type, to _: R.Type, _ f: (T) -> R) throws -> Tensor {
        var out = try Tensor(zeros: x.shape, dtype: R.dtype)
        x.withUnsafeBufferPointer(as: T.self) { src in
            out.withUnsafeMutableBufferPointer(as: R.self) { dst in
                for i in 0..<src.count { dst[i] = f(src[i]) }
            }
        }
        return out
    }

    /// `f` applied to every element of a signed-integer tensor (int8, int32 or int64), in its own type.
    static func mapSigned(_ call: OpCall, _ x: Tensor, _ f: (Int64) -> Int64) throws -> Tensor {
        switch x.dtype {
        case .int64: return try map(x, Int64.self, to: Int64.self, f)
        case .int32: return try map(x, Int32.self, to: Int32.self) { Int32(truncatingIfNeeded: f(Int64($0))) }
        case .int8: return try map(x, Int8.self, to: Int8.self) { Int8(truncatingIfNeeded: f(Int64($0))) }
        default: throw call.fail("input is \(x.dtype) \(x.shape); this op takes float32, float16, int8, int32 or int64")
        }
    }

    /// The input viewed as [outer, axisLength, inner] around dimension `axis`.
    static func split(_ shape: Shape, at axis: Int) -> (outer: Int, length: Int, inner: Int) {
        let d = shape.dims
        return (d[..<axis].reduce(1, *), d[axis], d[(axis + 1)...].reduce(1, *))
    }
}

/// Truncating conversions used where ONNX casts a float result to an integer type
/// (Pow with an integer base): NaN and out-of-range values saturate instead of trapping.
extension FixedWidthInteger {
    init(saturating v: Double) {
        if v.isNaN { self = 0 } else if v >= Double(Self.max) { self = Self.max } else if v <= Double(Self.min) {
            self = Self.min
        } else { self = Self(v.rounded(.towardZero)) }
    }
}
