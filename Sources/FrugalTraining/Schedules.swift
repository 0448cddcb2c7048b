import Foundation

/// The learning rate at each optimizer step (0-based), set before that step.
public protocol LearningRateSchedule {
    func learningRate(step: Int) -> Float
}

/// The same rate throughout.
public struct ConstantSchedule: LearningRateSchedule {
    public var rate: Float
    public init(_ rate: Float) { self.rate = rate }
    public func learningRate(step: Int) -> Float { rate }
}

/// base · gamma^⌊step / stepSize⌋.
public struct StepSchedule: LearningRateSchedule {
    public var base: Float, stepSize: Int, gamma: Float
    public init(base: Float, stepSize: Int, gamma: Float = 0.1) {
        self.base = base
        self.stepSize = max(1, stepSize)
        self.gamma = gamma
    }
    public func learningRate(step: Int) -> Float {
        base * Float(Foundation.pow(Double(gamma), Double(step / stepSize)))
    }
}

/// Cosine annealing from `base` to `minimum` over `totalSteps` (then stays at `minimum`).
public struct CosineSchedule: LearningRateSchedule {
    public var base: Float, totalSteps: Int, minimum: Float
    public init(base: Float, totalSteps: Int, minimum: Float = 0) {
        self.base = base
        self.totalSteps = max(1, totalSteps)
        self.minimum = minimum
    }
    public func learningRate(step: Int) -> Float {
        let t = Double(min(step, totalSteps)) / Double(totalSteps)
        return minimum + (base - minimum) * Float(0.5 * (1 + Foundation.cos(Double.pi * t)))
    }
}

/// Linear warm-up over the first `warmupSteps` (from rate/warmupSteps up to the wrapped
/// schedule's rate), then the wrapped schedule, shifted so it starts where warm-up ends.
public struct WarmupSchedule: LearningRateSchedule {
    public var warmupSteps: Int
    public var then: any LearningRateSchedule
    public init(warmupSteps: Int, then: any LearningRateSchedule) {
        self.warmupSteps = max(0, warmupSteps)
        self.then = then
    }
    public func learningRate(step: Int) -> Float {
        if step < warmupSteps { return then.learningRate(step: 0) * Float(step + 1) / Float(warmupSteps) }
        return then.learningRate(step: step - warmupSteps)
    }
}
