import FrugalCore

/// Expand (broadcast to a shape) and Tile (repeat along each axis): both one strided copy with
/// zero source strides for the repeated dimensions.
enum ExpandTileOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Expand", since: 8, dtypes: .all) { call in
            let x = try call.input(0)
            let dims = try call.intValues(try call.input(1), what: "shape")
            for d in dims where d < 0 { throw call.fail("shape \(dims) has a negative dimension") }
            let target = try call.kernel { try Shape.broadcast(x.shape, Shape(dims)) }
            try call.kernel { _ = try MemoryLimit.checkedByteCount(elements: try target.validated(), dtype: x.dtype, what: "Expand's output \(target)") }
            return [try call.kernel { try DataMovement.broadcast(x, to: target) }]
        },
        OperatorSchema("Tile", since: 6, dtypes: .all) { call in
            let x = try call.input(0)
            let reps = try call.intValues(try call.input(1), what: "repeats")
            guard reps.count == x.rank else {
                throw call.fail("repeats \(reps) must have one entry per dimension of input \(x.shape)")
            }
            guard reps.allSatisfy({ $0 >= 0 }) else { throw call.fail("repeats \(reps) must be non-negative") }
            var outDims: [Int] = []
            var splitDims: [Int] = []
            var srcStrides: [Int] = []
            let strides = x.shape.strides
            for k in 0..<x.rank {
                let (p, o) = x.shape[k].multipliedReportingOverflow(by: reps[k])
                guard !o else { throw call.fail("repeats \(reps) make an absurdly large output") }
                outDims.append(p)
                splitDims += [reps[k], x.shape[k]]
                srcStrides += [0, strides[k]]
            }
            let outShape = Shape(outDims)
            var out = try call.output(outShape, x.dtype)
            let dstStrides = Shape(splitDims).strides
            x.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { d in
                    DataMovement.stridedCopy(src: s.baseAddress!, srcStrides: srcStrides, dst: d.baseAddress!,
                                             dstStrides: dstStrides, shape: splitDims, elementSize: x.dtype.byteSize)
                }
            }
            return [out]
        },
    ]
}
