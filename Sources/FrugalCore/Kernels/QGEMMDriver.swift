import CFrugalKernels

/// Blocking, threading and the zero-point epilogue of the int8 GEMM.
///
/// Loop nest of one task (a rectangle of C: rows in MR units, columns in NR panels):
///   for each row block ic (MC rows): pack A[ic, all k] (+ row sums)         -> L2
///       (uint8 row-major A with k % 4 == 0 is not packed: the kernels read it in place)
///     for each column block jc (NCP panels):
///       for each k block pc (KCQ quads):
///         for each panel jp in jc:            B micro-panel (KCQ x NR x 4 bytes) -> L1
///           for each micro-panel ir in ic:    kernel(MR x NR tile)
///       epilogue on the MC x NC int32 block while it is in cache:
///         zero-point terms (int32 output) or zero-point terms + requantization (int8 output).
struct QGEMMDriver {
    enum Output {
        case int32(UnsafeMutablePointer<Int32>, ldc: Int)
        case quantized(UnsafeMutableRawPointer, ldc: Int, params: frugal_requant_params, row: QGEMMKernels.RequantRow,
                       rowChannels: RowChannels?)
    }

    /// Requantization with channels along the rows of C (NCHW convolution as W · im2col).
    struct RowChannels {
        /// Multiplier tables (`RequantTables`); entry i is row i's, or entry 0 for all rows.
        let multiplier, lshift, rshift, rmask: UnsafePointer<Int32>
        let perRow: Bool
        /// Row i's bias (entry i), one bias for all (entry 0), or none.
        let bias: UnsafePointer<Int32>?
        let biasPerRow: Bool
    }

    let m: Int
    let a: UnsafePointer<UInt8>
    let lda: Int
    let transA: Bool
    /// 0x80808080 for int8 activations (stored as A + 128), else 0.
    let aFlip: UInt32
    /// Activation zero point in the stored (uint8) domain.
    let aZero: Int32
    let b: QGEMM.PackedB

    /// Work below this many multiply-adds runs on the calling thread only.
    static let parallelThreshold = 1 << 19

    struct Blocking {
        let mc: Int, ncp: Int, kcq: Int
    }

    func blocking() -> Blocking {
        let kern = b.kernels
        // A block of MC x k bytes stays in L2 (~512 KB); B micro-panels of KCQ quads in L1.
        let (mcMax, ncp, kcq): (Int, Int, Int) = switch kern.family {
        case .avx512Vnni: (144, 8, 128)
        case .avx2: (96, 16, 128)
        default: (64, 16, 256)
        }
        let byK = (512 * 1024) / max(1, b.kq * 4) / kern.mr * kern.mr
        return Blocking(mc: max(kern.mr, min(mcMax, byK)), ncp: ncp, kcq: kcq)
    }

    /// Runs C = (A − aZero)(B − bZero) [+ bias, requantized] into `output`.
    /// `colOffset` (n entries) holds −aZero·colSum[j] + k·aZero·bZero[j] (+ bias[j]).
    func run(output: Output, colOffset: UnsafePointer<Int32>, rowBias: Int32, pool: ThreadPool) {
        let n = b.n, kern = b.kernels
        if m == 0 || n == 0 { return }
        let mTiles = (m + kern.mr - 1) / kern.mr, panels = (n + kern.nr - 1) / kern.nr
        let work = m * n * max(b.k, 1)
        let threads = work >= Self.parallelThreshold ? pool.threadCount : 1
        // 2D partition: tm x tn tasks minimising the largest task (in tiles), with a 5% penalty
        // per extra column split (every column task reads all of A; measured: at 512^3 the row
        // split scales 1.95x, the column split 1.56x); ties split rows.
        var best = (tm: 1, tn: 1, cost: Int.max)
        for tm in 1...threads where threads % tm == 0 {
            let tn = threads / tm
            if (tm > mTiles && tm > 1) || (tn > panels && tn > 1) { continue }
            let cost = ((mTiles + tm - 1) / tm) * ((panels + tn - 1) / tn) * (19 + tn)
            if cost < best.cost || (cost == best.cost && tm > best.tm) { best = (tm, tn, cost) }
        }
        let (tm, tn) = (best.tm, best.tn)
        let body = { (t: Int) in
            let ti = t / tn, tj = t % tn
            let r0 = min(m, mTiles * ti / tm * kern.mr), r1 = min(m, mTiles * (ti + 1) / tm * kern.mr)
            let p0 = panels * tj / tn, p1 = panels * (tj + 1) / tn
            if r1 > r0 && p1 > p0 {
                runTask(rows: r0..<r1, panels: p0..<p1, output: output, colOffset: colOffset, rowBias: rowBias)
            }
        }
        if tm * tn == 1 { body(0) } else { pool.parallelFor(tm * tn, body) }
    }

    private func runTask(rows: Range<Int>, panels: Range<Int>, output: Output,
                         colOffset: UnsafePointer<Int32>, rowBias: Int32) {
        let kern = b.kernels, mr = kern.mr, nr = kern.nr, kq = b.kq, n = b.n
        let blk = blocking()
        let mc = min(blk.mc, (rows.count + mr - 1) / mr * mr)
        let needRowSums = b.zeroPoints.contains { $0 != 0 }
        let uniformZero = b.uniformZeroPoint
        // Scratch: packed A block, row sums, and (int8 output) the int32 tile.
        // uint8 row-major A with k % 4 == 0 is read in place by the kernels (no packing).
        let direct = !transA && aFlip == 0 && b.k % 4 == 0
        let aWords = direct ? 0 : mc * max(kq, 1)
        let tileLd = blk.ncp * nr
        let tileCount: Int
        if case .quantized = output { tileCount = mc * tileLd } else { tileCount = 0 }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: (aWords + mc + tileCount) * 4 + 128, alignment: 64)
        defer { scratch.deallocate() }
        let apack = scratch.bindMemory(to: UInt32.self, capacity: aWords)
        let rowSums = (scratch + aWords * 4).bindMemory(to: Int32.self, capacity: mc)
        let tile = (scratch + ((aWords + mc) * 4 + 63) / 64 * 64).bindMemory(to: Int32.self, capacity: max(tileCount, 1))
        let widen: UInt32 = kern.family == .avx2 && b.pairsMaySaturate ? UInt32(FRUGAL_QGEMM_WIDEN) : 0
        let accumulate = UInt32(FRUGAL_QGEMM_ACCUMULATE)
        let directFlag: UInt32 = direct ? UInt32(FRUGAL_QGEMM_DIRECT_A) : 0
        let bytesA = UnsafeRawPointer(apack).assumingMemoryBound(to: UInt8.self)

        var ic = rows.lowerBound
        while ic < rows.upperBound {
            let mcur = min(mc, rows.upperBound - ic)
            if direct {
                if needRowSums { QGEMMPacking.rowSums(a, lda: lda, k: b.k, i0: ic, rows: mcur, into: rowSums) }
            } else {
                QGEMMPacking.packA(a, lda: lda, transA: transA, k: b.k, kq: kq, i0: ic, rows: mcur, mr: mr,
                                   flip: aFlip, dst: apack, rowSums: needRowSums ? rowSums : nil)
            }
            var jc = panels.lowerBound
            while jc < panels.upperBound {
                let ncur = min(blk.ncp, panels.upperBound - jc)
                let col0 = jc * nr, cols = min(ncur * nr, n - col0)
                let (target, ld): (UnsafeMutablePointer<Int32>, Int) = switch output {
                case .int32(let c, let ldc): (c + ic * ldc + col0, ldc)
                case .quantized: (tile, tileLd)
                }
                var pc = 0
                repeat {
                    let kcur = min(blk.kcq, kq - pc)
                    let flags = widen | directFlag | (pc > 0 ? accumulate : 0)
                    for jp in 0..<ncur {
                        let bp = (b.data + (jc + jp) * b.panelBytes + pc * nr * 4).assumingMemoryBound(to: Int8.self)
                        let nrCur = min(nr, n - (jc + jp) * nr)
                        var ir = 0
                        while ir < mcur {
                            let mrCur = min(mr, mcur - ir)
                            let ap = direct ? a + (ic + ir) * lda + pc * 4 : bytesA + (ir * kq + pc * mrCur) * 4
                            kern.kernel(mrCur, nrCur, kcur, ap, lda, bp, target + ir * ld + jp * nr, ld, flags)
                            ir += mrCur
                        }
                    }
                    pc += blk.kcq
                } while pc < kq
                epilogue(output: output, target: target, ld: ld, row0: ic, rows: mcur, col0: col0, cols: cols,
                         rowSums: needRowSums ? UnsafePointer(rowSums) : nil, uniformZero: uniformZero,
                         colOffset: colOffset, rowBias: rowBias)
                jc += ncur
            }
            ic += mcur
        }
    }

    /// Adds the zero-point terms to a finished block (and requantizes it for int8 output):
    /// C[i, j] = raw[i, j] + colOffset[j] + rowBias − rowSum[i] · bZero[j]  (wrapping Int32).
    private func epilogue(output: Output, target: UnsafeMutablePointer<Int32>, ld: Int, row0: Int, rows: Int,
                          col0: Int, cols: Int, rowSums: UnsafePointer<Int32>?, uniformZero: Int32?,
                          colOffset: UnsafePointer<Int32>, rowBias: Int32) {
        let co = colOffset + col0
        switch output {
        case .int32:
            for r in 0..<rows {
                let row = target + r * ld
                if let rowSums, uniformZero == nil {
                    let s = rowSums[r]
                    b.zeroPoints.withUnsafeBufferPointer { zb in
                        let z = zb.baseAddress! + col0
                        for j in 0..<cols { row[j] = row[j] &+ co[j] &+ rowBias &- s &* z[j] }
                    }
                } else {
                    let ro = rowBias &- (rowSums.map { $0[r] } ?? 0) &* (uniformZero ?? 0)
                    for j in 0..<cols { row[j] = row[j] &+ co[j] &+ ro }
                }
            }
        case .quantized(let dst, let ldc, var params, let requantRow, let rowChannels):
            b.zeroPoints.withUnsafeBufferPointer { zb in
                params.col_offset = co
                if rowSums != nil && uniformZero == nil { params.col_zero = zb.baseAddress! + col0 }
                if params.per_channel != 0 {
                    params.multiplier += col0
                    params.lshift += col0
                    params.rshift += col0
                    params.rmask += col0
                }
                for r in 0..<rows {
                    let s = rowSums.map { $0[r] } ?? 0
                    var ro = uniformZero != nil ? rowBias &- s &* uniformZero! : rowBias
                    if let rc = rowChannels {
                        let i = row0 + r, c = rc.perRow ? i : 0
                        params.multiplier = rc.multiplier + c
                        params.lshift = rc.lshift + c
                        params.rshift = rc.rshift + c
                        params.rmask = rc.rmask + c
                        if let bias = rc.bias { ro = ro &+ bias[rc.biasPerRow ? i : 0] }
                    }
                    requantRow(target + r * ld, cols, ro, s, &params, dst + (row0 + r) * ldc + col0)
                }
            }
        }
    }
}
