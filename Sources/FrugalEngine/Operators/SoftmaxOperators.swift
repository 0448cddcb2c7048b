import FrugalCore

/// Softmax, LogSoftmax and Hardmax. Before opset 13 the input is flattened to 2-D at `axis`
/// (default 1) and the op runs over each row of the flattened [outer, rest] matrix; from 13
/// it runs along the single dimension `axis` (default -1). Float32 and float16.
enum SoftmaxOperators {
    static let schemas: [OperatorSchema] = [
        schema("Softmax") { call, x, outer, length, inner in
            try softmax(call, log: false, x, outer, length, inner)
        },
        schema("LogSoftmax") { call, x, outer, length, inner in
            try softmax(call, log: true, x, outer, length, inner)
        },
        schema("Hardmax") { _, x, outer, length, inner in
            try hardmax(x, outer, length, inner)
        },
    ]

    typealias Body = @Sendable (OpCall, Tensor, Int, Int, Int) throws -> Tensor

    /// Resolves the opset-dependent axis semantics into an [outer, length, inner] view of a
    /// float32 tensor and hands it to `body`.
    static func schema(_ name: String, _ body: @escaping Body) -> OperatorSchema {
        OperatorSchema(name, since: 1, dtypes: MathSupport.floats) { call in
            let x = try call.input(0)
            let opset13 = call.context.opset >= 13
            let rank = x.rank
            let view: (Int, Int, Int)
            if opset13 {
                guard rank >= 1 else { throw call.fail("input is a scalar; \(name) needs rank 1 or more") }
                let axis = try MathSupport.axis(call, try call.node.int("axis", default: -1), rank: rank)
                view = MathSupport.split(x.shape, at: axis)
            } else {
                // Flattening accepts axis in -rank...rank (axis == rank gives rows of length 1).
                let a = try call.node.int("axis", default: 1)
                guard a >= -rank, a <= rank else {
                    throw call.fail("axis \(a) is out of range for an input of rank \(rank); use a value in \(-rank)...\(rank)")
                }
                let axis = a < 0 ? a + rank : a
                let d = x.shape.dims
                view = (d[..<axis].reduce(1, *), d[axis...].reduce(1, *), 1)
            }
            return try MathSupport.floatUnary(call) { try body(call, $0, view.0, view.1, view.2) }
        }
    }

    static func softmax(_ call: OpCall, log: Bool, _ x: Tensor, _ outer: Int, _ length: Int, _ inner: Int) throws -> Tensor {
        var out = try Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer(as: Float.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                Softmax.softmax(log: log, input: src.baseAddress!, output: dst.baseAddress!,
                                outer: outer, axisLength: length, inner: inner, pool: call.context.pool)
            }
        }
        return out
    }

    /// 1 at the first maximum of each [outer, :, inner] line, 0 elsewhere (a NaN counts as
    /// the maximum, as numpy's argmax does).
    static func hardmax(_ x: Tensor, _ outer: Int, _ length: Int, _ inner: Int) throws -> Tensor {
        var out = try Tensor(zeros: x.shape)
        guard length > 0 else { return out }
        x.withUnsafeBufferPointer(as: Float.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for o in 0..<outer {
                    for j in 0..<inner {
                        let base = o * length * inner + j
                        var best = 0, bestValue = src[base]
                        for a in 1..<Swift.max(1, length) {
                            let v = src[base + a * inner]
                            if v > bestValue || (v.isNaN && !bestValue.isNaN) { best = a; bestValue = v }
                        }
                        dst[base + best * inner] = 1
                    }
                }
            }
        }
        return out
    }
}
