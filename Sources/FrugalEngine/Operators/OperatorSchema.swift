import FrugalCore
import Foundation

/// What an operator implementation receives: its node, its input values (nil for an omitted
/// optional input), and the execution context.
public struct OpCall {
    /// The node, held by reference: a call retains one object instead of each of the
    /// node's strings, arrays and attribute dictionary (the executor's plan steps keep one
    /// per node, so a run makes none).
    let site: NodeSite
    /// The node being run (read in place, not copied).
    public var node: Node { _read { yield site.node } }
    public let inputs: [Tensor?]
    public let context: ExecutionContext
    /// This node's state kept between runs, when the executor provides one.
    var state: NodeState? = nil

    init(site: NodeSite, inputs: [Tensor?], context: ExecutionContext, state: NodeState? = nil) {
        self.site = site
        self.inputs = inputs
        self.context = context
        self.state = state
    }

    init(node: Node, inputs: [Tensor?], context: ExecutionContext, state: NodeState? = nil) {
        self.init(site: NodeSite(node), inputs: inputs, context: context, state: state)
    }

    /// Input `i`, which the op requires.
    public func input(_ i: Int) throws -> Tensor {
        guard i < inputs.count, let t = inputs[i] else {
            throw node.fail("input \(i) is required but missing")
        }
        return t
    }

    /// Input `i`, or nil when omitted.
    public func optionalInput(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }

    /// Builds the error for this node.
    public func fail(_ reason: String) -> EngineError { node.fail(reason) }

    /// Runs a kernel call, attributing its CoreError to this node.
    public func kernel<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as CoreError {
            throw EngineError.kernel(node: node.name, opType: node.opType, underlying: e)
        }
    }
}

/// A node kept in an object, so that an ``OpCall`` refers to it instead of copying it.
final class NodeSite: Sendable {
    let node: Node
    init(_ node: Node) { self.node = node }
}

/// Shared state of one execution: threads, the opset, and a cache where ops keep work that
/// depends only on constant inputs (packed weights, quantization parameters).
public final class ExecutionContext: @unchecked Sendable {
    public let pool: ThreadPool
    public let opset: Int
    /// Buffers of released intermediate values, reused for the outputs of later nodes.
    public let buffers = TensorBufferPool()
    private var cache: [String: Any] = [:]
    private let lock = NSLock()
    /// Per-step node states of the plan last run here (see `nodeStates(for:count:)`).
    var planStates: [(plan: ExecutionPlan, states: [NodeState])] = []
    let stateLock = NSLock()

    public init(pool: ThreadPool, opset: Int) {
        self.pool = pool
        self.opset = opset
    }

    /// The value cached under `key`, made by `make` on first use.
    public func cached<T>(_ key: String, _ make: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        if let v = cache[key] as? T { return v }
        let v = try make()
        cache[key] = v
        return v
    }
}

/// One operator Frugal runs: its ONNX name and domain, the opset range it implements, the
/// element types it accepts, and its implementation.
public struct OperatorSchema: Sendable {
    public let name: String
    public let domain: String
    /// Earliest and latest opset version whose semantics this implementation follows.
    public let since: Int
    public let until: Int
    /// Element types of the (first) input that the implementation accepts.
    public let dtypes: Set<DType>
    public let run: @Sendable (OpCall) throws -> [Tensor]

    public init(_ name: String, domain: String = "", since: Int = 1, until: Int = 27, dtypes: Set<DType>,
                run: @escaping @Sendable (OpCall) throws -> [Tensor]) {
        self.name = name
        self.domain = domain
        self.since = since
        self.until = until
        self.dtypes = dtypes
        self.run = run
    }
}

public extension Set where Element == DType {
    static let floats: Set<DType> = [.float32]
    static let numeric: Set<DType> = [.float32, .int32, .int64]
    static let all: Set<DType> = Set(DType.allCases)
}
