import FrugalCore

/// Gather, GatherElements, GatherND and their inverses ScatterElements (and the older Scatter)
/// and ScatterND. Indices may be int32 or int64 and negative; out-of-range ones are node errors.
enum GatherScatterOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Gather", dtypes: .all) { call in
            let data = try call.input(0)
            let indicesT = try call.input(1)
            let axis = try call.axis(try call.node.int("axis", default: 0), rank: data.rank)
            let d = data.shape[axis]
            let idx = try checkedIndices(call, indicesT, limit: d, what: "indices on axis \(axis)")
            let outShape = Shape(Array(data.shape.dims[..<axis]) + indicesT.shape.dims + Array(data.shape.dims[(axis + 1)...]))
            var out = try call.output(outShape, data.dtype)
            let es = data.dtype.byteSize
            let outer = data.shape.count(0..<axis)
            let block = data.shape.count((axis + 1)..<data.rank) * es
            if block > 0 {
                data.withUnsafeRawBytes { s in
                    out.withUnsafeMutableRawBytes { o in
                        var dst = o.baseAddress!
                        for i in 0..<outer {
                            let base = s.baseAddress! + i * d * block
                            for j in idx {
                                dst.copyMemory(from: base + j * block, byteCount: block)
                                dst += block
                            }
                        }
                    }
                }
            }
            return [out]
        },
        OperatorSchema("GatherElements", since: 11, dtypes: .all) { call in
            let data = try call.input(0)
            let indicesT = try call.input(1)
            let axis = try call.axis(try call.node.int("axis", default: 0), rank: data.rank)
            try checkElementShapes(call, data: data, indices: indicesT, axis: axis, what: "indices")
            let idx = try checkedIndices(call, indicesT, limit: data.shape[axis], what: "indices on axis \(axis)")
            var out = try call.output(indicesT.shape, data.dtype)
            let es = data.dtype.byteSize
            let offsets = elementOffsets(indicesT.shape, data.shape, axis: axis, idx: idx)
            data.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { o in
                    for (i, off) in offsets.enumerated() {
                        (o.baseAddress! + i * es).copyMemory(from: s.baseAddress! + off * es, byteCount: es)
                    }
                }
            }
            return [out]
        },
        OperatorSchema("GatherND", since: 11, dtypes: .all) { call in
            let data = try call.input(0)
            let indicesT = try call.input(1)
            let b = try call.node.int("batch_dims", default: 0)
            let nd = try ndLayout(call, data: data, indices: indicesT, batchDims: b)
            let outShape = Shape(Array(indicesT.shape.dims.dropLast()) + Array(data.shape.dims[(b + nd.m)...]))
            var out = try call.output(outShape, data.dtype)
            let block = nd.block * data.dtype.byteSize
            if block > 0 {
                data.withUnsafeRawBytes { s in
                    out.withUnsafeMutableRawBytes { o in
                        for (i, off) in nd.offsets.enumerated() {
                            (o.baseAddress! + i * block).copyMemory(from: s.baseAddress! + off * data.dtype.byteSize, byteCount: block)
                        }
                    }
                }
            }
            return [out]
        },
        OperatorSchema("Scatter", since: 9, until: 10, dtypes: .all) { call in try scatterElements(call) },
        OperatorSchema("ScatterElements", since: 11, dtypes: .all) { call in try scatterElements(call) },
        OperatorSchema("ScatterND", since: 11, dtypes: .all) { call in
            let data = try call.input(0)
            let indicesT = try call.input(1)
            let updates = try call.input(2)
            let nd = try ndLayout(call, data: data, indices: indicesT, batchDims: 0)
            let expected = Array(indicesT.shape.dims.dropLast()) + Array(data.shape.dims[nd.m...])
            guard updates.shape.dims == expected, updates.dtype == data.dtype else {
                throw call.fail("updates must be \(data.dtype) of shape \(Shape(expected)), got \(updates.dtype) \(updates.shape)")
            }
            let reduction = try ScatterReduction(call)
            var out = data
            try out.withUnsafeMutableRawBytes { o in
                try updates.withUnsafeRawBytes { u in
                    for (i, off) in nd.offsets.enumerated() {
                        try reduction.apply(call, data.dtype, dst: o.baseAddress! + off * data.dtype.byteSize,
                                            src: u.baseAddress! + i * nd.block * data.dtype.byteSize, count: nd.block)
                    }
                }
            }
            return [out]
        },
    ]

    /// Indices as Int, negative ones wrapped, each checked against `0..<limit`.
    static func checkedIndices(_ call: OpCall, _ t: Tensor, limit: Int, what: String) throws -> [Int] {
        var v = try call.intValues(t, what: what)
        for i in v.indices {
            if v[i] < 0 { v[i] += limit }
            guard v[i] >= 0 && v[i] < limit else {
                throw call.fail("\(what): index \(v[i] < 0 ? v[i] - limit : v[i]) is out of range [\(-limit), \(limit - 1)]")
            }
        }
        return v
    }

    static func checkElementShapes(_ call: OpCall, data: Tensor, indices: Tensor, axis: Int, what: String) throws {
        guard indices.rank == data.rank,
              (0..<data.rank).allSatisfy({ $0 == axis || indices.shape[$0] <= data.shape[$0] }) else {
            throw call.fail("\(what) shape \(indices.shape) must have data's rank and fit within data's shape \(data.shape) outside axis \(axis)")
        }
    }

    /// Data element offsets for each position of an indices tensor of `shape`, with the index on
    /// `axis` replaced by `idx`.
    static func elementOffsets(_ shape: Shape, _ dataShape: Shape, axis: Int, idx: [Int]) -> [Int] {
        let ds = dataShape.strides
        var offsets = [Int](repeating: 0, count: idx.count)
        var pos = [Int](repeating: 0, count: shape.rank)
        var base = 0
        for i in 0..<idx.count {
            offsets[i] = base + idx[i] * ds[axis]
            var k = shape.rank - 1
            while k >= 0 {
                pos[k] += 1
                if k != axis { base += ds[k] }
                if pos[k] < shape[k] { break }
                if k != axis { base -= ds[k] * shape[k] }
                pos[k] = 0
                k -= 1
            }
        }
        return offsets
    }

    /// GatherND/ScatterND addressing: tuple length `m`, elements per slice, and the element
    /// offset of each slice in data.
    static func ndLayout(_ call: OpCall, data: Tensor, indices: Tensor, batchDims b: Int)
        throws -> (m: Int, block: Int, offsets: [Int]) {
        guard indices.rank >= 1, let m = indices.shape.dims.last else { throw call.fail("indices must have rank ≥ 1") }
        guard b >= 0, b < min(data.rank, indices.rank) else {
            throw call.fail("batch_dims \(b) must be in [0, \(min(data.rank, indices.rank) - 1)]")
        }
        guard m >= 1, b + m <= data.rank else {
            throw call.fail("indices' last dimension \(m) must be in [1, \(data.rank - b)] for data of shape \(data.shape)")
        }
        guard Array(indices.shape.dims[..<b]) == Array(data.shape.dims[..<b]) else {
            throw call.fail("the first \(b) (batch) dimensions of indices \(indices.shape) and data \(data.shape) must match")
        }
        let raw = try call.intValues(indices, what: "indices")
        let ds = data.shape.strides
        let block = data.shape.count((b + m)..<data.rank)
        let tuples = raw.count / m
        let perBatch = b == 0 ? tuples : tuples / max(1, indices.shape.count(0..<b))
        let batchStride = b == 0 ? 0 : ds[b - 1]
        var offsets = [Int](repeating: 0, count: tuples)
        for t in 0..<tuples {
            var off = perBatch > 0 ? (t / perBatch) * batchStride : 0
            for j in 0..<m {
                let d = data.shape[b + j]
                var v = raw[t * m + j]
                if v < 0 { v += d }
                guard v >= 0 && v < d else {
                    throw call.fail("indices: index \(raw[t * m + j]) is out of range for dimension \(b + j) (size \(d)) of data \(data.shape)")
                }
                off += v * ds[b + j]
            }
            offsets[t] = off
        }
        return (m, block, offsets)
    }

    static func scatterElements(_ call: OpCall) throws -> [Tensor] {
        let data = try call.input(0)
        let indicesT = try call.input(1)
        let updates = try call.input(2)
        let axis = try call.axis(try call.node.int("axis", default: 0), rank: data.rank)
        try checkElementShapes(call, data: data, indices: indicesT, axis: axis, what: "indices")
        guard updates.shape == indicesT.shape, updates.dtype == data.dtype else {
            throw call.fail("updates must be \(data.dtype) of the indices' shape \(indicesT.shape), got \(updates.dtype) \(updates.shape)")
        }
        let idx = try checkedIndices(call, indicesT, limit: data.shape[axis], what: "indices on axis \(axis)")
        let offsets = elementOffsets(indicesT.shape, data.shape, axis: axis, idx: idx)
        let reduction = try ScatterReduction(call)
        let es = data.dtype.byteSize
        var out = data
        try out.withUnsafeMutableRawBytes { o in
            try updates.withUnsafeRawBytes { u in
                for (i, off) in offsets.enumerated() {
                    try reduction.apply(call, data.dtype, dst: o.baseAddress! + off * es, src: u.baseAddress! + i * es, count: 1)
                }
            }
        }
        return [out]
    }
}

/// Scatter reductions: dst = reduce(dst, src) element-wise.
enum ScatterReduction: String {
    case none, add, mul, max, min

    init(_ call: OpCall) throws {
        let name = try call.node.string("reduction", default: "none")
        guard let r = ScatterReduction(rawValue: name) else { throw call.fail("reduction '\(name)' is not none, add, mul, max or min") }
        self = r
    }

    func apply(_ call: OpCall, _ dtype: DType, dst: UnsafeMutableRawPointer, src: UnsafeRawPointer, count: Int) throws {
        if self == .none { dst.copyMemory(from: src, byteCount: count * dtype.byteSize); return }
        func run<T: Numeric & Comparable>(_: T.Type, _ wrap: (T, T) -> T) {
            let d = dst.assumingMemoryBound(to: T.self), s = src.assumingMemoryBound(to: T.self)
            for i in 0..<count { d[i] = wrap(d[i], s[i]) }
        }
        func combine<T: Numeric & Comparable>(_ a: T, _ b: T) -> T {
            switch self {
            case .add: return a + b
            case .mul: return a * b
            case .max: return Swift.max(a, b)
            default: return Swift.min(a, b)
            }
        }
        func wrapping<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
            switch self {
            case .add: return a &+ b
            case .mul: return a &* b
            case .max: return Swift.max(a, b)
            default: return Swift.min(a, b)
            }
        }
        switch dtype {
        case .float32: run(Float.self, combine)
        case .int32: run(Int32.self, wrapping)
        case .int64: run(Int64.self, wrapping)
        case .int8: run(Int8.self, wrapping)
        case .uint8: run(UInt8.self, wrapping)
        case .float16:
            let d = dst.assumingMemoryBound(to: Half.self), s = src.assumingMemoryBound(to: Half.self)
            for i in 0..<count { d[i] = Half(combine(d[i].floatValue, s[i].floatValue)) }
        case .bool: throw call.fail("reduction '\(rawValue)' is not defined for bool")
        }
    }
}
