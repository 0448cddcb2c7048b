import Foundation
import FrugalCore
import Testing
@testable import FrugalTraining

@Suite struct OptimizerTests {
    func params(_ v: [Float]) -> [String: Tensor] { ["w": try! Tensor(shape: [v.count], scalars: v)] }
    func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-6) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) <= tol } }

    @Test func sgdMomentumByHand() {
        var p = params([1, -2]), opt = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        let g = params([0.5, 1])
        opt.step(parameters: &p, gradients: g)
        // g' = g + 0.01·p = [0.51, 0.98]; v = g'; p -= 0.1·v
        #expect(close(p["w"]!.scalars(), [0.949, -2.098]))
        opt.step(parameters: &p, gradients: g)
        // g' = [0.5 + 0.00949, 1 - 0.02098]; v = 0.9·v + g'
        let v: [Float] = [0.9 * 0.51 + 0.50949, 0.9 * 0.98 + 0.97902]
        #expect(close(p["w"]!.scalars(), [0.949 - 0.1 * v[0], -2.098 - 0.1 * v[1]]))
    }

    @Test func nesterov() {
        var p = params([1]), opt = SGD(learningRate: 0.1, momentum: 0.5, nesterov: true)
        opt.step(parameters: &p, gradients: params([2]))
        // v = 2; p -= 0.1·(2 + 0.5·2)
        #expect(close(p["w"]!.scalars(), [0.7]))
        opt.step(parameters: &p, gradients: params([2]))
        // v = 0.5·2 + 2 = 3; p -= 0.1·(2 + 1.5)
        #expect(close(p["w"]!.scalars(), [0.35]))
    }

    @Test func adamAndAdamW() {
        var p = params([1, -1]), adam = Adam(learningRate: 0.01)
        adam.step(parameters: &p, gradients: params([0.3, -4]))
        // First step: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        #expect(close(p["w"]!.scalars(), [0.99, -0.99], 1e-6))
        adam.step(parameters: &p, gradients: params([0.3, 2]))
        // m = 0.9·0.1·g1... computed in Double
        func second(_ g1: Double, _ g2: Double) -> Double {
            let m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2
            return 0.01 * (m / (1 - 0.81)) / ((v / (1 - 0.998001)).squareRoot() + 1e-8)
        }
        #expect(close(p["w"]!.scalars(), [Float(0.99 - second(0.3, 0.3)), Float(-0.99 - second(-4, 2))], 1e-6))

        var q = params([2]), adamw = AdamW(learningRate: 0.1, weightDecay: 0.5)
        adamw.step(parameters: &q, gradients: params([1]))
        // decoupled: p -= lr·wd·p (2 → 1.9), then the Adam step of 0.1
        #expect(close(q["w"]!.scalars(), [1.8], 1e-6))
    }

    @Test func schedules() {
        let step = StepSchedule(base: 0.1, stepSize: 10, gamma: 0.5)
        #expect(step.learningRate(step: 9) == 0.1 && abs(step.learningRate(step: 25) - 0.025) < 1e-9)
        let cos = CosineSchedule(base: 1, totalSteps: 100, minimum: 0)
        #expect(cos.learningRate(step: 0) == 1 && abs(cos.learningRate(step: 50) - 0.5) < 1e-6 && cos.learningRate(step: 100) < 1e-6)
        let warm = WarmupSchedule(warmupSteps: 4, then: cos)
        #expect(warm.learningRate(step: 0) == 0.25 && warm.learningRate(step: 3) == 1 && warm.learningRate(step: 4) == 1)
        #expect(abs(warm.learningRate(step: 54) - 0.5) < 1e-6)
    }
}

@Suite struct LossTests {
    @Test func crossEntropyMatchesNumeric() throws {
        var rng = SeededGenerator(seed: 2)
        let z = try Tensor(shape: [3, 4], scalars: randomValues(12, &rng, lo: -2, hi: 2))
        let labels: [Int32] = [0, 3, 1]
        let (l, g) = try Losses.softmaxCrossEntropy(logits: z, labels: labels)
        let gs = g.scalars(as: Float.self)
        for i in 0..<12 {
            var a = z, b = z
            a[floatAt: i] += 1e-2
            b[floatAt: i] -= 1e-2
            let num = (try Losses.softmaxCrossEntropy(logits: a, labels: labels).loss - Losses.softmaxCrossEntropy(logits: b, labels: labels).loss) / 2e-2
            #expect(abs(num - gs[i]) < 2e-3)
        }
        // Uniform logits: loss ln(4).
        let u = try Losses.softmaxCrossEntropy(logits: try Tensor(zeros: [2, 4]), labels: [1, 2])
        #expect(abs(u.loss - Float(log(4.0))) < 1e-6 && l > 0)
    }

    @Test func distillationKL() throws {
        var rng = SeededGenerator(seed: 4)
        let s = try Tensor(shape: [2, 5], scalars: randomValues(10, &rng, lo: -3, hi: 3))
        let t = try Tensor(shape: [2, 5], scalars: randomValues(10, &rng, lo: -3, hi: 3))
        let (l, g) = try Losses.distillationKL(studentLogits: s, teacherLogits: t, temperature: 4)
        #expect(l > 0)
        #expect(try Losses.distillationKL(studentLogits: t, teacherLogits: t, temperature: 4).loss.magnitude < 1e-6)
        let gs = g.scalars(as: Float.self)
        for i in 0..<10 {
            var a = s, b = s
            a[floatAt: i] += 1e-2
            b[floatAt: i] -= 1e-2
            let num = (try Losses.distillationKL(studentLogits: a, teacherLogits: t, temperature: 4).loss
                       - Losses.distillationKL(studentLogits: b, teacherLogits: t, temperature: 4).loss) / 2e-2
            #expect(abs(num - gs[i]) < 2e-3, "\(i): \(num) vs \(gs[i])")
        }
    }

    @Test func meanSquaredError() throws {
        let p = try Tensor(shape: [2], scalars: [1, 3] as [Float]), t = try Tensor(shape: [2], scalars: [0, 0] as [Float])
        let (l, g) = try Losses.meanSquaredError(prediction: p, target: t)
        #expect(l == 5 && g.scalars(as: Float.self) == [1, 3])
    }
}
