import FrugalCore
import Foundation

/// The order nodes run in, where each value lives, and when it can be released.
public final class ExecutionPlan: @unchecked Sendable {
    /// A class so that walking the steps retains one reference, not each field.
    final class Step {
        let node: Node
        /// The node for this step's calls, made once (see ``OpCall``).
        let site: NodeSite
        let schema: OperatorSchema
        let inputSlots: [Int?]
        let outputSlots: [Int?]
        /// Slots whose last reader is this step; released after it runs.
        let releases: [Int]

        init(node: Node, schema: OperatorSchema, inputSlots: [Int?], outputSlots: [Int?], releases: [Int]) {
            self.node = node
            self.site = NodeSite(node)
            self.schema = schema
            self.inputSlots = inputSlots
            self.outputSlots = outputSlots
            self.releases = releases
        }
    }

    let steps: [Step]
    let slotCount: Int
    let slotNames: [String]
    let constants: [(Int, Tensor)]
    let inputSlots: [(ValueInfo, Int)]
    let outputSlots: [Int]
    private(set) var lastPeakBytes = 0

    init(graph: Graph) throws {
        var slots: [String: Int] = [:]
        var names: [String] = []
        func slot(_ name: String) -> Int {
            if let s = slots[name] { return s }
            slots[name] = names.count
            names.append(name)
            return names.count - 1
        }
        var constants: [(Int, Tensor)] = []
        for (name, t) in graph.initializers.sorted(by: { $0.key < $1.key }) { constants.append((slot(name), t)) }
        var inputs: [(ValueInfo, Int)] = []
        for i in graph.inputs where graph.initializers[i.name] == nil { inputs.append((i, slot(i.name))) }
        let order = try Planner.topologicalOrder(graph)
        var lastUse: [Int: Int] = [:]
        var produced = Set(slots.values)
        var pending: [(Node, OperatorSchema, [Int?], [Int?])] = []
        for (stepIndex, node) in order.enumerated() {
            guard let schema = OperatorRegistry.schema(node.opType, domain: node.domain) else {
                throw EngineError.unsupportedOperators([node.opType])
            }
            var ins: [Int?] = []
            for name in node.inputs {
                if name.isEmpty { ins.append(nil); continue }
                guard let s = slots[name], produced.contains(s) else {
                    throw EngineError.invalidGraph("node '\(node.name)' (\(node.opType)) reads '\(name)', which no node, input or initializer provides")
                }
                ins.append(s)
                lastUse[s] = stepIndex
            }
            var outs: [Int?] = []
            for name in node.outputs {
                if name.isEmpty { outs.append(nil); continue }
                let s = slot(name)
                produced.insert(s)
                outs.append(s)
            }
            pending.append((node, schema, ins, outs))
        }
        var outputs: [Int] = []
        for o in graph.outputs {
            guard let s = slots[o.name], produced.contains(s) else {
                throw EngineError.invalidGraph("graph output '\(o.name)' is not produced by any node, input or initializer")
            }
            outputs.append(s)
        }
        let keep = Set(outputs).union(constants.map(\.0))
        var steps: [Step] = []
        for (i, p) in pending.enumerated() {
            let inputReleases = Set(p.2.compactMap { $0 }).filter { lastUse[$0] == i && !keep.contains($0) }
            // Outputs nobody reads are released at once too.
            let deadOutputs = p.3.compactMap { $0 }.filter { lastUse[$0] == nil && !keep.contains($0) }
            steps.append(Step(node: p.0, schema: p.1, inputSlots: p.2, outputSlots: p.3,
                              releases: Array(inputReleases) + deadOutputs))
        }
        self.steps = steps
        slotCount = names.count
        slotNames = names
        self.constants = constants
        inputSlots = inputs
        outputSlots = outputs
    }

    /// Graph inputs that must be fed (initializers excluded).
    public var requiredInputs: [ValueInfo] { inputSlots.map(\.0) }

    func execute(feeds: [String: Tensor], context: ExecutionContext, profile: Bool,
                 report: ([NodeTiming]) -> Void) throws -> [Tensor] {
        var values = [Tensor?](repeating: nil, count: slotCount)
        for (s, t) in constants { values[s] = t }
        for (info, s) in inputSlots {
            guard let t = feeds[info.name] else {
                throw EngineError.badInput(name: info.name, reason: "required input is missing; the graph's inputs are \(inputSlots.map { $0.0.name })")
            }
            try InputValidation.check(t, against: info)
            values[s] = t
        }
        for name in feeds.keys where !inputSlots.contains(where: { $0.0.name == name }) {
            throw EngineError.badInput(name: name, reason: "the graph has no such input; its inputs are \(inputSlots.map { $0.0.name })")
        }
        var live = 0
        var peak = 0
        var timings: [NodeTiming] = []
        if profile { timings.reserveCapacity(steps.count) }
        let states = context.nodeStates(for: self, count: steps.count)
        for (index, step) in steps.enumerated() {
            // In a block of its own so that the arguments and results are released before
            // the step's dead values are recycled (a buffer is reused only when unshared).
            do {
                // The arguments go in the step state's array, refilled in place each run
                // (no array made per call) and emptied once the call is over.
                let state = states[index]
                state.fillArguments(step.inputSlots, from: values)
                defer { state.clearArguments() }
                let results: [Tensor]
                do {
                    let call = OpCall(site: step.site, inputs: state.arguments, context: context, state: state)
                    let r0 = profile ? context.pool.regionCount : 0
                    let t0 = profile ? DispatchTime.now().uptimeNanoseconds : 0
                    results = try step.schema.run(call)
                    if profile {
                        timings.append(NodeTiming(name: step.node.name, opType: step.node.opType,
                                                  seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9,
                                                  parallelRegions: context.pool.regionCount - r0))
                    }
                }
                for (i, s) in step.outputSlots.enumerated() {
                    guard let s else { continue }
                    guard i < results.count else {
                        throw EngineError.invalidNode(node: step.node.name, opType: step.node.opType,
                                                      reason: "produced \(results.count) outputs, the graph uses output \(i)")
                    }
                    values[s] = results[i]
                    live += results[i].byteCount
                }
            }
            peak = max(peak, live)
            for s in step.releases {
                if let t = values[s] { live -= t.byteCount }
                // The buffer goes back to the context for later outputs unless something
                // else (a caller, a view, a cache) still holds it.
                context.buffers.recycle(&values[s])
            }
        }
        lastPeakBytes = peak
        if profile { report(timings) }
        return outputSlots.map { values[$0]! }
    }
}

/// Checks a fed tensor against the graph's declared input type and shape.
enum InputValidation {
    static func check(_ t: Tensor, against info: ValueInfo) throws {
        if let d = info.dtype, d != t.dtype {
            throw EngineError.badInput(name: info.name, reason: "the graph declares \(d) but a \(t.dtype) tensor was given; convert it (e.g. numpy's astype)")
        }
        guard let dims = info.shape else { return }
        guard dims.count == t.rank else {
            throw EngineError.badInput(name: info.name, reason: "the graph declares shape \(info.shapeDescription) (rank \(dims.count)) but a tensor of shape \(t.shape) (rank \(t.rank)) was given")
        }
        for (i, d) in dims.enumerated() {
            if case .fixed(let v) = d, v != t.shape[i] {
                throw EngineError.badInput(name: info.name, reason: "the graph declares shape \(info.shapeDescription) but a tensor of shape \(t.shape) was given (dimension \(i) must be \(v))")
            }
        }
    }
}
