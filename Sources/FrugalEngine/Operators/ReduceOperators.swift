import Foundation
import FrugalCore

// Reductions along axes: Reduce* and CumSum (ReduceOperators), ArgMax / ArgMin / TopK
// (ArgTopKOperators).

/// ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp and CumSum (a running sum
/// along one axis).
///
/// Axes come from the `axes` attribute before opset 13 (ReduceSum) or 18 (the others), and
/// from optional input 1 with `noop_with_empty_axes` from then on. Float32 and float16 go
/// through the Reduction kernel; ReduceSum/Prod/Max/Min/SumSquare/L1 also take int32 / int64
/// (exact integer arithmetic), and ReduceMax/Min take bool (opset 20).
enum ReduceOperators {
    static let intExact: Set<DType> = [.int32, .int64]

    static let schemas: [OperatorSchema] = [
        reduce("ReduceSum", .sum, axesInputSince: 13, integers: true),
        reduce("ReduceMean", .mean, axesInputSince: 18, integers: false),
        reduce("ReduceMax", .max, axesInputSince: 18, integers: true, bool: true),
        reduce("ReduceMin", .min, axesInputSince: 18, integers: true, bool: true),
        reduce("ReduceProd", .prod, axesInputSince: 18, integers: true),
        reduce("ReduceSumSquare", .sumSquare, axesInputSince: 18, integers: true),
        reduce("ReduceL1", .l1, axesInputSince: 18, integers: true),
        reduce("ReduceL2", .l2, axesInputSince: 18, integers: false),
        reduce("ReduceLogSum", .logSum, axesInputSince: 18, integers: false),
        reduce("ReduceLogSumExp", nil, axesInputSince: 18, integers: false),
        cumulative("CumSum", since: 11, product: false),
        cumulative("CumProd", since: 26, product: true),
    ]

    /// CumSum (opset 11) and CumProd (opset 26): running sums or products along `axis`,
    /// optionally exclusive (each output omits its own element) and reversed.
    static func cumulative(_ name: String, since: Int, product: Bool) -> OperatorSchema {
        OperatorSchema(name, since: since, dtypes: [.float32, .float16, .int32, .int64]) { call in
            let x = try call.input(0)
            let axisValues = try MathSupport.ints(call, try call.input(1), what: "axis")
            guard axisValues.count == 1 else { throw call.fail("axis has \(axisValues.count) values; it must be a scalar") }
            guard x.rank >= 1 else { throw call.fail("input is a scalar; \(name) needs rank 1 or more") }
            let axis = try MathSupport.axis(call, axisValues[0], rank: x.rank)
            let exclusive = try call.node.int("exclusive", default: 0) != 0
            let reverse = try call.node.int("reverse", default: 0) != 0
            switch x.dtype {
            case .int32: return [try cumSum(x, axis, exclusive, reverse, Int32.self, product ? 1 : 0, product ? (&*) : (&+))]
            case .int64: return [try cumSum(x, axis, exclusive, reverse, Int64.self, product ? 1 : 0, product ? (&*) : (&+))]
            default:
                return try MathSupport.floatUnary(call) { try cumSum($0, axis, exclusive, reverse, Float.self, product ? 1 : 0, product ? (*) : (+)) }
            }
        }
    }

    /// One Reduce op; `op` nil is ReduceLogSumExp.
    static func reduce(_ name: String, _ op: ReduceOp?, axesInputSince: Int, integers: Bool, bool: Bool = false) -> OperatorSchema {
        var dtypes = MathSupport.floats
        if integers { dtypes.formUnion(intExact) }
        if bool { dtypes.insert(.bool) }
        return OperatorSchema(name, since: 1, dtypes: dtypes) { call in
            let x = try call.input(0)
            let keepDims = try call.node.int("keepdims", default: 1) != 0
            var axes: [Int]?
            var noop = false
            if call.context.opset >= axesInputSince {
                if let t = call.optionalInput(1) { axes = try MathSupport.ints(call, t, what: "axes") }
                noop = try call.node.int("noop_with_empty_axes", default: 0) != 0
            } else {
                axes = try call.node.ints("axes")
            }
            if (axes ?? []).isEmpty && noop { return [x] }
            // Validate here so bad axes name the node whatever the dtype path.
            var seen = Set<Int>()
            for a in axes ?? [] {
                let n = try MathSupport.axis(call, a, rank: x.rank, what: "axes entry")
                guard seen.insert(n).inserted else { throw call.fail("axis \(a) appears twice in axes \(axes!); list each axis once") }
            }
            let pool = call.context.pool
            switch x.dtype {
            case .bool where bool:
                let f = try MathSupport.map(x, Bool.self, to: Float.self) { $0 ? 1 : 0 }
                let r = try call.kernel { try FrugalCore.Reduction.reduce(op!, f, axes: axes, keepDims: keepDims, pool: pool) }
                return [try MathSupport.map(r, Float.self, to: Bool.self) { $0 > 0.5 }]
            case .int32 where integers: return [try integerReduce(op!, x, seen, keepDims, Int32.self)]
            case .int64 where integers: return [try integerReduce(op!, x, seen, keepDims, Int64.self)]
            default:
                return try MathSupport.floatUnary(call) { x in
                    guard let op else { return try logSumExp(x, axes: axes, reduced: seen, keepDims: keepDims, pool: pool) }
                    return try FrugalCore.Reduction.reduce(op, x, axes: axes, keepDims: keepDims, pool: pool)
                }
            }
        }
    }

    /// log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the maximum (0 where the
    /// maximum is infinite, so that all -inf gives -inf and +inf gives +inf).
    static func logSumExp(_ x: Tensor, axes: [Int]?, reduced: Set<Int>, keepDims: Bool, pool: ThreadPool) throws -> Tensor {
        var m = try FrugalCore.Reduction.reduce(.max, x, axes: axes, keepDims: true, pool: pool)
        m.withUnsafeMutableBufferPointer(as: Float.self) { p in
            for i in 0..<p.count where !p[i].isFinite && !p[i].isNaN { p[i] = 0 }
        }
        let shifted = try Unary.apply(.exp, try Elementwise.binary(.sub, x, m, pool: pool), pool: pool)
        let s = try FrugalCore.Reduction.reduce(.logSum, shifted, axes: axes, keepDims: true, pool: pool)
        let r = try Elementwise.binary(.add, s, m, pool: pool)
        if keepDims { return r }
        let all = reduced.isEmpty ? Set(0..<x.rank) : reduced
        return try r.reshaped(Shape(x.shape.dims.enumerated().filter { !all.contains($0.offset) }.map(\.element)))
    }

    /// Exact integer reduction (wrapping on overflow) over `axes` (normalised; empty = all).
    static func integerReduce<T: FixedWidthInteger & TensorScalar>(
        _ op: ReduceOp, _ x: Tensor, _ axes: Set<Int>, _ keepDims: Bool, _: T.Type
    ) throws -> Tensor {
        let all = axes.isEmpty ? Set(0..<x.rank) : axes
        let dims = x.shape.dims
        let keptDims = dims.enumerated().map { all.contains($0.offset) ? 1 : $0.element }
        let outShape = Shape(keepDims ? keptDims : dims.enumerated().filter { !all.contains($0.offset) }.map(\.element))
        let ident: T
        switch op {
        case .max: ident = T.min
        case .min: ident = T.max
        case .prod: ident = 1
        default: ident = 0
        }
        var out = try Tensor(zeros: outShape, dtype: T.dtype)
        let outStrides = Shape(keptDims).strides
        x.withUnsafeBufferPointer(as: T.self) { src in
            out.withUnsafeMutableBufferPointer(as: T.self) { dst in
                for j in 0..<dst.count { dst[j] = ident }
                var idx = [Int](repeating: 0, count: dims.count)
                var o = 0
                for i in 0..<src.count {
                    let v = src[i]
                    switch op {
                    case .max: dst[o] = Swift.max(dst[o], v)
                    case .min: dst[o] = Swift.min(dst[o], v)
                    case .prod: dst[o] = dst[o] &* v
                    case .sumSquare: dst[o] = dst[o] &+ v &* v
                    case .l1: dst[o] = dst[o] &+ (v < 0 ? 0 &- v : v)
                    default: dst[o] = dst[o] &+ v
                    }
                    var d = dims.count - 1
                    while d >= 0 {
                        idx[d] += 1
                        if !all.contains(d) { o += outStrides[d] }
                        if idx[d] < dims[d] { break }
                        if !all.contains(d) { o -= outStrides[d] * dims[d] }
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return out
    }

    /// Running sum along `axis`; `exclusive` leaves out the current element, `reverse` runs
    /// from the end.
    static func cumSum<T: TensorScalar & Numeric>(
        _ x: Tensor, _ axis: Int, _ exclusive: Bool, _ reverse: Bool, _: T.Type, _ identity: T, _ add: (T, T) -> T
    ) throws -> Tensor {
        let (outer, length, inner) = MathSupport.split(x.shape, at: axis)
        var out = try Tensor(zeros: x.shape, dtype: T.dtype)
        x.withUnsafeBufferPointer(as: T.self) { src in
            out.withUnsafeMutableBufferPointer(as: T.self) { dst in
                for o in 0..<outer {
                    for j in 0..<inner {
                        var acc: T = identity
                        for step in 0..<length {
                            let a = reverse ? length - 1 - step : step
                            let i = (o * length + a) * inner + j
                            if exclusive {
                                dst[i] = acc
                                acc = add(acc, src[i])
                            } else {
                                acc = add(acc, src[i])
                                dst[i] = acc
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

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
