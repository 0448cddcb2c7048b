import Foundation
import FrugalCore
import FrugalEngine

/// Training-time forward implementations (float32, NCHW). Each returns the node's outputs and
/// what its derivative (Derivatives.swift) needs; `nil` means "not a training op": the tape then
/// runs the engine's implementation and treats the node as a constant.
enum ForwardOps {
    static func run(_ x: OpInputs, _ ctx: TapeContext) throws -> ([TapeValue?], SavedState)? {
        let node = x.node
        func one(_ b: FloatBuffer, _ s: SavedState = .none) -> ([TapeValue?], SavedState) { ([.float(b)], s) }
        func unary(_ f: (Float) -> Float) throws -> ([TapeValue?], SavedState) {
            let a = try x.float(0)
            let y = FloatBuffer(uninitialized: a.shape)
            let ap = a.p, yp = y.p
            for i in 0..<a.count { yp[i] = f(ap[i]) }
            return one(y)
        }
        switch node.opType {
        case "Gemm": return one(try gemm(x, ctx))
        case "MatMul": return one(try matmul(x, ctx))
        case "Conv": return try conv(x, ctx)
        case "Add": return one(try TK.binary(try x.float(0), try x.float(1), +))
        case "Sub": return one(try TK.binary(try x.float(0), try x.float(1), -))
        case "Mul": return one(try TK.binary(try x.float(0), try x.float(1), *))
        case "Div": return one(try TK.binary(try x.float(0), try x.float(1), /))
        case "Relu": return try unary { $0 > 0 ? $0 : 0 }
        case "LeakyRelu":
            let alpha = try node.float("alpha", default: 0.01)
            return try unary { $0 >= 0 ? $0 : alpha * $0 }
        case "Sigmoid": return try unary { 1 / (1 + Foundation.exp(-$0)) }
        case "Tanh": return try unary { Foundation.tanh($0) }
        case "Erf": return try unary { Foundation.erf($0) }
        case "Neg": return try unary { -$0 }
        case "Identity": return try unary { $0 }
        case "HardSigmoid":
            let alpha = try node.float("alpha", default: 0.2), beta = try node.float("beta", default: 0.5)
            return try unary { min(1, max(0, alpha * $0 + beta)) }
        case "HardSwish": return try unary { $0 * min(1, max(0, $0 / 6 + 0.5)) }
        case "Gelu":
            let tanhApprox = try node.string("approximate", default: "none") == "tanh"
            return try unary { tanhApprox ? SmoothActivation.geluTanh($0).value : SmoothActivation.geluErf($0).value }
        case "Clip":
            let (lo, hi) = try clipBounds(x)
            return try unary { min(hi, max(lo, $0)) }
        case "Softmax", "LogSoftmax": return one(try softmax(x, ctx, log: node.opType == "LogSoftmax"))
        case "Flatten":
            let a = try x.float(0)
            let given = try node.int("axis", default: 1)
            let axis = given < 0 ? given + a.shape.count : given
            let outer = a.shape[..<min(axis, a.shape.count)].reduce(1, *)
            return one(a.reshaped([outer, a.count / max(outer, 1)]))
        case "Reshape": return one(try reshape(x))
        case "Transpose":
            let a = try x.float(0)
            let perm = try node.ints("perm") ?? Array((0..<a.shape.count).reversed())
            return one(TK.transpose(a, perm))
        case "Concat": return one(try concat(x))
        case "Dropout": return try dropout(x, ctx)
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool": return try Spatial.pool(x, ctx)
        case "BatchNormalization": return try Normalize.batchNorm(x, ctx)
        case "LayerNormalization": return try Normalize.layerNorm(x)
        case "ReduceMean": return one(try reduceMean(x, ctx))
        default: return nil
        }
    }

    static func clipBounds(_ x: OpInputs) throws -> (Float, Float) {
        if x.node.attributes["min"] != nil || x.node.attributes["max"] != nil {
            return (try x.node.float("min", default: -.infinity), try x.node.float("max", default: .infinity))
        }
        return (x.scalar(1) ?? -.infinity, x.scalar(2) ?? .infinity)
    }

    /// Gemm shapes: (M, N, K) for inputs A and B and the node's trans flags.
    static func gemmDims(_ node: Node, _ a: FloatBuffer, _ b: FloatBuffer) throws -> (Int, Int, Int, Bool, Bool) {
        let ta = try node.int("transA", default: 0) != 0, tb = try node.int("transB", default: 0) != 0
        guard a.shape.count == 2, b.shape.count == 2 else {
            throw TrainingError.model("node '\(node.name)' (Gemm): A \(a.shape) and B \(b.shape) must be matrices")
        }
        let M = ta ? a.shape[1] : a.shape[0], K = ta ? a.shape[0] : a.shape[1]
        let K2 = tb ? b.shape[1] : b.shape[0], N = tb ? b.shape[0] : b.shape[1]
        guard K == K2 else {
            throw TrainingError.model("node '\(node.name)' (Gemm): A \(a.shape) (transA \(ta)) and B \(b.shape) (transB \(tb)) do not multiply")
        }
        return (M, N, K, ta, tb)
    }

    static func gemm(_ x: OpInputs, _ ctx: TapeContext) throws -> FloatBuffer {
        let a = try x.float(0), b = try x.float(1), c = try x.optionalFloat(2)
        let (M, N, K, ta, tb) = try gemmDims(x.node, a, b)
        let alpha = try x.node.float("alpha", default: 1), beta = try x.node.float("beta", default: 1)
        let y = FloatBuffer(uninitialized: [M, N])
        var accumulate = false
        if let c = c, beta != 0, alpha == 1 {
            // Fill with beta·C, then accumulate the product on top.
            let st = TK.broadcastStrides(c.shape, to: [M, N])
            guard (try? TK.broadcastShape(c.shape, [M, N])) == [M, N] else {
                throw TrainingError.model("node '\(x.node.name)' (Gemm): C \(c.shape) does not broadcast to [\(M), \(N)]")
            }
            for i in 0..<M { for j in 0..<N { y.p[i * N + j] = beta * c.p[i * st[0] + j * st[1]] } }
            accumulate = true
        }
        TK.gemm(M, N, K, a.p, a.shape[1], ta, b.p, b.shape[1], tb, y.p, N, accumulate: accumulate, pool: ctx.pool)
        if !accumulate {
            if alpha != 1 { for i in 0..<y.count { y.p[i] *= alpha } }
            if let c = c, beta != 0 {
                let st = TK.broadcastStrides(c.shape, to: [M, N])
                for i in 0..<M { for j in 0..<N { y.p[i * N + j] += beta * c.p[i * st[0] + j * st[1]] } }
            }
        }
        return y
    }

    /// MatMul as (batch, M, K)·(batch or shared, K, N).
    struct MatMulDims { var batch: Int; var m: Int; var k: Int; var n: Int; var sharedB: Bool; var outShape: [Int] }

    static func matmulDims(_ node: Node, _ a: [Int], _ b: [Int]) throws -> MatMulDims {
        let fail = TrainingError.model("node '\(node.name)' (MatMul): shapes \(a) and \(b) are not supported for training (need [..., M, K] x [K, N] or equal batch dimensions)")
        var a2 = a, b2 = b
        if a2.count == 1 { a2 = [1, a2[0]] }
        if b2.count == 1 { b2 = [b2[0], 1] }
        guard a2.count >= 2, b2.count >= 2, a2.last! == b2[b2.count - 2] else { throw fail }
        let k = a2.last!, n = b2.last!
        var out: [Int]
        var d: MatMulDims
        if b2.count == 2 {
            let m = a2.dropLast().reduce(1, *)
            out = Array(a2.dropLast()) + [n]
            d = MatMulDims(batch: 1, m: m, k: k, n: n, sharedB: true, outShape: out)
        } else {
            guard a2.count == b2.count, Array(a2.dropLast(2)) == Array(b2.dropLast(2)) else { throw fail }
            out = Array(a2.dropLast()) + [n]
            d = MatMulDims(batch: a2.dropLast(2).reduce(1, *), m: a2[a2.count - 2], k: k, n: n, sharedB: false, outShape: out)
        }
        if a.count == 1 { out.remove(at: out.count - 2) }
        if b.count == 1 { out.removeLast() }
        d.outShape = out
        return d
    }

    static func matmul(_ x: OpInputs, _ ctx: TapeContext) throws -> FloatBuffer {
        let a = try x.float(0), b = try x.float(1)
        let d = try matmulDims(x.node, a.shape, b.shape)
        let y = FloatBuffer(uninitialized: d.outShape)
        for i in 0..<d.batch {
            TK.gemm(d.m, d.n, d.k, a.p + i * d.m * d.k, d.k, false, b.p + (d.sharedB ? 0 : i * d.k * d.n), d.n, false,
                    y.p + i * d.m * d.n, d.n, pool: ctx.pool)
        }
        return y
    }

    static func conv(_ x: OpInputs, _ ctx: TapeContext) throws -> ([TapeValue?], SavedState) {
        let input = try x.float(0), w = try x.float(1), bias = try x.optionalFloat(2)
        let d = try TK.convDescriptor(x.node, x: input.shape, w: w.shape)
        let (y, col) = ConvTraining.forward(d, x: input, w: w, bias: bias, keepColumns: ctx.training, ctx)
        return ([.float(y)], col.map { .columns($0) } ?? .none)
    }

    static func softmax(_ x: OpInputs, _ ctx: TapeContext, log: Bool) throws -> FloatBuffer {
        let a = try x.float(0)
        let (outer, len, inner) = try softmaxDims(x.node, a.shape, opset: ctx.opset)
        let y = FloatBuffer(uninitialized: a.shape)
        for o in 0..<outer {
            for j in 0..<inner {
                let base = o * len * inner + j
                var m = -Float.infinity
                for i in 0..<len { m = max(m, a.p[base + i * inner]) }
                var s: Float = 0
                for i in 0..<len { let e = Foundation.exp(a.p[base + i * inner] - m); y.p[base + i * inner] = e; s += e }
                if log {
                    let ls = Foundation.log(s) + m
                    for i in 0..<len { y.p[base + i * inner] = a.p[base + i * inner] - ls }
                } else {
                    let r = 1 / s
                    for i in 0..<len { y.p[base + i * inner] *= r }
                }
            }
        }
        return y
    }

    static func softmaxDims(_ node: Node, _ shape: [Int], opset: Int) throws -> (Int, Int, Int) {
        let old = opset < 13
        let axis = try TK.axis(try node.int("axis", default: old ? 1 : -1), rank: shape.count, node)
        let outer = shape[..<axis].reduce(1, *)
        if old { return (outer, shape[axis...].reduce(1, *), 1) }
        return (outer, shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    static func reshape(_ x: OpInputs) throws -> FloatBuffer {
        let a = try x.float(0)
        guard var s = x.ints(1) else { throw TrainingError.model("node '\(x.node.name)' (Reshape): the shape input is missing") }
        let allowZero = try x.node.int("allowzero", default: 0) != 0
        for i in s.indices where s[i] == 0 && !allowZero { s[i] = i < a.shape.count ? a.shape[i] : 1 }
        if let j = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != j }.map(\.element).reduce(1, *)
            s[j] = known == 0 ? 0 : a.count / known
        }
        guard s.reduce(1, *) == a.count else {
            throw TrainingError.model("node '\(x.node.name)' (Reshape): cannot reshape \(a.shape) to \(s)")
        }
        return a.reshaped(s)
    }

    static func concat(_ x: OpInputs) throws -> FloatBuffer {
        let parts = try (0..<x.values.count).map { try x.float($0) }
        let first = parts[0]
        let axis = try TK.axis(try x.node.int("axis") ?? 0, rank: first.shape.count, x.node)
        var out = first.shape
        out[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        let y = FloatBuffer(uninitialized: out)
        let outer = out[..<axis].reduce(1, *), inner = out[(axis + 1)...].reduce(1, *)
        var offset = 0
        for p in parts {
            let len = p.shape[axis] * inner
            for o in 0..<outer { (y.p + o * out[axis] * inner + offset).update(from: p.p + o * len, count: len) }
            offset += len
        }
        return y
    }

    static func dropout(_ x: OpInputs, _ ctx: TapeContext) throws -> ([TapeValue?], SavedState) {
        let a = try x.float(0)
        let ratio = ctx.opset >= 12 ? (x.scalar(1) ?? 0.5) : try x.node.float("ratio", default: 0.5)
        var outs: [TapeValue?] = []
        guard ctx.training, ratio > 0 else {
            outs.append(.float(a.copy()))
            if x.node.outputs.count > 1 { outs.append(.other(try Tensor(shape: Shape(a.shape), scalars: [Bool](repeating: true, count: a.count)))) }
            return (outs, .none)
        }
        let mask = FloatBuffer(uninitialized: a.shape), y = FloatBuffer(uninitialized: a.shape)
        let scale = 1 / (1 - ratio)
        for i in 0..<a.count {
            let keep = ctx.rng.nextFloat() >= ratio
            mask.p[i] = keep ? scale : 0
            y.p[i] = a.p[i] * mask.p[i]
        }
        outs.append(.float(y))
        if x.node.outputs.count > 1 {
            outs.append(.other(try Tensor(shape: Shape(a.shape), scalars: (0..<a.count).map { mask.p[$0] != 0 })))
        }
        return (outs, .mask(mask))
    }

    /// The reduced axes of ReduceMean (empty: all, unless noop_with_empty_axes).
    static func reduceAxes(_ x: OpInputs, rank: Int, opset: Int) throws -> [Int] {
        let given = opset >= 18 ? x.ints(1) : try x.node.ints("axes")
        if let g = given, !g.isEmpty { return try g.map { try TK.axis($0, rank: rank, x.node) } }
        return try x.node.int("noop_with_empty_axes", default: 0) != 0 ? [] : Array(0..<rank)
    }

    static func reduceMean(_ x: OpInputs, _ ctx: TapeContext) throws -> FloatBuffer {
        let a = try x.float(0)
        let axes = try reduceAxes(x, rank: a.shape.count, opset: ctx.opset)
        var kept = a.shape
        for ax in axes { kept[ax] = 1 }
        let s = TK.reduce(a, to: kept)
        let r = s === a ? a.copy() : s
        let scale = Float(kept.reduce(1, *)) / Float(max(a.count, 1))
        for i in 0..<r.count { r.p[i] *= scale }
        let keep = try x.node.int("keepdims", default: 1) != 0
        return keep ? r : r.reshaped(a.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
    }
}

/// Smooth activations: value and derivative together.
enum SmoothActivation {
    static func geluErf(_ x: Float) -> (value: Float, slope: Float) {
        let cdf = 0.5 * (1 + Foundation.erf(x / Float(2).squareRoot()))
        let pdf = Foundation.exp(-0.5 * x * x) / (2 * Float.pi).squareRoot()
        return (x * cdf, cdf + x * pdf)
    }

    static func geluTanh(_ x: Float) -> (value: Float, slope: Float) {
        let c: Float = (2 / Float.pi).squareRoot()
        let u = c * (x + 0.044715 * x * x * x)
        let t = Foundation.tanh(u)
        let du = c * (1 + 3 * 0.044715 * x * x)
        return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    }
}
