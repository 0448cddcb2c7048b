import FrugalCore

/// Slice: per-axis start/end/step windows (negative indices, clamping, INT_MAX ends, negative
/// steps), as one strided copy. Attributes before opset 10, inputs from 10.
enum SliceOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Slice", dtypes: .all) { call in
            let x = try call.input(0)
            let starts: [Int], ends: [Int]
            var axesGiven: [Int]?, steps: [Int]?
            if call.inputs.count > 1 {
                starts = try call.intValues(try call.input(1), what: "starts")
                ends = try call.intValues(try call.input(2), what: "ends")
                axesGiven = try call.optionalInts(3, what: "axes")
                steps = try call.optionalInts(4, what: "steps")
            } else {
                guard let s = try call.node.ints("starts"), let e = try call.node.ints("ends") else {
                    throw call.fail("starts and ends are required")
                }
                starts = s
                ends = e
                axesGiven = try call.node.ints("axes")
            }
            guard starts.count == ends.count else {
                throw call.fail("starts \(starts) and ends \(ends) must have the same length")
            }
            let axes = try call.axes(axesGiven ?? Array(0..<starts.count), rank: x.rank)
            guard axes.count == starts.count else {
                throw call.fail("axes \(axes) must have as many entries as starts \(starts)")
            }
            let stepList = steps ?? Array(repeating: 1, count: starts.count)
            guard stepList.count == starts.count else {
                throw call.fail("steps \(stepList) must have as many entries as starts \(starts)")
            }
            var begin = [Int](repeating: 0, count: x.rank)
            var step = [Int](repeating: 1, count: x.rank)
            var dims = x.shape.dims
            for (i, a) in axes.enumerated() {
                let d = x.shape[a]
                guard stepList[i] != 0 else { throw call.fail("steps \(stepList) contain 0") }
                // A step longer than the axis takes one element, like a step of exactly its length.
                let st = min(max(stepList[i], -max(d, 1)), max(d, 1))
                var s = starts[i] < 0 ? starts[i] &+ d : starts[i]
                var e = ends[i] < 0 ? ends[i] &+ d : ends[i]
                if st > 0 {
                    s = min(max(s, 0), d)
                    e = min(max(e, 0), d)
                    dims[a] = e > s ? (e - s - 1) / st + 1 : 0
                } else {
                    s = min(max(s, 0), d - 1)
                    e = min(max(e, -1), d - 1)
                    dims[a] = s > e ? (s - e - 1) / -st + 1 : 0
                }
                begin[a] = s
                step[a] = st
            }
            let outShape = Shape(dims)
            if outShape == x.shape && step.allSatisfy({ $0 == 1 }) { return [x] }
            var out = try call.output(outShape, x.dtype)
            let strides = x.shape.strides
            let offset = zip(begin, strides).reduce(0) { $0 + $1.0 * $1.1 }
            x.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { d in
                    DataMovement.stridedCopy(src: s.baseAddress!, srcOffset: offset, srcStrides: zip(strides, step).map { $0 * $1 },
                                             dst: d.baseAddress!, dstStrides: outShape.strides, shape: dims,
                                             elementSize: x.dtype.byteSize)
                }
            }
            return [out]
        },
    ]
}
