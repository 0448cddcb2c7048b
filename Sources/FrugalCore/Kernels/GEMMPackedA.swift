// fp32 GEMM: A packed once for many products (convolution weights, the left operand of
// W · X, packed at the first run and reused).
//
// Layout: ceil(m / MR) panels of MR rows (fewer in the last), each the whole k deep and
// k-major: panel r holds A[r*MR + i, p] at r*MR*k + p*rows + i (rows = rows of that panel).
// A k block [pc, pc + kc) of a panel is then contiguous at r*MR*k + pc*rows, exactly what
// the driver's own per-call packing produces, so the kernels read it unchanged.
// Column panels (`Layout.columnPanels`, for products with few columns, see
// GEMMDriverLanes.swift): A^T as ceil(m / 32) panels of 32 rows of A, each k deep and
// k-major, zero padded past m: panel q holds A[q*32 + r, p] at q*32*k + p*32 + r.

extension GEMM {
    /// An m×k matrix A packed in the micro-kernel layout of one ISA.
    public final class PackedA: @unchecked Sendable {
        /// How the rows of A are laid out for the kernels.
        public enum Layout: Sendable, Equatable {
            /// Panels of MR rows, the rows of C along the tiles' rows (the default: products
            /// with many columns, the columns of C in the vector lanes).
            case rowPanels
            /// Panels of 32 rows with the rows of C in the vector lanes (products with few
            /// columns, e.g. 1x1 convolutions on 7x7 maps).
            case columnPanels
        }
        /// Rows of op(A) (rows of C).
        public let m: Int
        /// Columns of op(A) (the reduction length).
        public let k: Int
        /// The ISA whose kernels this layout feeds.
        public var isa: KernelISA { kernel.isa }
        /// The layout the matrix was packed in.
        public let layout: Layout
        let kernel: SGEMMKernel
        private let storage: UnsafeMutablePointer<Float>
        private let count: Int

        /// Packs op(A) (m×k; stored k×m when `transA`) with leading dimension `lda`, for the
        /// kernels of `isa` (best available when nil) in `layout`. `pool` splits large packings.
        public init(
            m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
            isa: KernelISA? = nil, layout: Layout = .rowPanels, pool: ThreadPool? = nil
        ) {
            precondition(m >= 0 && k >= 0, "PackedA: negative dimension m=\(m) k=\(k)")
            precondition(lda >= max(1, transA ? m : k), "PackedA: lda \(lda) too small")
            self.m = m
            self.k = k
            self.layout = layout
            kernel = SGEMMKernel.select(isa)
            let tr = SGEMMLanes.mr
            count = max(1, layout == .rowPanels ? m * k : (m + tr - 1) / tr * tr * k)
            storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
            if m == 0 || k == 0 { return }
            if layout == .columnPanels {
                // A^T (k×m) as B panels of 32 columns: op(A) stored m×k is that B transposed.
                let src = SGEMMOperandB(base: a, ld: lda, trans: !transA)
                let panels = (m + tr - 1) / tr, dst = storage, stride = k * tr
                let tasks = m * k >= 1 << 16 ? min(pool?.threadCount ?? 1, panels) : 1
                SGEMMDriver.parallel(tasks, pool) { t in
                    let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                    let j0 = q0 * tr, j1 = min(m, q1 * tr)
                    SGEMMPacking.packB(src, p0: 0, kc: k, j0: j0, cols: j1 - j0, nr: tr,
                                       into: dst + q0 * stride, panelStride: stride)
                }
                return
            }
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
            assert(layout == .rowPanels, "PackedA.panel(row:depth:) on column panels")
            return UnsafePointer(storage + row * k + depth * min(kernel.mr, m - row))
        }

        /// Column-panel layout: the panel of rows q*32 ..< q*32 + 32, from column `depth` on.
        @inline(__always)
        func columnPanel(_ q: Int, depth: Int = 0) -> UnsafePointer<Float> {
            UnsafePointer(storage + (q * k + depth) * SGEMMLanes.mr)
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
        if a.layout == .columnPanels {
            SGEMMLanes.run(a: a, n: n, b: SGEMMOperandB(base: b, ld: ldb, trans: transB), c: c, ldc: ldc,
                           accumulate: accumulate, bias: bias, clamp: clamp, pool: pool)
            return
        }
        SGEMMDriver.run(
            m: a.m, n: n, k: a.k, a: SGEMMOperandA(base: a.panel(row: 0, depth: 0), ld: max(a.k, 1), trans: false),
            b: .plain(SGEMMOperandB(base: b, ld: ldb, trans: transB)),
            c: c, ldc: ldc, accumulate: accumulate, bias: bias, clamp: clamp,
            pool: pool, kernel: a.kernel, packedA: a)
    }
}
