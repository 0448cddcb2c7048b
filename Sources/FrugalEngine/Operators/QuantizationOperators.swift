import FrugalCore

/// QuantizeLinear and DequantizeLinear (per-tensor, per-axis and blocked; int8/uint8, and
/// int32 for dequantization; opset 10-21 semantics) and DynamicQuantizeLinear (uint8).
enum QuantizationOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("QuantizeLinear", since: 10, until: 22, dtypes: .floats) { try quantize($0) },
        OperatorSchema("DequantizeLinear", since: 10, until: 22, dtypes: [.int8, .uint8, .int32]) { try dequantize($0) },
        OperatorSchema("DynamicQuantizeLinear", since: 11, dtypes: .floats) { try dynamicQuantize($0) },
    ]

    /// Which scale / zero point applies to each element of x: one for all, one per index of
    /// `axis`, or one per block of `blockSize` indices along `axis`.
    struct ParameterIndex {
        let outer: Int, n: Int, inner: Int, blockSize: Int, perTensor: Bool

        init(_ call: OpCall, x: Tensor, scale: Tensor) throws {
            let node = call.node
            perTensor = scale.elementCount == 1 && scale.rank <= 1
            let axis = try node.int("axis", default: 1)
            let r = max(x.rank, 1)
            guard perTensor || (axis >= -r && axis < r) else { throw call.fail("axis \(axis) is out of range for x \(x.shape)") }
            let ax = perTensor ? 0 : (axis < 0 ? axis + r : axis)
            let dims = x.rank == 0 ? [1] : x.shape.dims
            outer = dims[..<ax].reduce(1, *)
            n = dims[ax]
            inner = dims[(ax + 1)...].reduce(1, *)
            blockSize = try node.int("block_size", default: 0)
            if perTensor { return }
            if blockSize > 0 {
                var expected = dims
                expected[ax] = (n + blockSize - 1) / blockSize
                guard scale.shape.dims == expected else {
                    throw call.fail("blocked scale has shape \(scale.shape); with block_size \(blockSize) along axis \(axis) of x \(x.shape) it must be \(expected)")
                }
            } else {
                guard scale.rank == 1, scale.shape[0] == n else {
                    throw call.fail("scale has shape \(scale.shape); it must be a scalar or [\(n)] (x \(x.shape), axis \(axis))")
                }
            }
        }

        @inline(__always)
        func callAsFunction(_ i: Int) -> Int {
            if perTensor { return 0 }
            let a = (i / inner) % n
            if blockSize == 0 { return a }
            let o = i / (n * inner)
            let blocks = (n + blockSize - 1) / blockSize
            return (o * blocks + a / blockSize) * inner + i % inner
        }
    }

    /// Range of a quantized type.
    static func bounds(_ d: DType) -> (Float, Float) { d == .int8 ? (-128, 127) : (0, 255) }

    static func quantize(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "x")
        let scaleT = try call.input(1)
        guard scaleT.dtype.isFloatingPoint else { throw call.fail("y_scale is \(scaleT.dtype); it must be a float") }
        let zpT = call.optionalInput(2)
        var outType = DType.uint8
        if let zpT { outType = zpT.dtype } else if let code = try call.node.int("output_dtype"), code != 0 {
            guard code == 2 || code == 3 else { throw call.fail("output_dtype \(code) is not supported (only uint8 = 2, int8 = 3)") }
            outType = code == 3 ? .int8 : .uint8
        }
        guard outType == .int8 || outType == .uint8 else { throw call.fail("y_zero_point is \(outType); only int8 and uint8 are supported") }
        let index = try ParameterIndex(call, x: x, scale: scaleT)
        if let zpT, zpT.shape != scaleT.shape && zpT.elementCount != scaleT.elementCount {
            throw call.fail("y_zero_point \(zpT.shape) must have the shape of y_scale \(scaleT.shape)")
        }
        let scale = scaleT.floatScalars(), zp = zpT?.floatScalars() ?? [0]
        let (lo, hi) = bounds(outType)
        var y = try call.kernel { try Tensor(zeros: x.shape, dtype: outType) }
        let xp = x.floatPointer, count = x.elementCount
        func fill<T: BinaryInteger>(_ p: UnsafeMutableBufferPointer<T>) {
            for i in 0..<count {
                let j = index(i)
                let v = (xp[i] / scale[j]).rounded(.toNearestOrEven) + zp[zpT == nil ? 0 : j]
                p[i] = T(v.isNaN ? 0 : min(max(v, lo), hi))
            }
        }
        if outType == .int8 { y.withUnsafeMutableBufferPointer(as: Int8.self, fill) } else { y.withUnsafeMutableBufferPointer(as: UInt8.self, fill) }
        return [y]
    }

    static func dequantize(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0), scaleT = try call.input(1)
        guard scaleT.dtype.isFloatingPoint else { throw call.fail("x_scale is \(scaleT.dtype); it must be a float") }
        let zpT = call.optionalInput(2)
        if let zpT, zpT.dtype != x.dtype { throw call.fail("x_zero_point is \(zpT.dtype) but x is \(x.dtype)") }
        let index = try ParameterIndex(call, x: x, scale: scaleT)
        let scale = scaleT.floatScalars(), zp = zpT?.floatScalars() ?? [0]
        if x.dtype == .int32, zp.contains(where: { $0 != 0 }) { throw call.fail("int32 x needs a zero x_zero_point") }
        let values = x.floatScalars()
        var y = try call.newOutput(x.shape.dims)
        let yp = y.mutableFloatPointer()
        for i in 0..<values.count {
            let j = index(i)
            yp[i] = (values[i] - zp[zpT == nil ? 0 : j]) * scale[j]
        }
        return [y]
    }

    static func dynamicQuantize(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "x")
        let v = x.floatScalars()
        let lo = min(0, v.min() ?? 0), hi = max(0, v.max() ?? 0)
        var scale = (hi - lo) / 255
        if scale == 0 { scale = 1 }  // all-zero input: any scale maps it to the zero point
        let zp = min(max((0 - lo / scale).rounded(.toNearestOrEven), 0), 255)
        var y = try call.kernel { try Tensor(zeros: x.shape, dtype: .uint8) }
        y.withUnsafeMutableBufferPointer(as: UInt8.self) { p in
            for i in 0..<v.count { p[i] = UInt8(min(max((v[i] / scale).rounded(.toNearestOrEven) + zp, 0), 255)) }
        }
        return [y, Tensor(scalar: scale), Tensor(scalar: UInt8(zp))]
    }
}
