// fp32 GEMM driver: cache blocking, threading and edge handling around the micro-kernels.
//
// Three paths, by the number of rows m:
// - Single pass (m <= MR, batch-1 style, and k = 0): see GEMMDriverSmallM.swift.
// - Narrow (MR < m <= narrowRows): all of A for a k block is packed once (it fits L2);
//   tasks take chunks of B panels and pack 4 of them at a time just before sweeping all of
//   A over them, so B is read once, sequentially, and never round-trips through L3.
//   With a row-major A and the AVX-512 kernels, A is not packed at all: the kernels read
//   its rows in place (Job.directA), in row tiles of near-equal height.
// - Blocked (larger m): the five-loop nest described in GEMMKernel.swift. For each KC x NC
//   block, B is packed once by all threads together (one parallelFor), then C is cut into
//   row blocks (an m split, a multiple of the thread count) or, for few row panels, column
//   chunks; tasks are claimed dynamically and each packs its own block of A.
// Partial k blocks accumulate into C; bias and clamp are applied with the last k block.
// Edges need no special code: A panels may have fewer than MR rows (the kernels have one
// instantiation per row count), B panels are zero-padded, and C stores are masked.
import CFrugalKernels

/// Where op(B) comes from.
enum SGEMMSourceB {
    case plain(SGEMMOperandB)
    case packed(GEMM.PackedB)
}

enum SGEMMDriver {
    /// Below this many multiply-adds a GEMM runs on the calling thread only.
    static let parallelThreshold = 1 << 16
    /// Up to this many rows, a transposed B is multiplied by dot products (no packing).
    static let dotRows = 4
    /// Up to this many rows, the blocked path packs all of A per k block and packs B panel
    /// by panel just in time (see `narrow`).
    static let narrowRows = 192
    /// B panels packed together in the narrow path (4 x 32 columns = 512-byte row runs).
    static let narrowGroup = 4
    /// Depth of the k blocks when small-m products read B in place.
    static let directKC = 8
    /// Up to this many row panels, the narrow path reads B in place instead of packing it,
    /// prefetching `directPrefetchRows` rows ahead.
    static let directRowPanels = 2
    static let directPrefetchRows = 8
    /// Deepest k block when the kernels read A in place (nothing of A to keep in a buffer):
    /// k = 784 in one block measured ~3 % faster than two blocks of 392 (LeNet's 64x784x300).
    static let directAKC = 1024

    static func run(
        m: Int, n: Int, k: Int, a: SGEMMOperandA, b: SGEMMSourceB,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: GEMMBias, clamp: ClosedRange<Float>?, pool: ThreadPool?, kernel: SGEMMKernel,
        packedA: GEMM.PackedA? = nil
    ) {
        if m <= 0 || n <= 0 { return }
        var epilogue = clampEpilogue(clamp)
        let biasBase: UnsafePointer<Float>?
        let biasPerRow: Bool
        switch bias {
        case .none: biasBase = nil; biasPerRow = false
        case .perRow(let p): biasBase = p; biasPerRow = true
            epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_ROW)
        case .perColumn(let p): biasBase = p; biasPerRow = false
            epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_COL)
        }
        // (At most 64: task buffers are claimed through a 64-bit mask.)
        let threads = m * n * k >= parallelThreshold ? min(64, pool?.threadCount ?? 1) : 1
        let job = Job(
            m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate,
            epilogue: epilogue, biasBase: biasBase, biasPerRow: biasPerRow, kernel: kernel,
            threads: threads, pool: threads > 1 ? pool : nil, packedA: packedA)
        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        if k == 0 || m <= kernel.mr {  // (k == 0: any m)
            job.singlePass(ws)
        } else {
            job.blocked(ws)
        }
    }

    /// An epilogue that only clamps (to `clamp` when given); callers add bias and accumulate.
    static func clampEpilogue(_ clamp: ClosedRange<Float>?) -> frugal_sgemm_epilogue {
        var e = frugal_sgemm_epilogue(flags: 0, bias: nil, lo: 0, hi: 0, prefetch: 0)
        if let clamp {
            e.flags |= UInt32(FRUGAL_SGEMM_CLAMP)
            e.lo = clamp.lowerBound
            e.hi = clamp.upperBound
        }
        return e
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
        /// A packed once by the caller (then `a` is not read): no packing of A here.
        let packedA: GEMM.PackedA?

        /// Whether the single-pass and narrow paths read A in place (row-major, not
        /// transposed, and a kernel that can): no packing of A at all. Packing costs a read
        /// and a write of all of A per call, which for few rows is a large share of the work
        /// (measured on 64x784x300: 0.187 ms packed against 0.164 ms in place).
        var directA: Bool { packedA == nil && !a.trans && kernel.directA != nil }

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

        // MARK: blocked (m > MR)

        @inline(__always)
        func roundUp(_ x: Int, _ to: Int) -> Int { (x + to - 1) / to * to }

        func blocked(_ ws: SGEMMWorkspace) {
            let mr = kernel.mr, nr = kernel.nr
            let rowPanels = (m + mr - 1) / mr
            // Blocks of k and n of near-equal size (k = 600 is 2 x 300, not 512 + 88).
            let kBlocks = (k + kernel.kc - 1) / kernel.kc
            let kcStep = (k + kBlocks - 1) / kBlocks
            let nBlocks = (n + kernel.nc - 1) / kernel.nc
            let ncStep = roundUp((n + nBlocks - 1) / nBlocks, nr)
            // Tasks: row blocks of at most MC rows x column chunks. With several threads,
            // enough row panels means an m split into a multiple of the thread count of row
            // blocks (all tasks share the packed B); otherwise (small m) each row block is
            // split into column chunks, one per thread, each task repacking its few rows of
            // A. Tasks are claimed dynamically, so a core busy elsewhere just takes fewer.
            var rowBlocks = (rowPanels + kernel.mc / mr - 1) / (kernel.mc / mr)
            var colChunks = 1
            if threads > 1 {
                if rowPanels >= 4 * threads {
                    rowBlocks = min(rowPanels, roundUp(rowBlocks, threads))
                } else {
                    colChunks = threads
                }
            }
            let tasks = rowBlocks * colChunks
            var packedB: GEMM.PackedB? = nil
            if case .packed(let pb) = b { packedB = pb }
            if m <= SGEMMDriver.narrowRows {
                narrow(ws, kcStep: kcStep, ncStep: ncStep, packedB: packedB)
                return
            }
            if packedB == nil { ws.reserve(slot: 0, count: kcStep * ncStep) }
            let blockRows = (rowPanels + rowBlocks - 1) / rowBlocks * mr
            let slots = min(threads, tasks)
            for s in 0..<slots { ws.reserve(slot: 1 + s, count: packedA == nil ? blockRows * kcStep : 1) }

            var jc = 0
            while jc < n {
                let nc = min(ncStep, n - jc)
                let colPanels = (nc + nr - 1) / nr
                let chunks = min(colChunks, colPanels)
                var pc = 0
                while pc < k {
                    let kc = min(kcStep, k - pc)
                    let base = blockEpilogue(first: pc == 0, last: pc + kc == k)
                    // B block: shared packed buffer, or the caller's PackedB in place.
                    let bBlock: UnsafePointer<Float>, panelStride: Int
                    if let pb = packedB {
                        bBlock = pb.panel(jc / nr) + pc * nr
                        panelStride = pb.panelStride
                    } else {
                        guard case .plain(let ob) = b else { return }
                        let dst = ws.buffer(0)
                        let packTasks = threads == 1 ? 1 : min(colPanels, 4 * threads)
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
                    SGEMMDriver.parallel(rowBlocks * chunks, pool) { t in
                        let (r0, r1) = SGEMMDriver.split(rowPanels, rowBlocks, t / chunks)
                        let (q0, q1) = SGEMMDriver.split(colPanels, chunks, t % chunks)
                        let slot = ws.acquireSlot()
                        computeBlock(
                            rows: (r0 * mr)..<min(m, r1 * mr), panels: q0..<q1, jc: jc, pc: pc, kc: kc,
                            bBlock: bBlock, panelStride: panelStride, aPack: ws.buffer(1 + slot), base: base)
                        ws.releaseSlot(slot)
                    }
                    pc += kc
                }
                jc += nc
            }
        }

        /// Blocked path for moderate m: all of A for a k block (m x kc, at most
        /// narrowRows x KC floats) is packed once into L2-sized shared memory, then tasks
        /// take chunks of B panels, each packing a panel just before the kernels sweep all
        /// of A over it, while it is hot in L1/L2. B never makes a round trip through L3,
        /// which matters when each B element is used by few rows.
        func narrow(_ ws: SGEMMWorkspace, kcStep: Int, ncStep: Int, packedB: GEMM.PackedB?) {
            let mr = kernel.mr, nr = kernel.nr
            let rowPanels = (m + mr - 1) / mr
            let inPlace = directA
            var kcStep = kcStep
            if inPlace {
                let kBlocks = (k + SGEMMDriver.directAKC - 1) / SGEMMDriver.directAKC
                kcStep = (k + kBlocks - 1) / kBlocks
            }
            ws.reserve(slot: 0, count: packedA == nil && !inPlace ? rowPanels * mr * kcStep : 1)
            if packedB == nil {
                for s in 0..<threads { ws.reserve(slot: 1 + s, count: kcStep * nr * SGEMMDriver.narrowGroup) }
            }
            let aPack = ws.buffer(0)
            // With at most `directRowPanels` row panels, a packed B panel would feed only one or
            // two tiles: the kernels read B in place instead (rows prefetched ahead).
            var directB = SGEMMOperandB(base: aPack, ld: 0, trans: false), direct = false
            if case .plain(let ob) = b, !ob.trans, rowPanels <= SGEMMDriver.directRowPanels {
                directB = ob
                direct = true
            }
            var jc = 0
            while jc < n {
                let nc = min(ncStep, n - jc)
                let colPanels = (nc + nr - 1) / nr
                var pc = 0
                while pc < k {
                    let kc = min(kcStep, k - pc)
                    let base = blockEpilogue(first: pc == 0, last: pc + kc == k)
                    if packedA == nil && !inPlace && (jc == 0 || kc < k) {
                        let packTasks = threads == 1 ? 1 : min(rowPanels, 2 * threads)
                        SGEMMDriver.parallel(packTasks, pool) { t in
                            let (r0, r1) = SGEMMDriver.split(rowPanels, packTasks, t)
                            let i0 = r0 * mr, i1 = min(m, r1 * mr)
                            SGEMMPacking.packA(a, i0: i0, rows: i1 - i0, p0: pc, kc: kc, mr: mr, into: aPack + i0 * kc)
                        }
                    }
                    let tasks = threads == 1 ? 1 : min(colPanels, 4 * threads)
                    SGEMMDriver.parallel(tasks, pool) { t in
                        let (q0, q1) = SGEMMDriver.split(colPanels, tasks, t)
                        let slot = ws.acquireSlot()
                        var e = base
                        var ldb = nr
                        if direct {
                            e.flags |= UInt32(FRUGAL_SGEMM_DIRECT_B)
                            e.prefetch = SGEMMDriver.directPrefetchRows * directB.ld
                            ldb = directB.ld
                        }
                        var g = q0
                        while g < q1 {
                            // A group of panels packed together, row by row (sequential reads).
                            let g1 = min(q1, g + SGEMMDriver.narrowGroup)
                            let bGroup: UnsafePointer<Float>, groupStride: Int
                            switch b {
                            case .packed(let pb):
                                bGroup = pb.panel((jc / nr) + g) + pc * nr
                                groupStride = pb.panelStride
                            case .plain(let ob) where direct:
                                bGroup = ob.base + pc * ob.ld + jc + g * nr
                                groupStride = nr
                            case .plain(let ob):
                                let buf = ws.buffer(1 + slot)
                                let j0 = jc + g * nr
                                SGEMMPacking.packB(
                                    ob, p0: pc, kc: kc, j0: j0, cols: min(n, jc + g1 * nr) - j0, nr: nr,
                                    into: buf, panelStride: kc * nr)
                                bGroup = UnsafePointer(buf)
                                groupStride = kc * nr
                            }
                            for q in g..<g1 {
                                let j = jc + q * nr, w = min(nr, n - j)
                                let bp = bGroup + (q - g) * groupStride
                                if inPlace {
                                    // Row tiles of near-equal height (64 rows: 4 x 11 + 2 x 10,
                                    // not 5 x 12 + 4): no short tile with idle FMA slots.
                                    for r in 0..<rowPanels {
                                        let (i0, i1) = SGEMMDriver.split(m, rowPanels, r)
                                        tileEpilogue(&e, i: i0, j: j)
                                        kernel.tile(
                                            mr: i1 - i0, nr: w, kc: kc, a: a.base + i0 * a.ld + pc, lda: a.ld,
                                            b: bp, ldb: ldb, c: c + i0 * ldc + j, ldc: ldc, epilogue: &e)
                                    }
                                    continue
                                }
                                var ir = 0
                                while ir < m {
                                    tileEpilogue(&e, i: ir, j: j)
                                    let ap = packedA?.panel(row: ir, depth: pc) ?? UnsafePointer(aPack + ir * kc)
                                    kernel.tile(
                                        mr: min(mr, m - ir), nr: w, kc: kc, a: ap, b: bp, ldb: ldb,
                                        c: c + ir * ldc + j, ldc: ldc, epilogue: &e)
                                    ir += mr
                                }
                            }
                            g = g1
                        }
                        ws.releaseSlot(slot)
                    }
                    pc += kc
                }
                jc += nc
            }
        }

        /// One task's share of a KC x NC block: its rows of C (one A block), its B panels.
        @inline(__always)
        func computeBlock(
            rows: Range<Int>, panels: Range<Int>, jc: Int, pc: Int, kc: Int,
            bBlock: UnsafePointer<Float>, panelStride: Int,
            aPack: UnsafeMutablePointer<Float>, base: frugal_sgemm_epilogue
        ) {
            let mr = kernel.mr, nr = kernel.nr
            let ic = rows.lowerBound, mc = rows.count
            var e = base
            if packedA == nil { SGEMMPacking.packA(a, i0: ic, rows: mc, p0: pc, kc: kc, mr: mr, into: aPack) }
            for q in panels {
                let j = jc + q * nr, w = min(nr, n - j)
                let bp = bBlock + q * panelStride
                var ir = 0
                while ir < mc {
                    let rr = min(mr, mc - ir)
                    tileEpilogue(&e, i: ic + ir, j: j)
                    let ap = packedA?.panel(row: ic + ir, depth: pc) ?? UnsafePointer(aPack + ir * kc)
                    kernel.tile(
                        mr: rr, nr: w, kc: kc, a: ap, b: bp, ldb: nr,
                        c: c + (ic + ir) * ldc + j, ldc: ldc, epilogue: &e)
                    ir += mr
                }
            }
        }
    }
}
