import FrugalCore

/// Pad in constant, reflect, edge and wrap modes (negative pads crop). Pads and the constant are
/// attributes before opset 11 and inputs from 11; the axes input is opset 18's.
enum PadOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Pad", since: 2, dtypes: .all) { call in
            let x = try call.input(0)
            let r = x.rank
            let mode = try call.node.string("mode", default: "constant")
            guard ["constant", "reflect", "edge", "wrap"].contains(mode) else {
                throw call.fail("mode '\(mode)' is not constant, reflect, edge or wrap")
            }
            var pads: [Int]
            var fill = [UInt8](repeating: 0, count: x.dtype.byteSize)
            var axes = Array(0..<r)
            if call.inputs.count > 1 {
                pads = try call.intValues(try call.input(1), what: "pads")
                if let v = call.optionalInput(2), v.elementCount > 0 { fill = try call.elementBytes(of: v, as: x.dtype) }
                if let a = try call.optionalInts(3, what: "axes") { axes = try call.axes(a, rank: r) }
            } else {
                guard let p = try call.node.ints("pads") ?? call.node.ints("paddings") else {
                    throw call.fail("pads are required")
                }
                pads = p
                if let v = try call.node.float("value") { fill = try call.elementBytes(of: Tensor(scalar: v), as: x.dtype) }
            }
            guard pads.count == 2 * axes.count else {
                throw call.fail("pads \(pads) must have 2 × \(axes.count) entries (begins, then ends) for input \(x.shape)")
            }
            var begin = [Int](repeating: 0, count: r), end = [Int](repeating: 0, count: r)
            for (i, a) in axes.enumerated() {
                begin[a] = pads[i]
                end[a] = pads[axes.count + i]
            }
            var maps: [[Int]] = []
            var dims: [Int] = []
            for k in 0..<r {
                let d = x.shape[k]
                let (s1, o1) = d.addingReportingOverflow(begin[k])
                let (n, o2) = s1.addingReportingOverflow(end[k])
                guard !o1, !o2, n >= 0 else {
                    throw call.fail("pads \(pads) give axis \(k) of \(x.shape) a negative or absurd size")
                }
                dims.append(n)
                if n > 0 && d == 0 && mode != "constant" {
                    throw call.fail("\(mode) padding cannot extend axis \(k), which is empty in \(x.shape)")
                }
            }
            var out = try call.output(Shape(dims), x.dtype)
            if out.elementCount == 0 { return [out] }
            for k in 0..<r {
                let d = x.shape[k], n = dims[k]
                maps.append(try (0..<n).map { o -> Int in
                    let i = o - begin[k]
                    if i >= 0 && i < d { return i }
                    switch mode {
                    case "constant": return -1
                    case "edge": return min(max(i, 0), d - 1)
                    case "wrap": return ((i % d) + d) % d
                    case "reflect":
                        if d == 1 { return 0 }
                        let p = 2 * (d - 1)
                        let j = ((i % p) + p) % p
                        return j < d ? j : p - j
                    default: throw call.fail("mode '\(mode)' is not constant, reflect, edge or wrap")
                    }
                })
            }
            x.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { d in
                    DataMovement.axisGather(src: s.baseAddress!, srcShape: x.shape.dims, maps: maps, fill: fill,
                                            dst: d.baseAddress!, elementSize: x.dtype.byteSize)
                }
            }
            return [out]
        },
    ]
}
