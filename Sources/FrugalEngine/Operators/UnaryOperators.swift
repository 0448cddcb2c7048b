import FrugalCore

// Elementwise unary ops: math functions (UnaryOperators) and activations with Clip
// (ActivationOperators), all running on the Unary kernel for floats.

/// Elementwise math functions: Sqrt, Exp, Log, Erf, Abs, Neg, Reciprocal, Floor, Ceil, Round,
/// Sign and the trigonometric / hyperbolic functions. Float32 and float16 (computed in
/// float32); Abs, Neg and Sign also take int8 / int32 / int64.
enum UnaryOperators {
    static let schemas: [OperatorSchema] = [
        // Opset 1 differs only by the legacy `consumed_inputs` attribute; 6 and 13 only add types.
        float("Sqrt", since: 6, .sqrt),
        float("Exp", since: 6, .exp),
        float("Log", since: 6, .log),
        float("Reciprocal", since: 6, .reciprocal),
        float("Floor", since: 6, .floor),
        float("Ceil", since: 6, .ceil),
        float("Erf", since: 9, .erf),
        float("Round", since: 11, .round),
        float("Sin", since: 7, .sin),
        float("Cos", since: 7, .cos),
        float("Tan", since: 7, .tan),
        float("Asin", since: 7, .asin),
        float("Acos", since: 7, .acos),
        float("Atan", since: 7, .atan),
        float("Sinh", since: 9, .sinh),
        float("Cosh", since: 9, .cosh),
        float("Asinh", since: 9, .asinh),
        float("Acosh", since: 9, .acosh),
        float("Atanh", since: 9, .atanh),
        signed("Abs", since: 6, .abs) { $0 == .min ? $0 : Swift.abs($0) },
        signed("Neg", since: 6, .neg) { 0 &- $0 },
        signed("Sign", since: 9, .sign) { $0.signum() },
    ]

    /// A float-only op applying `op` through the Unary kernel.
    static func float(_ name: String, since: Int, _ op: UnaryOp) -> OperatorSchema {
        OperatorSchema(name, since: since, dtypes: MathSupport.floats) { call in
            try MathSupport.floatUnary(call) { try Unary.apply(op, $0, pool: call.context.pool, buffers: call.context.buffers) }
        }
    }

    /// An op on floats (the Unary kernel) and signed integers (`integer`, in the input's type).
    static func signed(_ name: String, since: Int, _ op: UnaryOp,
                       _ integer: @escaping @Sendable (Int64) -> Int64) -> OperatorSchema {
        OperatorSchema(name, since: since, dtypes: MathSupport.floats.union(MathSupport.signedInts)) { call in
            let x = try call.input(0)
            // Computed in Int64 and wrapped back, so Abs / Neg of an int8 / int32 minimum
            // wrap to itself as in two's complement.
            if MathSupport.signedInts.contains(x.dtype) { return [try MathSupport.mapSigned(call, x, integer)] }
            return try MathSupport.floatUnary(call) { try Unary.apply(op, $0, pool: call.context.pool, buffers: call.context.buffers) }
        }
    }
}

/// Activation functions: Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softplus,
/// Softsign, Elu, Selu, Celu, Gelu, Mish, ThresholdedRelu, Shrink, Swish and Clip. Float32 and
/// float16 (computed in float32); Relu and Clip also take integers.
enum ActivationOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Relu", since: 6, dtypes: MathSupport.floats.union(MathSupport.signedInts)) { call in
            let x = try call.input(0)
            if MathSupport.signedInts.contains(x.dtype) { return [try MathSupport.mapSigned(call, x) { Swift.max(0, $0) }] }
            return try MathSupport.floatUnary(call) { try Unary.apply(.relu, $0, pool: call.context.pool, buffers: call.context.buffers) }
        },
        float("LeakyRelu", since: 6) { .leakyRelu(alpha: try $0.float("alpha", default: 0.01)) },
        float("Sigmoid", since: 6) { _ in .sigmoid },
        float("Tanh", since: 6) { _ in .tanh },
        float("HardSigmoid", since: 6) {
            .hardSigmoid(alpha: try $0.float("alpha", default: 0.2), beta: try $0.float("beta", default: 0.5))
        },
        float("HardSwish", since: 14) { _ in .hardSwish },
        float("Softplus", since: 1) { _ in .softplus },
        float("Softsign", since: 1) { _ in .softsign },
        float("Elu", since: 6) { .elu(alpha: try $0.float("alpha", default: 1)) },
        float("Selu", since: 6) {
            .selu(alpha: try $0.float("alpha", default: 1.67326319217681884765625),
                  gamma: try $0.float("gamma", default: 1.05070102214813232421875))
        },
        float("Celu", since: 12) { node in
            let alpha = try node.float("alpha", default: 1)
            guard alpha != 0 else { throw node.fail("alpha is 0; Celu divides by alpha, use a non-zero value") }
            return .celu(alpha: alpha)
        },
        float("Gelu", since: 20) { node in
            switch try node.string("approximate", default: "none") {
            case "none": return .gelu
            case "tanh": return .geluTanh
            case let other: throw node.fail("approximate is '\(other)'; use 'none' or 'tanh'")
            }
        },
        float("Mish", since: 18) { _ in .mish },
        float("ThresholdedRelu", since: 10) { .thresholdedRelu(alpha: try $0.float("alpha", default: 1)) },
        float("Shrink", since: 9) {
            .shrink(lambd: try $0.float("lambd", default: 0.5), bias: try $0.float("bias", default: 0))
        },
        float("Swish", since: 24) { .swish(alpha: try $0.float("alpha", default: 1)) },
        OperatorSchema("Clip", since: 6, dtypes: MathSupport.numeric) { call in [try clip(call)] },
    ]

    /// A float activation whose kernel op is read from the node's attributes.
    static func float(_ name: String, since: Int, _ op: @escaping @Sendable (Node) throws -> UnaryOp) -> OperatorSchema {
        OperatorSchema(name, since: since, dtypes: MathSupport.floats) { call in
            let u = try op(call.node)
            return try MathSupport.floatUnary(call) { try Unary.apply(u, $0, pool: call.context.pool, buffers: call.context.buffers) }
        }
    }

    /// Clip: bounds from the `min` / `max` attributes before opset 11, from optional scalar
    /// inputs 1 and 2 from 11 on. A missing bound does not clip; min > max gives max.
    static func clip(_ call: OpCall) throws -> Tensor {
        let x = try call.input(0)
        if call.context.opset < 11 {
            guard MathSupport.floats.contains(x.dtype) else {
                throw call.fail("input is \(x.dtype); Clip before opset 11 takes float types")
            }
            let lo = try call.node.float("min", default: -.infinity), hi = try call.node.float("max", default: .infinity)
            return try MathSupport.floatUnary(call) { try Unary.apply(.clip(min: lo, max: hi), $0, pool: call.context.pool, buffers: call.context.buffers) }[0]
        }
        for i in [1, 2] {
            guard let b = call.optionalInput(i) else { continue }
            guard b.dtype == x.dtype else {
                throw call.fail("\(i == 1 ? "min" : "max") is \(b.dtype) but the input is \(x.dtype); they must have the same type")
            }
            guard b.elementCount == 1 else {
                throw call.fail("\(i == 1 ? "min" : "max") has shape \(b.shape); it must be a scalar (one element)")
            }
        }
        let lo = call.optionalInput(1), hi = call.optionalInput(2)
        switch x.dtype {
        case .float32, .float16:
            let l = lo?.floatScalars()[0] ?? -.infinity, h = hi?.floatScalars()[0] ?? .infinity
            return try MathSupport.floatUnary(call) { try Unary.apply(.clip(min: l, max: h), $0, pool: call.context.pool, buffers: call.context.buffers) }[0]
        case .int32: return try clipInteger(x, lo, hi, Int32.self)
        case .int64: return try clipInteger(x, lo, hi, Int64.self)
        case .int8: return try clipInteger(x, lo, hi, Int8.self)
        case .uint8: return try clipInteger(x, lo, hi, UInt8.self)
        default: throw call.fail("input is \(x.dtype); Clip takes float32, float16 or integer types")
        }
    }

    static func clipInteger<T: FixedWidthInteger & TensorScalar>(_ x: Tensor, _ lo: Tensor?, _ hi: Tensor?, _: T.Type) throws -> Tensor {
        let l = lo?.scalars(as: T.self)[0] ?? T.min, h = hi?.scalars(as: T.self)[0] ?? T.max
        return try MathSupport.map(x, T.self, to: T.self) { Swift.min(Swift.max($0, l), h) }
    }
}
