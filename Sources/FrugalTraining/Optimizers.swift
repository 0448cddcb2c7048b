import Foundation
import FrugalCore

/// Updates parameters from their gradients. Parameters without a gradient are left alone.
public protocol Optimizer {
    /// The step size the next ``step(parameters:gradients:)`` uses (schedules set it).
    var learningRate: Float { get set }
    mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor])
}

/// Applies `body(param, grad, slot1, slot2, count)` to each parameter with a gradient, with two
/// per-parameter state buffers (created zero-filled on first use).
private func update(_ parameters: inout [String: Tensor], _ gradients: [String: Tensor],
                    _ state1: inout [String: [Float]], _ state2: inout [String: [Float]]?,
                    _ body: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?, Int) -> Void) {
    for name in gradients.keys.sorted() {
        guard var p = parameters[name], let g = gradients[name], p.dtype == .float32, g.elementCount == p.elementCount else { continue }
        parameters[name] = nil  // keep `p` uniquely referenced: no copy on write
        let n = p.elementCount
        var s1 = state1[name] ?? [Float](repeating: 0, count: n)
        var s2 = state2 != nil ? (state2![name] ?? [Float](repeating: 0, count: n)) : []
        p.withUnsafeMutableBufferPointer(as: Float.self) { pp in
            g.withUnsafeBufferPointer(as: Float.self) { gp in
                s1.withUnsafeMutableBufferPointer { a in
                    s2.withUnsafeMutableBufferPointer { b in
                        body(pp.baseAddress!, gp.baseAddress!, a.baseAddress!, state2 != nil ? b.baseAddress : nil, n)
                    }
                }
            }
        }
        state1[name] = s1
        if state2 != nil { state2![name] = s2 }
        parameters[name] = p
    }
}

/// Stochastic gradient descent with momentum (PyTorch's form: v = μv + g; p -= lr·v),
/// optional Nesterov (p -= lr·(g + μv)) and L2 weight decay added to the gradient.
public struct SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    private var velocity: [String: [Float]] = [:]

    public init(learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public mutating func step(parameters: inout [String: Tensor], gradients: [String: Tensor]) {
        let lr = learningRate, mu = momentum, wd = weightDecay, nest = nesterov
        var none: [String: [Float]]? = nil
        update(&parameters, gradients, &velocity, &none) { p, g, v, _, n in
            for i in 0..<n {
                let gi = g[i] + wd * p[i]
                if mu == 0 { p[i] -= lr * gi; continue }
                v[i] = mu * v[i] + gi
                p[i] -= lr * (nest ? gi + mu * v[i] : v[i])
            }
        }
    }
}

/// Adam (Kingma & Ba) with bias correction; `weightDecay` is L2 added to the gradient, or, when
/// `decoupled` (AdamW, Loshchilov & Hutter), p -= lr·wd·p applied apart from the adaptive step.
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var decoupled: Bool
    public private(set) var stepCount = 0
    private var m: [String: [Float]] = [:]
    private var v: [String: [Float]]? = [:]

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
        stepCount += 1
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay, dec = decoupled
        let c1 = 1 - Float(Foundation.pow(Double(b1), Double(stepCount)))
        let c2 = 1 - Float(Foundation.pow(Double(b2), Double(stepCount)))
        update(&parameters, gradients, &m, &v) { p, g, m, v, n in
            let v = v!
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
