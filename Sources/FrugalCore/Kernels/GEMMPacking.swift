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
                for p in 0..<kc {
                    let dp = d + p * r
                    for i in 0..<r { dp[i] = s[i] }
                    s += a.ld
                }
            } else if r == 12 {
                packRows12(a.base + (i0 + ir) * a.ld + p0, ld: a.ld, kc: kc, into: d)
            } else {
                for i in 0..<r {
                    let s = a.base + (i0 + ir + i) * a.ld + p0
                    var dp = d + i
                    for p in 0..<kc {
                        dp.pointee = s[p]
                        dp += r
                    }
                }
            }
            ir += r
        }
    }

    /// Transposes a 12-row strip of a row-major A into k-major order.
    @inline(__always)
    private static func packRows12(
        _ s: UnsafePointer<Float>, ld: Int, kc: Int, into d: UnsafeMutablePointer<Float>
    ) {
        var dp = d
        for p in 0..<kc {
            var sp = s + p
            for i in 0..<12 {
                dp[i] = sp.pointee
                sp += ld
            }
            dp += 12
        }
    }

    /// Packs rows p0..<p0+kc, columns j0..<j0+cols of op(B) as panels of `nr` columns,
    /// panel q at dst + q * panelStride.
    static func packB(
        _ b: SGEMMOperandB, p0: Int, kc: Int, j0: Int, cols: Int, nr: Int,
        into dst: UnsafeMutablePointer<Float>, panelStride: Int
    ) {
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
            for j in 0..<width {
                let s = b.base + (j0 + j) * b.ld + p0
                var dp = d + j
                for p in 0..<kc {
                    dp.pointee = s[p]
                    dp += nr
                }
            }
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
