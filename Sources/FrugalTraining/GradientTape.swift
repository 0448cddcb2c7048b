import Foundation
import FrugalCore
import FrugalEngine

/// Reverse-mode automatic differentiation over a ``Graph``.
///
/// `forward` runs the graph (float32, NCHW) with the training kernels and records what each
/// node's derivative needs; `backward` takes the gradients of the graph outputs (for a loss
/// computed outside the graph, the loss's gradient w.r.t. the logits) and returns the gradient
/// of every trainable initializer (`graph.trainable`). Frozen initializers get none.
///
/// ```swift
/// let tape = try GradientTape(graph: graph)
/// let logits = try tape.forward(["input": x], parameters: params)[0]
/// let (loss, dLogits) = try Losses.softmaxCrossEntropy(logits: logits, labels: y)
/// let grads = try tape.backward([dLogits])     // [name: gradient]
/// ```
public final class GradientTape {
    public let graph: Graph
    /// Training mode: Dropout drops, BatchNormalization uses and updates batch statistics.
    public var training: Bool
    let order: [Node]
    let context: TapeContext
    private var records: [TapeRecord] = []
    private var requiresGradient: Set<String> = []
    private var fallbacks: [String: Session] = [:]

    /// Running statistics (BatchNormalization mean and variance) computed by the last training
    /// forward pass, by initializer name; the ``Trainer`` writes them back into the parameters.
    public var runningStatistics: [String: Tensor] { context.stateUpdates.mapValues(\.tensor) }

    /// - Parameters:
    ///   - threads: threads for the matrix products (1 gives bit-identical runs).
    ///   - seed: seeds Dropout's masks.
    public init(graph: Graph, threads: Int = 1, seed: UInt64 = 0, training: Bool = true) throws {
        self.graph = graph
        self.training = training
        do { order = try Planner.topologicalOrder(graph) } catch { throw TrainingError.model("\(error)") }
        context = TapeContext(pool: ThreadPool(threadCount: threads), opset: graph.opset, training: training, seed: seed)
    }

    /// Runs the graph on `feeds` with `parameters` overriding the graph's initializers; returns
    /// the graph outputs in order.
    public func forward(_ feeds: [String: Tensor], parameters: [String: Tensor] = [:]) throws -> [Tensor] {
        var values: [String: TapeValue] = [:]
        for (k, t) in feeds { values[k] = t.dtype == .float32 ? .float(try FloatBuffer(t)) : .other(t) }
        var params: [String: FloatBuffer] = [:]
        for (k, t) in parameters where t.dtype == .float32 { params[k] = try FloatBuffer(t) }
        return try forwardBuffers(values, parameters: params).map(\.tensor)
    }

    /// The forward pass on tape values; returns the graph outputs.
    func forwardBuffers(_ feeds: [String: TapeValue], parameters: [String: FloatBuffer]) throws -> [TapeValue] {
        records.removeAll(keepingCapacity: true)
        context.training = training
        context.stateUpdates = [:]
        var values = feeds
        for (k, t) in graph.initializers where values[k] == nil {
            if let p = parameters[k] { values[k] = .float(p) } else {
                values[k] = t.dtype == .float32 ? .float(try FloatBuffer(t)) : .other(t)
            }
        }
        for i in graph.inputs where values[i.name] == nil && graph.initializers[i.name] == nil {
            throw TrainingError.training("graph input '\(i.name)' was not fed")
        }
        requiresGradient = graph.trainable.filter { values[$0] != nil }
        for node in order {
            let ins: [TapeValue?] = try node.inputs.map { name in
                if name.isEmpty { return nil }
                guard let v = values[name] else {
                    throw TrainingError.model("node '\(node.name)' (\(node.opType)) reads '\(name)', which nothing provides")
                }
                return v
            }
            let call = OpInputs(node: node, values: ins)
            var outs: [TapeValue?]
            var saved = SavedState.none
            if node.opType == "Constant", let t = try node.tensor("value") {
                outs = [t.dtype == .float32 ? .float(try FloatBuffer(t)) : .other(t)]
            } else if let r = try ForwardOps.run(call, context) {
                (outs, saved) = r
            } else {
                outs = try runFallback(node, ins)
            }
            for (i, name) in node.outputs.enumerated() where !name.isEmpty && i < outs.count {
                if let v = outs[i] { values[name] = v }
            }
            if node.inputs.contains(where: { requiresGradient.contains($0) }) {
                for o in node.outputs where !o.isEmpty { requiresGradient.insert(o) }
                records.append(TapeRecord(node: node, inputs: ins, outputs: outs, saved: saved, training: training))
            }
        }
        return try graph.outputs.map { o in
            guard let v = values[o.name] else { throw TrainingError.model("graph output '\(o.name)' is not produced") }
            return v
        }
    }

    /// Runs an op the training kernels do not implement (shape arithmetic and the like) with the engine.
    private func runFallback(_ node: Node, _ ins: [TapeValue?]) throws -> [TapeValue?] {
        let key = node.name + "/" + node.outputs.joined(separator: ",")
        var feeds: [String: Tensor] = [:]
        var inputInfos: [ValueInfo] = []
        for (i, name) in node.inputs.enumerated() where !name.isEmpty {
            let t = ins[i]!.tensor
            feeds[name] = t
            inputInfos.append(ValueInfo(name: name, dtype: t.dtype, shape: t.shape.dims.map { .fixed($0) }))
        }
        do {
            let session: Session
            if let s = fallbacks[key] { session = s } else {
                let g = Graph(name: node.name, nodes: [node], inputs: inputInfos,
                              outputs: node.outputs.filter { !$0.isEmpty }.map { ValueInfo(name: $0, dtype: nil, shape: nil) },
                              opsetImports: graph.opsetImports)
                session = try Session(graph: g, options: SessionOptions(threads: 1, optimize: false))
                fallbacks[key] = session
            }
            let outs = try session.run(feeds)
            return outs.map { $0.dtype == .float32 ? .float(try! FloatBuffer($0)) : .other($0) }
        } catch let e as TrainingError { throw e } catch {
            throw TrainingError.model("node '\(node.name)' (\(node.opType)): \(error)")
        }
    }

    /// Backpropagates `outputGradients` (one per graph output, nil for none) and returns the
    /// gradient of each trainable initializer the outputs depend on.
    public func backward(_ outputGradients: [Tensor?]) throws -> [String: Tensor] {
        let seeds = try outputGradients.map { try $0.map(FloatBuffer.init) }
        return try backwardBuffers(seeds).mapValues(\.tensor)
    }

    func backwardBuffers(_ seeds: [FloatBuffer?]) throws -> [String: FloatBuffer] {
        var grads: [String: FloatBuffer] = [:]
        for (i, g) in seeds.enumerated() where i < graph.outputs.count { if let g = g { grads[graph.outputs[i].name] = g } }
        for r in records.reversed() {
            let dys = r.node.outputs.map { $0.isEmpty ? nil : grads[$0] }
            if dys.allSatisfy({ $0 == nil }) { continue }
            let needs = r.node.inputs.map { !$0.isEmpty && requiresGradient.contains($0) }
            guard Derivatives.hasDerivative(r.node.opType) else {
                throw TrainingError.training("node '\(r.node.name)': \(r.node.opType) has no derivative, but a trainable parameter feeds it; freeze that parameter or replace the op")
            }
            let dxs = try Derivatives.backward(r, dys, needs: needs, context)
            for o in r.node.outputs where !graph.trainable.contains(o) { grads[o] = nil }
            for (i, name) in r.node.inputs.enumerated() where needs[i] && i < dxs.count {
                guard let g = dxs[i] else { continue }
                if let prior = grads[name] {
                    let sum = prior.copy()
                    sum.add(g)
                    grads[name] = sum
                } else {
                    grads[name] = g
                }
            }
        }
        records.removeAll(keepingCapacity: true)
        var out: [String: FloatBuffer] = [:]
        for name in graph.trainable { if let g = grads[name] { out[name] = g } }
        return out
    }
}
