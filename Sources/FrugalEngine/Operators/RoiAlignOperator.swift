import Foundation
import FrugalCore

/// RoiAlign (opset 10/16), float32: each region of interest [x1, y1, x2, y2] (scaled by
/// spatial_scale; half_pixel shifts by half a pixel, output_half_pixel is the opset-10
/// behaviour with regions at least one pixel wide) is cut into output_height ×
/// output_width bins; each bin averages (avg) or takes the largest weighted corner (max) of
/// sampling_ratio² bilinear samples (adaptive, ceil(region / bins), when 0). Samples more
/// than one pixel outside the map count as zero; samples near the edge clamp to it.
enum RoiAlignOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("RoiAlign", since: 10, dtypes: .floats) { try roiAlign($0) },
    ]

    static func roiAlign(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X"), rois = try call.floatInput(1, "rois")
        guard x.rank == 4 else { throw call.fail("X has shape \(x.shape); expected [N, C, H, W]") }
        guard rois.rank == 2, rois.shape[1] == 4 else { throw call.fail("rois has shape \(rois.shape); expected [num_rois, 4]") }
        let batchIndices = try call.intValues(try call.input(2), what: "batch_indices")
        let count = rois.shape[0]
        guard batchIndices.count == count else { throw call.fail("batch_indices holds \(batchIndices.count) values for \(count) rois") }
        let (n, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        for v in batchIndices where v < 0 || v >= n { throw call.fail("batch index \(v) is outside X's batch of \(n)") }
        let oh = try node.int("output_height", default: 1), ow = try node.int("output_width", default: 1)
        guard oh >= 1, ow >= 1 else { throw call.fail("output_height \(oh) and output_width \(ow) must be at least 1") }
        let ratio = try node.int("sampling_ratio", default: 0)
        guard ratio >= 0 else { throw call.fail("sampling_ratio \(ratio) must not be negative") }
        let scale = try node.float("spatial_scale", default: 1)
        let modeName = try node.string("mode", default: "avg")
        guard modeName == "avg" || modeName == "max" else { throw call.fail("mode '\(modeName)' must be avg or max") }
        let isMax = modeName == "max"
        let transform = try node.string("coordinate_transformation_mode", default: call.context.opset >= 16 ? "half_pixel" : "output_half_pixel")
        guard transform == "half_pixel" || transform == "output_half_pixel" else {
            throw call.fail("coordinate_transformation_mode '\(transform)' must be half_pixel or output_half_pixel")
        }
        let halfPixel = transform == "half_pixel"
        var y = try call.newOutput([count, c, oh, ow])
        let xp = x.floatPointer, rp = rois.floatPointer, yp = y.mutableFloatPointer()
        let H = Float(height), W = Float(width)
        for r in 0..<count {
            let off: Float = halfPixel ? 0.5 : 0
            let x1 = rp[r * 4] * scale - off, y1 = rp[r * 4 + 1] * scale - off
            var rw = rp[r * 4 + 2] * scale - off - x1, rh = rp[r * 4 + 3] * scale - off - y1
            if !halfPixel { rw = max(rw, 1); rh = max(rh, 1) }
            let binH = rh / Float(oh), binW = rw / Float(ow)
            let gridH = ratio > 0 ? ratio : Int((rh / Float(oh)).rounded(.up)), gridW = ratio > 0 ? ratio : Int((rw / Float(ow)).rounded(.up))
            let samples = max(gridH * gridW, 1)
            // Corner offsets and weights of every sample of every bin (shared by the channels).
            var taps: [(Int, Int, Int, Int, Float, Float, Float, Float)] = []
            taps.reserveCapacity(oh * ow * max(gridH * gridW, 0))
            for ph in 0..<oh {
                for pw in 0..<ow {
                    for iy in 0..<gridH {
                        var sy = y1 + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gridH)
                        for ix in 0..<gridW {
                            var sx = x1 + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gridW)
                            if sy < -1 || sy > H || sx < -1 || sx > W { taps.append((0, 0, 0, 0, 0, 0, 0, 0)); continue }
                            sy = max(sy, 0); sx = max(sx, 0)
                            var yl = Int(sy), xl = Int(sx), yh: Int, xh: Int
                            var yy = sy, xx = sx
                            if yl >= height - 1 { yl = height - 1; yh = yl; yy = Float(yl) } else { yh = yl + 1 }
                            if xl >= width - 1 { xl = width - 1; xh = xl; xx = Float(xl) } else { xh = xl + 1 }
                            let ly = yy - Float(yl), lx = xx - Float(xl), hy = 1 - ly, hx = 1 - lx
                            taps.append((yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh, hy * hx, hy * lx, ly * hx, ly * lx))
                        }
                    }
                }
            }
            let perBin = gridH * gridW
            let plane0 = batchIndices[r] * c
            for ch in 0..<c {
                let plane = xp + (plane0 + ch) * height * width, out = yp + (r * c + ch) * oh * ow
                for bin in 0..<(oh * ow) {
                    var acc: Float = 0
                    for k in 0..<perBin {
                        let t = taps[bin * perBin + k]
                        if isMax {
                            let v = max(max(t.4 * plane[t.0], t.5 * plane[t.1]), max(t.6 * plane[t.2], t.7 * plane[t.3]))
                            acc = k == 0 ? v : max(acc, v)
                        } else {
                            acc += t.4 * plane[t.0] + t.5 * plane[t.1] + t.6 * plane[t.2] + t.7 * plane[t.3]
                        }
                    }
                    out[bin] = isMax ? acc : acc / Float(samples)
                }
            }
        }
        return [y]
    }
}
