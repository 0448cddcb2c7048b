import FrugalCore

/// What one node keeps between runs of one context (packed weights, scratch buffers,
/// attributes parsed for the last input shapes), held by the context per plan step so that
/// a run reaches it by index instead of building and hashing a string key per call.
/// Used only by the thread running the node: a context runs one graph at a time.
final class NodeState: @unchecked Sendable {
    private var objects: [(key: String, value: AnyObject)] = []
    /// The operator's memo of work derived from attributes and input shapes; the operator
    /// checks that the shapes it was made for still match before using it.
    var memo: AnyObject? = nil
    /// The node's input values during a call (nil between calls), kept so that the array
    /// is made once, not per call.
    private(set) var arguments: [Tensor?] = []

    /// Sets `arguments` to the values in `slots` (nil for an omitted input), in place when
    /// no one else holds the array.
    func fillArguments(_ slots: [Int?], from values: [Tensor?]) {
        if arguments.count != slots.count {
            arguments = [Tensor?](repeating: nil, count: slots.count)
        }
        for k in slots.indices {
            if let s = slots[k] { arguments[k] = values[s] }
        }
    }

    /// Drops the references to the inputs (so that their buffers can be recycled).
    func clearArguments() {
        for k in arguments.indices { arguments[k] = nil }
    }

    /// The object kept under `key`, made by `make` on first use.
    func object<T: AnyObject>(_ key: String, _ make: () -> T) -> T {
        for entry in objects where entry.key == key {
            if let v = entry.value as? T { return v }
        }
        let v = make()
        objects.append((key, v))
        return v
    }
}

extension ExecutionContext {
    /// The per-step states of `plan` in this context, made on first use. The context holds
    /// the plans it has states for (so a freed plan's address is never mistaken for a new
    /// one), at most a few: beyond that the oldest is dropped.
    func nodeStates(for plan: ExecutionPlan, count: Int) -> [NodeState] {
        stateLock.lock()
        defer { stateLock.unlock() }
        if let entry = planStates.first(where: { $0.plan === plan && $0.states.count == count }) { return entry.states }
        let states = (0..<count).map { _ in NodeState() }
        planStates.removeAll { $0.plan === plan }
        if planStates.count >= 4 { planStates.removeFirst() }
        planStates.append((plan, states))
        return states
    }
}

extension OpCall {
    /// The object this node keeps under `key` (the per-step state when the executor gives
    /// one, else the context's cache under a key naming the node).
    func cachedObject<T: AnyObject>(_ key: String, _ make: () -> T) -> T {
        if let state { return state.object(key, make) }
        return context.cached("\(key):\(node.name)", make)
    }
}
