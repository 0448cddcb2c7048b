import Foundation
import FrugalCore

/// RNN, GRU and LSTM (opset 7-22 semantics, plus `layout` from opset 14), float32: forward,
/// reverse and bidirectional; optional bias, sequence_lens, initial states and (LSTM)
/// peepholes; `clip`, LSTM's `input_forget`, GRU's `linear_before_reset`, and the
/// `activations` list with `activation_alpha` / `activation_beta`.
///
/// Per direction, the input projections of all time steps are one GEMM (X · Wᵀ, with both
/// biases added), then each step adds H · Rᵀ (a GEMM of batch rows) and applies the gates.
/// Steps past a batch entry's sequence length leave its state unchanged and write zeros to Y;
/// the reverse direction runs each entry from its own last valid step; an entry of length 0
/// gets zero Y_h / Y_c. ONNX Runtime refuses `layout` 1; here it is the same computation on
/// batch-first tensors.
enum RecurrentOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("RNN", since: 7, dtypes: .floats) { try run($0, kind: .rnn) },
        OperatorSchema("GRU", since: 7, dtypes: .floats) { try run($0, kind: .gru) },
        OperatorSchema("LSTM", since: 7, dtypes: .floats) { try run($0, kind: .lstm) },
    ]

    enum Kind {
        case rnn, gru, lstm
        /// Gate blocks in W, R and each half of B.
        var gates: Int { self == .rnn ? 1 : self == .gru ? 3 : 4 }
        /// Activation functions per direction and their defaults.
        var defaultActivations: [String] { self == .rnn ? ["Tanh"] : self == .gru ? ["Sigmoid", "Tanh"] : ["Sigmoid", "Tanh", "Tanh"] }
    }

    /// One activation function of the `activations` attribute.
    struct Activation {
        let name: String
        let alpha: Float, beta: Float

        /// Functions that take alpha and beta, with their defaults (ONNX's RNN section).
        static let parameters: [String: (alpha: Float?, beta: Float?)] = [
            "relu": (nil, nil), "tanh": (nil, nil), "sigmoid": (nil, nil), "softsign": (nil, nil), "softplus": (nil, nil),
            "affine": (1, 0), "leakyrelu": (0.01, nil), "thresholdedrelu": (1, nil), "scaledtanh": (1, 1),
            "hardsigmoid": (0.2, 0.5), "elu": (1, nil),
        ]

        @inline(__always)
        func callAsFunction(_ x: Float) -> Float {
            switch name {
            case "sigmoid": return x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
            case "tanh": return Foundation.tanh(x)
            case "relu": return max(x, 0)
            case "affine": return alpha * x + beta
            case "leakyrelu": return x >= 0 ? x : alpha * x
            case "thresholdedrelu": return x > alpha ? x : 0
            case "scaledtanh": return alpha * Foundation.tanh(beta * x)
            case "hardsigmoid": return max(0, min(1, alpha * x + beta))
            case "elu": return x >= 0 ? x : alpha * (Foundation.exp(x) - 1)
            case "softsign": return x / (1 + abs(x))
            case "softplus": return x > 20 ? x : Foundation.log1p(Foundation.exp(x))
            default: return x
            }
        }
    }

    static func activations(_ call: OpCall, kind: Kind, directions: Int) throws -> [Activation] {
        let node = call.node
        let names = try node.strings("activations") ?? Array(repeating: kind.defaultActivations, count: directions).flatMap { $0 }
        let need = kind.defaultActivations.count * directions
        guard names.count == need else {
            throw call.fail("'activations' lists \(names.count) functions; \(node.opType) with \(directions) direction(s) needs \(need)")
        }
        var alphas = try node.floats("activation_alpha") ?? [], betas = try node.floats("activation_beta") ?? []
        return try names.map { raw in
            let name = raw.lowercased()
            guard let p = Activation.parameters[name] else {
                throw call.fail("activation '\(raw)' is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus")
            }
            var alpha: Float = 0, beta: Float = 0
            if let d = p.alpha { alpha = alphas.isEmpty ? d : alphas.removeFirst() }
            if let d = p.beta { beta = betas.isEmpty ? d : betas.removeFirst() }
            return Activation(name: name, alpha: alpha, beta: beta)
        }
    }

    static func run(_ call: OpCall, kind: Kind) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X"), w = try call.floatInput(1, "W"), r = try call.floatInput(2, "R")
        let layout = try node.int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw call.fail("layout \(layout) must be 0 or 1") }
        guard x.rank == 3 else { throw call.fail("X has shape \(x.shape); it must be 3-D") }
        let (seq, batch, inputSize) = layout == 0 ? (x.shape[0], x.shape[1], x.shape[2]) : (x.shape[1], x.shape[0], x.shape[2])
        let direction = try node.string("direction", default: "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else {
            throw call.fail("direction '\(direction)' must be forward, reverse or bidirectional")
        }
        let dirs = direction == "bidirectional" ? 2 : 1
        let g = kind.gates
        guard w.rank == 3, w.shape[0] == dirs, w.shape[2] == inputSize, w.shape[1] % g == 0 else {
            throw call.fail("W has shape \(w.shape); expected [\(dirs), \(g) × hidden_size, \(inputSize)]")
        }
        let hidden = w.shape[1] / g
        if let hs = try node.int("hidden_size"), hs != hidden {
            throw call.fail("hidden_size is \(hs) but W \(w.shape) holds \(g) gates of \(hidden)")
        }
        guard r.shape.dims == [dirs, g * hidden, hidden] else {
            throw call.fail("R has shape \(r.shape); expected [\(dirs), \(g * hidden), \(hidden)]")
        }
        func optionalFloat(_ i: Int, _ name: String, _ dims: [Int]) throws -> UnsafePointer<Float>? {
            guard let t = call.optionalInput(i) else { return nil }
            guard t.dtype == .float32 else { throw call.fail("\(name) is \(t.dtype); only float32 is supported") }
            guard t.shape.dims == dims else { throw call.fail("\(name) has shape \(t.shape); expected \(dims)") }
            return t.floatPointer
        }
        let bias = try optionalFloat(3, "B", [dirs, 2 * g * hidden])
        var seqLens = [Int](repeating: seq, count: batch)
        if let sl = call.optionalInput(4) {
            let v = try call.intValues(sl, what: "sequence_lens")
            guard v.count == batch else { throw call.fail("sequence_lens holds \(v.count) values; expected one per batch entry (\(batch))") }
            guard v.allSatisfy({ $0 >= 0 && $0 <= seq }) else { throw call.fail("sequence_lens \(v) must lie in [0, \(seq)]") }
            seqLens = v
        }
        let stateDims = layout == 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]
        let initialH = try optionalFloat(5, "initial_h", stateDims)
        let initialC = kind == .lstm ? try optionalFloat(6, "initial_c", stateDims) : nil
        let peepholes = kind == .lstm ? try optionalFloat(7, "P", [dirs, 3 * hidden]) : nil
        let clip = try node.float("clip")
        if let clip, !(clip > 0) { throw call.fail("clip \(clip) must be positive") }
        let inputForget = try kind == .lstm && node.int("input_forget", default: 0) != 0
        let linearBeforeReset = try kind == .gru && node.int("linear_before_reset", default: 0) != 0
        let acts = try activations(call, kind: kind, directions: dirs)
        let perDir = kind.defaultActivations.count

        let yDims = layout == 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden]
        var y = try call.newOutput(yDims)
        var yh = try call.newOutput(stateDims)
        var yc = try call.newOutput(stateDims)
        let yp = y.mutableFloatPointer(), yhp = yh.mutableFloatPointer(), ycp = yc.mutableFloatPointer()
        // Element offsets: X[t, b, :], Y[t, d, b, :], state[d, b, :] in either layout.
        func xOffset(_ t: Int, _ b: Int) -> Int { layout == 0 ? (t * batch + b) * inputSize : (b * seq + t) * inputSize }
        func yOffset(_ t: Int, _ d: Int, _ b: Int) -> Int { layout == 0 ? ((t * dirs + d) * batch + b) * hidden : ((b * seq + t) * dirs + d) * hidden }
        func stateOffset(_ d: Int, _ b: Int) -> Int { layout == 0 ? (d * batch + b) * hidden : (b * dirs + d) * hidden }

        let gh = g * hidden
        guard seq.multipliedReportingOverflow(by: batch * gh).overflow == false, seq * batch * gh <= 1 << 31 else {
            throw call.fail("the gate buffer for \(seq) steps × \(batch) × \(gh) is too large")
        }
        var xw = [Float](repeating: 0, count: max(seq * batch * gh, 1))
        var hr = [Float](repeating: 0, count: max(batch * gh, 1))
        var h = [Float](repeating: 0, count: max(batch * hidden, 1)), c = h, hPrev = h
        var resetH = [Float](repeating: 0, count: max(hidden, 1))
        var xRows = [Float](repeating: 0, count: max(seq * batch * inputSize, 1))
        let pool = call.context.pool
        // X as [seq × batch, input] rows (a copy in the batch-first layout).
        for t in 0..<seq { for b in 0..<batch { for i in 0..<inputSize { xRows[(t * batch + b) * inputSize + i] = x.floatPointer[xOffset(t, b) + i] } } }

        for d in 0..<dirs {
            let reverse = direction == "reverse" || d == 1
            let wd = w.floatPointer + d * gh * inputSize, rd = r.floatPointer + d * gh * hidden
            let f = acts[d * perDir], gAct = acts[d * perDir + (perDir > 1 ? 1 : 0)], hAct = acts[d * perDir + perDir - 1]
            // All steps' input projections: xw[t·batch + b, :] = X[t, b] · Wᵀ (+ Wb + Rb, except GRU's Rbh with linear_before_reset).
            if seq * batch > 0 && inputSize > 0 {
                xRows.withUnsafeBufferPointer { xs in
                    xw.withUnsafeMutableBufferPointer { out in
                        GEMM.sgemm(m: seq * batch, n: gh, k: inputSize, a: xs.baseAddress!, lda: inputSize,
                                   b: wd, ldb: inputSize, transB: true, c: out.baseAddress!, ldc: gh, pool: pool)
                    }
                }
            }
            if let bias {
                let wb = bias + d * 2 * gh, rb = wb + gh
                for row in 0..<(seq * batch) {
                    for j in 0..<gh {
                        let skipRb = linearBeforeReset && j >= 2 * hidden
                        xw[row * gh + j] += wb[j] + (skipRb ? 0 : rb[j])
                    }
                }
            }
            for b in 0..<batch {
                for k in 0..<hidden {
                    h[b * hidden + k] = initialH?[stateOffset(d, b) + k] ?? 0
                    c[b * hidden + k] = initialC?[stateOffset(d, b) + k] ?? 0
                }
            }
            let rbh: UnsafePointer<Float>? = linearBeforeReset ? bias.map { $0 + d * 2 * gh + gh + 2 * hidden } : nil
            let p = peepholes.map { $0 + d * 3 * hidden }
            @inline(__always) func clipped(_ v: Float) -> Float { clip.map { min(max(v, -$0), $0) } ?? v }
            for step in 0..<seq {
                // hr = H · Rᵀ for every batch entry.
                if hidden > 0 && batch > 0 {
                    h.withUnsafeBufferPointer { hs in
                        hr.withUnsafeMutableBufferPointer { out in
                            GEMM.sgemm(m: batch, n: gh, k: hidden, a: hs.baseAddress!, lda: hidden,
                                       b: rd, ldb: hidden, transB: true, c: out.baseAddress!, ldc: gh, pool: pool)
                        }
                    }
                }
                hPrev = h
                for b in 0..<batch {
                    let len = seqLens[b]
                    guard step < len else { continue }
                    let t = reverse ? len - 1 - step : step
                    let xg = (t * batch + b) * gh, hg = b * gh, s = b * hidden
                    if kind == .gru && !linearBeforeReset {
                        // r ⊙ H of this entry, for its own product with Rh.
                        for j in 0..<hidden { resetH[j] = f(clipped(xw[xg + hidden + j] + hr[hg + hidden + j])) * hPrev[s + j] }
                    }
                    for k in 0..<hidden {
                        switch kind {
                        case .rnn:
                            h[s + k] = f(clipped(xw[xg + k] + hr[hg + k]))
                        case .gru:
                            let z = f(clipped(xw[xg + k] + hr[hg + k]))
                            let rg = f(clipped(xw[xg + hidden + k] + hr[hg + hidden + k]))
                            let cand: Float
                            if linearBeforeReset {
                                cand = gAct(clipped(xw[xg + 2 * hidden + k] + rg * (hr[hg + 2 * hidden + k] + (rbh?[k] ?? 0))))
                            } else {
                                // (r ⊙ H) · Rhᵀ: this row's own product.
                                var acc: Float = 0
                                let rh = rd + (2 * hidden + k) * hidden
                                for j in 0..<hidden { acc += rh[j] * resetH[j] }
                                cand = gAct(clipped(xw[xg + 2 * hidden + k] + acc))
                            }
                            h[s + k] = (1 - z) * cand + z * hPrev[s + k]
                        case .lstm:
                            let cPrev = c[s + k]
                            let i = f(clipped(xw[xg + k] + hr[hg + k] + (p?[k] ?? 0) * cPrev))
                            let fg = inputForget ? 1 - i : f(clipped(xw[xg + 2 * hidden + k] + hr[hg + 2 * hidden + k] + (p?[2 * hidden + k] ?? 0) * cPrev))
                            let cand = gAct(clipped(xw[xg + 3 * hidden + k] + hr[hg + 3 * hidden + k]))
                            let cNew = fg * cPrev + i * cand
                            let o = f(clipped(xw[xg + hidden + k] + hr[hg + hidden + k] + (p?[hidden + k] ?? 0) * cNew))
                            c[s + k] = cNew
                            h[s + k] = o * hAct(cNew)
                        }
                    }
                    for k in 0..<hidden { yp[yOffset(t, d, b) + k] = h[s + k] }
                }
            }
            // An entry of length 0 has no last step: its Y_h and Y_c are zeros (as ONNX
            // Runtime gives), not the initial state.
            for b in 0..<batch where seqLens[b] > 0 {
                for k in 0..<hidden {
                    yhp[stateOffset(d, b) + k] = h[b * hidden + k]
                    ycp[stateOffset(d, b) + k] = c[b * hidden + k]
                }
            }
        }
        return kind == .lstm ? [y, yh, yc] : [y, yh]
    }
}
