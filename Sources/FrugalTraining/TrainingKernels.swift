import FrugalCore
import FrugalEngine

// Loops the tape's forward and backward share: matrix products, broadcasting and its
// reduction, batched im2col / col2im, and spatial attribute resolution.

enum TK {
    /// C[m×n] (+)= op(A)·op(B), A and B as stored row-major with `lda`/`ldb` columns.
    @inline(__always)
    static func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ ta: Bool,
                     _ b: UnsafePointer<Float>, _ ldb: Int, _ tb: Bool,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false, pool: ThreadPool) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let threads = pool.threadCount
        // Large products: one slab of C per thread, each a one-thread product, so the pool
        // forks and joins once (the blocked driver joins per k block). The slab cut goes
        // across the dimension whose other operand is cheaper to pack twice.
        let splitN = m <= n
        let extent = splitN ? n : m
        guard threads > 1, m * n * k >= 1 << 18, extent >= 64 * threads else {
            GEMM.sgemm(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb,
                       c: c, ldc: ldc, accumulate: accumulate, pool: pool)
            return
        }
        let serial = serialPool
        pool.parallelFor(threads) { t in
            let lo = (extent * t / threads) & ~31, hi = t == threads - 1 ? extent : (extent * (t + 1) / threads) & ~31
            if hi <= lo { return }
            if splitN {
                GEMM.sgemm(m: m, n: hi - lo, k: k, a: a, lda: lda, transA: ta, b: tb ? b + lo * ldb : b + lo, ldb: ldb, transB: tb,
                           c: c + lo, ldc: ldc, accumulate: accumulate, pool: serial)
            } else {
                GEMM.sgemm(m: hi - lo, n: n, k: k, a: ta ? a + lo : a + lo * lda, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb,
                           c: c + lo * ldc, ldc: ldc, accumulate: accumulate, pool: serial)
            }
        }
    }

    /// A one-thread pool for the products that run inside a `parallelFor`.
    static let serialPool = ThreadPool(threadCount: 1)

    /// Strides of `shape` read as `out` (right-aligned; 0 on broadcast dimensions).
    static func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
        var s = [Int](repeating: 0, count: out.count)
        var acc = 1
        let off = out.count - shape.count
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[i] != 1 { s[i + off] = acc }
            acc *= shape[i]
        }
        return s
    }

    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        do { return try Shape.broadcast(Shape(a), Shape(b)).dims } catch {
            throw TrainingError.training("\(error)")
        }
    }

    /// Calls `body(outOffset, offsetA, offsetB)` for each innermost row of `out`; the row has
    /// `out.last` elements and the operands step by `sa`/`sb` (the last strides) along it.
    static func forEachRow(_ out: [Int], _ stA: [Int], _ stB: [Int],
                           _ body: (Int, Int, Int) -> Void) {
        let r = out.count
        if r == 0 { body(0, 0, 0); return }
        let inner = out[r - 1]
        let rows = out.reduce(1, *) / max(inner, 1)
        if out.contains(0) { return }
        var idx = [Int](repeating: 0, count: r)
        var oa = 0, ob = 0
        for row in 0..<rows {
            body(row * inner, oa, ob)
            var d = r - 2
            while d >= 0 {
                idx[d] += 1
                oa += stA[d]; ob += stB[d]
                if idx[d] < out[d] { break }
                oa -= stA[d] * out[d]; ob -= stB[d] * out[d]
                idx[d] = 0
                d -= 1
            }
        }
    }

    /// out = f(a, b) with broadcasting.
    @inline(__always)
    static func binary(_ a: FloatBuffer, _ b: FloatBuffer, _ f: (Float, Float) -> Float) throws -> FloatBuffer {
        if a.shape == b.shape {
            let y = FloatBuffer(uninitialized: a.shape)
            let ap = a.p, bp = b.p, yp = y.p
            for i in 0..<a.count { yp[i] = f(ap[i], bp[i]) }
            return y
        }
        let shape = try broadcastShape(a.shape, b.shape)
        let y = FloatBuffer(uninitialized: shape)
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let n = shape.last ?? 1, la = sa.last ?? 0, lb = sb.last ?? 0
        let ap = a.p, bp = b.p, yp = y.p
        forEachRow(shape, sa, sb) { o, oa, ob in
            if la == 1 && lb == 1 {
                for i in 0..<n { yp[o + i] = f(ap[oa + i], bp[ob + i]) }
            } else if la == 1 {
                let bv = bp[ob]
                for i in 0..<n { yp[o + i] = f(ap[oa + i], bv) }
            } else if lb == 1 {
                let av = ap[oa]
                for i in 0..<n { yp[o + i] = f(av, bp[ob + i]) }
            } else {
                for i in 0..<n { yp[o + i] = f(ap[oa + i * la], bp[ob + i * lb]) }
            }
        }
        return y
    }

    /// Sums `g` (shaped like a broadcast result) down to `shape`.
    static func reduce(_ g: FloatBuffer, to shape: [Int]) -> FloatBuffer {
        if g.shape == shape { return g }
        let r = FloatBuffer(shape: shape)
        let st = broadcastStrides(shape, to: g.shape)
        let n = g.shape.last ?? 1, l = st.last ?? 0
        let gp = g.p, rp = r.p
        forEachRow(g.shape, st, st) { o, oa, _ in
            if l == 1 {
                for i in 0..<n { rp[oa + i] += gp[o + i] }
            } else {
                var s: Float = 0
                for i in 0..<n { s += gp[o + i] }
                rp[oa] += s
            }
        }
        return r
    }

    /// Output columns `ow` whose input column `ow·stride − pad + kw·dilation` lies in 0..<W.
    @inline(__always)
    static func validColumns(_ d: Conv2DDescriptor, kw: Int) -> (lo: Int, hi: Int, shift: Int) {
        let shift = kw * d.dilationWidth - d.padLeft, sW = d.strideWidth, oW = d.outWidth
        var lo = 0, hi = oW
        while lo < oW && lo * sW + shift < 0 { lo += 1 }
        while hi > lo && (hi - 1) * sW + shift >= d.inWidth { hi -= 1 }
        return (lo, hi, shift)
    }

    /// Whether every tap of every output position falls inside the image (stride 1, no
    /// dilation, no padding): then each tap's row of columns is a run of whole image rows.
    static func everyTapInside(_ d: Conv2DDescriptor) -> Bool {
        d.strideWidth == 1 && d.strideHeight == 1 && d.dilationHeight == 1 && d.dilationWidth == 1
            && d.padTop == 0 && d.padLeft == 0
            && d.outHeight + d.kernelHeight - 1 <= d.inHeight && d.outWidth + d.kernelWidth - 1 <= d.inWidth
    }

    /// Unfolds channels `c0..<c0+Cg` of image `n` of x [N, C, H, W] into `dst`, rows of
    /// Cg·kH·kW taps (`ld` apart) by oH·oW output positions.
    static func im2colImage(_ d: Conv2DDescriptor, _ x: UnsafePointer<Float>, n: Int, c0: Int,
                            _ dst: UnsafeMutablePointer<Float>, ld: Int) {
        let kH = d.kernelHeight, kW = d.kernelWidth, H = d.inHeight, W = d.inWidth
        let oH = d.outHeight, oW = d.outWidth, sW = d.strideWidth, sH = d.strideHeight
        let plain = everyTapInside(d)
        var row = dst
        for c in 0..<d.groupInChannels {
            let plane = x + (n * d.inChannels + c0 + c) * H * W
            for kh in 0..<kH { for kw in 0..<kW {
                defer { row += ld }
                if plain {  // every tap inside the image: straight row copies
                    var src = plane + kh * W + kw, out = row
                    for _ in 0..<oH { copyShort(out, src, oW); src += W; out += oW }
                    continue
                }
                let (lo, hi, shift) = validColumns(d, kw: kw)
                for oh in 0..<oH {
                    let out = row + oh * oW
                    let ih = oh * sH - d.padTop + kh * d.dilationHeight
                    if ih < 0 || ih >= H || lo >= hi { for i in 0..<oW { out[i] = 0 }; continue }
                    for i in 0..<lo { out[i] = 0 }
                    let src = plane + ih * W + shift
                    if sW == 1 { copyShort(out + lo, src + lo, hi - lo) } else { for ow in lo..<hi { out[ow] = src[ow * sW] } }
                    for i in hi..<oW { out[i] = 0 }
                }
            } }
        }
    }

    /// Adds the columns of image `n` (rows `ld` apart, as ``im2colImage(_:_:n:c0:_:ld:)`` lays
    /// them out) into channels `c0..<c0+Cg` of dx [N, C, H, W].
    static func col2imImage(_ d: Conv2DDescriptor, _ col: UnsafePointer<Float>, ld: Int, n: Int, c0: Int,
                            _ dx: UnsafeMutablePointer<Float>) {
        let kH = d.kernelHeight, kW = d.kernelWidth, H = d.inHeight, W = d.inWidth
        let oH = d.outHeight, oW = d.outWidth, sW = d.strideWidth, sH = d.strideHeight
        let plain = everyTapInside(d)
        var row = col
        for c in 0..<d.groupInChannels {
            let plane = dx + (n * d.inChannels + c0 + c) * H * W
            for kh in 0..<kH { for kw in 0..<kW {
                defer { row += ld }
                if plain {
                    var out = plane + kh * W + kw, src = row
                    for _ in 0..<oH { addShort(out, src, oW); out += W; src += oW }
                    continue
                }
                let (lo, hi, shift) = validColumns(d, kw: kw)
                if lo >= hi { continue }
                for oh in 0..<oH {
                    let ih = oh * sH - d.padTop + kh * d.dilationHeight
                    if ih < 0 || ih >= H { continue }
                    let src = row + oh * oW
                    let out = plane + ih * W + shift
                    if sW == 1 { addShort(out + lo, src + lo, hi - lo) } else { for ow in lo..<hi { out[ow * sW] += src[ow] } }
                }
            } }
        }
    }

    /// dst[0..<n] = src[0..<n] for short rows, eight lanes at a time (no memcpy call).
    @inline(__always)
    static func copyShort(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { dst[i] = src[i]; i += 1 }
    }

    /// dst[0..<n] += src[0..<n], eight lanes at a time.
    @inline(__always)
    static func addShort(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let a = UnsafeRawPointer(dst + i).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: a + b, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { dst[i] += src[i]; i += 1 }
    }

    /// Σ p[0..<n] with sixteen partial sums (a fixed order: same input, same result).
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0 += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            acc1 += UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<Float>.self)
            i += 16
        }
        var s = (acc0 + acc1).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// Σ over `parts` rows of `length` floats, in row order, as a new buffer of `shape`.
    static func sumParts(_ parts: FloatBuffer, _ rows: Int, _ length: Int, shape: [Int], _ pool: ThreadPool?) -> FloatBuffer {
        let out = FloatBuffer(uninitialized: shape)
        let src = parts.p, dst = out.p
        let body = { (range: Range<Int>) in
            if range.isEmpty { return }
            let n = range.count
            (dst + range.lowerBound).update(from: src + range.lowerBound, count: n)
            for r in 1..<max(rows, 1) { addShort(dst + range.lowerBound, src + r * length + range.lowerBound, n) }
        }
        if let pool, length * rows >= 1 << 15 { pool.parallelChunks(length, minimumChunk: 4096, body) } else { body(0..<length) }
        return out
    }

    /// Pads [top, left, bottom, right] for 2-D spatial ops from ONNX `pads` / `auto_pad`.
    static func spatialPads(_ node: Node, inH: Int, inW: Int, kH: Int, kW: Int, strides: [Int], dilations: [Int]) throws -> [Int] {
        let auto = try node.string("auto_pad", default: "NOTSET")
        switch auto {
        case "SAME_UPPER", "SAME_LOWER":
            var p = [0, 0, 0, 0]
            for (i, (n, k)) in [(inH, kH), (inW, kW)].enumerated() {
                let out = (n + strides[i] - 1) / strides[i]
                let total = max(0, (out - 1) * strides[i] + (k - 1) * dilations[i] + 1 - n)
                let small = total / 2, big = total - small
                p[i] = auto == "SAME_UPPER" ? small : big
                p[i + 2] = auto == "SAME_UPPER" ? big : small
            }
            return p
        case "VALID": return [0, 0, 0, 0]
        default:
            let p = try node.ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4 else { throw TrainingError.model("node '\(node.name)': training supports 2-D spatial ops only (pads \(p))") }
            return p
        }
    }

    /// Conv descriptor for x [N,C,H,W] and w [M,C/g,kH,kW] from the node's attributes.
    static func convDescriptor(_ node: Node, x: [Int], w: [Int]) throws -> Conv2DDescriptor {
        guard x.count == 4, w.count == 4 else {
            throw TrainingError.model("node '\(node.name)' (Conv): training supports 2-D convolution (input \(x), weight \(w))")
        }
        let s = try node.ints("strides") ?? [1, 1], dl = try node.ints("dilations") ?? [1, 1]
        let p = try spatialPads(node, inH: x[2], inW: x[3], kH: w[2], kW: w[3], strides: s, dilations: dl)
        let d = Conv2DDescriptor(batch: x[0], inChannels: x[1], inHeight: x[2], inWidth: x[3], outChannels: w[0],
                                 kernelHeight: w[2], kernelWidth: w[3], strides: (s[0], s[1]), dilations: (dl[0], dl[1]),
                                 pads: (p[0], p[1], p[2], p[3]), groups: try node.int("group", default: 1))
        do { try d.validate() } catch { throw TrainingError.model("node '\(node.name)' (Conv): \(error)") }
        guard d.groupInChannels == w[1] else {
            throw TrainingError.model("node '\(node.name)' (Conv): input \(x) and weight \(w) do not match for group \(d.groups)")
        }
        return d
    }

    /// Pooling descriptor (2-D) from the node's attributes.
    static func poolDescriptor(_ node: Node, x: [Int]) throws -> Pool2DDescriptor {
        guard x.count == 4, let k = try node.ints("kernel_shape"), k.count == 2 else {
            throw TrainingError.model("node '\(node.name)' (\(node.opType)): training supports 2-D pooling of [N, C, H, W] inputs")
        }
        let s = try node.ints("strides") ?? [1, 1], dl = try node.ints("dilations") ?? [1, 1]
        let p = try spatialPads(node, inH: x[2], inW: x[3], kH: k[0], kW: k[1], strides: s, dilations: dl)
        return Pool2DDescriptor(batch: x[0], channels: x[1], inHeight: x[2], inWidth: x[3], kernelHeight: k[0], kernelWidth: k[1],
                                strides: (s[0], s[1]), dilations: (dl[0], dl[1]), pads: (p[0], p[1], p[2], p[3]),
                                ceilMode: try node.int("ceil_mode", default: 0) != 0)
    }

    /// Normalised axis.
    static func axis(_ a: Int, rank: Int, _ node: Node) throws -> Int {
        guard a >= -rank, a < rank else { throw TrainingError.model("node '\(node.name)' (\(node.opType)): axis \(a) out of range for rank \(rank)") }
        return a < 0 ? a + rank : a
    }

    /// Permutes x by `perm` (out dim i = in dim perm[i]).
    static func transpose(_ x: FloatBuffer, _ perm: [Int]) -> FloatBuffer {
        let outShape = perm.map { x.shape[$0] }
        let y = FloatBuffer(uninitialized: outShape)
        let inStr = Shape(x.shape).strides
        let st = perm.map { inStr[$0] }
        let zeros = [Int](repeating: 0, count: outShape.count)
        let n = outShape.last ?? 1, l = st.last ?? 0
        let xp = x.p, yp = y.p
        forEachRow(outShape, st, zeros) { o, oa, _ in
            for i in 0..<n { yp[o + i] = xp[oa + i * l] }
        }
        return y
    }
}
