import Foundation
import FrugalCore

/// Updates parameters from their gradients. Parameters without a gradient are left alone.
public protocol Optimizer {
    /// The step size the next ``step(parameters:gradients:)`` uses (schedules set it).
    var learningRate: Float { get set }
    mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor])
}

/// The built-in optimizers also update the trainer's parameter buffers in place, with no
/// tensor round trip per step.
protocol BufferOptimizer: Optimizer {
    mutating func step(buffers: [String: FloatBuffer], gradients: [String: FloatBuffer])
}

extension BufferOptimizer {
    /// The tensor form: converts, steps the buffers, converts back.
    mutating func stepTensors(_ parameters: inout [String: Tensor], _ gradients: [String: Tensor]) {
        var bufs: [String: FloatBuffer] = [:], grads: [String: FloatBuffer] = [:]
        for (name, g) in gradients {
            guard let p = parameters[name], p.dtype == .float32, g.dtype == .float32 else { continue }
            bufs[name] = try? FloatBuffer(p)
            grads[name] = try? FloatBuffer(g)
        }
        step(buffers: bufs, gradients: grads)
        for (name, b) in bufs { parameters[name] = b.tensor }
    }
}

/// Per-parameter optimizer state (velocity, moments), zero on first use. A class so a step
/// updates it in place; optimizers copy it before writing when a copy of the optimizer
/// shares it, so they keep value semantics.
final class OptimizerSlots {
    private(set) var slots: [String: FloatBuffer] = [:]

    func slot(_ name: String, count: Int) -> FloatBuffer {
        if let s = slots[name], s.count == count { return s }
        let s = FloatBuffer(shape: [count])
        slots[name] = s
        return s
    }

    func copy() -> OptimizerSlots {
        let c = OptimizerSlots()
        c.slots = slots.mapValues { $0.copy() }
        return c
    }
}

/// The parameters that have a gradient of their own size, in a fixed (sorted) order.
private func pairs(_ buffers: [String: FloatBuffer], _ gradients: [String: FloatBuffer]) -> [(String, FloatBuffer, FloatBuffer)] {
    gradients.keys.sorted().compactMap { name in
        guard let p = buffers[name], let g = gradients[name], g.count == p.count else { return nil }
        return (name, p, g)
    }
}

/// Stochastic gradient descent with momentum (PyTorch's form: v = μv + g; p -= lr·v),
/// optional Nesterov (p -= lr·(g + μv)) and L2 weight decay added to the gradient.
public struct SGD: BufferOptimizer {
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    private var velocity = OptimizerSlots()

    public init(learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor]) {
        stepTensors(&parameters, gradients)
    }

    mutating func step(buffers: [String: FloatBuffer], gradients: [String: FloatBuffer]) {
        if !isKnownUniquelyReferenced(&velocity) { velocity = velocity.copy() }
        let lr = learningRate, mu = momentum, wd = weightDecay
        for (name, pb, gb) in pairs(buffers, gradients) {
            let p = pb.p, g = gb.p, n = pb.count
            if mu == 0 {
                for i in 0..<n { p[i] -= lr * (g[i] + wd * p[i]) }
                continue
            }
            let v = velocity.slot(name, count: n).p
            if nesterov {
                for i in 0..<n {
                    let gi = g[i] + wd * p[i]
                    let vi = mu * v[i] + gi
                    v[i] = vi
                    p[i] -= lr * (gi + mu * vi)
                }
            } else {
                for i in 0..<n {
                    let vi = mu * v[i] + (g[i] + wd * p[i])
                    v[i] = vi
                    p[i] -= lr * vi
                }
            }
        }
    }
}

/// Adam (Kingma & Ba) with bias correction; `weightDecay` is L2 added to the gradient, or, when
/// `decoupled` (AdamW, Loshchilov & Hutter), p -= lr·wd·p applied apart from the adaptive step.
public struct Adam: BufferOptimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var decoupled: Bool
    public private(set) var stepCount = 0
    private var moments = OptimizerSlots()

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    public mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor]) {
        stepTensors(&parameters, gradients)
    }

    mutating func step(buffers: [String: FloatBuffer], gradients: [String: FloatBuffer]) {
        if !isKnownUniquelyReferenced(&moments) { moments = moments.copy() }
        stepCount += 1
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay, dec = decoupled
        let c1 = 1 - Float(Foundation.pow(Double(b1), Double(stepCount)))
        let c2 = 1 - Float(Foundation.pow(Double(b2), Double(stepCount)))
        for (name, pb, gb) in pairs(buffers, gradients) {
            let p = pb.p, g = gb.p, n = pb.count
            let m = moments.slot("m/" + name, count: n).p, v = moments.slot("v/" + name, count: n).p
            for i in 0..<n {
                var gi = g[i]
                if dec { p[i] -= lr * wd * p[i] } else { gi += wd * p[i] }
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
            }
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default 0.01).
public func AdamW(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                  weightDecay: Float = 0.01) -> Adam {
    Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, decoupled: true)
}
