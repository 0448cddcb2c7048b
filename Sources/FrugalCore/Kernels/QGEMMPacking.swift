import CFrugalKernels

/// The C micro-kernel and tile shape of one kernel family.
struct QGEMMKernels: Sendable {
    typealias Kernel = @convention(c) (
        Int, Int, Int, UnsafePointer<UInt8>?, Int, UnsafePointer<Int8>?, UnsafeMutablePointer<Int32>?, Int, UInt32
    ) -> Void
    typealias RequantRow = @convention(c) (
        UnsafePointer<Int32>?, Int, Int32, Int32, UnsafePointer<frugal_requant_params>?, UnsafeMutableRawPointer?
    ) -> Void

    /// .avx512Vnni, .avx2 or .portable (an AVX-512 CPU without VNNI uses the AVX2 kernels).
    let family: KernelISA
    let mr: Int, nr: Int
    let kernel: Kernel

    static func forISA(_ isa: KernelISA) -> QGEMMKernels {
        #if arch(x86_64)
        switch isa {
        case .avx512Vnni:
            return QGEMMKernels(family: .avx512Vnni, mr: FRUGAL_QGEMM_VNNI_MR,
                                nr: FRUGAL_QGEMM_VNNI_NR, kernel: frugal_qgemm_kernel_vnni)
        case .avx512, .avx2:
            return QGEMMKernels(family: .avx2, mr: FRUGAL_QGEMM_AVX2_MR,
                                nr: FRUGAL_QGEMM_AVX2_NR, kernel: frugal_qgemm_kernel_avx2)
        case .portable: break
        }
        #endif
        return QGEMMKernels(family: .portable, mr: FRUGAL_QGEMM_PORTABLE_MR,
                            nr: FRUGAL_QGEMM_PORTABLE_NR, kernel: frugal_qgemm_kernel_portable)
    }

    static func requantRow(for isa: KernelISA) -> RequantRow {
        #if arch(x86_64)
        switch isa {
        case .avx512Vnni, .avx512: return frugal_requant_row_avx512
        case .avx2: return frugal_requant_row_avx2
        case .portable: break
        }
        #endif
        return frugal_requant_row_portable
    }
}

extension QGEMM {
    /// Weights B (`k × n`, int8 or uint8) packed once for the int8 micro-kernels of one ISA.
    ///
    /// Layout: `ceil(n / NR)` panels of `NR` columns (zero-padded), each `ceil(k / 4)` k-quads
    /// of `NR × 4` bytes: byte `(q · NR + j) · 4 + t` is `B[4q + t, j]` (k zero-padded), 64-byte
    /// aligned. uint8 weights are stored shifted to int8 (`B − 128`, zero points too), which
    /// leaves every `(B − zeroPoint)` unchanged. Column sums are kept for the zero-point terms.
    ///
    /// ```swift
    /// let w = try QGEMM.PackedB(k: 256, n: 64, b: weights, ldb: 256, transB: true, zeroPoints: [0])
    /// try QGEMM.gemm(m: 1, a: x, lda: 256, aZeroPoint: 128, b: w, c: y, ldc: 64, pool: pool)
    /// ```
    public final class PackedB: @unchecked Sendable {
        /// Rows of B (the reduction length).
        public let k: Int
        /// Columns of B (the output channels).
        public let n: Int
        /// Kernel family the layout is for: `.avx512Vnni`, `.avx2` or `.portable`.
        public let isa: KernelISA
        /// Per-column zero points in the stored (int8) domain.
        public let zeroPoints: [Int32]
        /// Per-column sums of the stored (int8) weights.
        public let columnSums: [Int32]
        /// Whether some pair `(B[4q, j], B[4q+1, j])` or `(B[4q+2, j], B[4q+3, j])` could make
        /// AVX2's saturating `vpmaddubsw` leave int16 with some uint8 activation (same signs
        /// and `|b0 + b1| ≥ 129`). Then the AVX2 kernel uses its exact widening path. Only
        /// checked for the `.avx2` layout (always false for the others, which never saturate).
        public let pairsMaySaturate: Bool
        let kernels: QGEMMKernels
        let kq: Int
        let panelBytes: Int
        let data: UnsafeMutableRawPointer
        /// The zero point shared by every column, if they are all equal.
        let uniformZeroPoint: Int32?

        /// Packs `B` (`k × n` at `b[p · ldb + j]`, or with `transB` `n × k` at `b[j · ldb + p]`).
        /// `zeroPoints` has 1 entry (per tensor) or `n` (per column). `isa` (default: best) must
        /// be supported by this CPU. `pool` spreads the packing over threads.
        public init<W: QuantizedScalar>(
            k: Int, n: Int, b: UnsafePointer<W>, ldb: Int, transB: Bool = false,
            zeroPoints: [Int32] = [0], isa: KernelISA? = nil, pool: ThreadPool? = nil
        ) throws(CoreError) {
            guard k >= 0, n >= 0 else { throw .invalidShape("PackedB: k \(k), n \(n) must be >= 0") }
            guard ldb >= (transB ? k : n), ldb > 0 || k == 0 || n == 0 else {
                throw .invalidArgument("PackedB: ldb \(ldb) < \(transB ? "k" : "n") = \(transB ? k : n)")
            }
            guard zeroPoints.count == 1 || zeroPoints.count == n else {
                throw .shapeMismatch("PackedB: \(zeroPoints.count) zero points for \(n) columns (need 1 or \(n))")
            }
            let range = Int32(W.min)...Int32(W.max)
            guard zeroPoints.allSatisfy({ range.contains($0) }) else {
                throw .invalidArgument("PackedB: a zero point is outside the \(W.dtype) range \(range)")
            }
            let want = isa ?? .best
            guard want.isSupported else { throw .invalidArgument("PackedB: ISA \(want) is not supported by this CPU") }
            let kern = QGEMMKernels.forISA(want)
            let shift: Int32 = W.isSigned ? 0 : -128
            self.k = k
            self.n = n
            self.isa = kern.family
            kernels = kern
            kq = (k + 3) / 4
            panelBytes = max(kq, 1) * kern.nr * 4
            let zs = zeroPoints.count == 1 ? [Int32](repeating: zeroPoints[0] + shift, count: n)
                                           : zeroPoints.map { $0 + shift }
            self.zeroPoints = zs
            uniformZeroPoint = zs.allSatisfy({ $0 == zs.first }) ? (zs.first ?? 0) : nil
            let panels = (n + kern.nr - 1) / kern.nr
            data = .allocate(byteCount: max(1, panels * panelBytes), alignment: 64)
            var sums = [Int32](repeating: 0, count: n)
            var saturating = false
            let dataPtr = data, nr = kern.nr, kqv = kq, pb = panelBytes, checkPairs = kern.family == .avx2
            let flip: UInt32 = W.isSigned ? 0 : 0x8080_8080
            let src = UnsafeRawPointer(b).assumingMemoryBound(to: UInt8.self)
            sums.withUnsafeMutableBufferPointer { sb in
                let sumsPtr = sb.baseAddress
                var flags = [Bool](repeating: false, count: panels)
                flags.withUnsafeMutableBufferPointer { fb in
                    let flagPtr = fb.baseAddress!
                    // Panels are zeroed where padding is needed, then packed in contiguous groups
                    // (one per thread): k-major B is read row by row across a whole group.
                    let groups = (pool.map { panels > 1 && k * n >= 1 << 18 ? min($0.threadCount, panels) : 1 }) ?? 1
                    let body = { (g: Int) in
                        let p0 = panels * g / groups, p1 = panels * (g + 1) / groups
                        for p in p0..<p1 where p * nr + nr > n || kqv * 4 != k || kqv == 0 {
                            (dataPtr + p * pb).initializeMemory(as: UInt8.self, repeating: 0, count: pb)
                        }
                        let dst = dataPtr.assumingMemoryBound(to: UInt32.self)
                        if transB {
                            for p in p0..<p1 {
                                QGEMMPacking.packColumns(src, ld: ldb, k: k, j0: p * nr, width: min(nr, n - p * nr), nr: nr,
                                                         flip: flip, dst: dst + p * (pb / 4), sums: sumsPtr! + p * nr)
                            }
                        } else {
                            QGEMMPacking.packRows(src, ld: ldb, k: k, n: n, panels: p0..<p1, nr: nr, panelWords: pb / 4,
                                                  flip: flip, dst: dst, sums: sumsPtr!)
                        }
                        if checkPairs {
                            for p in p0..<p1 { flagPtr[p] = QGEMMPacking.pairsMaySaturate(dst + p * (pb / 4), words: kqv * nr) }
                        }
                    }
                    if let pool, groups > 1 { pool.parallelFor(groups, body) } else { body(0) }
                }
                saturating = flags.contains(true)
            }
            columnSums = sums
            pairsMaySaturate = saturating
        }

        deinit { data.deallocate() }
    }
}

/// The packing loops (Swift, no ISA-specific code).
enum QGEMMPacking {
    /// B stored k-major (`src[p · ld + j]`): interleaves 4 rows into k-quads and sums the
    /// columns, for a range of panels (`dst` and `sums` are the bases of the whole matrix).
    /// `flip` (0 or 0x80808080) turns uint8 into int8 (`x − 128`).
    static func packRows(_ src: UnsafePointer<UInt8>, ld: Int, k: Int, n: Int, panels: Range<Int>, nr: Int,
                         panelWords: Int, flip: UInt32, dst: UnsafeMutablePointer<UInt32>,
                         sums: UnsafeMutablePointer<Int32>) {
        let fullQuads = k / 4
        let fb = UInt8(truncatingIfNeeded: flip)
        let c0 = panels.lowerBound * nr, c1 = min(n, panels.upperBound * nr)
        for j in c0..<c1 { sums[j] = 0 }
        // 16 columns at a time with SSE2-width vectors (byte/word unpacks); their sums are kept
        // as UInt16 sums of (b + 128) and folded into `sums` every 64 quads (64·4·255 < 2^16).
        withUnsafeTemporaryAllocation(of: SIMD8<UInt16>.self, capacity: max(1, (c1 - c0) / 8)) { acc in
            acc.initialize(repeating: .zero)
            let flipVector = SIMD16<UInt8>(repeating: fb)
            var pending = 0
            func flush() {
                for p in panels {
                    let jb = p * nr, vectors = (min(nr, n - jb) / 16) * 2
                    for v in 0..<vectors {
                        let i = (jb - c0) / 8 + v
                        for l in 0..<8 { sums[jb + v * 8 + l] &+= Int32(acc[i][l]) - 512 * Int32(pending) }
                        acc[i] = .zero
                    }
                }
                pending = 0
            }
            for q in 0..<fullQuads {
                let r0 = src + 4 &* q &* ld, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld
                for p in panels {
                    let jb = p &* nr, width = min(nr, n &- jb)
                    let d = dst + (p &* panelWords &+ q &* nr)
                    var j = 0
                    while j &+ 16 <= width {
                        let i = (jb &- c0 &+ j) / 8
                        interleave16(r0 + (jb &+ j), r1 + (jb &+ j), r2 + (jb &+ j), r3 + (jb &+ j), flip: flipVector,
                                     dst: UnsafeMutableRawPointer(d + j), sums: acc.baseAddress! + i)
                        j &+= 16
                    }
                    let s = sums + jb
                    let a0 = r0 + jb, a1 = r1 + jb, a2 = r2 + jb, a3 = r3 + jb
                    while j < width {
                        let b0 = a0[j] ^ fb, b1 = a1[j] ^ fb, b2 = a2[j] ^ fb, b3 = a3[j] ^ fb
                        d[j] = UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16 | UInt32(b3) << 24
                        s[j] &+= Int32(Int8(bitPattern: b0)) &+ Int32(Int8(bitPattern: b1))
                            &+ Int32(Int8(bitPattern: b2)) &+ Int32(Int8(bitPattern: b3))
                        j &+= 1
                    }
                }
                pending += 1
                if pending == 64 { flush() }
            }
            flush()
        }
        if fullQuads * 4 < k {
            for t in 0..<(k - fullQuads * 4) {
                let r = src + (fullQuads * 4 + t) * ld
                for p in panels {
                    let jb = p * nr, width = min(nr, n - jb)
                    let d = UnsafeMutableRawPointer(dst + p * panelWords + fullQuads * nr).assumingMemoryBound(to: UInt8.self)
                    for j in 0..<width {
                        d[j * 4 + t] = r[jb + j] ^ fb
                        sums[jb + j] &+= Int32(Int8(bitPattern: r[jb + j] ^ fb))
                    }
                }
            }
        }
    }

    /// 4 rows x 16 columns -> 16 k-quad words (64 bytes); LLVM lowers the element shuffles to
    /// punpck{l,h}{bw,wd}. `sums[0]`, `sums[1]` accumulate (b + 128) per column.
    @inline(__always)
    static func interleave16(_ r0: UnsafePointer<UInt8>, _ r1: UnsafePointer<UInt8>, _ r2: UnsafePointer<UInt8>,
                             _ r3: UnsafePointer<UInt8>, flip: SIMD16<UInt8>, dst: UnsafeMutableRawPointer,
                             sums: UnsafeMutablePointer<SIMD8<UInt16>>) {
        let a = UnsafeRawPointer(r0).loadUnaligned(as: SIMD16<UInt8>.self) ^ flip
        let b = UnsafeRawPointer(r1).loadUnaligned(as: SIMD16<UInt8>.self) ^ flip
        let c = UnsafeRawPointer(r2).loadUnaligned(as: SIMD16<UInt8>.self) ^ flip
        let e = UnsafeRawPointer(r3).loadUnaligned(as: SIMD16<UInt8>.self) ^ flip
        let abLo = SIMD16<UInt8>(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
        let abHi = SIMD16<UInt8>(a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11],
                                 a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15])
        let ceLo = SIMD16<UInt8>(c[0], e[0], c[1], e[1], c[2], e[2], c[3], e[3], c[4], e[4], c[5], e[5], c[6], e[6], c[7], e[7])
        let ceHi = SIMD16<UInt8>(c[8], e[8], c[9], e[9], c[10], e[10], c[11], e[11],
                                 c[12], e[12], c[13], e[13], c[14], e[14], c[15], e[15])
        let p = unsafeBitCast(abLo, to: SIMD8<UInt16>.self), q = unsafeBitCast(ceLo, to: SIMD8<UInt16>.self)
        let p2 = unsafeBitCast(abHi, to: SIMD8<UInt16>.self), q2 = unsafeBitCast(ceHi, to: SIMD8<UInt16>.self)
        dst.storeBytes(of: SIMD8<UInt16>(p[0], q[0], p[1], q[1], p[2], q[2], p[3], q[3]), as: SIMD8<UInt16>.self)
        (dst + 16).storeBytes(of: SIMD8<UInt16>(p[4], q[4], p[5], q[5], p[6], q[6], p[7], q[7]), as: SIMD8<UInt16>.self)
        (dst + 32).storeBytes(of: SIMD8<UInt16>(p2[0], q2[0], p2[1], q2[1], p2[2], q2[2], p2[3], q2[3]), as: SIMD8<UInt16>.self)
        (dst + 48).storeBytes(of: SIMD8<UInt16>(p2[4], q2[4], p2[5], q2[5], p2[6], q2[6], p2[7], q2[7]), as: SIMD8<UInt16>.self)
        // Column sums of the stored signed bytes, biased by +128 to widen with zeros.
        let bias = SIMD16<UInt8>(repeating: 0x80)
        let ua = a ^ bias, ub = b ^ bias, uc = c ^ bias, ue = e ^ bias
        let lo = SIMD8<UInt16>(truncatingIfNeeded: ua.lowHalf) &+ SIMD8<UInt16>(truncatingIfNeeded: ub.lowHalf)
            &+ SIMD8<UInt16>(truncatingIfNeeded: uc.lowHalf) &+ SIMD8<UInt16>(truncatingIfNeeded: ue.lowHalf)
        let hi = SIMD8<UInt16>(truncatingIfNeeded: ua.highHalf) &+ SIMD8<UInt16>(truncatingIfNeeded: ub.highHalf)
            &+ SIMD8<UInt16>(truncatingIfNeeded: uc.highHalf) &+ SIMD8<UInt16>(truncatingIfNeeded: ue.highHalf)
        sums[0] &+= lo
        sums[1] &+= hi
    }

    /// B stored n-major (`src[j · ld + p]`, e.g. convolution weights): copies 4-byte groups
    /// and sums the columns.
    static func packColumns(_ src: UnsafePointer<UInt8>, ld: Int, k: Int, j0: Int, width: Int, nr: Int,
                            flip: UInt32, dst: UnsafeMutablePointer<UInt32>, sums: UnsafeMutablePointer<Int32>) {
        let fullQuads = k / 4
        let fb = UInt8(truncatingIfNeeded: flip)
        for j in 0..<width {
            let s = UnsafeRawPointer(src + (j0 + j) * ld)
            for q in 0..<fullQuads {
                dst[q &* nr &+ j] = s.loadUnaligned(fromByteOffset: 4 &* q, as: UInt32.self) ^ flip
            }
            if fullQuads * 4 < k {
                let d = UnsafeMutableRawPointer(dst + fullQuads * nr + j).assumingMemoryBound(to: UInt8.self)
                for t in 0..<(k - fullQuads * 4) {
                    d[t] = s.load(fromByteOffset: fullQuads * 4 + t, as: UInt8.self) ^ fb
                }
            }
            let bytes = s.assumingMemoryBound(to: UInt8.self)
            var sum: Int32 = 0
            for p in 0..<k { sum &+= Int32(Int8(bitPattern: bytes[p] ^ fb)) }
            sums[j] = sum
        }
    }

    /// Whether a byte pair (0,1) or (2,3) of some packed word can saturate vpmaddubsw:
    /// a0·b0 + a1·b1 with a in 0...255 leaves int16 iff b0, b1 share a sign and
    /// |b0 + b1| ≥ 129 (255 · 128 = 32640 fits, 255 · 129 = 32895 does not).
    static func pairsMaySaturate(_ words: UnsafePointer<UInt32>, words count: Int) -> Bool {
        @inline(__always) func pair(_ w: UInt32) -> Bool {
            let b0 = Int32(Int8(truncatingIfNeeded: w)), b1 = Int32(Int8(truncatingIfNeeded: w >> 8))
            return max(b0, 0) + max(b1, 0) >= 129 || min(b0, 0) + min(b1, 0) <= -129
        }
        var bad = false
        for i in 0..<count {
            let w = words[i]
            bad = bad || pair(w) || pair(w >> 16)
        }
        return bad
    }

    /// Row sums of a row-major uint8 A (rows `i0 ..< i0 + rows`), for the unpacked path.
    static func rowSums(_ a: UnsafePointer<UInt8>, lda: Int, k: Int, i0: Int, rows: Int,
                        into sums: UnsafeMutablePointer<Int32>) {
        for r in 0..<rows {
            let s = a + (i0 + r) * lda
            var sum: UInt32 = 0
            for p in 0..<k { sum &+= UInt32(s[p]) }
            sums[r] = Int32(bitPattern: sum)
        }
    }

    /// Packs rows `i0 ..< i0 + rows` of A into micro-panels of `mr` rows (the last may be
    /// shorter): the panel at row offset `r` starts at word `r · kq` and holds
    /// `kq` quads of `rowsInPanel` words. Returns nothing; fills `rowSums` when given.
    static func packA(_ a: UnsafePointer<UInt8>, lda: Int, transA: Bool, k: Int, kq: Int,
                      i0: Int, rows: Int, mr: Int, flip: UInt32,
                      dst: UnsafeMutablePointer<UInt32>, rowSums: UnsafeMutablePointer<Int32>?) {
        let fb = UInt8(truncatingIfNeeded: flip)
        let fullQuads = k / 4
        var r0 = 0
        while r0 < rows {
            let pr = min(mr, rows - r0)
            let d = dst + r0 * kq
            if fullQuads < kq { for r in 0..<pr { d[fullQuads * pr + r] = 0 } }
            if !transA {
                for r in 0..<pr {
                    let s = UnsafeRawPointer(a + (i0 + r0 + r) * lda)
                    var dq = d + r
                    for q in 0..<fullQuads {
                        dq.pointee = s.loadUnaligned(fromByteOffset: 4 &* q, as: UInt32.self) ^ flip
                        dq += pr
                    }
                    if fullQuads < kq {
                        let db = UnsafeMutableRawPointer(d + fullQuads * pr + r).assumingMemoryBound(to: UInt8.self)
                        for t in 0..<(k - fullQuads * 4) { db[t] = s.load(fromByteOffset: fullQuads * 4 + t, as: UInt8.self) ^ fb }
                    }
                    if let rowSums {
                        let sb = s.assumingMemoryBound(to: UInt8.self)
                        var sum: UInt32 = 0
                        for p in 0..<k { sum &+= UInt32(sb[p] ^ fb) }
                        rowSums[r0 + r] = Int32(bitPattern: sum)
                    }
                }
            } else {
                let db = UnsafeMutableRawPointer(d).assumingMemoryBound(to: UInt8.self)
                if let rowSums { for r in 0..<pr { rowSums[r0 + r] = 0 } }
                for p in 0..<k {
                    let s = a + p * lda + i0 + r0
                    let q = p >> 2, t = p & 3
                    for r in 0..<pr {
                        let v = s[r] ^ fb
                        db[(q * pr + r) * 4 + t] = v
                        rowSums?[r0 + r] &+= Int32(v)
                    }
                }
            }
            r0 += pr
        }
    }
}
