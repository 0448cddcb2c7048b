// fp32 GEMM driver: cache blocking, threading and edge handling around the micro-kernels.
//
// Two paths:
// - Blocked (m > MR): the five-loop nest described in GEMMKernel.swift. For each KC x NC
//   block, B is packed once by all threads together (one parallelFor), then C is cut into a
//   tm x tn grid of tasks (another parallelFor), one per thread; each task packs its own
//   rows of A block by block. The grid splits m when there are enough row panels and n
//   otherwise (small m, wide n), picking the split with the least tiles on the busiest task.
// - Single pass (m <= MR, batch-1 style): one A panel holds all of op(A), each task takes a
//   range of NR-column panels of C and runs the kernel over the whole k at once. B is read
//   in place (plain row-major B, prefetched by the kernel), from a PackedB, or packed panel
//   by panel when B is transposed. Nothing is wasted on absent rows or on packing B.
// Partial k blocks accumulate into C; bias and clamp are applied with the last k block.
import CFrugalKernels

/// Where op(B) comes from.
enum SGEMMSourceB {
    case plain(SGEMMOperandB)
    case packed(GEMM.PackedB)
}

enum SGEMMDriver {
    /// Below this many multiply-adds a GEMM runs on the calling thread only.
    static let parallelThreshold = 1 << 16

    static func run(
        m: Int, n: Int, k: Int, a: SGEMMOperandA, b: SGEMMSourceB,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: GEMMBias, clamp: ClosedRange<Float>?, pool: ThreadPool?, kernel: SGEMMKernel
    ) {
        if m <= 0 || n <= 0 { return }
        var epilogue = frugal_sgemm_epilogue(flags: 0, bias: nil, lo: 0, hi: 0)
        if let clamp {
            epilogue.flags |= UInt32(FRUGAL_SGEMM_CLAMP)
            epilogue.lo = clamp.lowerBound
            epilogue.hi = clamp.upperBound
        }
        let biasBase: UnsafePointer<Float>?
        let biasPerRow: Bool
        switch bias {
        case .none: biasBase = nil; biasPerRow = false
        case .perRow(let p): biasBase = p; biasPerRow = true
            epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_ROW)
        case .perColumn(let p): biasBase = p; biasPerRow = false
            epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_COL)
        }
        let job = Job(
            m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate,
            epilogue: epilogue, biasBase: biasBase, biasPerRow: biasPerRow, kernel: kernel,
            threads: m * n * k >= parallelThreshold ? (pool?.threadCount ?? 1) : 1, pool: pool)
        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        if k == 0 || m <= kernel.mr {
            job.singlePass(ws)
        } else {
            job.blocked(ws)
        }
    }

    /// Runs `body(i)` for i in 0..<count on the pool (inline when count is 1).
    @inline(__always)
    static func parallel(_ count: Int, _ pool: ThreadPool?, _ body: (Int) -> Void) {
        if count <= 1 || pool == nil {
            for i in 0..<count { body(i) }
        } else {
            pool!.parallelFor(count, body)
        }
    }

    /// [lo, hi) of part `i` when `total` items are cut into `parts` near-equal pieces.
    @inline(__always)
    static func split(_ total: Int, _ parts: Int, _ i: Int) -> (Int, Int) {
        (total * i / parts, total * (i + 1) / parts)
    }

    struct Job {
        let m: Int, n: Int, k: Int
        let a: SGEMMOperandA
        let b: SGEMMSourceB
        let c: UnsafeMutablePointer<Float>
        let ldc: Int
        let accumulate: Bool
        let epilogue: frugal_sgemm_epilogue
        let biasBase: UnsafePointer<Float>?
        let biasPerRow: Bool
        let kernel: SGEMMKernel
        let threads: Int
        let pool: ThreadPool?

        /// Points the bias of the epilogue at the tile whose corner is (i, j).
        @inline(__always)
        func tileEpilogue(_ e: inout frugal_sgemm_epilogue, i: Int, j: Int) {
            if let biasBase { e.bias = biasPerRow ? biasBase + i : biasBase + j }
        }

        /// Flags of a k block: C is added unless this is the first block of a fresh
        /// product; bias and clamp only come with the last block.
        func blockEpilogue(first: Bool, last: Bool) -> frugal_sgemm_epilogue {
            var e = epilogue
            if !last { e.flags = 0 }
            if accumulate || !first { e.flags |= UInt32(FRUGAL_SGEMM_ACCUMULATE) }
            return e
        }

        // MARK: single pass (m <= MR, or k == 0)

        func singlePass(_ ws: SGEMMWorkspace) {
            let mr = kernel.mr, nr = kernel.nr
            let panels = (n + nr - 1) / nr
            let tasks = max(1, min(threads, panels))
            // Slot 0: all of op(A) as panels; slots 1...: a B panel per task when B needs packing.
            ws.reserve(slot: 0, count: max(1, m * k + mr * k))
            let aPack = ws.buffer(0)
            if k > 0 { SGEMMPacking.packA(a, i0: 0, rows: m, p0: 0, kc: k, mr: mr, into: aPack) }
            var needsPanel = false
            if case .plain(let ob) = b, ob.trans { needsPanel = true }
            if needsPanel { for t in 0..<tasks { ws.reserve(slot: 1 + t, count: k * nr) } }
            let base = blockEpilogue(first: true, last: true)

            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                var e = base
                var ir = 0
                while ir < m {
                    let rows = min(mr, m - ir)
                    for q in q0..<q1 {
                        let j = q * nr, w = min(nr, n - j)
                        tileEpilogue(&e, i: ir, j: j)
                        let ct = c + ir * ldc + j
                        let at = UnsafePointer(aPack + ir * k)
                        if k == 0 {
                            kernel.tile(mr: rows, nr: w, kc: 0, a: at, b: at, ldb: 0, c: ct, ldc: ldc, epilogue: &e)
                            continue
                        }
                        switch b {
                        case .packed(let pb):
                            kernel.tile(mr: rows, nr: w, kc: k, a: at, b: pb.panel(q), ldb: nr, c: ct, ldc: ldc, epilogue: &e)
                        case .plain(let ob) where ob.trans:
                            let panel = ws.buffer(1 + t)
                            SGEMMPacking.packBPanel(ob, p0: 0, kc: k, j0: j, width: w, nr: nr, into: panel)
                            kernel.tile(mr: rows, nr: w, kc: k, a: at, b: panel, ldb: nr, c: ct, ldc: ldc, epilogue: &e)
                        case .plain(let ob):
                            e.flags |= UInt32(FRUGAL_SGEMM_DIRECT_B)
                            kernel.tile(mr: rows, nr: w, kc: k, a: at, b: ob.base + j, ldb: ob.ld, c: ct, ldc: ldc, epilogue: &e)
                        }
                    }
                    ir += rows
                }
            }
        }

        // MARK: blocked (m > MR)

        /// The task grid (tm row parts x tn column parts) for `rowPanels` x `colPanels` tiles.
        func grid(rowPanels: Int, colPanels: Int) -> (Int, Int) {
            var best = (1, 1), bestCost = Int.max
            for tm in 1...threads where threads % tm == 0 {
                let tn = threads / tm
                if tm > rowPanels || tn > colPanels { continue }
                // Tiles on the busiest task; splitting n also repacks A on every task.
                let cost = ((rowPanels + tm - 1) / tm) * ((colPanels + tn - 1) / tn) * 8 + (tn - 1)
                if cost < bestCost { bestCost = cost; best = (tm, tn) }
            }
            return best
        }

        func blocked(_ ws: SGEMMWorkspace) {
            let mr = kernel.mr, nr = kernel.nr, kcMax = kernel.kc
            let mcMax = kernel.mc, ncMax = kernel.nc
            let rowPanels = (m + mr - 1) / mr
            let (tm, tn) = grid(rowPanels: rowPanels, colPanels: (min(n, ncMax) + nr - 1) / nr)
            let tasks = tm * tn
            let kcFirst = min(kcMax, k)
            var packedB: GEMM.PackedB? = nil
            if case .packed(let pb) = b { packedB = pb }
            if packedB == nil { ws.reserve(slot: 0, count: kcFirst * ((min(n, ncMax) + nr - 1) / nr) * nr) }
            for t in 0..<tasks { ws.reserve(slot: 1 + t, count: min(mcMax, m) * kcFirst + mr * kcFirst) }

            var jc = 0
            while jc < n {
                let nc = min(ncMax, n - jc)
                let colPanels = (nc + nr - 1) / nr
                var pc = 0
                while pc < k {
                    let kc = min(kcMax, k - pc)
                    let base = blockEpilogue(first: pc == 0, last: pc + kc == k)
                    // B block: shared packed buffer, or the caller's PackedB in place.
                    let bBlock: UnsafePointer<Float>, panelStride: Int
                    if let pb = packedB {
                        bBlock = pb.panel(jc / nr) + pc * nr
                        panelStride = pb.panelStride
                    } else {
                        guard case .plain(let ob) = b else { return }
                        let dst = ws.buffer(0)
                        let packTasks = min(threads, colPanels)
                        SGEMMDriver.parallel(packTasks, pool) { t in
                            let (q0, q1) = SGEMMDriver.split(colPanels, packTasks, t)
                            let j0 = q0 * nr, j1 = min(nc, q1 * nr)
                            SGEMMPacking.packB(
                                ob, p0: pc, kc: kc, j0: jc + j0, cols: j1 - j0, nr: nr,
                                into: dst + q0 * kc * nr, panelStride: kc * nr)
                        }
                        bBlock = UnsafePointer(dst)
                        panelStride = kc * nr
                    }
                    SGEMMDriver.parallel(tasks, pool) { t in
                        let (r0, r1) = SGEMMDriver.split(rowPanels, tm, t / tn)
                        let (q0, q1) = SGEMMDriver.split(colPanels, tn, t % tn)
                        computeBlock(
                            rows: (r0 * mr)..<min(m, r1 * mr), panels: q0..<q1, jc: jc, pc: pc, kc: kc,
                            bBlock: bBlock, panelStride: panelStride, aPack: ws.buffer(1 + t), base: base)
                    }
                    pc += kc
                }
                jc += nc
            }
        }

        /// One task's share of a KC x NC block: its rows of C, its range of B panels.
        @inline(__always)
        func computeBlock(
            rows: Range<Int>, panels: Range<Int>, jc: Int, pc: Int, kc: Int,
            bBlock: UnsafePointer<Float>, panelStride: Int,
            aPack: UnsafeMutablePointer<Float>, base: frugal_sgemm_epilogue
        ) {
            let mr = kernel.mr, nr = kernel.nr
            var e = base
            var ic = rows.lowerBound
            while ic < rows.upperBound {
                let mc = min(kernel.mc, rows.upperBound - ic)
                SGEMMPacking.packA(a, i0: ic, rows: mc, p0: pc, kc: kc, mr: mr, into: aPack)
                for q in panels {
                    let j = jc + q * nr, w = min(nr, n - j)
                    let bp = bBlock + q * panelStride
                    var ir = 0
                    while ir < mc {
                        let rr = min(mr, mc - ir)
                        tileEpilogue(&e, i: ic + ir, j: j)
                        kernel.tile(
                            mr: rr, nr: w, kc: kc, a: aPack + ir * kc, b: bp, ldb: nr,
                            c: c + (ic + ir) * ldc + j, ldc: ldc, epilogue: &e)
                        ir += mr
                    }
                }
                ic += mc
            }
        }
    }
}
