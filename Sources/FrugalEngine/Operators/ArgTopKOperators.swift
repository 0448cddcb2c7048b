import FrugalCore

/// Index-selecting reductions along one axis: ArgMax, ArgMin (int64 indices, keepdims,
/// select_last_index) and TopK (values and int64 indices; ties keep the lower index first).
enum ArgTopKOperators {
    static let schemas: [OperatorSchema] = [
        arg("ArgMax", max: true),
        arg("ArgMin", max: false),
        OperatorSchema("TopK", since: 1, dtypes: [.float32, .float16, .int32, .int64, .int8, .uint8]) { call in
            try topK(call)
        },
    ]

    /// ArgMax / ArgMin: `axis` (default 0; negative from opset 11), keepdims (default 1),
    /// select_last_index (opset 12, default 0). Float32 and float16 (exact in float32).
    static func arg(_ name: String, max: Bool) -> OperatorSchema {
        OperatorSchema(name, since: 1, dtypes: MathSupport.floats) { call in
            let x = try call.input(0)
            guard x.rank >= 1 else { throw call.fail("input is a scalar; \(name) needs rank 1 or more") }
            let axis = try MathSupport.axis(call, try call.node.int("axis", default: 0), rank: x.rank)
            let keepDims = try call.node.int("keepdims", default: 1) != 0
            let last = try call.node.int("select_last_index", default: 0) != 0
            return try MathSupport.floatUnary(call) {
                try ArgReduce.argExtreme(max: max, $0, axis: axis, keepDims: keepDims, selectLastIndex: last, pool: call.context.pool)
            }
        }
    }

    /// TopK: k from the `k` attribute before opset 10 and from input 1 after; `axis`
    /// (default -1), `largest` and `sorted` (opset 11, default 1). Results are always sorted
    /// (allowed when sorted = 0). NaN ranks above every number.
    static func topK(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0)
        guard x.rank >= 1 else { throw call.fail("input is a scalar; TopK needs rank 1 or more") }
        let axis = try MathSupport.axis(call, try call.node.int("axis", default: -1), rank: x.rank)
        let k: Int
        if call.context.opset < 10 {
            guard let v = try call.node.int("k") else { throw call.fail("attribute 'k' is required before opset 10") }
            k = v
        } else {
            let ks = try MathSupport.ints(call, try call.input(1), what: "K")
            guard ks.count == 1 else { throw call.fail("K has \(ks.count) values; it must hold exactly one") }
            k = ks[0]
        }
        guard k >= 0, k <= x.shape[axis] else {
            throw call.fail("k is \(k) but axis \(axis) of input \(x.shape) has \(x.shape[axis]) elements; use 0...\(x.shape[axis])")
        }
        let largest = try call.node.int("largest", default: 1) != 0
        switch x.dtype {
        case .int32: return try select(x, k, axis, Int32.self, before: largest ? (>) : (<))
        case .int64: return try select(x, k, axis, Int64.self, before: largest ? (>) : (<))
        case .int8: return try select(x, k, axis, Int8.self, before: largest ? (>) : (<))
        case .uint8: return try select(x, k, axis, UInt8.self, before: largest ? (>) : (<))
        default:
            let before: (Float, Float) -> Bool = largest
                ? { a, b in a > b || (a.isNaN && !b.isNaN) }
                : { a, b in a < b || (!a.isNaN && b.isNaN) }
            return try MathSupport.floatCompute(call, [x]) { try select($0[0], k, axis, Float.self, before: before) }
        }
    }

    /// The first `k` elements along `axis` in the order `before` (a strict ordering), ties
    /// broken by the lower index.
    static func select<T: TensorScalar>(
        _ x: Tensor, _ k: Int, _ axis: Int, _: T.Type, before: (T, T) -> Bool
    ) throws -> [Tensor] {
        let (outer, length, inner) = MathSupport.split(x.shape, at: axis)
        var outShape = x.shape
        outShape[axis] = k
        var values = try Tensor(zeros: outShape, dtype: T.dtype)
        var indices = try Tensor(zeros: outShape, dtype: .int64)
        x.withUnsafeBufferPointer(as: T.self) { src in
            values.withUnsafeMutableBufferPointer(as: T.self) { vals in
                indices.withUnsafeMutableBufferPointer(as: Int64.self) { idxs in
                    var order = [Int](repeating: 0, count: length)
                    for o in 0..<outer {
                        for j in 0..<inner {
                            let base = o * length * inner + j
                            for a in 0..<length { order[a] = a }
                            order.sort { p, q in
                                let u = src[base + p * inner], v = src[base + q * inner]
                                if before(u, v) { return true }
                                if before(v, u) { return false }
                                return p < q
                            }
                            let outBase = o * k * inner + j
                            for r in 0..<k {
                                vals[outBase + r * inner] = src[base + order[r] * inner]
                                idxs[outBase + r * inner] = Int64(order[r])
                            }
                        }
                    }
                }
            }
        }
        return [values, indices]
    }
}
