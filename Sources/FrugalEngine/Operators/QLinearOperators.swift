import FrugalCore

/// Integer matrix products on QGEMM: MatMulInteger and ConvInteger (int32 results),
/// QLinearMatMul and QLinearConv (requantized to int8/uint8, rounding half to even in
/// double precision like ONNX Runtime's reference). int8 and uint8 operands, scalar or
/// per-row/per-column/per-channel zero points and scales.
enum QLinearOperators {
    static let quantized: Set<DType> = [.int8, .uint8]
    static let schemas: [OperatorSchema] = [
        OperatorSchema("MatMulInteger", since: 10, dtypes: quantized) { try matmul($0, linear: false) },
        OperatorSchema("QLinearMatMul", since: 10, dtypes: quantized) { try matmul($0, linear: true) },
        OperatorSchema("ConvInteger", since: 10, dtypes: quantized) { try conv($0, linear: false) },
        OperatorSchema("QLinearConv", since: 10, dtypes: quantized) { try conv($0, linear: true) },
    ]

    /// c[m×n] = Σ (A − aZp[row]) (B[p, j] − bZp[j]) over k, A and B int8 or uint8, row-major.
    static func integerGemm(_ call: OpCall, m: Int, n: Int, k: Int, a: UnsafeRawPointer, aType: DType, aZeroPoints: [Int32],
                            b: UnsafeRawPointer, bType: DType, bZeroPoints: [Int32], c: UnsafeMutablePointer<Int32>) throws {
        if m == 0 || n == 0 { return }
        if k == 0 { c.update(repeating: 0, count: m * n); return }
        func run<A: QuantizedScalar, B: QuantizedScalar>(_: A.Type, _: B.Type) throws {
            let ap = a.assumingMemoryBound(to: A.self), bp = b.assumingMemoryBound(to: B.self)
            let packed = try call.kernel { try QGEMM.PackedB(k: k, n: n, b: bp, ldb: n, zeroPoints: bZeroPoints, pool: call.context.pool) }
            if Set(aZeroPoints).count <= 1 {
                try call.kernel { try QGEMM.gemm(m: m, a: ap, lda: k, aZeroPoint: aZeroPoints.first ?? 0, b: packed, c: c, ldc: n, pool: call.context.pool) }
            } else {
                for i in 0..<m {
                    try call.kernel { try QGEMM.gemm(m: 1, a: ap + i * k, lda: k, aZeroPoint: aZeroPoints[i], b: packed, c: c + i * n, ldc: n, pool: call.context.pool) }
                }
            }
        }
        switch (aType, bType) {
        case (.uint8, .uint8): try run(UInt8.self, UInt8.self)
        case (.uint8, .int8): try run(UInt8.self, Int8.self)
        case (.int8, .uint8): try run(Int8.self, UInt8.self)
        case (.int8, .int8): try run(Int8.self, Int8.self)
        default: throw call.fail("operands are \(aType) and \(bType); only int8 and uint8 are supported")
        }
    }

    /// Quantized input `i` (int8 or uint8).
    static func quantizedInput(_ call: OpCall, _ i: Int, _ name: String) throws -> Tensor {
        let t = try call.input(i)
        guard quantized.contains(t.dtype) else { throw call.fail("\(name) is \(t.dtype); only int8 and uint8 are supported") }
        return t
    }

    /// Zero points of input `i` (default 0), checked against `x`'s type: 1 value or `count`.
    static func zeroPoints(_ call: OpCall, _ i: Int, _ name: String, like x: Tensor, count: Int) throws -> [Int32] {
        guard let t = call.optionalInput(i) else { return [0] }
        guard t.dtype == x.dtype else { throw call.fail("\(name) is \(t.dtype) but its operand is \(x.dtype)") }
        guard t.elementCount == 1 || t.elementCount == count else {
            throw call.fail("\(name) has shape \(t.shape); it must hold 1 or \(count) values")
        }
        return t.floatScalars().map { Int32($0) }
    }

    /// Scales of input `i`: 1 value or `count`.
    static func scales(_ call: OpCall, _ i: Int, _ name: String, count: Int) throws -> [Float] {
        let t = try call.input(i)
        guard t.dtype.isFloatingPoint, t.elementCount == 1 || t.elementCount == count else {
            throw call.fail("\(name) has shape \(t.shape) (\(t.dtype)); it must be a float scalar or hold \(count) values")
        }
        return t.floatScalars()
    }

    /// Requantizes `acc` (rows × cols, channel = row or column) into a new tensor of `dims`
    /// whose type is y_zero_point's (default uint8).
    static func requantize(_ call: OpCall, acc: [Int32], rows: Int, cols: Int, channelIsRow: Bool, multipliers: [Double],
                           yZeroPoint: Tensor?, dims: [Int]) throws -> Tensor {
        let outType = yZeroPoint?.dtype ?? .uint8
        guard quantized.contains(outType) else { throw call.fail("y_zero_point is \(outType); only int8 and uint8 are supported") }
        let zp = Double(yZeroPoint?.floatScalars().first ?? 0)
        let (lo, hi) = QuantizationOperators.bounds(outType)
        var y = try call.kernel { try Tensor(zeros: Shape(dims), dtype: outType) }
        func fill<T: BinaryInteger>(_ p: UnsafeMutableBufferPointer<T>) {
            for i in 0..<(rows * cols) {
                let ch = multipliers.count == 1 ? 0 : (channelIsRow ? (i / cols) % (multipliers.count) : i % cols)
                let v = (Double(acc[i]) * multipliers[ch] + zp).rounded(.toNearestOrEven)
                p[i] = T(min(max(v, Double(lo)), Double(hi)))
            }
        }
        if outType == .int8 { y.withUnsafeMutableBufferPointer(as: Int8.self, fill) } else { y.withUnsafeMutableBufferPointer(as: UInt8.self, fill) }
        return y
    }

    static func matmul(_ call: OpCall, linear: Bool) throws -> [Tensor] {
        let a = try quantizedInput(call, 0, "A"), b = try quantizedInput(call, linear ? 3 : 1, "B")
        let plan = try GemmOperators.MatMulPlan(call, a.shape, b.shape)
        let M = plan.m, N = plan.n, K = plan.k
        let aZp = try zeroPoints(call, 2, "a_zero_point", like: a, count: M)
        let bZp = try zeroPoints(call, linear ? 5 : 3, "b_zero_point", like: b, count: N)
        var acc = [Int32](repeating: 0, count: plan.batchCount * M * N)
        try a.withUnsafeRawBytes { ar in
            try b.withUnsafeRawBytes { br in
                try acc.withUnsafeMutableBufferPointer { cp in
                    try plan.forEachBatch { t, ao, bo in
                        try integerGemm(call, m: M, n: N, k: K, a: ar.baseAddress! + ao * M * K, aType: a.dtype, aZeroPoints: aZp,
                                        b: br.baseAddress! + bo * K * N, bType: b.dtype, bZeroPoints: bZp, c: cp.baseAddress! + t * M * N)
                    }
                }
            }
        }
        if !linear { return [try Tensor(shape: Shape(plan.outDims), scalars: acc)] }
        let sa = try scales(call, 1, "a_scale", count: M), sb = try scales(call, 4, "b_scale", count: N)
        let sy = try scales(call, 6, "y_scale", count: 1)[0]
        guard sa.count == 1 else { throw call.fail("per-row a_scale is not supported") }
        let mult = sb.map { Double(sa[0] * $0 / sy) }
        return [try requantize(call, acc: acc, rows: plan.batchCount * M, cols: N, channelIsRow: false, multipliers: mult,
                               yZeroPoint: call.optionalInput(7), dims: plan.outDims)]
    }

    static func conv(_ call: OpCall, linear: Bool) throws -> [Tensor] {
        let x = try quantizedInput(call, 0, "x"), w = try quantizedInput(call, linear ? 3 : 1, "w")
        let group = try call.node.int("group", default: 1)
        guard x.rank >= 3, w.rank == x.rank else { throw call.fail("x \(x.shape) and w \(w.shape) must have the same rank, 3 or more") }
        let N = x.shape[0], C = x.shape[1], M = w.shape[0]
        guard group >= 1, C % group == 0, M % group == 0, w.shape[1] * group == C else {
            throw call.fail("x \(x.shape) has \(C) channels but w \(w.shape) with group \(group) expects \(w.shape[1] * group)")
        }
        let spatial = Array(x.shape.dims[2...])
        let a = try SpatialAttributes(call.node, spatial: spatial, kernel: Array(w.shape.dims[2...]))
        let outSpatial = (0..<spatial.count).map { a.convOutput($0, spatial[$0]) }
        guard outSpatial.allSatisfy({ $0 >= 0 }) else { throw call.fail("the kernel does not fit the padded input \(spatial)") }
        let xZp = try zeroPoints(call, 2, "x_zero_point", like: x, count: 1)[0]
        let wZp = try zeroPoints(call, linear ? 5 : 3, "w_zero_point", like: w, count: M)
        let map = ColumnMap(imageDims: spatial, gridDims: outSpatial, attributes: a)
        let Cg = C / group, Mg = M / group, K = Cg * map.taps, P = map.positions
        var acc = [Int32](repeating: 0, count: N * M * P)
        var col = [UInt8](repeating: 0, count: max(K * P, 1))
        try x.withUnsafeRawBytes { xr in
            try w.withUnsafeRawBytes { wr in
                try col.withUnsafeMutableBytes { cr in
                    try acc.withUnsafeMutableBufferPointer { ap in
                        for n in 0..<N {
                            for g in 0..<group {
                                let src = xr.baseAddress! + (n * C + g * Cg) * map.imageSize
                                if x.dtype == .int8 {
                                    map.unfold(src.assumingMemoryBound(to: Int8.self), channels: Cg, padding: Int8(xZp),
                                               into: cr.baseAddress!.assumingMemoryBound(to: Int8.self))
                                } else {
                                    map.unfold(src.assumingMemoryBound(to: UInt8.self), channels: Cg, padding: UInt8(xZp),
                                               into: cr.baseAddress!.assumingMemoryBound(to: UInt8.self))
                                }
                                let zps = wZp.count == 1 ? wZp : Array(wZp[(g * Mg)..<((g + 1) * Mg)])
                                try integerGemm(call, m: Mg, n: P, k: K, a: wr.baseAddress! + g * Mg * K, aType: w.dtype, aZeroPoints: zps,
                                                b: UnsafeRawPointer(cr.baseAddress!), bType: x.dtype, bZeroPoints: [xZp],
                                                c: ap.baseAddress! + (n * M + g * Mg) * P)
                            }
                        }
                    }
                }
            }
        }
        let dims = [N, M] + outSpatial
        if !linear { return [try Tensor(shape: Shape(dims), scalars: acc)] }
        if let bias = call.optionalInput(8) {
            guard bias.dtype == .int32, bias.elementCount == M else { throw call.fail("B must be int32 [\(M)], got \(bias.dtype) \(bias.shape)") }
            let bv = bias.scalars(as: Int32.self)
            for i in 0..<acc.count { acc[i] &+= bv[(i / P) % M] }
        }
        let sx = try scales(call, 1, "x_scale", count: 1)[0], sw = try scales(call, 4, "w_scale", count: M)
        let sy = try scales(call, 6, "y_scale", count: 1)[0]
        let mult = sw.map { Double(sx * $0 / sy) }
        return [try requantize(call, acc: acc, rows: N * M, cols: P, channelIsRow: true, multipliers: mult,
                               yZeroPoint: call.optionalInput(7), dims: dims)]
    }
}
