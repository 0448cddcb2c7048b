import Foundation
import FrugalCore

/// Loss functions: each returns the mean loss over the batch and its gradient with respect to
/// the prediction (what ``GradientTape/backward(_:)`` takes).
public enum Losses {
    /// Softmax cross-entropy from logits [B, C] and one class index per row, averaged over rows.
    public static func softmaxCrossEntropy(logits: Tensor, labels: [Int32]) throws -> (loss: Float, gradient: Tensor) {
        let (l, g) = try softmaxCrossEntropy(try FloatBuffer(logits), labels: labels)
        return (l, g.tensor)
    }

    static func softmaxCrossEntropy(_ z: FloatBuffer, labels: [Int32]) throws -> (Float, FloatBuffer) {
        guard z.shape.count == 2, z.shape[0] == labels.count else {
            throw TrainingError.training("cross-entropy needs logits [batch, classes] and one label per row; got \(z.shape) and \(labels.count) labels")
        }
        let B = z.shape[0], C = z.shape[1]
        let g = FloatBuffer(uninitialized: z.shape)
        var total = 0.0
        for b in 0..<B {
            let row = z.p + b * C, grow = g.p + b * C
            let label = Int(labels[b])
            guard label >= 0 && label < C else { throw TrainingError.training("label \(label) of row \(b) is not a class in 0..<\(C)") }
            var m = -Float.infinity
            for i in 0..<C { m = max(m, row[i]) }
            var s: Float = 0
            for i in 0..<C { let e = Foundation.exp(row[i] - m); grow[i] = e; s += e }
            total += Double(Foundation.log(s) + m - row[label])
            let r = 1 / (s * Float(B))
            for i in 0..<C { grow[i] *= r }
            grow[label] -= 1 / Float(B)
        }
        return (Float(total / Double(max(B, 1))), g)
    }

    /// Mean squared error: mean over all elements of (prediction − target)².
    public static func meanSquaredError(prediction: Tensor, target: Tensor) throws -> (loss: Float, gradient: Tensor) {
        guard prediction.shape == target.shape else {
            throw TrainingError.training("MSE needs equal shapes; got \(prediction.shape) and \(target.shape)")
        }
        let p = try FloatBuffer(prediction), t = try FloatBuffer(target)
        let g = FloatBuffer(uninitialized: p.shape)
        var total = 0.0
        let n = Float(max(p.count, 1))
        for i in 0..<p.count {
            let d = p.p[i] - t.p[i]
            total += Double(d * d)
            g.p[i] = 2 * d / n
        }
        return (Float(total / Double(n)), g.tensor)
    }

    /// Hinton distillation: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over rows.
    ///
    /// Softening by T shrinks the gradients by 1/T²; the T² factor restores their scale so the
    /// loss can be mixed with a hard-label cross-entropy without retuning the learning rate.
    /// The gradient w.r.t. the student logits is T·(q − p)/B, with q and p the softened student
    /// and teacher distributions.
    public static func distillationKL(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float) throws -> (loss: Float, gradient: Tensor) {
        guard studentLogits.shape == teacherLogits.shape, studentLogits.rank == 2 else {
            throw TrainingError.training("distillation needs student and teacher logits of one shape [batch, classes]; got \(studentLogits.shape) and \(teacherLogits.shape)")
        }
        guard temperature > 0 else { throw TrainingError.training("distillation temperature must be positive, got \(temperature)") }
        let s = try FloatBuffer(studentLogits), t = try FloatBuffer(teacherLogits)
        let B = s.shape[0], C = s.shape[1], T = temperature
        let g = FloatBuffer(uninitialized: s.shape)
        var total = 0.0
        for b in 0..<B {
            let q = logSoftmax(s.p + b * C, C, T), p = logSoftmax(t.p + b * C, C, T)
            for i in 0..<C {
                let pi = Foundation.exp(p[i]), qi = Foundation.exp(q[i])
                if pi > 0 { total += Double(pi * (p[i] - q[i])) }
                g.p[b * C + i] = T * (qi - pi) / Float(B)
            }
        }
        return (Float(total / Double(max(B, 1))) * T * T, g.tensor)
    }

    static func logSoftmax(_ z: UnsafePointer<Float>, _ n: Int, _ T: Float) -> [Float] {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, z[i] / T) }
        var s: Float = 0
        for i in 0..<n { s += Foundation.exp(z[i] / T - m) }
        let ls = Foundation.log(s) + m
        return (0..<n).map { z[$0] / T - ls }
    }
}
