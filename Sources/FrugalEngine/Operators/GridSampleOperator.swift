import Foundation
import FrugalCore

/// GridSample (opset 16: 2-D, modes bilinear/nearest/bicubic; opset 20+: any spatial rank,
/// modes linear/nearest/cubic), float32 X and grid.
///
/// Each output position reads its normalised coordinates from the grid (last grid axis:
/// x first, i.e. the last spatial axis), maps them to pixel space (align_corners: −1 and 1
/// are the centres of the edge pixels; otherwise their outer edges), rounds half to even for
/// nearest, and brings coordinates outside the valid range back by clamping (border) or
/// reflecting (reflection). The value is then the separable nearest / linear / cubic
/// (Keys, a = −0.75) interpolation of the taps around it, where a tap outside the input
/// reads 0 (zeros), the clamped index (border) or the reflected index (reflection).
enum GridSampleOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("GridSample", since: 16, dtypes: .floats) { try gridSample($0) },
    ]

    enum Mode { case nearest, linear, cubic }
    enum Padding { case zeros, border, reflection }

    static func gridSample(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X"), grid = try call.floatInput(1, "grid")
        let r = x.rank - 2
        guard r >= 1 else { throw call.fail("X has shape \(x.shape); it needs (N, C, spatial...)") }
        guard call.context.opset >= 20 || r == 2 else { throw call.fail("X has \(r) spatial axes; before opset 20 GridSample is 2-D only") }
        guard grid.rank == r + 2, grid.shape[0] == x.shape[0], grid.shape[r + 1] == r else {
            throw call.fail("grid has shape \(grid.shape); for X \(x.shape) it must be [\(x.shape[0]), out spatial (\(r) axes)..., \(r)]")
        }
        let modeName = try node.string("mode", default: "linear")
        let mode: Mode
        switch modeName {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .linear
        case "cubic", "bicubic": mode = .cubic
        default: throw call.fail("mode '\(modeName)' must be linear, nearest or cubic (bilinear / bicubic before opset 20)")
        }
        let padName = try node.string("padding_mode", default: "zeros")
        let padding: Padding
        switch padName {
        case "zeros": padding = .zeros
        case "border": padding = .border
        case "reflection": padding = .reflection
        default: throw call.fail("padding_mode '\(padName)' must be zeros, border or reflection")
        }
        let alignCorners = try node.int("align_corners", default: 0) != 0
        if mode == .cubic && r > 2 && call.context.opset < 20 { throw call.fail("cubic mode is 2-D only") }

        let n = x.shape[0], c = x.shape[1]
        let dims = Array(x.shape.dims[2...]), outSpatial = Array(grid.shape.dims[1...r])
        let inCount = dims.reduce(1, *), outCount = outSpatial.reduce(1, *)
        var y = try call.newOutput([n, c] + outSpatial)
        if y.elementCount == 0 { return [y] }
        let xp = x.floatPointer, gp = grid.floatPointer, yp = y.mutableFloatPointer()
        let inStrides = Shape(dims).strides
        // Valid coordinate range per axis.
        let lo: [Double] = dims.map { _ in alignCorners ? 0 : -0.5 }, hi: [Double] = dims.map { alignCorners ? Double($0 - 1) : Double($0) - 0.5 }

        func reflect(_ v: Double, _ a: Double, _ b: Double) -> Double {
            let span = b - a
            if span <= 0 { return a }
            if v < a {
                let d = a - v, k = (d / span).rounded(.towardZero), rest = d - k * span
                return Int(k) % 2 == 0 ? a + rest : b - rest
            }
            if v > b {
                let d = v - b, k = (d / span).rounded(.towardZero), rest = d - k * span
                return Int(k) % 2 == 0 ? b - rest : a + rest
            }
            return v
        }
        /// A tap index brought inside the axis, or nil for a zero (zeros padding).
        func fetch(_ i: Int, axis: Int) -> Int? {
            let d = dims[axis]
            if i >= 0 && i < d { return i }
            switch padding {
            case .zeros: return nil
            case .border: return min(max(i, 0), d - 1)
            case .reflection: return min(max(Int(reflect(Double(i), lo[axis], hi[axis])), 0), d - 1)
            }
        }
        func cubic(_ t: Double) -> [Double] {
            let a = -0.75
            func near(_ s: Double) -> Double { ((a + 2) * s - (a + 3)) * s * s + 1 }
            func far(_ s: Double) -> Double { ((a * s - 5 * a) * s + 8 * a) * s - 4 * a }
            return [far(t + 1), near(t), near(1 - t), far(2 - t)]
        }

        // Taps of every output position: per axis (offset in X, weight) or nil (a zero).
        let taps = mode == .nearest ? 1 : mode == .linear ? 2 : 4
        var offsets = [Int](repeating: 0, count: outCount * Int(pow(Double(taps), Double(r))))
        var weights = [Float](repeating: 0, count: offsets.count)
        let combos = offsets.count / outCount
        for b in 0..<n {
            for o in 0..<outCount {
                var perAxis: [[(Int?, Double)]] = []
                for axis in 0..<r {
                    let g = Double(gp[(b * outCount + o) * r + (r - 1 - axis)])
                    var v = alignCorners ? (g + 1) / 2 * Double(dims[axis] - 1) : ((g + 1) * Double(dims[axis]) - 1) / 2
                    if mode == .nearest { v = v.rounded(.toNearestOrEven) }
                    if v < lo[axis] || v > hi[axis] {
                        // (Cubic taps are clamped one by one instead, as ONNX Runtime and
                        // PyTorch do; clamping the coordinate first changes the weights.)
                        if padding == .border && mode != .cubic { v = min(max(v, 0), Double(dims[axis] - 1)) }
                        if padding == .reflection { v = reflect(v, lo[axis], hi[axis]) }
                    }
                    let base = Int(v.rounded(.down)), t = v - Double(base)
                    switch mode {
                    case .nearest: perAxis.append([(fetch(Int(v), axis: axis), 1)])
                    case .linear: perAxis.append([(fetch(base, axis: axis), 1 - t), (fetch(base + 1, axis: axis), t)])
                    case .cubic:
                        let w = cubic(t)
                        perAxis.append((0..<4).map { (fetch(base - 1 + $0, axis: axis), w[$0]) })
                    }
                }
                for k in 0..<combos {
                    var rest = k, offset = 0, weight = 1.0, inside = true
                    for axis in (0..<r).reversed() {
                        let (i, w) = perAxis[axis][rest % taps]
                        rest /= taps
                        if let i { offset += i * inStrides[axis] } else { inside = false }
                        weight *= w
                    }
                    offsets[o * combos + k] = inside ? offset : -1
                    weights[o * combos + k] = Float(weight)
                }
            }
            call.context.pool.parallelChunks(c) { channels in
                for ch in channels {
                    let plane = xp + (b * c + ch) * inCount, out = yp + (b * c + ch) * outCount
                    for o in 0..<outCount {
                        var acc: Float = 0
                        for k in 0..<combos {
                            let off = offsets[o * combos + k]
                            if off >= 0 { acc += weights[o * combos + k] * plane[off] }
                        }
                        out[o] = acc
                    }
                }
            }
        }
        return [y]
    }
}
