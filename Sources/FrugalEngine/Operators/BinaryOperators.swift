import Foundation
import FrugalCore

/// Broadcasting binary math: Add, Sub, Mul, Div, Pow, Mod, PRelu, and the variadic Max, Min,
/// Sum and Mean (numpy broadcasting, opset 7/8 onwards; the legacy `broadcast` / `axis`
/// attributes of opsets 1-6 are not implemented).
enum BinaryOperators {
    static let schemas: [OperatorSchema] = [
        arithmetic("Add", .add),
        arithmetic("Sub", .sub),
        arithmetic("Mul", .mul),
        arithmetic("Div", .div),
        OperatorSchema("Pow", since: 7, dtypes: [.float32, .float16, .int32, .int64]) { call in
            [try pow(call, try call.input(0), try call.input(1))]
        },
        // Opsets 6-7 require equal shapes, 8+ broadcast: broadcasting covers both.
        variadic("Max", since: 6, dtypes: MathSupport.numeric) { call, a, b in try binary(call, .max, a, b) },
        variadic("Min", since: 6, dtypes: MathSupport.numeric) { call, a, b in try binary(call, .min, a, b) },
        variadic("Sum", since: 6, dtypes: MathSupport.floats) { call, a, b in try binary(call, .add, a, b) },
        OperatorSchema("Mean", since: 6, dtypes: MathSupport.floats) { call in
            let xs = try variadicInputs(call)
            return try MathSupport.floatCompute(call, xs) { xs in
                var acc = xs[0]
                for x in xs.dropFirst() { acc = try Elementwise.binary(.add, acc, x, pool: call.context.pool) }
                return [try Elementwise.binary(.div, acc, Tensor(scalar: Float(xs.count)), pool: call.context.pool)]
            }
        },
        OperatorSchema("Mod", since: 10, dtypes: MathSupport.numeric) { call in
            [try mod(call, try call.input(0), try call.input(1), fmod: try call.node.int("fmod", default: 0))]
        },
        // PRelu 7+: slope broadcasts to X (unidirectionally); 6 and earlier are not implemented.
        OperatorSchema("PRelu", since: 7, dtypes: [.float32, .float16, .int32, .int64]) { call in
            let x = try call.input(0), slope = try call.input(1)
            guard x.dtype == slope.dtype else {
                throw call.fail("X is \(x.dtype) but slope is \(slope.dtype); they must have the same type")
            }
            let out = try call.kernel { try Shape.broadcast(x.shape, slope.shape) }
            guard out == x.shape else {
                throw call.fail("slope \(slope.shape) does not broadcast to X \(x.shape); it must broadcast to X's shape")
            }
            switch x.dtype {
            case .int32: return [try call.kernel { try Elementwise.map(x, slope, as: Int32.self, Int32.self, to: Int32.self) { $0 < 0 ? $0 &* $1 : $0 } }]
            case .int64: return [try call.kernel { try Elementwise.map(x, slope, as: Int64.self, Int64.self, to: Int64.self) { $0 < 0 ? $0 &* $1 : $0 } }]
            default:
                return try MathSupport.floatCompute(call, [x, slope]) { t in
                    [try Elementwise.map(t[0], t[1], as: Float.self, Float.self, to: Float.self) { $0 < 0 ? $0 * $1 : $0 }]
                }
            }
        },
    ]

    /// Add / Sub / Mul / Div from opset 7 (numpy broadcasting), for every numeric type.
    static func arithmetic(_ name: String, _ op: BinaryOp) -> OperatorSchema {
        OperatorSchema(name, since: 7, dtypes: MathSupport.numeric) { call in
            [try binary(call, op, try call.input(0), try call.input(1))]
        }
    }

    /// A variadic op folded pairwise (1 or more inputs).
    static func variadic(_ name: String, since: Int, dtypes: Set<DType>,
                         _ pair: @escaping @Sendable (OpCall, Tensor, Tensor) throws -> Tensor) -> OperatorSchema {
        OperatorSchema(name, since: since, dtypes: dtypes) { call in
            let xs = try variadicInputs(call)
            var acc = xs[0]
            for x in xs.dropFirst() { acc = try pair(call, acc, x) }
            return [acc]
        }
    }

    static func variadicInputs(_ call: OpCall) throws -> [Tensor] {
        let xs = call.inputs.compactMap { $0 }
        guard !xs.isEmpty else { throw call.fail("needs at least one input") }
        return xs
    }

    /// `a op b` through the Elementwise kernel; float16 computed in float32.
    static func binary(_ call: OpCall, _ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.dtype == b.dtype else {
            throw call.fail("inputs are \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape); both must have the same type")
        }
        if a.dtype == .float16 {
            return try MathSupport.floatCompute(call, [a, b]) { [try Elementwise.binary(op, $0[0], $0[1], pool: call.context.pool, buffers: call.context.buffers)] }[0]
        }
        if a.dtype == .float32, let state = call.state {
            // The broadcast plan is kept in the node's state for the shapes it was made for.
            let plan: BroadcastPlan
            if let m = state.memo as? BroadcastMemo, m.a == a.shape, m.b == b.shape {
                plan = m.plan
            } else {
                plan = try call.kernel { try BroadcastPlan(a.shape, b.shape) }
                state.memo = BroadcastMemo(a: a.shape, b: b.shape, plan: plan)
            }
            var out = try call.kernel { try call.context.buffers.uninitializedTensor(plan.outputShape) }
            a.withUnsafeBufferPointer(as: Float.self) { pa in
                b.withUnsafeBufferPointer(as: Float.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: Float.self) {
                        Elementwise.binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!,
                                           output: $0.baseAddress!, pool: call.context.pool)
                    }
                }
            }
            return out
        }
        return try call.kernel { try Elementwise.binary(op, a, b, pool: call.context.pool, buffers: call.context.buffers) }
    }

    /// A node's broadcast plan and the input shapes it was made for.
    final class BroadcastMemo {
        let a: Shape, b: Shape, plan: BroadcastPlan
        init(a: Shape, b: Shape, plan: BroadcastPlan) { (self.a, self.b, self.plan) = (a, b, plan) }
    }

    /// Pow: the result has the base's type; mixed base / exponent types are computed in Double
    /// and converted (truncating toward zero for an integer base), as numpy does.
    static func pow(_ call: OpCall, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        if a.dtype == b.dtype, a.dtype != .float16 { return try binary(call, .pow, a, b) }
        if a.dtype == .float16 {
            let e = b.dtype == .float16 ? try MathSupport.widened(b) : b
            let r = try pow(call, try MathSupport.widened(a), e)
            return try MathSupport.narrowed(r)
        }
        let exponent: Tensor
        switch b.dtype {
        case .float32, .int32, .int64, .int8, .uint8: exponent = b
        case .float16: exponent = try MathSupport.widened(b)
        default: throw call.fail("exponent is \(b.dtype); use a float or integer type")
        }
        return try call.kernel {
            switch a.dtype {
            case .float32: return try powMixed(a, exponent, base: Float.self) { Float(Foundation.pow(Double($0), $1)) }
            case .int32: return try powMixed(a, exponent, base: Int32.self) { Int32(saturating: Foundation.pow(Double($0), $1)) }
            case .int64: return try powMixed(a, exponent, base: Int64.self) { Int64(saturating: Foundation.pow(Double($0), $1)) }
            default: throw CoreError.unsupportedDType("Pow: base is \(a.dtype); use float32, float16, int32 or int64")
            }
        }
    }

    static func powMixed<A: TensorScalar>(_ a: Tensor, _ b: Tensor, base: A.Type, _ f: (A, Double) -> A) throws -> Tensor {
        switch b.dtype {
        case .float32: return try Elementwise.map(a, b, as: A.self, Float.self, to: A.self) { f($0, Double($1)) }
        case .int32: return try Elementwise.map(a, b, as: A.self, Int32.self, to: A.self) { f($0, Double($1)) }
        case .int64: return try Elementwise.map(a, b, as: A.self, Int64.self, to: A.self) { f($0, Double($1)) }
        case .int8: return try Elementwise.map(a, b, as: A.self, Int8.self, to: A.self) { f($0, Double($1)) }
        case .uint8: return try Elementwise.map(a, b, as: A.self, UInt8.self, to: A.self) { f($0, Double($1)) }
        default: throw CoreError.unsupportedDType("Pow: exponent is \(b.dtype)")
        }
    }

    /// Mod: fmod = 1 takes the dividend's sign (C fmod); fmod = 0 the divisor's (Python %),
    /// integers only per the spec; floats always use fmod (as ONNX's reference does), NaN
    /// becoming 0 under fmod = 0. Integer x mod 0 is 0.
    static func mod(_ call: OpCall, _ a: Tensor, _ b: Tensor, fmod: Int) throws -> Tensor {
        guard a.dtype == b.dtype else {
            throw call.fail("inputs are \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape); both must have the same type")
        }
        guard fmod == 0 || fmod == 1 else { throw call.fail("fmod is \(fmod); it must be 0 or 1") }
        let truncated = fmod == 1
        switch a.dtype {
        case .float32, .float16:
            return try MathSupport.floatCompute(call, [a, b]) { t in
                [try Elementwise.map(t[0], t[1], as: Float.self, Float.self, to: Float.self) { x, y in
                    let r = Foundation.fmod(x, y)
                    return !truncated && r.isNaN ? 0 : r
                }]
            }[0]
        case .int32: return try call.kernel { try Elementwise.map(a, b, as: Int32.self, Int32.self, to: Int32.self) { integerMod($0, $1, truncated) } }
        case .int64: return try call.kernel { try Elementwise.map(a, b, as: Int64.self, Int64.self, to: Int64.self) { integerMod($0, $1, truncated) } }
        case .int8: return try call.kernel { try Elementwise.map(a, b, as: Int8.self, Int8.self, to: Int8.self) { integerMod($0, $1, truncated) } }
        case .uint8: return try call.kernel { try Elementwise.map(a, b, as: UInt8.self, UInt8.self, to: UInt8.self) { integerMod($0, $1, truncated) } }
        default: throw call.fail("inputs are \(a.dtype); Mod takes float32, float16, int8, uint8, int32 or int64")
        }
    }

    @inline(__always)
    static func integerMod<T: FixedWidthInteger>(_ a: T, _ b: T, _ truncated: Bool) -> T {
        if b == 0 { return 0 }
        let r = a.remainderReportingOverflow(dividingBy: b).partialValue
        if truncated || r == 0 || (r < 0) == (b < 0) { return r }
        return r &+ b
    }
}
