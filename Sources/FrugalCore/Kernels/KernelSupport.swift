// Shared pieces of the float32 neural-network kernels: the fused output clamp, dtype and
// axis checks, threading helpers and vector-friendly horizontal reductions.

/// A clamp fused onto a kernel's output: ReLU is `[0, +inf]`, ReLU6 is `[0, 6]`.
public struct OutputClamp: Sendable, Equatable {
    /// Smallest output value.
    public var lower: Float
    /// Largest output value.
    public var upper: Float

    /// A clamp to `[lower, upper]`.
    public init(lower: Float, upper: Float) {
        self.lower = lower
        self.upper = upper
    }

    /// max(x, 0).
    public static let relu = OutputClamp(lower: 0, upper: .infinity)
    /// min(max(x, 0), 6).
    public static let relu6 = OutputClamp(lower: 0, upper: 6)
}

enum KernelSupport {
    /// A pool without workers, used when the caller gives none.
    static let serialPool = ThreadPool(threadCount: 1)

    /// Throws unless `t` is float32.
    static func requireFloat32(_ t: Tensor, op: @autoclosure () -> String, name: String) throws {
        guard t.dtype == .float32 else {
            throw CoreError.unsupportedDType("\(op()): \(name) is \(t.dtype) \(t.shape); this kernel takes float32 only, convert the tensor first")
        }
    }

    /// Throws unless `t` has rank `rank`.
    static func requireRank(_ t: Tensor, _ rank: Int, op: @autoclosure () -> String, name: String, layout: String) throws {
        guard t.rank == rank else {
            throw CoreError.invalidShape("\(op()): \(name) has shape \(t.shape) (rank \(t.rank)) but must have rank \(rank) (\(layout))")
        }
    }

    /// Maps an ONNX axis in `-rank..<rank` to `0..<rank`.
    static func normalizeAxis(_ axis: Int, rank: Int, op: @autoclosure () -> String) throws -> Int {
        guard axis >= -rank, axis < rank else {
            throw CoreError.invalidArgument("\(op()): axis \(axis) is out of range for rank \(rank); use a value in \(-rank)..<\(rank)")
        }
        return axis < 0 ? axis + rank : axis
    }

    /// Runs `body` over `0..<count` split into contiguous ranges: on `pool` when the work
    /// (`count * costPerItem`, roughly nanoseconds) is worth threading, else inline.
    @inline(__always)
    static func forRanges(_ count: Int, costPerItem: Int, pool: ThreadPool?, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let threads = pool?.threadCount ?? 1
        // ~1 µs dispatch: only split work worth more than ~20 µs.
        let work = count.multipliedReportingOverflow(by: max(1, costPerItem))
        if threads == 1 || count == 1 || (!work.overflow && work.partialValue < 20_000) {
            body(0..<count)
            return
        }
        let minChunk = max(1, 10_000 / max(1, costPerItem))
        pool!.parallelChunks(count, minimumChunk: minChunk, body)
    }

    /// Splits `0..<count` into `slots` near-equal ranges and runs `body(slot, range)` for
    /// each on `pool` (inline when `slots == 1`). Used where each slot owns a workspace.
    static func forSlots(_ count: Int, slots: Int, pool: ThreadPool?, _ body: (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let s = max(1, min(slots, count))
        if s == 1 || pool == nil {
            body(0, 0..<count)
            return
        }
        pool!.parallelFor(s) { c in
            let lo = count * c / s, hi = count * (c + 1) / s
            if hi > lo { body(c, lo..<hi) }
        }
    }

    /// Sum of `n` floats with 16 independent lanes (vectorises; better rounding than a chain).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            acc += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            i &+= 16
        }
        var s = acc.sum()
        while i < n { s += p[i]; i &+= 1 }
        return s
    }

    /// Sum of squares of `n` floats.
    @inline(__always)
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            acc += v * v
            i &+= 16
        }
        var s = acc.sum()
        while i < n { s += p[i] * p[i]; i &+= 1 }
        return s
    }

    /// Sum of (x - c)^2 over `n` floats.
    @inline(__always)
    static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from c: Float) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        let cv = SIMD16<Float>(repeating: c)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - cv
            acc += v * v
            i &+= 16
        }
        var s = acc.sum()
        while i < n { let v = p[i] - c; s += v * v; i &+= 1 }
        return s
    }

    /// Largest of `n` floats; -inf when `n == 0`. NaNs are skipped.
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            acc.replace(with: v, where: v .> acc)
            i &+= 16
        }
        var m = acc.max()
        while i < n { if p[i] > m { m = p[i] }; i &+= 1 }
        return m
    }

    /// Smallest of `n` floats; +inf when `n == 0`. NaNs are skipped.
    @inline(__always)
    static func minimum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: .infinity)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            acc.replace(with: v, where: v .< acc)
            i &+= 16
        }
        var m = acc.min()
        while i < n { if p[i] < m { m = p[i] }; i &+= 1 }
        return m
    }

    /// Applies `x = min(max(x, lower), upper)` to `n` floats in place.
    @inline(__always)
    static func clamp(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ c: OutputClamp) {
        let lo = c.lower, hi = c.upper
        for i in 0..<n {
            var v = p[i]
            v = v < lo ? lo : v
            v = v > hi ? hi : v
            p[i] = v
        }
    }

    /// `ceil(a / b)` for `b > 0` and any sign of `a`.
    @inline(__always)
    static func ceilDiv(_ a: Int, _ b: Int) -> Int {
        a >= 0 ? (a + b - 1) / b : -((-a) / b)
    }

    /// The taps `k` in `0..<kernel` with `start + k * dilation` in `0..<extent`, as a range.
    @inline(__always)
    static func tapRange(start: Int, extent: Int, kernel: Int, dilation: Int) -> Range<Int> {
        if dilation == 1 {  // no division on the common path
            let lo = Swift.max(0, -start), hi = Swift.min(kernel, extent - start)
            return lo < hi ? lo..<hi : lo..<lo
        }
        let lo = start >= 0 ? 0 : ceilDiv(-start, dilation)
        let hi = min(kernel, ceilDiv(extent - start, dilation))
        return lo < hi ? lo..<hi : lo..<lo
    }
}
