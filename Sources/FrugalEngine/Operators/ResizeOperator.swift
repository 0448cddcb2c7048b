import FrugalCore
import Foundation

/// Resize (opset 11+): nearest (every nearest_mode), linear and cubic (N-d, separable: one 1-D
/// pass per resized axis), every coordinate_transformation_mode, scales or sizes, roi, axes,
/// keep_aspect_ratio_policy, exclude_outside, extrapolation_value and antialias. Nearest moves
/// raw elements (any dtype); linear and cubic compute in Float and round back for integers.
enum ResizeOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Resize", since: 11, dtypes: [.float32, .float16, .int8, .uint8, .int32, .int64]) { call in
            try resize(call)
        },
        // Upsample (opsets 7-9, deprecated in 10): Resize with asymmetric coordinates and, for
        // nearest, floor rounding; scales are an attribute in 7-8 and input 1 in 9.
        OperatorSchema("Upsample", since: 7, until: 9, dtypes: [.float32, .float16, .int8, .uint8, .int32, .int64]) { call in
            let scales: Tensor
            if let s = call.optionalInput(1) { scales = s } else if let s = try call.node.floats("scales") {
                scales = try Tensor(shape: [s.count], scalars: s)
            } else {
                throw call.fail("scales are required")
            }
            var node = call.node
            let mode = try node.string("mode", default: "nearest")
            node.attributes = ["mode": .string(mode == "bilinear" ? "linear" : mode),
                               "coordinate_transformation_mode": .string("asymmetric"), "nearest_mode": .string("floor")]
            return try resize(OpCall(node: node, inputs: [try call.input(0), nil, scales], context: call.context))
        },
    ]

    struct Axis {
        var inSize: Int
        var outSize: Int
        var scale: Double
        var roi: (Double, Double)?
    }

    static func resize(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0)
        let n = call.node
        let r = x.rank
        let mode = try n.string("mode", default: "nearest")
        let ctm = try n.string("coordinate_transformation_mode", default: "half_pixel")
        let axes = try call.axes(try n.ints("axes") ?? Array(0..<r), rank: r)
        let scalesIn = call.optionalInput(2).flatMap { $0.elementCount > 0 ? $0.floatScalars() : nil }
        let sizesIn = try call.optionalInts(3, what: "sizes", emptyIsOmitted: true)
        var plan = (0..<r).map { Axis(inSize: x.shape[$0], outSize: x.shape[$0], scale: 1, roi: nil) }
        if let roiT = call.optionalInput(1), roiT.elementCount > 0 {
            let roi = roiT.floatScalars().map(Double.init)
            guard roi.count == 2 * axes.count else {
                throw call.fail("roi has \(roi.count) values; it needs 2 × \(axes.count) (starts, then ends)")
            }
            for (i, a) in axes.enumerated() { plan[a].roi = (roi[i], roi[axes.count + i]) }
        }
        switch (scalesIn, sizesIn) {
        case (let s?, nil):
            guard s.count == axes.count else { throw call.fail("scales \(s) must have one value per resized axis (\(axes.count))") }
            for (i, a) in axes.enumerated() {
                guard s[i] > 0, s[i].isFinite else { throw call.fail("scales \(s) must be positive") }
                plan[a].scale = Double(s[i])
                let o = (Double(s[i]) * Double(x.shape[a])).rounded(.down)
                guard o < 1e15 else { throw call.fail("scales \(s) make an absurdly large output") }
                plan[a].outSize = Int(o)
            }
        case (nil, let s?):
            guard s.count == axes.count else { throw call.fail("sizes \(s) must have one value per resized axis (\(axes.count))") }
            for (i, a) in axes.enumerated() {
                guard s[i] >= 0 else { throw call.fail("sizes \(s) must not be negative") }
                guard x.shape[a] > 0 else { throw call.fail("cannot resize axis \(a) of \(x.shape): it is empty") }
                plan[a].outSize = s[i]
                plan[a].scale = Double(s[i]) / Double(x.shape[a])
            }
            let policy = try n.string("keep_aspect_ratio_policy", default: "stretch")
            if policy != "stretch" {
                let ss = axes.map { plan[$0].scale }
                let scale: Double
                switch policy {
                case "not_larger": scale = ss.min()!
                case "not_smaller": scale = ss.max()!
                default: throw call.fail("keep_aspect_ratio_policy '\(policy)' is not stretch, not_larger or not_smaller")
                }
                for a in axes {
                    plan[a].scale = scale
                    plan[a].outSize = Int(scale * Double(x.shape[a]) + 0.5)
                }
            }
        case (nil, nil): throw call.fail("one of scales (input 2) and sizes (input 3) is required")
        default: throw call.fail("only one of scales and sizes may be given")
        }
        var outDims = plan.map(\.outSize)
        var out = try call.output(Shape(outDims), x.dtype)
        if out.elementCount == 0 { return [out] }
        guard x.elementCount > 0 else { throw call.fail("cannot resize the empty input \(x.shape) to \(Shape(outDims))") }
        if ctm == "tf_crop_and_resize" {
            for a in 0..<r where plan[a].roi == nil { plan[a].roi = (0, 1) }
        }
        let extrapolation = Double(try n.float("extrapolation_value", default: 0))
        let work = plan.indices.filter { a in
            let p = plan[a]
            return !(abs(p.scale - 1) < 1e-9 && p.outSize == p.inSize && (p.roi == nil || (p.roi!.0 == 0 && p.roi!.1 == 1)))
        }
        if mode == "nearest" {
            if try n.int("antialias", default: 0) != 0 { throw call.fail("antialias is not defined for mode 'nearest'") }
            let nearestMode = try n.string("nearest_mode", default: "round_prefer_floor")
            var maps = plan.map { Array(0..<$0.outSize) }
            for a in work {
                maps[a] = try (0..<plan[a].outSize).map { y in
                    let (xo, outside) = try sourceCoordinate(call, ctm, Double(y), plan[a])
                    if outside { return -1 }
                    let f = xo.rounded(.down)
                    var i = Int(f)
                    if xo != f {
                        let ratio = xo - f
                        switch nearestMode {
                        case "round_prefer_floor": if ratio > 0.5 { i += 1 }
                        case "round_prefer_ceil": if ratio >= 0.5 { i += 1 }
                        case "floor": break
                        case "ceil": i += 1
                        default: throw call.fail("nearest_mode '\(nearestMode)' is not round_prefer_floor, round_prefer_ceil, floor or ceil")
                        }
                    }
                    return min(max(i, 0), plan[a].inSize - 1)
                }
            }
            let fill = try call.elementBytes(of: Tensor(scalar: Float(extrapolation)), as: x.dtype)
            x.withUnsafeRawBytes { s in
                out.withUnsafeMutableRawBytes { d in
                    DataMovement.axisGather(src: s.baseAddress!, srcShape: x.shape.dims, maps: maps, fill: fill,
                                            dst: d.baseAddress!, elementSize: x.dtype.byteSize)
                }
            }
            return [out]
        }
        let antialias = try n.int("antialias", default: 0) != 0
        let a = Double(try n.float("cubic_coeff_a", default: -0.75))
        let excludeOutside = try n.int("exclude_outside", default: 0) != 0
        guard mode == "linear" || mode == "cubic" else { throw call.fail("mode '\(mode)' is not nearest, linear or cubic") }
        var data = x.floatScalars()
        var dims = x.shape.dims
        for ax in work {
            let p = plan[ax]
            var taps = 0
            var idx: [Int] = [], w: [Float] = [], outside: [Bool] = []
            for y in 0..<p.outSize {
                let (xo, out) = try sourceCoordinate(call, ctm, Double(y), p)
                let f = xo.rounded(.down)
                let ratio = xo == f ? 1.0 : xo - f
                var c = mode == "linear"
                    ? (antialias ? linearAntialias(ratio, p.scale) : [1 - ratio, ratio])
                    : (antialias ? cubicAntialias(ratio, p.scale, a) : cubic(ratio, a))
                taps = c.count
                let start = windowStart(xo, taps)
                if excludeOutside {
                    for k in 0..<taps where start + k < 0 || start + k >= p.inSize { c[k] = 0 }
                    let sum = c.reduce(0, +)
                    if sum != 0 { c = c.map { $0 / sum } }
                }
                for k in 0..<taps {
                    idx.append(min(max(start + k, 0), p.inSize - 1))
                    w.append(Float(c[k]))
                }
                outside.append(out)
            }
            let outer = dims[..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *)
            var next = [Float](repeating: 0, count: outer * p.outSize * inner)
            let ev = Float(extrapolation)
            data.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { dst in
                    for o in 0..<outer {
                        let sBase = o * p.inSize * inner
                        for y in 0..<p.outSize {
                            let d = dst.baseAddress! + (o * p.outSize + y) * inner
                            if outside[y] { d.update(repeating: ev, count: inner); continue }
                            for k in 0..<taps {
                                let wk = w[y * taps + k]
                                let s = src.baseAddress! + sBase + idx[y * taps + k] * inner
                                for i in 0..<inner { d[i] += wk * s[i] }
                            }
                        }
                    }
                }
            }
            data = next
            dims[ax] = p.outSize
        }
        outDims = dims
        out = try call.kernel { try fromFloats(data, shape: Shape(outDims), dtype: x.dtype) }
        return [out]
    }

    /// The input coordinate of output index `y` on one axis, and whether it lies outside the
    /// input (tf_crop_and_resize only).
    static func sourceCoordinate(_ call: OpCall, _ ctm: String, _ y: Double, _ p: Axis) throws -> (Double, Bool) {
        let inW = Double(p.inSize)
        let outW = p.scale * inW
        switch ctm {
        case "half_pixel": return ((y + 0.5) / p.scale - 0.5, false)
        case "asymmetric": return (y / p.scale, false)
        case "align_corners": return (outW == 1 ? 0 : y * (inW - 1) / (outW - 1), false)
        case "pytorch_half_pixel": return (outW == 1 ? -0.5 : (y + 0.5) / p.scale - 0.5, false)
        case "tf_half_pixel_for_nearest": return ((y + 0.5) / p.scale, false)
        case "half_pixel_symmetric":
            let adjustment = Double(p.outSize) / outW
            let offset = inW / 2 * (1 - adjustment)
            return (offset + (y + 0.5) / p.scale - 0.5, false)
        case "tf_crop_and_resize":
            let (r0, r1) = p.roi ?? (0, 1)
            var xo = outW == 1 ? (r1 - r0) * (inW - 1) / 2 : y * (r1 - r0) * (inW - 1) / (outW - 1)
            xo += r0 * (inW - 1)
            return (xo, xo < 0 || xo > inW - 1)
        default: throw call.fail("coordinate_transformation_mode '\(ctm)' is not supported")
        }
    }

    /// First input index of the `n` taps nearest `x` (ties to the smaller index).
    static func windowStart(_ x: Double, _ n: Int) -> Int {
        let pad = (n + 1) / 2
        let xp = x + Double(pad)
        let p = xp.rounded(.down)
        let frac = xp - p
        let offset: Int
        if n % 2 == 0 { offset = frac == 0 ? -(n / 2) : -(n / 2) + 1 } else {
            offset = frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1
        }
        return Int(p) + offset - pad
    }

    static func cubic(_ t: Double, _ a: Double) -> [Double] {
        func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(t + 1), near(t), near(1 - t), far(2 - t)]
    }

    static func cubicAntialias(_ t: Double, _ scale: Double, _ a: Double) -> [Double] {
        let s = min(scale, 1)
        func k(_ v: Double) -> Double {
            let x = abs(v)
            if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            return 0
        }
        let start = Int((-2 / s).rounded(.down)) + 1
        let c = (start..<(2 - start)).map { k(s * (Double($0) - t)) }
        let sum = c.reduce(0, +)
        return c.map { $0 / sum }
    }

    static func linearAntialias(_ t: Double, _ scale: Double) -> [Double] {
        let s = min(scale, 1)
        let start = Int((-1 / s).rounded(.down)) + 1
        let c = (start..<(2 - start)).map { Swift.min(Swift.max(1 - abs((Double($0) - t) * s), 0), 1) }
        let sum = c.reduce(0, +)
        return c.map { $0 / sum }
    }

    /// Floats back to `dtype`: float16 rounds, integers round half to even and saturate.
    static func fromFloats(_ v: [Float], shape: Shape, dtype: DType) throws -> Tensor {
        func ints<T: FixedWidthInteger & TensorScalar>(_: T.Type) throws -> Tensor {
            let lo = Float(T.min), hi = Float(T.max)
            return try Tensor(shape: shape, scalars: v.map { f -> T in
                let r = f.rounded(.toNearestOrEven)
                if r.isNaN { return 0 }
                return r <= lo ? T.min : r >= hi ? T.max : T(r)
            })
        }
        switch dtype {
        case .float32: return try Tensor(shape: shape, scalars: v)
        case .float16: return try Tensor(shape: shape, scalars: v.map(Half.init))
        case .int8: return try ints(Int8.self)
        case .uint8: return try ints(UInt8.self)
        case .int32: return try ints(Int32.self)
        case .int64: return try ints(Int64.self)
        case .bool: return try Tensor(shape: shape, scalars: v.map { $0 != 0 })
        }
    }
}
