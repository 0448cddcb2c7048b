import FrugalCore

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13), float32 scores
/// [N, C, d1...] with int32/int64 targets [N, d1...], optional per-class weights,
/// ignore_index, and reduction none / sum / mean (mean divides by the summed weights of the
/// targets that count). SoftmaxCrossEntropyLoss also returns the log-probabilities.
enum LossOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("NegativeLogLikelihoodLoss", since: 12, dtypes: .floats) { call in
            let x = try call.floatInput(0, "input")
            return [try nll(call, logProb: x)]
        },
        OperatorSchema("SoftmaxCrossEntropyLoss", since: 12, dtypes: .floats) { call in
            let x = try call.floatInput(0, "scores")
            guard x.rank >= 2 else { throw call.fail("scores has shape \(x.shape); expected [N, C, ...]") }
            let logProb = try SoftmaxOperators.softmax(call, log: true, x, x.shape[0], x.shape[1], x.shape.dims[2...].reduce(1, *))
            return [try nll(call, logProb: logProb), logProb]
        },
    ]

    /// −logProb[n, target, d...] · weight[target], reduced as the node says.
    static func nll(_ call: OpCall, logProb x: Tensor) throws -> Tensor {
        let node = call.node
        guard x.rank >= 2 else { throw call.fail("input has shape \(x.shape); expected [N, C, ...]") }
        let (n, c) = (x.shape[0], x.shape[1]), inner = x.shape.dims[2...].reduce(1, *)
        let targetT = try call.input(1)
        let expected = [n] + Array(x.shape.dims[2...])
        guard targetT.shape.dims == expected else { throw call.fail("target has shape \(targetT.shape); expected \(expected) for input \(x.shape)") }
        let target = try call.intValues(targetT, what: "target")
        var weight: UnsafePointer<Float>? = nil
        if let w = call.optionalInput(2) {
            guard w.dtype == .float32, w.shape.dims == [c] else { throw call.fail("weight has shape \(w.shape) (\(w.dtype)); expected float32 [\(c)]") }
            weight = w.floatPointer
        }
        let ignore = try node.int("ignore_index")
        let reduction = try node.string("reduction", default: "mean")
        guard ["none", "sum", "mean"].contains(reduction) else { throw call.fail("reduction '\(reduction)' must be none, sum or mean") }
        var losses = [Float](repeating: 0, count: n * inner)
        var weightSum: Double = 0, lossSum: Double = 0
        let xp = x.floatPointer
        for b in 0..<n {
            for i in 0..<inner {
                let t = target[b * inner + i]
                if let ignore, t == ignore { continue }
                guard t >= 0 && t < c else { throw call.fail("target value \(t) is outside [0, \(c)) and is not ignore_index") }
                let w = weight?[t] ?? 1
                let l = -xp[(b * c + t) * inner + i] * w
                losses[b * inner + i] = l
                lossSum += Double(l)
                weightSum += Double(w)
            }
        }
        switch reduction {
        case "none": return try call.kernel { try Tensor(shape: Shape(expected), scalars: losses) }
        case "sum": return Tensor(scalar: Float(lossSum))
        default: return Tensor(scalar: Float(lossSum / weightSum))
        }
    }
}
