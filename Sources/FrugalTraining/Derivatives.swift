import Foundation
import FrugalCore
import FrugalEngine

/// One node as the tape recorded it.
struct TapeRecord {
    let node: Node
    let inputs: [TapeValue?]
    let outputs: [TapeValue?]
    let saved: SavedState
    /// Whether the forward ran in training mode (Dropout, BatchNormalization).
    let training: Bool
}

/// Every derivative of a training op, in one switch keyed by op type: given the gradients of a
/// node's outputs, the gradients of its inputs (nil for an input that gets none or that
/// `needs` marks as not wanted).
enum Derivatives {
    /// Ops whose output is the input with another shape: the gradient is reshaped back.
    static let reshapes: Set<String> = ["Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity"]

    static func hasDerivative(_ op: String) -> Bool {
        reshapes.contains(op) || [
            "Gemm", "MatMul", "Conv", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Neg",
            "HardSigmoid", "HardSwish", "Gelu", "Clip", "Softmax", "LogSoftmax", "Transpose", "Concat", "Dropout",
            "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
            "LayerNormalization", "ReduceMean",
        ].contains(op)
    }

    static func backward(_ r: TapeRecord, _ dys: [FloatBuffer?], needs: [Bool], _ ctx: TapeContext) throws -> [FloatBuffer?] {
        let node = r.node
        guard let dy = dys.first ?? nil else { return [] }
        func x(_ i: Int) -> FloatBuffer { r.inputs[i]!.buffer! }
        func y() -> FloatBuffer { r.outputs[0]!.buffer! }
        func need(_ i: Int) -> Bool { i < needs.count && needs[i] }
        /// dx = dy · f(x, y) elementwise.
        func pointwise(_ f: (Float, Float) -> Float) -> [FloatBuffer?] {
            let a = x(0), out = y(), g = FloatBuffer(uninitialized: a.shape)
            for i in 0..<a.count { g.p[i] = dy.p[i] * f(a.p[i], out.p[i]) }
            return [g]
        }
        if reshapes.contains(node.opType) { return [dy.reshaped(r.inputs[0]!.shape)] }

        switch node.opType {
        case "Gemm":
            let a = x(0), b = x(1)
            let (M, N, K, ta, tb) = try ForwardOps.gemmDims(node, a, b)
            let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
            var g = dy
            if alpha != 1 { g = dy.copy(); for i in 0..<g.count { g.p[i] *= alpha } }
            var da: FloatBuffer?, db: FloatBuffer?, dc: FloatBuffer?
            if need(0) {  // dA = dY·op(B)ᵀ, or its transpose when A is stored transposed
                let d = FloatBuffer(uninitialized: a.shape)
                if ta { TK.gemm(K, M, N, b.p, b.shape[1], tb, g.p, N, true, d.p, M, pool: ctx.pool) }
                else { TK.gemm(M, K, N, g.p, N, false, b.p, b.shape[1], !tb, d.p, K, pool: ctx.pool) }
                da = d
            }
            if need(1) {  // dB = op(A)ᵀ·dY, or its transpose
                let d = FloatBuffer(uninitialized: b.shape)
                if tb { TK.gemm(N, K, M, g.p, N, true, a.p, a.shape[1], ta, d.p, K, pool: ctx.pool) }
                else { TK.gemm(K, N, M, a.p, a.shape[1], !ta, g.p, N, false, d.p, N, pool: ctx.pool) }
                db = d
            }
            if need(2), let c = r.inputs.count > 2 ? r.inputs[2]?.buffer : nil {
                let s = TK.reduce(dy, to: c.shape)
                let d = s === dy ? dy.copy() : s
                if beta != 1 { for i in 0..<d.count { d.p[i] *= beta } }
                dc = d
            }
            return [da, db, dc]

        case "MatMul":
            let a = x(0), b = x(1)
            let d = try ForwardOps.matmulDims(node, a.shape, b.shape)
            var da: FloatBuffer?, db: FloatBuffer?
            if need(0) {
                let t = FloatBuffer(uninitialized: a.shape)
                for i in 0..<d.batch {
                    TK.gemm(d.m, d.k, d.n, dy.p + i * d.m * d.n, d.n, false, b.p + (d.sharedB ? 0 : i * d.k * d.n), d.n, true,
                            t.p + i * d.m * d.k, d.k, pool: ctx.pool)
                }
                da = t
            }
            if need(1) {
                let t = FloatBuffer(shape: b.shape)
                if d.sharedB {
                    TK.gemm(d.k, d.n, d.m, a.p, d.k, true, dy.p, d.n, false, t.p, d.n, pool: ctx.pool)
                } else {
                    for i in 0..<d.batch {
                        TK.gemm(d.k, d.n, d.m, a.p + i * d.m * d.k, d.k, true, dy.p + i * d.m * d.n, d.n, false,
                                t.p + i * d.k * d.n, d.n, pool: ctx.pool)
                    }
                }
                db = t
            }
            return [da, db]

        case "Conv":
            let input = x(0), w = x(1)
            let d = try TK.convDescriptor(node, x: input.shape, w: w.shape)
            var columns: FloatBuffer?
            if case .columns(let c) = r.saved { columns = c }
            let (dx, dw, db) = ConvTraining.backward(d, x: input, w: w, dy: dy, columns: columns, needX: need(0), needW: need(1),
                                                     needB: need(2) && r.inputs.count > 2 && r.inputs[2] != nil, ctx)
            return [dx, dw, db]

        case "Add", "Sub", "Mul", "Div":
            let a = x(0), b = x(1)
            var da: FloatBuffer?, db: FloatBuffer?
            switch node.opType {
            case "Add", "Sub":
                if need(0) { da = TK.reduce(dy, to: a.shape) }
                if need(1) {
                    let s = TK.reduce(dy, to: b.shape)
                    if node.opType == "Sub" { let t = FloatBuffer(uninitialized: s.shape); for i in 0..<t.count { t.p[i] = -s.p[i] }; db = t }
                    else { db = s }
                }
            case "Mul":
                if need(0) { da = TK.reduce(try TK.binary(dy, b, *), to: a.shape) }
                if need(1) { db = TK.reduce(try TK.binary(dy, a, *), to: b.shape) }
            default:
                if need(0) { da = TK.reduce(try TK.binary(dy, b, /), to: a.shape) }
                if need(1) { db = TK.reduce(try TK.binary(try TK.binary(dy, y(), *), b) { -$0 / $1 }, to: b.shape) }
            }
            if let t = da, t === dy { da = dy.copy() }
            if let t = db, t === dy { db = dy.copy() }
            return [da, db]

        case "Relu": return pointwise { a, _ in a > 0 ? 1 : 0 }
        case "LeakyRelu":
            let alpha = try node.float("alpha", default: 0.01)
            return pointwise { a, _ in a >= 0 ? 1 : alpha }
        case "Sigmoid": return pointwise { _, s in s * (1 - s) }
        case "Tanh": return pointwise { _, t in 1 - t * t }
        case "Erf": return pointwise { a, _ in 2 / Float.pi.squareRoot() * Foundation.exp(-a * a) }
        case "Neg": return pointwise { _, _ in -1 }
        case "HardSigmoid":
            let alpha = try node.float("alpha", default: 0.2), beta = try node.float("beta", default: 0.5)
            return pointwise { a, _ in let u = alpha * a + beta; return u > 0 && u < 1 ? alpha : 0 }
        case "HardSwish": return pointwise { a, _ in a < -3 ? 0 : a > 3 ? 1 : (2 * a + 3) / 6 }
        case "Gelu":
            let tanhApprox = try node.string("approximate", default: "none") == "tanh"
            return pointwise { a, _ in tanhApprox ? SmoothActivation.geluTanh(a).slope : SmoothActivation.geluErf(a).slope }
        case "Clip":
            let (lo, hi) = try ForwardOps.clipBounds(OpInputs(node: node, values: r.inputs))
            return pointwise { a, _ in a > lo && a < hi ? 1 : 0 }

        case "Softmax", "LogSoftmax":
            let out = y(), g = FloatBuffer(uninitialized: out.shape)
            let (outer, len, inner) = try ForwardOps.softmaxDims(node, out.shape, opset: ctx.opset)
            let log = node.opType == "LogSoftmax"
            for o in 0..<outer { for j in 0..<inner {
                let base = o * len * inner + j
                var s: Float = 0
                for i in 0..<len { let k = base + i * inner; s += log ? dy.p[k] : dy.p[k] * out.p[k] }
                for i in 0..<len {
                    let k = base + i * inner
                    g.p[k] = log ? dy.p[k] - Foundation.exp(out.p[k]) * s : out.p[k] * (dy.p[k] - s)
                }
            } }
            return [g]

        case "Transpose":
            let perm = try node.ints("perm") ?? Array((0..<dy.shape.count).reversed())
            var inverse = perm
            for (i, p) in perm.enumerated() { inverse[p] = i }
            return [TK.transpose(dy, inverse)]

        case "Concat":
            let axis = try TK.axis(try node.int("axis") ?? 0, rank: dy.shape.count, node)
            let outer = dy.shape[..<axis].reduce(1, *), inner = dy.shape[(axis + 1)...].reduce(1, *)
            var grads: [FloatBuffer?] = []
            var offset = 0
            for (i, v) in r.inputs.enumerated() {
                let s = v!.shape, len = s[axis] * inner
                if need(i) {
                    let t = FloatBuffer(uninitialized: s)
                    let rowLength: Int = dy.shape[axis] * inner
                    for o in 0..<outer {
                        let src: Int = o * rowLength + offset
                        (t.p + o * len).update(from: dy.p + src, count: len)
                    }
                    grads.append(t)
                } else { grads.append(nil) }
                offset += len
            }
            return grads

        case "Dropout":
            guard case .mask(let m) = r.saved else { return [dy.copy()] }
            return [try TK.binary(dy, m, *)]

        case "MaxPool", "GlobalMaxPool":
            guard case .indices(let idx) = r.saved else { return [] }
            let s = r.inputs[0]!.shape
            let t = FloatBuffer(uninitialized: s)
            // Each output's window lies in its own plane: planes in parallel, no write races.
            let planes = s[0] * s[1], inPlane = t.count / max(planes, 1), outPlane = dy.count / max(planes, 1)
            let tp = t.p, dp = dy.p
            idx.withUnsafeBufferPointer { ip in
                ctx.pool.parallelChunks(planes, minimumChunk: max(1, 4096 / max(1, inPlane))) { range in
                    (tp + range.lowerBound * inPlane).update(repeating: 0, count: range.count * inPlane)
                    for o in (range.lowerBound * outPlane)..<(range.upperBound * outPlane) where ip[o] >= 0 { tp[Int(ip[o])] += dp[o] }
                }
            }
            return [t]

        case "GlobalAveragePool":
            let s = r.inputs[0]!.shape, t = FloatBuffer(uninitialized: s)
            let nc = s[0] * s[1], hw = t.count / max(nc, 1)
            for i in 0..<nc { let v = dy.p[i] / Float(hw); (t.p + i * hw).update(repeating: v, count: hw) }
            return [t]

        case "AveragePool":
            let d = try TK.poolDescriptor(node, x: r.inputs[0]!.shape)
            let includePad = try node.int("count_include_pad", default: 0) != 0
            let t = FloatBuffer(shape: r.inputs[0]!.shape)
            let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
            for plane in 0..<(d.batch * d.channels) { for oh in 0..<oH { for ow in 0..<oW {
                let h0 = oh * d.strideHeight - d.padTop, w0 = ow * d.strideWidth - d.padLeft
                let hr = Spatial.tapRange(h0, H, d.kernelHeight, d.dilationHeight), wr = Spatial.tapRange(w0, W, d.kernelWidth, d.dilationWidth)
                let v = dy.p[(plane * oH + oh) * oW + ow] / Float(Spatial.avgCount(d, h0: h0, w0: w0, hr: hr, wr: wr, includePad: includePad))
                for kh in hr { for kw in wr { t.p[plane * H * W + (h0 + kh * d.dilationHeight) * W + w0 + kw * d.dilationWidth] += v } }
            } } }
            return [t]

        case "BatchNormalization", "LayerNormalization":
            guard case .statistics(let mean, let invStd) = r.saved else { return [] }
            let a = x(0), scale = x(1)
            let isBN = node.opType == "BatchNormalization"
            // BN: groups = channels, each over N·S strided elements; LN: groups = rows of `len`.
            let N = isBN ? a.shape[0] : 1, C = isBN ? a.shape[1] : mean.count
            let S = isBN ? a.count / max(N * C, 1) : a.count / max(C, 1)
            let paramCount = isBN ? C : S
            let dx = need(0) ? FloatBuffer(uninitialized: a.shape) : nil
            let dscale = FloatBuffer(shape: [paramCount]), dbias = FloatBuffer(shape: [paramCount])
            let batchStats = !isBN || r.training
            for c in 0..<C {
                let m = mean[c], inv = invStd[c]
                var sumD: Float = 0, sumDX: Float = 0  // Σ dx̂ and Σ dx̂·x̂ over the group
                for n in 0..<N { let base = (n * C + c) * S; for i in 0..<S {
                    let k = base + i, xh = (a.p[k] - m) * inv, sc = scale.p[isBN ? c : i]
                    let dxh = dy.p[k] * sc
                    sumD += dxh; sumDX += dxh * xh
                    dscale.p[isBN ? c : i] += dy.p[k] * xh
                    dbias.p[isBN ? c : i] += dy.p[k]
                } }
                guard let dx = dx else { continue }
                let count = Float(N * S)
                for n in 0..<N { let base = (n * C + c) * S; for i in 0..<S {
                    let k = base + i, xh = (a.p[k] - m) * inv, dxh = dy.p[k] * scale.p[isBN ? c : i]
                    dx.p[k] = batchStats ? inv / count * (count * dxh - sumD - xh * sumDX) : dxh * inv
                } }
            }
            return [dx, need(1) ? dscale.reshaped(scale.shape) : nil, need(2) ? dbias.reshaped(x(2).shape) : nil]

        case "ReduceMean":
            let a = x(0)
            let axes = try ForwardOps.reduceAxes(OpInputs(node: node, values: r.inputs), rank: a.shape.count, opset: ctx.opset)
            var kept = a.shape
            for ax in axes { kept[ax] = 1 }
            let scale = Float(kept.reduce(1, *)) / Float(max(a.count, 1))
            let zero = FloatBuffer(shape: a.shape)
            return [try TK.binary(zero, dy.reshaped(kept)) { _, g in g * scale }]

        default:
            throw TrainingError.model("node '\(node.name)': \(node.opType) has no derivative; training cannot pass gradients through it")
        }
    }
}
