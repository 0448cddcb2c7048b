// fp32 GEMM driver, products with few rows (m <= MR) and k = 0: the single-pass paths.
//
// One A panel holds all of op(A) (or, with a row-major A and a kernel that can, the kernels
// read A in place: Job.directA) and tasks take ranges of C's columns; each kernel call
// covers the whole k (or short k blocks when B is streamed in place), so nothing is spent on
// absent rows and B is never packed except when it is transposed with 5+ rows:
// - PackedB: whole-k panels, one kernel call per panel.
// - B transposed (stored n×k), m <= 4: dot products of contiguous rows (no packing).
// - B transposed, 5...MR rows: each task packs one panel at a time into its buffer.
// - Plain B: read in place. With 1-2 rows there is so little work per element of B that
//   memory streaming rules, so short k blocks sweep all panels (each B row a sequential
//   stream); with more rows one whole-k pass per panel avoids reloading the C tile.
import CFrugalKernels

extension SGEMMDriver.Job {
    func singlePass(_ ws: SGEMMWorkspace) {
        let mr = kernel.mr, nr = kernel.nr
        let panels = (n + nr - 1) / nr
        let tasks = max(1, min(threads, panels))
        let base = blockEpilogue(first: true, last: true)
        if k == 0 {
            // C = epilogue(0): the kernel with an empty k loop never reads A or B.
            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                var e = base
                var ir = 0
                while ir < m {
                    for q in q0..<q1 {
                        tileEpilogue(&e, i: ir, j: q * nr)
                        kernel.tile(
                            mr: min(mr, m - ir), nr: min(nr, n - q * nr), kc: 0, a: c, b: c, ldb: 0,
                            c: c + ir * ldc + q * nr, ldc: ldc, epilogue: &e)
                    }
                    ir += mr
                }
            }
            return
        }
        if case .plain(let ob) = b, ob.trans, m <= SGEMMDriver.dotRows, packedA == nil {
            dotProducts(ws, ob)
            return
        }
        // Slot 0: all of op(A), one panel; slots 1...: a B panel per task for transposed B.
        // Or A read in place: row i at aPack + i * lda, and k step p at aPack + p * aStep.
        let aPack: UnsafePointer<Float>
        let inPlace = directA, lda = a.ld, aStep = inPlace ? 1 : m
        if inPlace {
            aPack = a.base
        } else if let pa = packedA {
            aPack = pa.panel(row: 0, depth: 0)  // m <= MR: one whole-k panel
        } else {
            ws.reserve(slot: 0, count: m * k)
            aPack = UnsafePointer(ws.buffer(0))
            SGEMMPacking.packA(a, i0: 0, rows: m, p0: 0, kc: k, mr: mr, into: ws.buffer(0))
        }
        switch b {
        case .packed(let pb):
            // Whole-k panels, contiguous: one kernel call per panel.
            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                var e = base
                for q in q0..<q1 {
                    tileEpilogue(&e, i: 0, j: q * nr)
                    tile(
                        inPlace, nr: min(nr, n - q * nr), kc: k, a: aPack, lda: lda, b: pb.panel(q), ldb: nr,
                        c: c + q * nr, epilogue: &e)
                }
            }
        case .plain(let ob) where ob.trans:
            for t in 0..<tasks { ws.reserve(slot: 1 + t, count: k * nr) }
            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                let panel = ws.buffer(1 + t)
                var e = base
                for q in q0..<q1 {
                    let w = min(nr, n - q * nr)
                    SGEMMPacking.packBPanel(ob, p0: 0, kc: k, j0: q * nr, width: w, nr: nr, into: panel)
                    tileEpilogue(&e, i: 0, j: q * nr)
                    tile(inPlace, nr: w, kc: k, a: aPack, lda: lda, b: panel, ldb: nr, c: c + q * nr, epilogue: &e)
                }
            }
        case .plain(let ob):
            // B read in place. With 1-2 rows there is so little work per B element that
            // memory streaming rules: blocks of `directKC` rows sweep all the task's
            // panels, so each of those rows is a sequential stream that the hardware
            // prefetchers follow (software prefetch measured no better). With more rows,
            // one whole-k pass per panel (prefetched 8 rows ahead) avoids reloading the C
            // tile.
            let kd = m <= 2 ? SGEMMDriver.directKC : k
            let prefetch = m <= 2 ? 0 : 8 * ob.ld
            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                var pc = 0
                while pc < k {
                    let kc = min(kd, k - pc)
                    var e = blockEpilogue(first: pc == 0, last: pc + kc == k)
                    e.flags |= UInt32(FRUGAL_SGEMM_DIRECT_B)
                    e.prefetch = prefetch
                    let bRows = ob.base + pc * ob.ld
                    for q in q0..<q1 {
                        tileEpilogue(&e, i: 0, j: q * nr)
                        tile(
                            inPlace, nr: min(nr, n - q * nr), kc: kc, a: aPack + pc * aStep, lda: lda,
                            b: bRows + q * nr, ldb: ob.ld, c: c + q * nr, epilogue: &e)
                    }
                    pc += kc
                }
            }
        }
    }

    /// One tile of all m rows: A read in place (`inPlace`, row stride lda) or packed.
    @inline(__always)
    func tile(
        _ inPlace: Bool, nr: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, epilogue e: inout frugal_sgemm_epilogue
    ) {
        if inPlace {
            kernel.tile(mr: m, nr: nr, kc: kc, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: &e)
        } else {
            kernel.tile(mr: m, nr: nr, kc: kc, a: a, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: &e)
        }
    }

    /// m <= 4 rows times a transposed B (n×k): every element of C is a dot product of
    /// two contiguous rows, so nothing of B is packed and B is read once, sequentially.
    func dotProducts(_ ws: SGEMMWorkspace, _ ob: SGEMMOperandB) {
        var rows = a.base, lda = a.ld
        if a.trans {
            // A stored k×m: make its m rows contiguous.
            ws.reserve(slot: 0, count: m * k)
            SGEMMPacking.transpose(a.base, ld: a.ld, rows: k, depth: m, into: ws.buffer(0), stride: k)
            rows = UnsafePointer(ws.buffer(0))
            lda = k
        }
        let groups = (n + 3) / 4
        let tasks = threads == 1 ? 1 : min(groups, 4 * threads)
        let base = blockEpilogue(first: true, last: true)
        SGEMMDriver.parallel(tasks, pool) { t in
            let (g0, g1) = SGEMMDriver.split(groups, tasks, t)
            var e = base
            for g in g0..<g1 {
                let j = g * 4
                tileEpilogue(&e, i: 0, j: j)
                kernel.dot(m, min(4, n - j), k, rows, lda, ob.base + j * ob.ld, ob.ld, c + j, ldc, &e)
            }
        }
    }
}
