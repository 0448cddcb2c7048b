import Foundation
import FrugalCore
import FrugalEngine

/// Convolution forward and backward for training, cut into chunks of whole images that run in
/// parallel: each chunk unfolds its images (im2col), multiplies on one thread and writes its
/// own slice of the output, so an op costs one fork/join instead of one per GEMM block.
///
/// The im2col matrix of group g is saved for the weight gradient chunk by chunk: chunk c
/// (images n0..<n1) is K rows of (n1−n0)·oH·oW columns, `ld` = that + `padding` apart (rows a
/// multiple of 4 KiB apart would all fall in the same cache sets), at g·K·cols + K·(n0·oH·oW +
/// c·padding), cols = N·oH·oW + chunks·padding. Weight and bias
/// gradients are summed per chunk and then over chunks in a fixed order, so a run depends on
/// the chunk count (a function of batch and thread count), never on which thread ran what.
enum ConvTraining {
    /// Chunks for a convolution on `threads` threads: at least two per thread (a thread that
    /// the machine slows down takes fewer), and small enough that a chunk's columns (at most
    /// about 1 MiB) are still in L2 when its product packs them.
    static func chunkCount(_ d: Conv2DDescriptor, threads: Int) -> Int {
        let K = d.groupInChannels * d.kernelHeight * d.kernelWidth
        let bytes = K * d.batch * d.outHeight * d.outWidth * 4
        return max(1, min(d.batch, max(8, 2 * threads, (bytes + (1 << 20) - 1) >> 20)))
    }

    /// Floats added to each chunk's row length.
    static let padding = 16

    @inline(__always)
    static func chunk(_ c: Int, of chunks: Int, batch: Int) -> Range<Int> {
        (batch * c / chunks)..<(batch * (c + 1) / chunks)
    }

    /// Columns per row of a chunk-major matrix (all chunks, padded).
    @inline(__always)
    static func columns(_ N: Int, _ oHW: Int, _ chunks: Int) -> Int { N * oHW + chunks * padding }

    /// Where chunk c starts in a row-block of `rows` rows, and its row stride.
    @inline(__always)
    static func place(_ c: Int, _ r: Range<Int>, rows: Int, _ oHW: Int) -> (offset: Int, ld: Int) {
        (rows * (r.lowerBound * oHW + c * padding), r.count * oHW + padding)
    }

    /// y = conv(x, w) + b; returns y [N, M, oH, oW] and (in training) the saved columns.
    static func forward(_ d: Conv2DDescriptor, x: FloatBuffer, w: FloatBuffer, bias: FloatBuffer?,
                        keepColumns: Bool, _ ctx: TapeContext) -> (FloatBuffer, FloatBuffer?) {
        let G = d.groups, Mg = d.groupOutChannels, K = d.groupInChannels * d.kernelHeight * d.kernelWidth
        let oHW = d.outHeight * d.outWidth, N = d.batch, M = d.outChannels
        let chunks = chunkCount(d, threads: ctx.pool.threadCount)
        let cols = columns(N, oHW, chunks)
        // Kept for the backward pass: all columns. Otherwise one chunk's worth per running task.
        let col = keepColumns ? FloatBuffer(uninitialized: [G * K * cols]) : nil
        let spare = ScratchStack(count: K * (((N + chunks - 1) / chunks) * oHW + padding))  // K rows of the longest chunk
        let scratch = FloatBuffer(uninitialized: [M * cols])  // per chunk [M, ld]
        let y = FloatBuffer(uninitialized: d.outputShape.dims)
        let xp = x.p, wp = w.p, colp = col?.p, sp = scratch.p, yp = y.p, bp = bias?.p
        let serial = ctx.serial
        ctx.pool.parallelFor(chunks) { c in
            let r = chunk(c, of: chunks, batch: N)
            let (colOffset, ld) = place(c, r, rows: K, oHW)
            let out = sp + place(c, r, rows: M, oHW).offset  // [M, ld]
            let own = colp == nil ? spare.pop() : nil
            defer { if let own { spare.push(own) } }
            for g in 0..<G {
                let cg = colp.map { $0 + g * K * cols + colOffset } ?? own!.p
                for n in r { TK.im2colImage(d, xp, n: n, c0: g * d.groupInChannels, cg + (n - r.lowerBound) * oHW, ld: ld) }
                GEMM.sgemm(m: Mg, n: r.count * oHW, k: K, a: wp + g * Mg * K, lda: K, b: cg, ldb: ld,
                           c: out + g * Mg * ld, ldc: ld, bias: bp.map { .perRow(UnsafePointer($0 + g * Mg)) } ?? .none, pool: serial)
            }
            for n in r {
                let src = out + (n - r.lowerBound) * oHW, dst = yp + n * M * oHW
                for m in 0..<M { (dst + m * oHW).update(from: src + m * ld, count: oHW) }
            }
        }
        return (y, col)
    }

    /// Gradients of input, weight and bias (each only when asked) from dy [N, M, oH, oW].
    static func backward(_ d: Conv2DDescriptor, x: FloatBuffer, w: FloatBuffer, dy: FloatBuffer, columns: FloatBuffer?,
                         needX: Bool, needW: Bool, needB: Bool, _ ctx: TapeContext) -> (FloatBuffer?, FloatBuffer?, FloatBuffer?) {
        let G = d.groups, Mg = d.groupOutChannels, K = d.groupInChannels * d.kernelHeight * d.kernelWidth
        let oHW = d.outHeight * d.outWidth, N = d.batch, M = d.outChannels
        let chunks = chunkCount(d, threads: ctx.pool.threadCount)
        let cols = self.columns(N, oHW, chunks)
        var col = columns
        if needW && col == nil {
            let cb = FloatBuffer(uninitialized: [G * K * cols])
            let cp = cb.p, xp = x.p
            ctx.pool.parallelFor(chunks) { c in
                let r = chunk(c, of: chunks, batch: N)
                let (colOffset, ld) = place(c, r, rows: K, oHW)
                for g in 0..<G {
                    let cg = cp + g * K * cols + colOffset
                    for n in r { TK.im2colImage(d, xp, n: n, c0: g * d.groupInChannels, cg + (n - r.lowerBound) * oHW, ld: ld) }
                }
            }
            col = cb
        }
        let dyt = FloatBuffer(uninitialized: [M * cols])  // per chunk [M, ld]
        let dwParts = needW ? FloatBuffer(uninitialized: [chunks, M * K]) : nil
        let dbParts = needB ? FloatBuffer(uninitialized: [chunks, M]) : nil
        let dx = needX ? FloatBuffer(uninitialized: x.shape) : nil
        let dcol = needX ? FloatBuffer(uninitialized: [K * cols]) : nil
        let dyp = dy.p, tp = dyt.p, wp = w.p, colp = col?.p
        let dwp = dwParts?.p, dbp = dbParts?.p, dxp = dx?.p, dcp = dcol?.p
        let serial = ctx.serial
        let planeSize = d.inChannels * d.inHeight * d.inWidth
        ctx.pool.parallelFor(chunks) { c in
            let r = chunk(c, of: chunks, batch: N)
            let (colOffset, ld) = place(c, r, rows: K, oHW)
            let t = tp + place(c, r, rows: M, oHW).offset
            for n in r {
                let src = dyp + n * M * oHW, dst = t + (n - r.lowerBound) * oHW
                for m in 0..<M { (dst + m * ld).update(from: src + m * oHW, count: oHW) }
            }
            if let dbp {
                for m in 0..<M { dbp[c * M + m] = TK.sum(t + m * ld, r.count * oHW) }
            }
            if let dwp, let colp {
                for g in 0..<G {
                    let cg = colp + g * K * cols + colOffset
                    GEMM.sgemm(m: Mg, n: K, k: r.count * oHW, a: t + g * Mg * ld, lda: ld, b: cg, ldb: ld, transB: true,
                               c: dwp + c * M * K + g * Mg * K, ldc: K, pool: serial)
                }
            }
            if let dxp, let dcp {
                (dxp + r.lowerBound * planeSize).update(repeating: 0, count: r.count * planeSize)
                let dc = dcp + colOffset  // [K, ld]
                for g in 0..<G {
                    GEMM.sgemm(m: K, n: r.count * oHW, k: Mg, a: wp + g * Mg * K, lda: K, transA: true, b: t + g * Mg * ld, ldb: ld,
                               c: dc, ldc: ld, pool: serial)
                    for n in r { TK.col2imImage(d, dc + (n - r.lowerBound) * oHW, ld: ld, n: n, c0: g * d.groupInChannels, dxp) }
                }
            }
        }
        var dw: FloatBuffer?, db: FloatBuffer?
        if let parts = dwParts { dw = TK.sumParts(parts, chunks, M * K, shape: w.shape, ctx.pool) }
        if let parts = dbParts { db = TK.sumParts(parts, chunks, M, shape: [M], nil) }
        return (dx, dw, db)
    }
}

/// Scratch buffers of one size handed to parallel tasks: a task pops one (or a new one when
/// none is free) and pushes it back when done.
final class ScratchStack: @unchecked Sendable {
    let count: Int
    private var free: [FloatBuffer] = []
    private let lock = NSLock()

    init(count: Int) { self.count = count }

    func pop() -> FloatBuffer {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? FloatBuffer(uninitialized: [count])
    }

    func push(_ b: FloatBuffer) {
        lock.lock()
        free.append(b)
        lock.unlock()
    }
}
