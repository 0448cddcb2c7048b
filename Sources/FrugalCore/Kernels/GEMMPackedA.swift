// fp32 GEMM: A packed once for many products (convolution weights, the left operand of
// W · X, packed at the first run and reused).
//
// Layout: ceil(m / MR) panels of MR rows (fewer in the last), each the whole k deep and
// k-major: panel r holds A[r*MR + i, p] at r*MR*k + p*rows + i (rows = rows of that panel).
// A k block [pc, pc + kc) of a panel is then contiguous at r*MR*k + pc*rows, exactly what
// the driver's own per-call packing produces, so the kernels read it unchanged.

extension GEMM {
    /// An m×k matrix A packed in the micro-kernel layout of one ISA.
    public final class PackedA: @unchecked Sendable {
        /// Rows of op(A) (rows of C).
        public let m: Int
        /// Columns of op(A) (the reduction length).
        public let k: Int
        /// The ISA whose kernels this layout feeds.
        public var isa: KernelISA { kernel.isa }
        let kernel: SGEMMKernel
        private let storage: UnsafeMutablePointer<Float>
        private let count: Int

        /// Packs op(A) (m×k; stored k×m when `transA`) with leading dimension `lda`, for the
        /// kernels of `isa` (best available when nil). `pool` splits large packings.
        public init(
            m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
            isa: KernelISA? = nil, pool: ThreadPool? = nil
        ) {
            precondition(m >= 0 && k >= 0, "PackedA: negative dimension m=\(m) k=\(k)")
            precondition(lda >= max(1, transA ? m : k), "PackedA: lda \(lda) too small")
            self.m = m
            self.k = k
            kernel = SGEMMKernel.select(isa)
            count = max(1, m * k)
            storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
            if m == 0 || k == 0 { return }
            let src = SGEMMOperandA(base: a, ld: lda, trans: transA)
            let mr = kernel.mr, panels = (m + mr - 1) / mr
            let tasks = m * k >= 1 << 16 ? min(pool?.threadCount ?? 1, panels) : 1
            let dst = storage
            SGEMMDriver.parallel(tasks, pool) { t in
                let (r0, r1) = SGEMMDriver.split(panels, tasks, t)
                let i0 = r0 * mr, i1 = min(m, r1 * mr)
                SGEMMPacking.packA(src, i0: i0, rows: i1 - i0, p0: 0, kc: k, mr: mr, into: dst + i0 * k)
            }
        }

        deinit { storage.deallocate() }

        /// The panel holding rows `row`..< `row` + MR (`row` a multiple of MR), from column
        /// `depth` on.
        @inline(__always)
        func panel(row: Int, depth: Int) -> UnsafePointer<Float> {
            UnsafePointer(storage + row * k + depth * min(kernel.mr, m - row))
        }

        /// Bytes of packed data.
        public var byteCount: Int { count * 4 }
    }

    /// C[m×n] = A · op(B)[k×n] (+ C) (+ bias), clamped, with A pre-packed (m and k are the
    /// packed matrix's). Runs the kernels of the ISA the matrix was packed for.
    public static func sgemm(
        a: PackedA, n: Int,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool = false,
        bias: GEMMBias = .none, clamp: ClosedRange<Float>? = nil,
        pool: ThreadPool
    ) {
        precondition(n >= 0, "sgemm: negative n=\(n)")
        precondition(ldb >= max(1, transB ? a.k : n), "sgemm: ldb \(ldb) too small")
        precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) too small")
        SGEMMDriver.run(
            m: a.m, n: n, k: a.k, a: SGEMMOperandA(base: a.panel(row: 0, depth: 0), ld: max(a.k, 1), trans: false),
            b: .plain(SGEMMOperandB(base: b, ld: ldb, trans: transB)),
            c: c, ldc: ldc, accumulate: accumulate, bias: bias, clamp: clamp,
            pool: pool, kernel: a.kernel, packedA: a)
    }
}
