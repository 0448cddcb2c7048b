import FrugalCore
import Foundation

/// Dtype-generic data movement on raw bytes: strided N-d copies (transpose, slice, broadcast,
/// tile, pad interiors) and per-axis index gathers (pad borders, nearest resize). Elements are
/// moved as opaque blocks of `dtype.byteSize` bytes; contiguous inner runs are copied with
/// memcpy and 2-D transposes are tiled.
enum DataMovement {
    /// Copies a `shape`-shaped block: element `i` (multi-index) is read at
    /// `src + srcOffset + Σ i[k]·srcStrides[k]` and written at `dst + dstOffset + Σ i[k]·dstStrides[k]`
    /// (offsets and strides in elements; source strides may be 0 or negative).
    static func stridedCopy(src: UnsafeRawPointer, srcOffset: Int = 0, srcStrides: [Int],
                            dst: UnsafeMutableRawPointer, dstOffset: Int = 0, dstStrides: [Int],
                            shape: [Int], elementSize: Int) {
        if shape.contains(0) { return }
        // Drop size-1 dimensions, then merge dimensions that are contiguous on both sides.
        var dims: [(n: Int, s: Int, d: Int)] = []
        for k in 0..<shape.count where shape[k] != 1 { dims.append((shape[k], srcStrides[k], dstStrides[k])) }
        var merged: [(n: Int, s: Int, d: Int)] = []
        for dim in dims {
            if let last = merged.last, last.s == dim.s * dim.n, last.d == dim.d * dim.n {
                merged[merged.count - 1] = (last.n * dim.n, dim.s, dim.d)
            } else {
                merged.append(dim)
            }
        }
        let es = elementSize
        let srcBase = src + srcOffset * es
        let dstBase = dst + dstOffset * es
        guard let inner = merged.last else {
            dstBase.copyMemory(from: srcBase, byteCount: es)
            return
        }
        // A tiled 2-D transpose when the innermost written dimension is read with a stride and
        // another dimension is read contiguously.
        if inner.d == 1, inner.s != 1, merged.count >= 2,
           let k = merged.indices.dropLast().last(where: { merged[$0].s == 1 }) {
            var outer = merged
            let rows = outer.remove(at: k)
            outer.removeLast()
            forEachOffset(outer) { so, doff in
                transpose2D(src: srcBase + so * es, dst: dstBase + doff * es, rows: rows.n, cols: inner.n,
                            srcColStride: inner.s, dstRowStride: rows.d, elementSize: es)
            }
            return
        }
        let outer = Array(merged.dropLast())
        if inner.s == 1 && inner.d == 1 {
            let bytes = inner.n * es
            forEachOffset(outer) { so, doff in (dstBase + doff * es).copyMemory(from: srcBase + so * es, byteCount: bytes) }
            return
        }
        func run<T>(_: T.Type) {
            forEachOffset(outer) { so, doff in
                let s = (srcBase + so * es).assumingMemoryBound(to: T.self)
                let d = (dstBase + doff * es).assumingMemoryBound(to: T.self)
                for i in 0..<inner.n { d[i * inner.d] = s[i * inner.s] }
            }
        }
        switch es {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        case 8: run(UInt64.self)
        default:
            forEachOffset(outer) { so, doff in
                for i in 0..<inner.n {
                    (dstBase + (doff + i * inner.d) * es).copyMemory(from: srcBase + (so + i * inner.s) * es, byteCount: es)
                }
            }
        }
    }

    /// Calls `body(srcOffset, dstOffset)` for every multi-index of `dims` (C order).
    @inline(__always)
    static func forEachOffset(_ dims: [(n: Int, s: Int, d: Int)], _ body: (Int, Int) -> Void) {
        if dims.isEmpty { body(0, 0); return }
        var idx = [Int](repeating: 0, count: dims.count)
        var so = 0, doff = 0
        while true {
            body(so, doff)
            var k = dims.count - 1
            while k >= 0 {
                idx[k] += 1
                so += dims[k].s
                doff += dims[k].d
                if idx[k] < dims[k].n { break }
                so -= dims[k].s * dims[k].n
                doff -= dims[k].d * dims[k].n
                idx[k] = 0
                k -= 1
            }
            if k < 0 { return }
        }
    }

    /// dst[r·dstRowStride + c] = src[r + c·srcColStride], in 32×32 tiles.
    static func transpose2D(src: UnsafeRawPointer, dst: UnsafeMutableRawPointer, rows: Int, cols: Int,
                            srcColStride: Int, dstRowStride: Int, elementSize: Int) {
        func run<T>(_: T.Type) {
            let s = src.assumingMemoryBound(to: T.self)
            let d = dst.assumingMemoryBound(to: T.self)
            let tile = 32
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + tile, rows)
                var c0 = 0
                while c0 < cols {
                    let c1 = min(c0 + tile, cols)
                    for r in r0..<r1 {
                        let drow = d + r * dstRowStride
                        for c in c0..<c1 { drow[c] = s[r + c * srcColStride] }
                    }
                    c0 = c1
                }
                r0 = r1
            }
        }
        switch elementSize {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    /// Writes a tensor of shape `[maps[0].count, maps[1].count, ...]` (C order, contiguous) whose
    /// element at index `i` is the source element at `[maps[0][i0], maps[1][i1], ...]`, or the
    /// `fill` element (elementSize bytes) where any map entry is negative.
    static func axisGather(src: UnsafeRawPointer, srcShape: [Int], maps: [[Int]], fill: [UInt8],
                           dst: UnsafeMutableRawPointer, elementSize es: Int) {
        let r = srcShape.count
        if maps.contains(where: { $0.isEmpty }) { return }
        if r == 0 { dst.copyMemory(from: src, byteCount: es); return }
        let srcStrides = Shape(srcShape).strides.map { $0 * es }
        var dstBlock = [Int](repeating: es, count: r + 1)  // bytes of one output block below axis k
        for k in stride(from: r - 1, through: 0, by: -1) { dstBlock[k] = dstBlock[k + 1] * maps[k].count }
        let fillIsZero = fill.allSatisfy { $0 == 0 }
        func fillBytes(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
            if fillIsZero { p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes); return }
            var o = 0
            while o < bytes { fill.withUnsafeBytes { p.advanced(by: o).copyMemory(from: $0.baseAddress!, byteCount: es) }; o += es }
        }
        func level(_ k: Int, _ so: Int, _ d: UnsafeMutableRawPointer) {
            let map = maps[k]
            if k == r - 1 {
                var j = 0
                while j < map.count {
                    if map[j] < 0 { fillBytes(d + j * es, es); j += 1; continue }
                    var e = j + 1
                    while e < map.count && map[e] == map[e - 1] + 1 { e += 1 }
                    (d + j * es).copyMemory(from: src + so + map[j] * es, byteCount: (e - j) * es)
                    j = e
                }
                return
            }
            for j in 0..<map.count {
                let out = d + j * dstBlock[k + 1]
                if map[j] < 0 { fillBytes(out, dstBlock[k + 1]); continue }
                if j > 0 && map[j] == map[j - 1] {  // a repeated row: copy the one just written
                    out.copyMemory(from: out - dstBlock[k + 1], byteCount: dstBlock[k + 1])
                    continue
                }
                level(k + 1, so + map[j] * srcStrides[k], out)
            }
        }
        level(0, 0, dst)
    }

    /// A tensor with `x`'s elements broadcast to `shape` (x itself when the shapes are equal).
    static func broadcast(_ x: Tensor, to shape: Shape) throws -> Tensor {
        if x.shape == shape { return x }
        var out = try Tensor(zeros: shape, dtype: x.dtype)
        let strides = x.shape.broadcastStrides(to: shape)
        x.withUnsafeRawBytes { s in
            out.withUnsafeMutableRawBytes { d in
                stridedCopy(src: s.baseAddress!, srcStrides: strides, dst: d.baseAddress!,
                            dstStrides: shape.strides, shape: shape.dims, elementSize: x.dtype.byteSize)
            }
        }
        return out
    }

    /// `x` permuted: output dimension k is input dimension `perm[k]`.
    static func transpose(_ x: Tensor, perm: [Int]) throws -> Tensor {
        let inStrides = x.shape.strides
        let outShape = Shape(perm.map { x.shape[$0] })
        var out = try Tensor(zeros: outShape, dtype: x.dtype)
        x.withUnsafeRawBytes { s in
            out.withUnsafeMutableRawBytes { d in
                stridedCopy(src: s.baseAddress!, srcStrides: perm.map { inStrides[$0] }, dst: d.baseAddress!,
                            dstStrides: outShape.strides, shape: outShape.dims, elementSize: x.dtype.byteSize)
            }
        }
        return out
    }
}
