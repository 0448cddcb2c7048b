import FrugalCore

/// NonMaxSuppression (opset 10/11), float32 boxes and scores: per batch and class, boxes
/// whose score exceeds score_threshold are taken in decreasing score order (ties: lower
/// index first), each one kept unless its IoU with an already kept box exceeds
/// iou_threshold, up to max_output_boxes_per_class. The output lists
/// [batch, class, box] int64 triples, batch by batch, class by class, in selection order.
/// Boxes are corner pairs in any order ([y1, x1, y2, x2], center_point_box 0) or
/// [x_center, y_center, width, height] (1).
enum NonMaxSuppressionOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("NonMaxSuppression", since: 10, dtypes: .floats) { try nms($0) },
    ]

    static func nms(_ call: OpCall) throws -> [Tensor] {
        let boxes = try call.floatInput(0, "boxes"), scores = try call.floatInput(1, "scores")
        guard boxes.rank == 3, boxes.shape[2] == 4 else { throw call.fail("boxes has shape \(boxes.shape); expected [batches, boxes, 4]") }
        guard scores.rank == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1] else {
            throw call.fail("scores has shape \(scores.shape); expected [\(boxes.shape[0]), classes, \(boxes.shape[1])] for boxes \(boxes.shape)")
        }
        func scalar(_ i: Int, _ name: String) throws -> Float? {
            guard let t = call.optionalInput(i), t.elementCount > 0 else { return nil }
            guard t.elementCount == 1 else { throw call.fail("\(name) has shape \(t.shape); it must be a scalar") }
            return t.floatScalars()[0]
        }
        let maxPerClass = Int(try scalar(2, "max_output_boxes_per_class") ?? 0)
        let iouThreshold = try scalar(3, "iou_threshold") ?? 0
        let scoreThreshold = try scalar(4, "score_threshold")
        let centered = try call.node.int("center_point_box", default: 0)
        guard centered == 0 || centered == 1 else { throw call.fail("center_point_box \(centered) must be 0 or 1") }
        let (batches, classes, count) = (scores.shape[0], scores.shape[1], boxes.shape[1])
        let bp = boxes.floatPointer, sp = scores.floatPointer
        var selected: [Int64] = []
        guard maxPerClass > 0 else { return [try Tensor(shape: [0, 3], scalars: selected)] }
        for b in 0..<batches {
            // Corners (y1, x1, y2, x2) with y1 <= y2, x1 <= x2, and areas.
            var corners = [(Float, Float, Float, Float)](), areas = [Float]()
            corners.reserveCapacity(count)
            for i in 0..<count {
                let p = bp + (b * count + i) * 4
                let c: (Float, Float, Float, Float)
                if centered == 1 {
                    c = (p[1] - p[3] / 2, p[0] - p[2] / 2, p[1] + p[3] / 2, p[0] + p[2] / 2)
                } else {
                    c = (min(p[0], p[2]), min(p[1], p[3]), max(p[0], p[2]), max(p[1], p[3]))
                }
                corners.append(c)
                areas.append((c.2 - c.0) * (c.3 - c.1))
            }
            func iou(_ i: Int, _ j: Int) -> Float {
                let a = corners[i], o = corners[j]
                let h = min(a.2, o.2) - max(a.0, o.0), w = min(a.3, o.3) - max(a.1, o.1)
                if h <= 0 || w <= 0 || areas[i] <= 0 || areas[j] <= 0 { return 0 }
                let inter = h * w
                return inter / (areas[i] + areas[j] - inter)
            }
            for c in 0..<classes {
                let s = sp + (b * classes + c) * count
                var order = (0..<count).filter { scoreThreshold == nil || s[$0] > scoreThreshold! }
                order.sort { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
                var kept: [Int] = []
                for i in order {
                    if kept.count >= maxPerClass { break }
                    if kept.contains(where: { iou($0, i) > iouThreshold }) { continue }
                    kept.append(i)
                    selected += [Int64(b), Int64(c), Int64(i)]
                }
            }
        }
        return [try call.kernel { try Tensor(shape: Shape([selected.count / 3, 3]), scalars: selected) }]
    }
}
