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
    /// Run a batch of large samples sample by sample (T at once on T threads) when the graph
    /// keeps samples apart (see BatchSplit.swift); the outputs are the same. Profiled runs
    /// always run whole, so that node times are the batch's.
    public var splitBatch: Bool
    /// Whether inverted-residual blocks (expand 1x1 -> depthwise -> project 1x1 Conv) run
    /// fused, band by band (see ConvBlockFusion.swift); with `optimize` only.
    public var convBlocks: ConvBlockFusion

    public init(threads: Int = ThreadPool.defaultThreadCount(), optimize: Bool = true, profile: Bool = false,
                splitBatch: Bool = true, convBlocks: ConvBlockFusion = .auto) {
        self.threads = threads
        self.optimize = optimize
        self.profile = profile
        self.splitBatch = splitBatch
        self.convBlocks = convBlocks
    }
}

/// Time spent in one node during a profiled run.
public struct NodeTiming: Sendable {
    public let name: String
    public let opType: String
    public let seconds: Double
    /// Parallel regions the node started on the session's thread pool (see
    /// ``ThreadPool/regionCount``): 0 when it ran on the calling thread alone.
    public var parallelRegions: Int = 0
}

/// A graph prepared for execution: validated, ordered, optimised, with its memory plan.
///
/// ```swift
/// let session = try Session(graph: graph)
/// let outputs = try session.run(["input": x])
/// ```
public final class Session: @unchecked Sendable {
    /// The graph as given to the session, before optimisation: the one to export or inspect.
    public let sourceGraph: Graph
    /// The optimised graph the plan runs. It may hold planner-only nodes (e.g.
    /// ai.frugal.ConvBlock) and attributes that ONNX files do not have; export
    /// ``sourceGraph`` instead.
    public let graph: Graph
    public let plan: ExecutionPlan
    public let context: ExecutionContext
    public let options: SessionOptions
    /// Per-node times of the last run when `options.profile` is on.
    public private(set) var lastProfile: [NodeTiming] = []
    private let runLock = NSLock()

    public init(graph: Graph, options: SessionOptions = SessionOptions()) throws {
        self.options = options
        sourceGraph = graph
        let pool = ThreadPool(threadCount: options.threads)
        context = ExecutionContext(pool: pool, opset: graph.opset)
        try Planner.checkSupported(graph)
        let optimized = options.optimize ? try Planner.optimize(graph, context: context, convBlocks: options.convBlocks) : graph
        self.graph = optimized
        plan = try ExecutionPlan(graph: optimized)
    }

    /// Peak bytes of intermediate values alive at once, under the plan's release order (for
    /// a split batch: one sample's peak times the samples run at once).
    public var peakActivationBytes: Int { plan.lastPeakBytes * concurrentSamples }

    /// Whether the graph can run sample by sample (decided once).
    private lazy var separable: Bool = BatchSplit.isSeparable(graph)
    /// One single-thread context per worker for split batches on several threads (each
    /// keeps its own buffers and packed weights).
    private var workerContexts: [ExecutionContext] = []
    private var concurrentSamples = 1

    /// Runs the graph; returns its outputs in the graph's output order.
    public func run(_ feeds: [String: Tensor]) throws -> [Tensor] {
        runLock.lock()
        defer { runLock.unlock() }
        if options.splitBatch, !options.profile, let n = BatchSplit.sampleCount(feeds), separable {
            return try runSplit(feeds, samples: n)
        }
        concurrentSamples = 1
        return try plan.execute(feeds: feeds, context: context, profile: options.profile) { self.lastProfile = $0 }
    }

    /// The batch run sample by sample: on one thread in order, or on T threads each taking
    /// every T-th sample with its own single-thread context.
    private func runSplit(_ feeds: [String: Tensor], samples n: Int) throws -> [Tensor] {
        let workers = min(context.pool.threadCount, n)
        concurrentSamples = workers
        var results = [[Tensor]?](repeating: nil, count: n)
        func runSample(_ i: Int, _ ctx: ExecutionContext) throws -> [Tensor] {
            let one = try feeds.mapValues { try BatchSplit.sample($0, i) }
            return try plan.execute(feeds: one, context: ctx, profile: false) { _ in }
        }
        if workers <= 1 {
            for i in 0..<n { results[i] = try runSample(i, context) }
        } else {
            while workerContexts.count < workers {
                workerContexts.append(ExecutionContext(pool: ThreadPool(threadCount: 1), opset: graph.opset))
            }
            let box = SplitResults(count: n)
            let contexts = workerContexts
            context.pool.parallelFor(workers) { w in
                var i = w
                while i < n && !box.failed {
                    do { box.set(i, try runSample(i, contexts[w])) } catch { box.fail(error) }
                    i += workers
                }
            }
            if let e = box.error { throw e }
            results = box.values
        }
        let outs = results.map { $0! }
        return try (0..<outs[0].count).map { k in try BatchSplit.concatenate(outs.map { $0[k] }) }
    }
}

/// Results of the concurrent sample runs (each index written by one worker).
private final class SplitResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [[Tensor]?]
    private(set) var error: Error?
    var failed: Bool { lock.lock(); defer { lock.unlock() }; return error != nil }
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: [Tensor]) { lock.lock(); values[i] = v; lock.unlock() }
    func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}
