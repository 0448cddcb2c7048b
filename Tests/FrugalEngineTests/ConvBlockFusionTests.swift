import Foundation
import FrugalCore
@testable import FrugalEngine
import FrugalONNX
import Testing

/// Inverted-residual blocks fused into one banded op (Fusions.fuseConvBlocks, ConvBlock
/// kernel) compute what the separate convolutions compute: strides 1 and 2, 3x3 and 5x5,
/// dilation, asymmetric pads, expand ratios, with and without project conv and residual,
/// odd map sizes, bands of one row to the whole map, batch 2, 1 and 2 threads; likewise run
/// as one region split by expanded channels (ConvBlockChannels.swift).
@Suite struct ConvBlockFusionTests {
    func tensor(_ dims: [Int], _ seed: UInt64, scale: Float = 1) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        return try Tensor(shape: Shape(dims), scalars: (0..<dims.reduce(1, *)).map { _ in rng.uniform() * scale })
    }

    struct Block: CustomStringConvertible {
        /// `expand` 0: no expand conv (the depthwise reads the input; needs a project conv).
        var cin: Int, expand: Int, cout: Int?, h: Int, w: Int
        var k = 3, stride = 1, dilation = 1
        var pads: [Int]? = nil  // default: symmetric k/2 * dilation
        var residual = false
        var activation = "Clip"  // after expand and depthwise: Clip(0, 6), Relu or none
        var description: String {
            "cin \(cin) x\(expand) -> \(cout.map(String.init) ?? "-") on \(h)x\(w), k\(k) s\(stride) d\(dilation) pads \(pads ?? []) residual \(residual) \(activation)"
        }
    }

    /// x [-> Conv 1x1 -> act] -> Conv depthwise -> act [-> Conv 1x1 [+ x]].
    func graph(_ s: Block) throws -> Graph {
        var b = GraphBuilder(name: "block", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(s.cin), .fixed(s.h), .fixed(s.w)])
        let c = s.expand == 0 ? s.cin : s.cin * s.expand
        let lo = b.initializer("lo", try Tensor(shape: [], scalars: [Float(0)]))
        let hi = b.initializer("hi", try Tensor(shape: [], scalars: [Float(6)]))
        func act(_ v: String) -> String {
            switch s.activation {
            case "Clip": return b.node("Clip", [v, lo, hi])
            case "Relu": return b.node("Relu", [v])
            default: return v
            }
        }
        var e = x
        if s.expand > 0 {
            let we = b.initializer("we", try tensor([c, s.cin, 1, 1], 1))
            let be = b.initializer("be", try tensor([c], 2))
            e = act(b.node("Conv", [x, we, be]))
        }
        let wd = b.initializer("wd", try tensor([c, 1, s.k, s.k], 3))
        let bd = b.initializer("bd", try tensor([c], 4))
        let p = (s.k / 2) * s.dilation
        var y = act(b.node("Conv", [e, wd, bd], attributes: [
            "group": .int(c), "strides": .ints([s.stride, s.stride]), "dilations": .ints([s.dilation, s.dilation]),
            "pads": .ints(s.pads ?? [p, p, p, p]), "kernel_shape": .ints([s.k, s.k]),
        ]))
        if let cout = s.cout {
            let wp = b.initializer("wp", try tensor([cout, c, 1, 1], 5, scale: 0.5))
            let bp = b.initializer("bp", try tensor([cout], 6))
            y = b.node("Conv", [y, wp, bp])
            if s.residual { y = b.node("Add", [y, x]) }
        }
        b.output(y, dtype: .float32, shape: nil)
        return b.graph
    }

    /// Whether the last run of `session` ran its blocks in bands (their kept plan) rather
    /// than as the separate convolutions or split by channels.
    func ranBands(_ session: Session) -> Bool {
        let states = session.context.nodeStates(for: session.plan, count: session.plan.steps.count)
        let memos = zip(session.plan.steps, states).filter { $0.0.node.opType == "ConvBlock" }.map { $0.1.memo as? ConvBlockOperator.Memo }
        return !memos.isEmpty && memos.allSatisfy { $0?.plan != nil && $0?.plan?.slices == 0 }
    }

    /// Whether the last run of `session` ran its blocks as one region split by channels.
    func ranChannels(_ session: Session) -> Bool {
        let states = session.context.nodeStates(for: session.plan, count: session.plan.steps.count)
        let memos = zip(session.plan.steps, states).filter { $0.0.node.opType == "ConvBlock" }.map { $0.1.memo as? ConvBlockOperator.Memo }
        return !memos.isEmpty && memos.allSatisfy { ($0?.plan?.slices ?? 0) > 0 }
    }

    func run(_ g: Graph, _ x: Tensor, threads: Int, _ mode: ConvBlockFusion) throws -> (Tensor, Session) {
        let s = try Session(graph: g, options: SessionOptions(threads: threads, splitBatch: false, convBlocks: mode))
        return (try s.run(["x": x])[0], s)
    }

    static let blocks: [Block] = [
        Block(cin: 4, expand: 6, cout: 4, h: 15, w: 13, residual: true),
        Block(cin: 5, expand: 6, cout: 7, h: 15, w: 13, stride: 2),
        Block(cin: 3, expand: 4, cout: 6, h: 17, w: 20, k: 5, stride: 2, activation: "Relu"),
        Block(cin: 4, expand: 3, cout: 4, h: 12, w: 9, k: 5, residual: true, activation: "none"),
        Block(cin: 6, expand: 2, cout: nil, h: 14, w: 11, activation: "Relu"),
        Block(cin: 3, expand: 5, cout: nil, h: 11, w: 16, stride: 2),
        Block(cin: 4, expand: 4, cout: 5, h: 13, w: 13, dilation: 2),
        Block(cin: 4, expand: 6, cout: 8, h: 16, w: 15, stride: 2, pads: [0, 0, 1, 1]),  // TF-style SAME, stride 2
        Block(cin: 2, expand: 8, cout: 3, h: 9, w: 40, k: 3, stride: 1, pads: [2, 0, 0, 2]),
        // No expand conv (MobileNetV2's first block): depthwise -> project.
        Block(cin: 6, expand: 0, cout: 4, h: 15, w: 13),
        Block(cin: 5, expand: 0, cout: 5, h: 16, w: 11, k: 5, stride: 2, residual: false, activation: "Relu"),
        Block(cin: 4, expand: 0, cout: 4, h: 12, w: 9, residual: true, activation: "none"),
        Block(cin: 3, expand: 0, cout: 6, h: 13, w: 13, dilation: 2, pads: [1, 2, 3, 0]),
    ]

    @Test func bandsMatchSeparateConvolutions() throws {
        for s in Self.blocks {
            let g = try graph(s)
            let x = try tensor([2, s.cin, s.h, s.w], 9, scale: 2)
            for threads in [1, 2] {
                let (reference, _) = try run(g, x, threads: threads, .off)
                let (plain, auto) = try run(g, x, threads: threads, .auto)  // small maps: the body runs unfused
                #expect(!ranBands(auto), "\(s): small maps ran in bands under the auto rule")
                #expect(maxRelativeError(plain, reference) < 1e-5, "\(s) auto, \(threads) threads")
                for rows in [1, 3, 0, 1000] {
                    let (fused, session) = try run(g, x, threads: threads, .always(bandRows: rows))
                    #expect(session.graph.nodes.contains { $0.opType == "ConvBlock" && $0.domain == "ai.frugal" }, "\(s): not fused")
                    #expect(!session.graph.nodes.contains { $0.opType == "Conv" || $0.opType == "Add" }, "\(s): left over")
                    #expect(ranBands(session), "\(s): ran the separate convolutions")
                    #expect(fused.shape == reference.shape, "\(s)")
                    #expect(maxRelativeError(fused, reference) < 1e-5, "\(s) band rows \(rows), \(threads) threads")
                    // Again, on the kept state and recycled buffers.
                    #expect(try session.run(["x": x])[0] == fused, "\(s) second run")
                }
            }
        }
    }

    /// Split by expanded channels (one region, partial project sums added by the last task of
    /// each image): every block form, batch 1 and 2, 1 to 3 threads (slices of one channel
    /// too: 3 threads on 6 channels), against the separate convolutions; a second run on the
    /// kept state gives the same bits.
    @Test func channelSplitMatchesSeparateConvolutions() throws {
        for s in Self.blocks + [Block(cin: 3, expand: 1, cout: 5, h: 7, w: 7, residual: false),
                                 Block(cin: 2, expand: 3, cout: 2, h: 5, w: 6, k: 5, residual: true, activation: "Relu")] {
            let g = try graph(s)
            for batch in [1, 2] {
                let x = try tensor([batch, s.cin, s.h, s.w], 21, scale: 2)
                let (reference, _) = try run(g, x, threads: 1, .off)
                for threads in [1, 2, 3] {
                    let (fused, session) = try run(g, x, threads: threads, .channels)
                    #expect(ranChannels(session), "\(s): did not run split by channels")
                    #expect(fused.shape == reference.shape, "\(s)")
                    // (The partial sums add in another order than one GEMM's: rounding only.)
                    #expect(maxRelativeError(fused, reference) < 1e-4, "\(s) batch \(batch), \(threads) threads")
                    #expect(try session.run(["x": x])[0] == fused, "\(s) second run")
                }
            }
        }
    }

    /// The automatic rule runs small maps split by channels at batch 1 (one slice on 1
    /// thread); batch 2 runs the separate convolutions; all match the unoptimised graph; a
    /// shape change between runs (batch 1 -> 2 -> 1) re-derives the plan.
    @Test func autoRuleSplitsSmallMapsByChannelsAtBatchOne() throws {
        let s = Block(cin: 8, expand: 6, cout: 8, h: 14, w: 14, residual: true)
        let g = try graph(s)
        let x1 = try tensor([1, s.cin, s.h, s.w], 31), x2 = try tensor([2, s.cin, s.h, s.w], 32)
        let plain = try Session(graph: g, options: SessionOptions(threads: 1, optimize: false))
        let r1 = try plain.run(["x": x1])[0], r2 = try plain.run(["x": x2])[0]
        let (one, single) = try run(g, x1, threads: 1, .auto)
        #expect(ranChannels(single) && maxRelativeError(one, r1) < 1e-5)
        let (two, session) = try run(g, x1, threads: 2, .auto)
        #expect(ranChannels(session) && maxRelativeError(two, r1) < 1e-4)
        let batch = try session.run(["x": x2])[0]
        #expect(!ranBands(session) && !ranChannels(session) && maxRelativeError(batch, r2) < 1e-5)
        #expect(try session.run(["x": x1])[0] == two)
        #expect(ranChannels(session))
    }

    /// Against the unoptimised graph (no folding or fusion at all) and a plain sample loop:
    /// one image at a time must give the batch's rows.
    @Test func bandsMatchUnoptimizedGraphAndSingleImages() throws {
        let s = Block(cin: 4, expand: 6, cout: 4, h: 15, w: 13, residual: true)
        let g = try graph(s)
        let x = try tensor([2, s.cin, s.h, s.w], 11, scale: 2)
        let plain = try Session(graph: g, options: SessionOptions(threads: 1, optimize: false)).run(["x": x])[0]
        let (fused, session) = try run(g, x, threads: 2, .always(bandRows: 2))
        #expect(maxRelativeError(fused, plain) < 1e-5)
        let one = try BatchSplit.sample(x, 1)
        let single = try session.run(["x": one])[0]  // shape change: the plan is re-derived
        #expect(maxRelativeError(single, try BatchSplit.sample(plain, 1)) < 1e-5)
        #expect(try session.run(["x": x])[0] == fused)
    }

    /// The automatic rule runs expanded maps of 1 MiB or more in bands, smaller ones (batch
    /// 1) split by channels; the result still matches.
    @Test func autoRuleUsesBandsOnLargeMaps() throws {
        let cases: [(Block, bandsOn1: Bool, bandsOn2: Bool)] = [
            (Block(cin: 8, expand: 12, cout: 8, h: 76, w: 76, residual: true), true, true),  // 2.2 MB
            (Block(cin: 8, expand: 12, cout: 8, h: 56, w: 56, residual: true), true, true),  // 1.2 MB
            (Block(cin: 8, expand: 12, cout: 16, h: 56, w: 56, stride: 2), true, true),
            (Block(cin: 8, expand: 4, cout: 8, h: 56, w: 56, residual: true), false, false),  // 0.4 MB: by channels
            (Block(cin: 24, expand: 0, cout: 16, h: 106, w: 106), true, true),  // no expand conv, 1.1 MB
        ]
        for (s, on1, on2) in cases {
            let g = try graph(s)
            let x = try tensor([1, s.cin, s.h, s.w], 5)
            let node = try #require(try Session(graph: g, options: SessionOptions(threads: 1)).graph.nodes.first { $0.opType == "ConvBlock" })
            #expect(try ConvBlockOperator.body(node).count == (s.expand == 0 ? 2 : 3))
            for threads in [1, 2] {
                let (reference, _) = try run(g, x, threads: threads, .off)
                let (fused, session) = try run(g, x, threads: threads, .auto)
                #expect(maxRelativeError(fused, reference) < 1e-4, "\(s), \(threads) threads")
                #expect(ranBands(session) == (threads == 1 ? on1 : on2), "\(s), \(threads) threads")
                #expect(ranChannels(session) == !(threads == 1 ? on1 : on2), "\(s), \(threads) threads")
            }
        }
    }

    /// The fused op is not ONNX: exporting the optimised graph is refused with an error that
    /// names the node and says to export the graph before optimisation, which still works.
    @Test func exportRefusesTheFusedOp() throws {
        let g = try graph(Self.blocks[0])
        let s = try Session(graph: g, options: SessionOptions(threads: 1, convBlocks: .always(bandRows: 0)))
        #expect(s.graph.nodes.contains { $0.opType == "ConvBlock" })
        do {
            _ = try ONNXExporter.encode(s.graph)
            Issue.record("exporting a graph with ai.frugal.ConvBlock did not throw")
        } catch let e as ONNXError {
            #expect("\(e)".contains("ai.frugal.ConvBlock") && "\(e)".contains("before it is optimised"))
        }
        #expect(try !ONNXExporter.encode(g).isEmpty)
        #expect(try !ONNXExporter.encode(s.sourceGraph).isEmpty)
        #expect(OperatorRegistry.schema("ConvBlock", domain: "ai.frugal") != nil)
        #expect(!OperatorRegistry.all.contains { $0.domain == "ai.frugal" }, "`frugal ops` lists only operators a model may use")
    }

    /// Not fused: an intermediate that is a graph output or read twice, a grouped expand.
    @Test func sharedIntermediatesAreNotFused() throws {
        var b = GraphBuilder(name: "shared", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(8), .fixed(8)])
        let we = b.initializer("we", try tensor([12, 4, 1, 1], 1))
        let wd = b.initializer("wd", try tensor([12, 1, 3, 3], 2))
        let e = b.node("Relu", [b.node("Conv", [x, we])])
        let d = b.node("Conv", [e, wd], attributes: ["group": .int(12), "pads": .ints([1, 1, 1, 1])])
        b.output(d, dtype: .float32, shape: nil)
        b.output(e, dtype: .float32, shape: nil)
        let opt = try Planner.optimize(b.graph, context: ExecutionContext(pool: ThreadPool(threadCount: 1), opset: 17),
                                       convBlocks: .always(bandRows: 0))
        #expect(!opt.nodes.contains { $0.opType == "ConvBlock" })
    }

    /// A fused graph still splits batches sample by sample, and cost models still see the
    /// Conv nodes.
    @Test func batchSplitAndTraceSeeTheBlock() throws {
        let s = Block(cin: 16, expand: 4, cout: 16, h: 32, w: 32, residual: true)
        let g = try graph(s)
        let session = try Session(graph: g, options: SessionOptions(threads: 2, convBlocks: .always(bandRows: 5)))
        #expect(BatchSplit.isSeparable(session.graph))
        let x = try tensor([3, s.cin, s.h, s.w], 7)
        let (reference, off) = try run(g, x, threads: 1, .off)
        #expect(maxRelativeError(try session.run(["x": x])[0], reference) < 1e-5)
        #expect(session.executedNodes.map(\.opType) == off.executedNodes.map(\.opType))
        let traced = try session.trace(["x": x])
        #expect(traced.count == 3 && traced.allSatisfy { $0.node.opType == "Conv" })
    }
}
