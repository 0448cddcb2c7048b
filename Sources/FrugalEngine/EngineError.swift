import FrugalCore

/// The one error type of FrugalEngine. Messages name the node (and its op type), the shapes
/// involved, and what to do.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    /// Ops the engine does not implement, all of them at once, with their node counts.
    case unsupportedOperators([String])
    /// A node whose inputs, attributes or shapes are not valid for its op.
    case invalidNode(node: String, opType: String, reason: String)
    /// A graph whose structure is broken (a cycle, a value nobody produces, duplicate names).
    case invalidGraph(String)
    /// An input fed to `run` that does not match what the graph declares.
    case badInput(name: String, reason: String)
    /// An error from a kernel, attributed to the node that ran it.
    case kernel(node: String, opType: String, underlying: CoreError)

    public var description: String {
        switch self {
        case .unsupportedOperators(let ops):
            return "unsupported operators: \(ops.joined(separator: ", ")). `frugal ops` lists what Frugal runs."
        case .invalidNode(let node, let op, let reason): return "node '\(node)' (\(op)): \(reason)"
        case .invalidGraph(let m): return "invalid graph: \(m)"
        case .badInput(let name, let reason): return "input '\(name)': \(reason)"
        case .kernel(let node, let op, let e): return "node '\(node)' (\(op)): \(e)"
        }
    }
}
