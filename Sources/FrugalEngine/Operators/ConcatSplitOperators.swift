import FrugalCore

/// Concat and Split: joining and cutting along one axis, one memcpy per outer block.
enum ConcatSplitOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Concat", since: 4, dtypes: .all) { call in
            let xs = try call.inputs.indices.map { try call.input($0) }
            guard let first = xs.first else { throw call.fail("needs at least one input") }
            guard let a = try call.node.int("axis") else { throw call.fail("attribute axis is required") }
            let axis = try call.axis(a, rank: first.rank)
            var dims = first.shape.dims
            dims[axis] = 0
            for (i, x) in xs.enumerated() {
                guard x.dtype == first.dtype else {
                    throw call.fail("input \(i) is \(x.dtype) but input 0 is \(first.dtype); all inputs must have one type")
                }
                guard x.rank == first.rank,
                      (0..<x.rank).allSatisfy({ $0 == axis || x.shape[$0] == first.shape[$0] }) else {
                    throw call.fail("input \(i) has shape \(x.shape), which does not match input 0's \(first.shape) outside axis \(axis)")
                }
                dims[axis] += x.shape[axis]
            }
            var out = try call.output(Shape(dims), first.dtype)
            let es = first.dtype.byteSize
            let outer = first.shape.count(0..<axis)
            let inner = first.shape.count((axis + 1)..<first.rank) * es
            let outRow = dims[axis] * inner
            out.withUnsafeMutableRawBytes { d in
                var offset = 0
                for x in xs {
                    let block = x.shape[axis] * inner
                    if block > 0 {
                        x.withUnsafeRawBytes { s in
                            for o in 0..<outer {
                                (d.baseAddress! + o * outRow + offset).copyMemory(from: s.baseAddress! + o * block, byteCount: block)
                            }
                        }
                    }
                    offset += block
                }
            }
            return [out]
        },
        OperatorSchema("Split", since: 2, dtypes: .all) { call in
            let x = try call.input(0)
            let axis = try call.axis(try call.node.int("axis", default: 0), rank: x.rank)
            let d = x.shape[axis]
            let n = call.node.outputs.count
            var sizes: [Int]
            if let s = try call.optionalInts(1, what: "split") ?? call.node.ints("split") {
                sizes = s
                guard sizes.count == n else {
                    throw call.fail("split \(sizes) has \(sizes.count) parts but the node has \(n) outputs")
                }
                guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == d else {
                    throw call.fail("split \(sizes) must be non-negative and sum to the axis-\(axis) size \(d) of \(x.shape)")
                }
            } else if let parts = try call.node.int("num_outputs") {
                guard parts >= 1, parts == n else {
                    throw call.fail("num_outputs \(parts) must be at least 1 and equal the node's \(n) outputs")
                }
                let chunk = (d + parts - 1) / parts
                sizes = (0..<parts).map { max(0, min(chunk, d - $0 * chunk)) }
            } else {
                guard n >= 1, d % n == 0 else {
                    throw call.fail("axis \(axis) of \(x.shape) (size \(d)) cannot be split evenly into \(n) outputs")
                }
                sizes = Array(repeating: d / n, count: n)
            }
            var outs: [Tensor] = []
            var start = 0
            for s in sizes {
                outs.append(try sliceAxis(call, x, axis: axis, start: start, count: s))
                start += s
            }
            return outs
        },
    ]

    /// Rows `start..<start+count` of `x` along `axis`.
    static func sliceAxis(_ call: OpCall, _ x: Tensor, axis: Int, start: Int, count: Int) throws -> Tensor {
        var dims = x.shape.dims
        if start == 0 && count == dims[axis] { return x }
        dims[axis] = count
        var out = try call.output(Shape(dims), x.dtype)
        let es = x.dtype.byteSize
        let outer = x.shape.count(0..<axis)
        let inner = x.shape.count((axis + 1)..<x.rank) * es
        let block = count * inner
        if block > 0 {
            x.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { o in
                    for i in 0..<outer {
                        (o.baseAddress! + i * block).copyMemory(
                            from: s.baseAddress! + (i * x.shape[axis] + start) * inner, byteCount: block)
                    }
                }
            }
        }
        return out
    }
}
