// fp32 GEMM driver for A packed in column panels (GEMM.PackedA.Layout.columnPanels): the rows
// of C in the vector lanes, for products with few columns.
//
// A 1x1 convolution on a 7x7 map is W[M×K] · X[K×49]: laid along the 49 columns, 16-lane
// vectors are 77 % full (two 32-wide panels), while M is a multiple of 16. Here each tile
// is 32 rows of C (two vectors of a panel of A^T) by up to 12 columns broadcast from B in
// place (no packing of B at all): the columns are cut into near-equal tiles (49 = 9 + 4 x 10),
// and tasks take runs of (panel, column tile) pairs, panel-major, so that one task sweeps
// all columns over a panel while it is in L1/L2; meanwhile they prefetch the task's next
// panel into L2 (weights read once per run come from L3). Every tile covers the whole k.
import CFrugalKernels

enum SGEMMLanes {
    /// Rows of C per panel (the lanes of two vectors).
    static let mr = Int(FRUGAL_SGEMM_T_MR)
    /// Most columns per tile.
    static let nr = Int(FRUGAL_SGEMM_T_NR)
    /// Prefetch distance along B's rows (k steps ahead).
    static let prefetchRows = 8

    typealias Kernel = @convention(c) (
        Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?, Int,
        UnsafeMutablePointer<Float>?, Int, UnsafePointer<frugal_sgemm_epilogue>?, UnsafePointer<Float>?
    ) -> Void

    /// The kernel for the ISA `a` was packed for (portable C below AVX-512).
    static func kernel(_ isa: KernelISA) -> Kernel {
        isa == .avx512 || isa == .avx512Vnni ? frugal_sgemm_kernel_t_avx512 : frugal_sgemm_kernel_t_portable
    }

    /// C[m×n] = A · op(B) (+ C) (+ bias), clamped; `a` in column panels.
    static func run(
        a: GEMM.PackedA, n: Int, b: SGEMMOperandB, c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool, bias: GEMMBias, clamp: ClosedRange<Float>?, pool: ThreadPool?
    ) {
        let m = a.m, k = a.k
        if m <= 0 || n <= 0 { return }
        var epilogue = SGEMMDriver.clampEpilogue(clamp)
        if accumulate { epilogue.flags |= UInt32(FRUGAL_SGEMM_ACCUMULATE) }
        var biasRow: UnsafePointer<Float>? = nil, biasCol: UnsafePointer<Float>? = nil
        switch bias {
        case .none: break
        case .perRow(let p): biasRow = p; epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_ROW)
        case .perColumn(let p): biasCol = p; epilogue.flags |= UInt32(FRUGAL_SGEMM_BIAS_COL)
        }
        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        // The kernel reads B row-major in place; a transposed B (stored n×k) is copied to k×n.
        var bRows = b.base, ldb = b.ld
        if b.trans && k > 0 {
            ws.reserve(slot: 0, count: k * n)
            SGEMMPacking.transpose(b.base, ld: b.ld, rows: n, depth: k, into: ws.buffer(0), stride: n)
            bRows = UnsafePointer(ws.buffer(0))
            ldb = n
        }
        let kernel = kernel(a.isa)
        let panels = (m + mr - 1) / mr
        let tiles = (n + nr - 1) / nr
        let items = panels * tiles
        let threads = m * n * k >= SGEMMDriver.parallelThreshold ? min(64, pool?.threadCount ?? 1) : 1
        let tasks = threads == 1 ? 1 : min(items, 4 * threads)
        let prefetch = k > prefetchRows ? prefetchRows * ldb : 0
        SGEMMDriver.parallel(tasks, threads > 1 ? pool : nil) { t in
            let (lo, hi) = SGEMMDriver.split(items, tasks, t)
            var e = epilogue
            e.prefetch = prefetch
            for item in lo..<hi {
                let q = item / tiles, t = item % tiles, (j0, j1) = SGEMMDriver.split(n, tiles, t)
                let i = q * mr
                if let biasRow { e.bias = biasRow + i }
                if let biasCol { e.bias = biasCol + j0 }
                // Tiles 1... of a panel (in L1/L2 by then) pull the task's next panel into
                // L2, a part each; tile 0 is busy fetching its own panel.
                var next: UnsafePointer<Float>? = nil
                if t > 0 && (q + 1) * tiles < hi {
                    next = a.columnPanel(q + 1, depth: k * (t - 1) / (tiles - 1))
                }
                kernel(min(mr, m - i), j1 - j0, k, a.columnPanel(q), bRows + j0, ldb, c + i * ldc + j0, ldc, &e, next)
            }
        }
    }
}
