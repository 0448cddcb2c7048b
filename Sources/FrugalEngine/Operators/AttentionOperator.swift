import Foundation
import FrugalCore

/// Attention (opset 23, and 24's nonpad_kv_seqlen), float32: Q, K, V as [batch, heads,
/// sequence, head size] or [batch, sequence, hidden] (with q_num_heads / kv_num_heads);
/// grouped-query heads (each K/V head serves q_heads / kv_heads query heads), past_key /
/// past_value prepended to K / V (returned as present_key / present_value), a bool or
/// additive attn_mask (broadcast to [batch, heads, q, kv]; columns beyond its last axis are
/// masked), is_causal (query i sees keys up to past + i), scale (default 1/√head size),
/// softcap (c · tanh(x / c)), and the qk_matmul_output modes of ONNX's reference
/// implementation: 0 and 1 the scaled (softcapped) products, 2 after the mask, 3 after the
/// softmax. Each (batch, head) is two GEMMs around a row softmax.
enum AttentionOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Attention", since: 23, dtypes: .floats) { try attention($0) },
    ]

    /// A 4-D [b, h, s, d] copy of Q, K or V (3-D inputs split into `heads`).
    static func heads(_ call: OpCall, _ t: Tensor, _ name: String, heads: Int?) throws -> (data: [Float], b: Int, h: Int, s: Int, d: Int) {
        if t.rank == 4 { return (t.floatScalars(), t.shape[0], t.shape[1], t.shape[2], t.shape[3]) }
        guard t.rank == 3 else { throw call.fail("\(name) has shape \(t.shape); it must be 3-D or 4-D") }
        guard let h = heads, h > 0 else { throw call.fail("\(name) is 3-D: q_num_heads and kv_num_heads are required") }
        let (b, s, hidden) = (t.shape[0], t.shape[1], t.shape[2])
        guard hidden % h == 0 else { throw call.fail("\(name)'s hidden size \(hidden) does not split into \(h) heads") }
        let d = hidden / h, src = t.floatPointer
        var out = [Float](repeating: 0, count: b * h * s * d)
        for bi in 0..<b { for si in 0..<s { for hi in 0..<h { for di in 0..<d {
            out[((bi * h + hi) * s + si) * d + di] = src[(bi * s + si) * hidden + hi * d + di]
        } } } }
        return (out, b, h, s, d)
    }

    static func attention(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let qT = try call.floatInput(0, "Q"), kT = try call.floatInput(1, "K"), vT = try call.floatInput(2, "V")
        guard qT.rank == kT.rank, kT.rank == vT.rank else { throw call.fail("Q \(qT.shape), K \(kT.shape) and V \(vT.shape) must have the same rank") }
        let qHeadsAttr = try node.int("q_num_heads"), kvHeadsAttr = try node.int("kv_num_heads")
        let q = try heads(call, qT, "Q", heads: qHeadsAttr)
        var k = try heads(call, kT, "K", heads: kvHeadsAttr)
        var v = try heads(call, vT, "V", heads: kvHeadsAttr)
        guard k.b == q.b, v.b == q.b, k.h == v.h, k.s == v.s, k.d == q.d else {
            throw call.fail("Q \(qT.shape), K \(kT.shape) and V \(vT.shape) do not agree (batch, K/V heads and length, Q/K head size)")
        }
        guard k.h > 0, q.h % k.h == 0 else { throw call.fail("\(q.h) query heads are not a multiple of \(k.h) key/value heads") }
        // Past keys and values go first.
        var past = 0
        for (i, name) in [(4, "past_key"), (5, "past_value")] {
            guard let p = call.optionalInput(i) else { continue }
            guard p.dtype == .float32, p.rank == 4, p.shape[0] == q.b, p.shape[1] == k.h, p.shape[3] == (i == 4 ? k.d : v.d) else {
                throw call.fail("\(name) has shape \(p.shape); expected [\(q.b), \(k.h), past length, \(i == 4 ? k.d : v.d)]")
            }
            let pv = p.floatScalars(), len = p.shape[2]
            var cur = i == 4 ? k : v
            var merged = [Float](repeating: 0, count: cur.b * cur.h * (len + cur.s) * cur.d)
            for bh in 0..<(cur.b * cur.h) {
                for s in 0..<len { for d in 0..<cur.d { merged[(bh * (len + cur.s) + s) * cur.d + d] = pv[(bh * len + s) * cur.d + d] } }
                for s in 0..<cur.s { for d in 0..<cur.d { merged[(bh * (len + cur.s) + len + s) * cur.d + d] = cur.data[(bh * cur.s + s) * cur.d + d] } }
            }
            cur = (merged, cur.b, cur.h, len + cur.s, cur.d)
            if i == 4 { k = cur; past = len } else { v = cur }
        }
        guard k.s == v.s else { throw call.fail("past_key and past_value give K and V different lengths (\(k.s) and \(v.s))") }
        let (B, H, S, T, D, Dv) = (q.b, q.h, q.s, k.s, q.d, v.d)
        let group = H / k.h
        let scale = try node.float("scale") ?? 1 / Float(D).squareRoot()
        let softcap = try node.float("softcap", default: 0)
        let causal = try node.int("is_causal", default: 0) != 0
        let mode = try node.int("qk_matmul_output_mode", default: 0)
        guard (0...3).contains(mode) else { throw call.fail("qk_matmul_output_mode \(mode) must be 0, 1, 2 or 3") }

        // The mask, right-aligned to 4-D with broadcast strides.
        let mask = call.optionalInput(3)
        var maskDims = [1, 1, 1, 1], maskStrides = [0, 0, 0, 0]
        var maskValues: [Float] = []
        if let m = mask {
            guard m.dtype == .bool || m.dtype == .float32, (1...4).contains(m.rank) else {
                throw call.fail("attn_mask is \(m.dtype) \(m.shape); it must be bool or float32 of rank 1 to 4")
            }
            let dims = Array(repeating: 1, count: 4 - m.rank) + m.shape.dims
            let own = Shape(dims).strides
            let target = [B, H, S, T]
            for a in 0..<4 {
                guard dims[a] == 1 || dims[a] == target[a] || (a == 3 && dims[a] <= T) else {
                    throw call.fail("attn_mask \(m.shape) does not broadcast to [batch \(B), heads \(H), q \(S), kv \(T)]")
                }
                maskDims[a] = dims[a]
                maskStrides[a] = dims[a] == 1 && a < 3 ? 0 : own[a]
            }
            maskValues = m.dtype == .bool ? m.scalars(as: Bool.self).map { $0 ? 0 : -Float.infinity } : m.floatScalars()
        }
        var nonPad: [Int]? = nil
        if let np = call.optionalInput(6) {
            let values = try call.intValues(np, what: "nonpad_kv_seqlen")
            guard values.count == B else { throw call.fail("nonpad_kv_seqlen holds \(values.count) values; expected \(B)") }
            nonPad = values
        }

        let threeD = qT.rank == 3
        var y = try call.newOutput(threeD ? [B, S, H * Dv] : [B, H, S, Dv])
        var qkOut = try call.newOutput([B, H, S, T])
        let yp = y.mutableFloatPointer(), qkp = qkOut.mutableFloatPointer()
        var scores = [Float](repeating: 0, count: max(S * T, 1)), outRows = [Float](repeating: 0, count: max(S * Dv, 1))
        let serial = call.context.pool
        for b in 0..<B {
            for h in 0..<H {
                let kh = h / group
                let qBase = (b * H + h) * S * D, kBase = (b * k.h + kh) * T * D, vBase = (b * v.h + kh) * T * Dv
                if S > 0 && T > 0 {
                    q.data.withUnsafeBufferPointer { qp in
                        k.data.withUnsafeBufferPointer { kp in
                            scores.withUnsafeMutableBufferPointer { sp in
                                GEMM.sgemm(m: S, n: T, k: D, a: qp.baseAddress! + qBase, lda: max(D, 1), b: kp.baseAddress! + kBase, ldb: max(D, 1),
                                           transB: true, c: sp.baseAddress!, ldc: T, pool: serial)
                            }
                        }
                    }
                }
                let qkRow = qkp + (b * H + h) * S * T
                for i in 0..<S {
                    let row = i * T
                    for j in 0..<T {
                        var x = scores[row + j] * scale
                        if softcap > 0 { x = softcap * Foundation.tanh(x / softcap) }
                        if mode <= 1 { qkRow[row + j] = x }
                        var bias: Float = 0
                        if mask != nil {
                            if j >= maskDims[3] {
                                bias = -.infinity
                            } else {
                                let off = (maskDims[0] == 1 ? 0 : b * maskStrides[0]) + (maskDims[1] == 1 ? 0 : h * maskStrides[1])
                                    + (maskDims[2] == 1 ? 0 : i * maskStrides[2]) + (maskDims[3] == 1 ? 0 : j * maskStrides[3])
                                bias = maskValues[off]
                            }
                        }
                        if causal && j > i + past { bias = -.infinity }
                        if let nonPad, j >= nonPad[b] { bias = -.infinity }
                        x += bias
                        if mode == 2 { qkRow[row + j] = x }
                        scores[row + j] = x
                    }
                    // Row softmax (a fully masked row is NaN, as in the reference).
                    var mx = -Float.infinity
                    for j in 0..<T { mx = max(mx, scores[row + j]) }
                    var sum: Float = 0
                    for j in 0..<T {
                        let e = Foundation.exp(scores[row + j] - mx)
                        scores[row + j] = e
                        sum += e
                    }
                    for j in 0..<T {
                        scores[row + j] /= sum
                        if mode == 3 { qkRow[row + j] = scores[row + j] }
                    }
                }
                if S > 0 && Dv > 0 {
                    if T > 0 {
                        scores.withUnsafeBufferPointer { sp in
                            v.data.withUnsafeBufferPointer { vp in
                                outRows.withUnsafeMutableBufferPointer { op in
                                    GEMM.sgemm(m: S, n: Dv, k: T, a: sp.baseAddress!, lda: T, b: vp.baseAddress! + vBase, ldb: Dv,
                                               c: op.baseAddress!, ldc: Dv, pool: serial)
                                }
                            }
                        }
                    } else {
                        for i in 0..<(S * Dv) { outRows[i] = .nan }
                    }
                    for i in 0..<S {
                        let dst = threeD ? yp + (b * S + i) * H * Dv + h * Dv : yp + ((b * H + h) * S + i) * Dv
                        for d in 0..<Dv { dst[d] = outRows[i * Dv + d] }
                    }
                }
            }
        }
        let presentKey = try call.kernel { try Tensor(shape: [B, k.h, T, D], scalars: k.data) }
        let presentValue = try call.kernel { try Tensor(shape: [B, v.h, T, Dv], scalars: v.data) }
        return [y, presentKey, presentValue, qkOut]
    }
}
