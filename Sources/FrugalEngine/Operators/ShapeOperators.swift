import FrugalCore

/// Ops that only read or change a shape: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
/// and ConstantOfShape, which makes a tensor from one. Reshape-like ops share the input's storage.
enum ShapeOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Shape", dtypes: .all) { call in
            let x = try call.input(0)
            let r = x.rank
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
            let start = clamp(try call.node.int("start", default: 0))
            let end = clamp(try call.node.int("end") ?? r)
            let dims = start < end ? x.shape.dims[start..<end].map(Int64.init) : []
            return [try Tensor(shape: [dims.count], scalars: dims)]
        },
        OperatorSchema("Size", dtypes: .all) { call in
            [Tensor(scalar: Int64(try call.input(0).elementCount))]
        },
        OperatorSchema("Reshape", dtypes: .all) { call in
            let x = try call.input(0)
            let requested: [Int]
            if let s = try call.optionalInts(1, what: "shape") { requested = s } else if let s = try call.node.ints("shape") {
                requested = s
            } else {
                throw call.fail("the target shape (input 1) is required")
            }
            let allowZero = try call.node.int("allowzero", default: 0) != 0
            return [try call.reshape(x, try reshapeTarget(call, input: x.shape, requested: requested, allowZero: allowZero))]
        },
        OperatorSchema("Flatten", dtypes: .all) { call in
            let x = try call.input(0)
            let a = try call.node.int("axis", default: 1)
            let axis = a < 0 ? a + x.rank : a
            guard axis >= 0 && axis <= x.rank else {
                throw call.fail("axis \(a) is out of range for a rank-\(x.rank) input; it must be in [\(-x.rank), \(x.rank)]")
            }
            return [try call.reshape(x, Shape([x.shape.count(0..<axis), x.shape.count(axis..<x.rank)]))]
        },
        OperatorSchema("Squeeze", dtypes: .all) { call in
            let x = try call.input(0)
            let given = try call.optionalInts(1, what: "axes") ?? call.node.ints("axes")
            var dims = x.shape.dims
            if let given, !given.isEmpty {
                let axes = try call.axes(given, rank: x.rank)
                for a in axes where dims[a] != 1 {
                    throw call.fail("cannot squeeze axis \(a) of shape \(x.shape): its size is \(dims[a]), not 1")
                }
                dims = dims.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
            } else {
                dims.removeAll { $0 == 1 }
            }
            return [try call.reshape(x, Shape(dims))]
        },
        OperatorSchema("Unsqueeze", dtypes: .all) { call in
            let x = try call.input(0)
            guard let given = try call.optionalInts(1, what: "axes") ?? call.node.ints("axes") else {
                throw call.fail("axes (input 1 from opset 13, an attribute before) is required")
            }
            let outRank = x.rank + given.count
            let axes = Set(try call.axes(given, rank: outRank))
            var dims: [Int] = []
            var src = 0
            for k in 0..<outRank {
                if axes.contains(k) { dims.append(1) } else { dims.append(x.shape[src]); src += 1 }
            }
            return [try call.reshape(x, Shape(dims))]
        },
        OperatorSchema("ConstantOfShape", since: 9, dtypes: [.int64]) { call in
            let dims = try call.intValues(try call.input(0), what: "shape")
            let value = try call.node.tensor("value") ?? Tensor(scalar: Float(0))
            guard value.elementCount == 1 else {
                throw call.fail("value must hold exactly one element, it has shape \(value.shape)")
            }
            for d in dims where d < 0 { throw call.fail("shape \(dims) has a negative dimension") }
            var out = try call.output(Shape(dims), value.dtype)
            let bytes = value.withUnsafeRawBytes { Array($0.prefix(value.dtype.byteSize)) }
            if bytes.contains(where: { $0 != 0 }) {
                out.withUnsafeMutableRawBytes { d in
                    let es = bytes.count
                    bytes.withUnsafeBytes { b in
                        for i in 0..<(d.count / es) { (d.baseAddress! + i * es).copyMemory(from: b.baseAddress!, byteCount: es) }
                    }
                }
            }
            return [out]
        },
    ]

    /// Reshape's target: 0 copies the input's dimension (unless `allowZero`), one -1 is inferred.
    static func reshapeTarget(_ call: OpCall, input: Shape, requested: [Int], allowZero: Bool) throws -> Shape {
        var dims = requested
        var inferred: Int?
        for (i, d) in requested.enumerated() {
            if d == -1 {
                guard inferred == nil else { throw call.fail("shape \(requested) has more than one -1") }
                inferred = i
            } else if d == 0 && !allowZero {
                guard i < input.rank else {
                    throw call.fail("shape \(requested) copies dimension \(i) (0) but the input \(input) has rank \(input.rank)")
                }
                dims[i] = input[i]
            } else if d < 0 {
                throw call.fail("shape \(requested) has a negative dimension \(d); only -1 (inferred) is allowed")
            }
        }
        let total = try call.kernel { try input.validated() }
        if let k = inferred {
            if allowZero && requested.contains(0) {
                throw call.fail("shape \(requested) has both -1 and 0 with allowzero=1")
            }
            var known = 1
            for (i, d) in dims.enumerated() where i != k {
                let (p, o) = known.multipliedReportingOverflow(by: d)
                guard !o else { throw call.fail("shape \(requested) is too large") }
                known = p
            }
            guard known != 0, total % known == 0 else {
                throw call.fail("cannot reshape \(input) (\(total) elements) to \(requested): the -1 dimension cannot be inferred")
            }
            dims[k] = total / known
        }
        return Shape(dims)
    }
}
