// fp32 GEMM: B packed once for many products (weights packed at model load).
//
// Layout: ceil(n / NR) panels of NR columns, each the whole k deep (k x NR floats,
// k-major, zero-padded past n), panel q at q * k * NR. The layout does not depend on KC, so a
// k block of a panel is just an offset into it; NR is the only ISA-specific part, which is
// why the matrix remembers the kernel family it was packed for.

extension GEMM {
    /// A k×n matrix B packed in the micro-kernel layout of one ISA.
    public final class PackedB: @unchecked Sendable {
        /// Rows of op(B) (the reduction length).
        public let k: Int
        /// Columns of op(B) (columns of C).
        public let n: Int
        /// The ISA whose kernels this layout feeds.
        public var isa: KernelISA { kernel.isa }
        let kernel: SGEMMKernel
        /// Floats between the starts of two panels.
        let panelStride: Int
        private let storage: UnsafeMutablePointer<Float>
        private let count: Int

        /// Packs op(B) (k×n; stored n×k when `transB`) with leading dimension `ldb`, for the
        /// kernels of `isa` (best available when nil). `pool` splits the packing of large
        /// matrices over threads.
        public init(
            k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
            isa: KernelISA? = nil, pool: ThreadPool? = nil
        ) {
            precondition(k >= 0 && n >= 0, "PackedB: negative dimension k=\(k) n=\(n)")
            precondition(ldb >= max(1, transB ? k : n), "PackedB: ldb \(ldb) too small")
            self.k = k
            self.n = n
            kernel = SGEMMKernel.select(isa)
            let nr = kernel.nr
            let panels = (n + nr - 1) / nr
            panelStride = k * nr
            count = max(1, panels * panelStride)
            storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
            if panels == 0 || k == 0 { return }
            let src = SGEMMOperandB(base: b, ld: ldb, trans: transB)
            let dst = storage, stride = panelStride
            let tasks = k * n >= 1 << 16 ? min(pool?.threadCount ?? 1, panels) : 1
            SGEMMDriver.parallel(tasks, pool) { t in
                let (q0, q1) = SGEMMDriver.split(panels, tasks, t)
                let j0 = q0 * nr, j1 = min(n, q1 * nr)
                SGEMMPacking.packB(
                    src, p0: 0, kc: k, j0: j0, cols: j1 - j0, nr: nr,
                    into: dst + q0 * stride, panelStride: stride)
            }
        }

        deinit { storage.deallocate() }

        /// The start of panel `q` (columns q*NR ..< q*NR + NR).
        @inline(__always)
        func panel(_ q: Int) -> UnsafePointer<Float> { UnsafePointer(storage + q * panelStride) }

        /// Bytes of packed data (including the zero padding of the last panel).
        public var byteCount: Int { count * 4 }
    }
}
