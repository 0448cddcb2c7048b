import FrugalCore

/// Ops that generate or mask values by position: Range, EyeLike, Trilu and OneHot.
enum GeneratorOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Range", since: 11, dtypes: [.float32, .float16, .int32, .int64]) { call in
            let s = try call.input(0), l = try call.input(1), d = try call.input(2)
            guard s.elementCount == 1, l.elementCount == 1, d.elementCount == 1 else {
                throw call.fail("start, limit and delta must be scalars, got shapes \(s.shape), \(l.shape), \(d.shape)")
            }
            guard s.dtype == l.dtype, s.dtype == d.dtype else { throw call.fail("start, limit and delta must have one type") }
            if s.dtype.isFloatingPoint {
                let (a, b, c) = (Double(s.floatScalars()[0]), Double(l.floatScalars()[0]), Double(d.floatScalars()[0]))
                guard c != 0, c.isFinite else { throw call.fail("delta must be non-zero and finite") }
                let q = ((b - a) / c).rounded(.up)
                guard q.isFinite, q < 1e15 else { throw call.fail("range [\(a), \(b)) by \(c) is absurdly long") }
                let n = max(Int(q), 0)
                _ = try call.output([n], s.dtype)
                let v = (0..<n).map { Float(a + Double($0) * c) }
                return [s.dtype == .float32 ? try Tensor(shape: [n], scalars: v) : try Tensor(shape: [n], scalars: v.map(Half.init))]
            }
            let a = try call.intValues(s, what: "start")[0], b = try call.intValues(l, what: "limit")[0]
            let c = try call.intValues(d, what: "delta")[0]
            guard c != 0 else { throw call.fail("delta must be non-zero") }
            let (span, o) = b.subtractingReportingOverflow(a)
            guard !o else { throw call.fail("range [\(a), \(b)) is absurdly long") }
            guard !(span == Int.min && c == -1) else { throw call.fail("range [\(a), \(b)) is absurdly long") }
            let n = span == 0 || (span > 0) != (c > 0) ? 0 : span / c + (span % c != 0 ? 1 : 0)
            _ = try call.output([n], s.dtype)
            let v = (0..<n).map { a + $0 * c }
            return [s.dtype == .int64 ? try Tensor(shape: [n], scalars: v.map { Int64($0) })
                                       : try Tensor(shape: [n], scalars: v.map { Int32(truncatingIfNeeded: $0) })]
        },
        OperatorSchema("EyeLike", since: 9, dtypes: .all) { call in
            let x = try call.input(0)
            guard x.rank == 2 else { throw call.fail("input must be 2-D, got shape \(x.shape)") }
            var dtype = x.dtype
            if let code = try call.node.int("dtype") {
                guard let d = ONNXDataType.dtype(for: code) else { throw call.fail("dtype \(ONNXDataType.name(code)) is not one Frugal computes with") }
                dtype = d
            }
            let k = min(max(try call.node.int("k", default: 0), -x.shape[0] - 1), x.shape[1] + 1)
            var out = try call.output(x.shape, dtype)
            let one = try call.elementBytes(of: Tensor(scalar: Float(1)), as: dtype)
            let (rows, cols) = (x.shape[0], x.shape[1])
            out.withUnsafeMutableRawBytes { o in
                for i in 0..<rows {
                    let j = i + k
                    if j >= 0 && j < cols {
                        one.withUnsafeBytes { (o.baseAddress! + (i * cols + j) * one.count).copyMemory(from: $0.baseAddress!, byteCount: one.count) }
                    }
                }
            }
            return [out]
        },
        OperatorSchema("Trilu", since: 14, dtypes: .all) { call in
            var x = try call.input(0)
            guard x.rank >= 2 else { throw call.fail("input must have rank ≥ 2, got shape \(x.shape)") }
            var k = 0
            if let kt = call.optionalInput(1) {
                guard kt.elementCount == 1 else { throw call.fail("k must be a scalar, got shape \(kt.shape)") }
                k = try call.intValues(kt, what: "k")[0]
            }
            let upper = try call.node.int("upper", default: 1) != 0
            let (rows, cols) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
            k = min(max(k, -rows - 1), cols + 1)
            let mats = x.shape.count(0..<(x.rank - 2))
            let es = x.dtype.byteSize
            x.withUnsafeMutableRawBytes { p in
                guard let base = p.baseAddress else { return }
                for m in 0..<mats {
                    for i in 0..<rows {
                        let row = base + (m * rows + i) * cols * es
                        // upper keeps j >= i + k (zero j < i + k); lower keeps j <= i + k.
                        let (lo, hi) = upper ? (0, min(max(i + k, 0), cols)) : (min(max(i + k + 1, 0), cols), cols)
                        if hi > lo { (row + lo * es).initializeMemory(as: UInt8.self, repeating: 0, count: (hi - lo) * es) }
                    }
                }
            }
            return [x]
        },
        OperatorSchema("OneHot", since: 9, dtypes: [.float32, .float16, .int8, .uint8, .int32, .int64]) { call in
            let indicesT = try call.input(0), depthT = try call.input(1), values = try call.input(2)
            guard depthT.elementCount == 1 else { throw call.fail("depth must hold one value, got shape \(depthT.shape)") }
            guard values.elementCount == 2 else { throw call.fail("values must be [off, on], got shape \(values.shape)") }
            let depth = depthT.dtype.isFloatingPoint ? Int(CastOperators.truncate(depthT.floatScalars()[0]))
                                                     : try call.intValues(CastOperators.cast(depthT, to: .int64), what: "depth")[0]
            guard depth >= 1 else { throw call.fail("depth \(depth) must be positive") }
            let idx = indicesT.dtype.isFloatingPoint ? indicesT.floatScalars().map { Int(CastOperators.truncate($0)) }
                                                     : try call.intValues(CastOperators.cast(indicesT, to: .int64), what: "indices")
            let axis = try call.axis(try call.node.int("axis", default: -1), rank: indicesT.rank + 1)
            var dims = indicesT.shape.dims
            dims.insert(depth, at: axis)
            var out = try call.output(Shape(dims), values.dtype)
            let es = values.dtype.byteSize
            let inner = indicesT.shape.count(axis..<indicesT.rank)
            values.withUnsafeRawBytes { v in
                out.withUnsafeMutableRawBytes { o in
                    let n = o.count / max(es, 1)
                    for i in 0..<n { (o.baseAddress! + i * es).copyMemory(from: v.baseAddress!, byteCount: es) }
                    for (p, raw) in idx.enumerated() {
                        let j = raw < 0 ? raw + depth : raw
                        guard j >= 0 && j < depth else { continue }
                        let off = ((p / inner) * depth + j) * inner + p % inner
                        (o.baseAddress! + off * es).copyMemory(from: v.baseAddress! + es, byteCount: es)
                    }
                }
            }
            return [out]
        },
    ]
}
