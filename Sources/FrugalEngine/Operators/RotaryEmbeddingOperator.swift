import FrugalCore

/// RotaryEmbedding (opset 23), float32: X as [batch, heads, sequence, head size] or
/// [batch, sequence, hidden] (with num_heads); cos_cache / sin_cache as [max position,
/// rotary dim / 2] indexed by position_ids [batch, sequence], or as [batch, sequence,
/// rotary dim / 2] without position_ids. The first rotary_embedding_dim values of each head
/// (all when 0) are rotated pairwise: halves (x[i], x[i + half]) or, with `interleaved`,
/// neighbours (x[2i], x[2i + 1]); the rest pass through.
enum RotaryEmbeddingOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("RotaryEmbedding", since: 23, dtypes: .floats) { try rotary($0) },
    ]

    static func rotary(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        let cosT = try call.floatInput(1, "cos_cache"), sinT = try call.floatInput(2, "sin_cache")
        let (b, s, h, d): (Int, Int, Int, Int)
        if x.rank == 4 {
            (b, h, s, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        } else if x.rank == 3 {
            let heads = try node.int("num_heads", default: 0)
            guard heads > 0, x.shape[2] % heads == 0 else {
                throw call.fail("X is 3-D \(x.shape): num_heads must be given and divide the hidden size")
            }
            (b, s, h, d) = (x.shape[0], x.shape[1], heads, x.shape[2] / heads)
        } else {
            throw call.fail("X has shape \(x.shape); it must be 3-D or 4-D")
        }
        var rdim = try node.int("rotary_embedding_dim", default: 0)
        if rdim == 0 { rdim = d }
        guard rdim <= d, rdim % 2 == 0 else { throw call.fail("rotary_embedding_dim \(rdim) must be even and at most the head size \(d)") }
        let half = rdim / 2
        let interleaved = try node.int("interleaved", default: 0) != 0
        let positions: [Int]?
        if let p = call.optionalInput(3) {
            guard p.shape.dims == [b, s] else { throw call.fail("position_ids has shape \(p.shape); expected [\(b), \(s)]") }
            positions = try call.intValues(p, what: "position_ids")
            guard cosT.rank == 2, sinT.shape == cosT.shape, cosT.shape[1] == half else {
                throw call.fail("cos_cache \(cosT.shape) and sin_cache \(sinT.shape) must both be [max position, \(half)]")
            }
            for v in positions! where v < 0 || v >= cosT.shape[0] {
                throw call.fail("position id \(v) is outside the caches' \(cosT.shape[0]) positions")
            }
        } else {
            positions = nil
            guard cosT.shape.dims == [b, s, half], sinT.shape == cosT.shape else {
                throw call.fail("without position_ids, cos_cache \(cosT.shape) and sin_cache \(sinT.shape) must both be [\(b), \(s), \(half)]")
            }
        }
        var y = try call.newOutput(x.shape.dims)
        let xp = x.floatPointer, yp = y.mutableFloatPointer(), cp = cosT.floatPointer, sp = sinT.floatPointer
        for bi in 0..<b {
            for si in 0..<s {
                let row = (positions.map { $0[bi * s + si] } ?? (bi * s + si)) * half
                for hi in 0..<h {
                    let base = x.rank == 4 ? ((bi * h + hi) * s + si) * d : ((bi * s + si) * h + hi) * d
                    for i in 0..<half {
                        let (i1, i2) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                        let x1 = xp[base + i1], x2 = xp[base + i2], c = cp[row + i], sn = sp[row + i]
                        yp[base + i1] = c * x1 - sn * x2
                        yp[base + i2] = sn * x1 + c * x2
                    }
                    for i in rdim..<d { yp[base + i] = xp[base + i] }
                }
            }
        }
        return [y]
    }
}
