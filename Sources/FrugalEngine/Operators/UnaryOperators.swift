import FrugalCore

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
            try MathSupport.floatUnary(call) { try Unary.apply(op, $0, pool: call.context.pool) }
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
            return try MathSupport.floatUnary(call) { try Unary.apply(op, $0, pool: call.context.pool) }
        }
    }
}
