// fp32 GEMM packing: copies blocks of A and B into the layouts the micro-kernels stream.
//
// Packed A: panels of `mr` rows; panel r of a block packed with depth kc starts at
//   dst + r * MR * kc and holds A[i, p] at [p * rows + i] (rows = mr, fewer in the last
//   panel: no padding, the kernels have one instantiation per row count).
// Packed B: panels of NR columns; panel q starts at dst + q * panelStride and holds
//   B[p, j] at [p * NR + j], columns past n zero-filled so that kernels load whole vectors.
// Also the per-call scratch memory (SGEMMWorkspace), recycled between calls so that large
// GEMMs do not pay page faults on freshly mapped buffers every time.
import Synchronization

/// op(A) as the packers see it: element (i, p) of the m×k operand.
struct SGEMMOperandA {
    let base: UnsafePointer<Float>
    let ld: Int
    let trans: Bool
}

/// op(B) as the packers see it: element (p, j) of the k×n operand.
struct SGEMMOperandB {
    let base: UnsafePointer<Float>
    let ld: Int
    let trans: Bool
}

enum SGEMMPacking {
    /// Packs rows i0..<i0+rows, columns p0..<p0+kc of op(A) as panels of `mr` rows.
    static func packA(
        _ a: SGEMMOperandA, i0: Int, rows: Int, p0: Int, kc: Int, mr: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        var ir = 0
        while ir < rows {
            let r = min(mr, rows - ir)
            let d = dst + ir * kc
            if a.trans {
                // A stored k×m: each k step is a contiguous run of r floats.
                var s = a.base + p0 * a.ld + (i0 + ir)
                if r == 12 {
                    var dp = UnsafeMutableRawPointer(d)
                    for _ in 0..<kc {
                        let sr = UnsafeRawPointer(s)
                        dp.storeBytes(of: sr.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                        dp.storeBytes(
                            of: sr.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self),
                            toByteOffset: 32, as: SIMD4<Float>.self)
                        s += a.ld
                        dp += 48
                    }
                } else {
                    for p in 0..<kc {
                        let dp = d + p * r
                        for i in 0..<r { dp[i] = s[i] }
                        s += a.ld
                    }
                }
            } else {
                transpose(a.base + (i0 + ir) * a.ld + p0, ld: a.ld, rows: r, depth: kc, into: d, stride: r)
            }
            ir += r
        }
    }

    /// dst[p * stride + r] = src[r * ld + p] for r < rows, p < depth: rows of the source
    /// become columns. Blocks of 4 x 4 go through SIMD registers (4 loads, 8 shuffles,
    /// 4 stores for 16 floats); leftover rows and columns are copied one by one.
    @inline(__always)
    static func transpose(
        _ src: UnsafePointer<Float>, ld: Int, rows: Int, depth: Int,
        into dst: UnsafeMutablePointer<Float>, stride: Int
    ) {
        let rows4 = rows & ~3, depth4 = depth & ~3
        var r = 0
        while r < rows4 {
            let s0 = UnsafeRawPointer(src + r * ld), s1 = s0 + ld * 4
            let s2 = s1 + ld * 4, s3 = s2 + ld * 4
            var p = 0
            while p < depth4 {
                let o = p * 4
                let a = s0.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self)
                let b = s1.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self)
                let c = s2.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self)
                let e = s3.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self)
                let lo0 = SIMD4(a[0], b[0], a[1], b[1]), lo1 = SIMD4(c[0], e[0], c[1], e[1])
                let hi0 = SIMD4(a[2], b[2], a[3], b[3]), hi1 = SIMD4(c[2], e[2], c[3], e[3])
                let d = UnsafeMutableRawPointer(dst + p * stride + r)
                let ds = stride * 4
                d.storeBytes(of: SIMD4(lo0[0], lo0[1], lo1[0], lo1[1]), as: SIMD4<Float>.self)
                d.storeBytes(of: SIMD4(lo0[2], lo0[3], lo1[2], lo1[3]), toByteOffset: ds, as: SIMD4<Float>.self)
                d.storeBytes(of: SIMD4(hi0[0], hi0[1], hi1[0], hi1[1]), toByteOffset: 2 * ds, as: SIMD4<Float>.self)
                d.storeBytes(of: SIMD4(hi0[2], hi0[3], hi1[2], hi1[3]), toByteOffset: 3 * ds, as: SIMD4<Float>.self)
                p += 4
            }
            r += 4
        }
        if depth4 < depth {
            for r in 0..<rows4 {
                for p in depth4..<depth { dst[p * stride + r] = src[r * ld + p] }
            }
        }
        for r in rows4..<rows {
            let s = src + r * ld
            var d = dst + r
            for p in 0..<depth {
                d.pointee = s[p]
                d += stride
            }
        }
    }

    /// Packs rows p0..<p0+kc, columns j0..<j0+cols of op(B) as panels of `nr` columns,
    /// panel q at dst + q * panelStride.
    static func packB(
        _ b: SGEMMOperandB, p0: Int, kc: Int, j0: Int, cols: Int, nr: Int,
        into dst: UnsafeMutablePointer<Float>, panelStride: Int
    ) {
        var full = cols / nr
        if !b.trans && nr == 32 && full > 0 {
            // Row by row across groups of 4 panels: each source row is read as a 512-byte
            // sequential run, which the hardware prefetchers follow (a panel at a time
            // would jump a row of B every 128 bytes), while the destination stays 4
            // streams (more, 64 KiB apart, would collide in the same L1 sets).
            var s0 = b.base + p0 * b.ld + j0
            var d0 = dst
            while full > 0 {
                let group = min(full, 4)
                let stride = b.ld * 4, ps = panelStride * 4
                var s = UnsafeRawPointer(s0)
                var d = UnsafeMutableRawPointer(d0)
                for _ in 0..<kc {
                    var sq = s, dq = d
                    for _ in 0..<group {
                        dq.storeBytes(of: sq.loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                        dq.storeBytes(
                            of: sq.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self),
                            toByteOffset: 64, as: SIMD16<Float>.self)
                        sq += 128
                        dq += ps
                    }
                    s += stride
                    d += 128
                }
                full -= group
                s0 += group * nr
                d0 += group * panelStride
            }
            let done = cols / nr * nr
            if done < cols {
                packBPanel(b, p0: p0, kc: kc, j0: j0 + done, width: cols - done, nr: nr,
                           into: dst + (done / nr) * panelStride)
            }
            return
        }
        var jr = 0
        while jr < cols {
            let w = min(nr, cols - jr)
            packBPanel(b, p0: p0, kc: kc, j0: j0 + jr, width: w, nr: nr, into: dst + (jr / nr) * panelStride)
            jr += nr
        }
    }

    /// Packs one panel: kc rows of `width` (<= nr) columns, zero-padded to nr.
    static func packBPanel(
        _ b: SGEMMOperandB, p0: Int, kc: Int, j0: Int, width: Int, nr: Int,
        into d: UnsafeMutablePointer<Float>
    ) {
        if b.trans {
            // B stored n×k: column j of op(B) is a contiguous row of the storage.
            if width < nr {
                for p in 0..<kc { (d + p * nr + width).update(repeating: 0, count: nr - width) }
            }
            transpose(b.base + j0 * b.ld + p0, ld: b.ld, rows: width, depth: kc, into: d, stride: nr)
        } else if width == nr && nr == 32 {
            var s = UnsafeRawPointer(b.base + p0 * b.ld + j0)
            var dp = UnsafeMutableRawPointer(d)
            let stride = b.ld * 4
            for _ in 0..<kc {
                let v0 = s.loadUnaligned(as: SIMD16<Float>.self)
                let v1 = s.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                dp.storeBytes(of: v0, as: SIMD16<Float>.self)
                dp.storeBytes(of: v1, toByteOffset: 64, as: SIMD16<Float>.self)
                s += stride
                dp += 128
            }
        } else {
            var s = b.base + p0 * b.ld + j0
            var dp = d
            for _ in 0..<kc {
                for j in 0..<width { dp[j] = s[j] }
                for j in width..<nr { dp[j] = 0 }
                s += b.ld
                dp += nr
            }
        }
    }
}

/// Scratch memory of one GEMM call: one B block shared by the tasks, one A block per task.
/// Buffers are 64-byte aligned and grow on demand; workspaces are recycled through a small
/// global cache.
final class SGEMMWorkspace: @unchecked Sendable {
    private var buffers: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    deinit { for b in buffers { b.pointer.deallocate() } }

    /// Makes buffer `slot` hold at least `count` floats (call before dispatching tasks).
    func reserve(slot: Int, count: Int) {
        while buffers.count <= slot { buffers.append((Self.allocate(16), 16)) }
        if buffers[slot].capacity < count {
            buffers[slot].pointer.deallocate()
            let cap = (count + 1023) & ~1023
            buffers[slot] = (Self.allocate(cap), cap)
        }
    }

    /// Which A buffers (slots 1...) running tasks hold, one bit each.
    private let busy = Atomic<Int>(0)

    /// Claims a free A-buffer index (0-based; the buffer is slot 1 + index). At most one
    /// task per thread runs at a time, so indices stay below the thread count.
    func acquireSlot() -> Int {
        while true {
            let v = busy.load(ordering: .relaxed)
            let i = (~v).trailingZeroBitCount
            if busy.compareExchange(expected: v, desired: v | (1 << i), ordering: .acquiring).exchanged {
                return i
            }
        }
    }

    func releaseSlot(_ i: Int) { busy.bitwiseAnd(~(1 << i), ordering: .releasing) }

    /// The buffer of `slot`, reserved before.
    @inline(__always)
    func buffer(_ slot: Int) -> UnsafeMutablePointer<Float> { buffers[slot].pointer }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    private static let cache = Mutex<[SGEMMWorkspace]>([])

    /// A workspace for one call; give it back with `recycle`.
    static func take() -> SGEMMWorkspace {
        cache.withLock { $0.popLast() } ?? SGEMMWorkspace()
    }

    /// Returns a workspace to the cache (a few are kept: one per concurrent caller).
    static func recycle(_ w: SGEMMWorkspace) {
        cache.withLock { if $0.count < 4 { $0.append(w) } }
    }
}
