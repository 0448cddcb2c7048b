import FrugalCore
import Foundation

/// Options for a ``Session``.
public struct SessionOptions: Sendable {
    /// Threads, the caller's included.
    public var threads: Int
    /// Run the graph optimisations (constant folding, BatchNormalization folding, activation
    /// fusion). Off only to compare against the unoptimised graph.
    public var optimize: Bool
    /// Record the time of every node on each run.
    public var profile: Bool

    public init(threads: Int = ThreadPool.defaultThreadCount(), optimize: Bool = true, profile: Bool = false) {
        self.threads = threads
        self.optimize = optimize
        self.profile = profile
    }
}

/// Time spent in one node during a profiled run.
public struct NodeTiming: Sendable {
    public let name: String
    public let opType: String
    public let seconds: Double
}

/// A graph prepared for execution: validated, ordered, optimised, with its memory plan.
///
/// ```swift
/// let session = try Session(graph: graph)
/// let outputs = try session.run(["input": x])
/// ```
public final class Session: @unchecked Sendable {
    public let graph: Graph
    public let plan: ExecutionPlan
    public let context: ExecutionContext
    public let options: SessionOptions
    /// Per-node times of the last run when `options.profile` is on.
    public private(set) var lastProfile: [NodeTiming] = []
    private let runLock = NSLock()

    public init(graph: Graph, options: SessionOptions = SessionOptions()) throws {
        self.options = options
        let pool = ThreadPool(threadCount: options.threads)
        context = ExecutionContext(pool: pool, opset: graph.opset)
        try Planner.checkSupported(graph)
        let optimized = options.optimize ? try Planner.optimize(graph, context: context) : graph
        self.graph = optimized
        plan = try ExecutionPlan(graph: optimized)
    }

    /// Peak bytes of intermediate values alive at once, under the plan's release order.
    public var peakActivationBytes: Int { plan.lastPeakBytes }

    /// Runs the graph; returns its outputs in the graph's output order.
    public func run(_ feeds: [String: Tensor]) throws -> [Tensor] {
        runLock.lock()
        defer { runLock.unlock() }
        return try plan.execute(feeds: feeds, context: context, profile: options.profile) { self.lastProfile = $0 }
    }
}
