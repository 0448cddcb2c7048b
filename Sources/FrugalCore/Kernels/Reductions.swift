import Foundation

// Reductions over a set of axes (ONNX ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum,
// keepdims, negative axes, empty sets) and ArgMax / ArgMin along one axis (int64 output).
//
// The input shape is collapsed into alternating runs of kept and reduced dimensions. The
// innermost run is handled with a contiguous loop: a horizontal reduction when it is
// reduced, a vertical row-combine (out[j] op= in[j]) when it is kept. Work is split over
// output elements only, so threads never share an output.

/// A reduction over axes.
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, mean, max, min, prod, sumSquare, l1, l2, logSum

    /// Value of the reduction over an empty set (ONNX: sum 0, prod 1, max -inf, min +inf).
    var identity: Float {
        switch self {
        case .max: return -.infinity
        case .min: return .infinity
        case .prod: return 1
        default: return 0
        }
    }
}

/// Reduction kernels.
public enum Reduction {
    /// Reduces `input` of `shape` over `axes` (normalised, 0..<rank, distinct) into `output`,
    /// which holds the kept dimensions in order (its element count is the product of the
    /// kept dims). Mean of nothing is NaN, logSum of nothing is -inf.
    public static func reduce(
        _ op: ReduceOp, input: UnsafePointer<Float>, shape: Shape, axes: Set<Int>,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil
    ) {
        // Collapse into runs: (length, reduced?); input strides follow from C order.
        var runs: [(len: Int, reduced: Bool)] = []
        for (i, d) in shape.dims.enumerated() where d != 1 {
            let r = axes.contains(i)
            if let last = runs.last, last.reduced == r { runs[runs.count - 1].len *= d } else { runs.append((d, r)) }
        }
        let reducedCount = shape.dims.enumerated().reduce(1) { axes.contains($1.offset) ? $0 * $1.element : $0 }
        let outCount = shape.dims.enumerated().reduce(1) { axes.contains($1.offset) ? $0 : $0 * $1.element }
        if outCount == 0 { return }
        if runs.isEmpty { runs = [(1, false)] }
        var inStride = [Int](repeating: 1, count: runs.count)
        for i in stride(from: runs.count - 2, through: 0, by: -1) { inStride[i] = inStride[i + 1] * runs[i + 1].len }
        let inner = runs.last!, innerLen = inner.len
        // Outer kept runs (iterated by output index) and outer reduced runs (odometer).
        let outer = runs.dropLast().indices
        let keptDims = outer.filter { !runs[$0].reduced }.map { runs[$0].len }
        let keptStrides = outer.filter { !runs[$0].reduced }.map { inStride[$0] }
        let redDims = outer.filter { runs[$0].reduced }.map { runs[$0].len }
        let redStrides = outer.filter { runs[$0].reduced }.map { inStride[$0] }
        let keptItems = keptDims.reduce(1, *)
        let redItems = redDims.reduce(1, *)
        let ident = op.identity
        let rowLen = inner.reduced ? 1 : innerLen
        let cost = Swift.max(1, reducedCount / 4)

        KernelSupport.forRanges(keptItems, costPerItem: cost * rowLen, pool: pool) { range in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(1, redDims.count)) { idx in
                for item in range {
                    // Input offset of this output item from its kept-run coordinates.
                    var rem = item, base = 0
                    for k in stride(from: keptDims.count - 1, through: 0, by: -1) {
                        base += (rem % keptDims[k]) * keptStrides[k]
                        rem /= keptDims[k]
                    }
                    let out = output + item * rowLen
                    for j in 0..<rowLen { out[j] = ident }
                    for k in 0..<redDims.count { idx[k] = 0 }
                    var off = base
                    for _ in 0..<redItems {
                        let p = input + off
                        if inner.reduced {
                            out[0] = combine(op, out[0], horizontal(op, p, innerLen))
                        } else {
                            vertical(op, out, p, innerLen)
                        }
                        var k = redDims.count - 1
                        while k >= 0 {
                            idx[k] += 1
                            off += redStrides[k]
                            if idx[k] < redDims[k] { break }
                            off -= redStrides[k] * redDims[k]
                            idx[k] = 0
                            k -= 1
                        }
                    }
                    finish(op, out, rowLen, count: reducedCount)
                }
            }
        }
    }

    @inline(__always)
    static func combine(_ op: ReduceOp, _ a: Float, _ b: Float) -> Float {
        switch op {
        case .max: return b > a || b.isNaN ? b : a
        case .min: return b < a || b.isNaN ? b : a
        case .prod: return a * b
        default: return a + b
        }
    }

    /// Reduction of a contiguous run (NaN-propagating for max / min).
    static func horizontal(_ op: ReduceOp, _ p: UnsafePointer<Float>, _ n: Int) -> Float {
        switch op {
        case .sum, .mean, .logSum: return KernelSupport.sum(p, n)
        case .sumSquare, .l2: return KernelSupport.sumOfSquares(p, n)
        case .l1:
            var s: Float = 0
            for i in 0..<n { s += Swift.abs(p[i]) }
            return s
        case .max: return extreme(p, n, max: true)
        case .min: return extreme(p, n, max: false)
        case .prod:
            var s: Float = 1
            for i in 0..<n { s *= p[i] }
            return s
        }
    }

    /// Max or min of a contiguous run in one pass; a NaN lane stays NaN (v > NaN is false).
    static func extreme(_ p: UnsafePointer<Float>, _ n: Int, max: Bool) -> Float {
        var acc = SIMD16<Float>(repeating: max ? -.infinity : .infinity)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i &+ 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            acc.replace(with: v, where: (max ? v .> acc : v .< acc) .| (v .!= v))
            i &+= 16
        }
        var m: Float = max ? -.infinity : .infinity
        for l in 0..<16 { m = combine(max ? .max : .min, m, acc[l]) }
        while i < n { m = combine(max ? .max : .min, m, p[i]); i &+= 1 }
        return m
    }

    /// out[j] = out[j] op in[j] over a contiguous row.
    static func vertical(_ op: ReduceOp, _ o: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, _ n: Int) {
        switch op {
        case .sum, .mean, .logSum: for j in 0..<n { o[j] += p[j] }
        case .sumSquare, .l2: for j in 0..<n { o[j] += p[j] * p[j] }
        case .l1: for j in 0..<n { o[j] += Swift.abs(p[j]) }
        case .prod: for j in 0..<n { o[j] *= p[j] }
        case .max: for j in 0..<n { let v = p[j]; o[j] = v > o[j] || v.isNaN ? v : o[j] }
        case .min: for j in 0..<n { let v = p[j]; o[j] = v < o[j] || v.isNaN ? v : o[j] }
        }
    }

    static func finish(_ op: ReduceOp, _ o: UnsafeMutablePointer<Float>, _ n: Int, count: Int) {
        switch op {
        case .mean:
            let s = count > 0 ? 1 / Float(count) : Float.nan
            for j in 0..<n { o[j] *= s }
        case .l2: for j in 0..<n { o[j] = o[j].squareRoot() }
        case .logSum: for j in 0..<n { o[j] = Foundation.log(o[j]) }
        default: break
        }
    }

    // MARK: Tensor API

    /// ONNX Reduce*: reduces a float32 tensor over `axes` (negative allowed); nil or empty
    /// axes reduce everything unless `noopWithEmptyAxes`, which returns the input unchanged.
    public static func reduce(
        _ op: ReduceOp, _ x: Tensor, axes: [Int]?, keepDims: Bool = true, noopWithEmptyAxes: Bool = false,
        pool: ThreadPool? = nil
    ) throws -> Tensor {
        let name = "Reduce" + op.rawValue.prefix(1).uppercased() + op.rawValue.dropFirst()
        try KernelSupport.requireFloat32(x, op: name, name: "input")
        let given = axes ?? []
        if given.isEmpty && noopWithEmptyAxes { return x }
        var set = Set<Int>()
        for a in given {
            let n = try KernelSupport.normalizeAxis(a, rank: x.rank, op: name)
            guard set.insert(n).inserted else {
                throw CoreError.invalidArgument("\(name): axis \(a) appears twice in axes \(given) for input \(x.shape); list each axis once")
            }
        }
        if given.isEmpty { set = Set(0..<x.rank) }
        var outDims: [Int] = []
        for (i, d) in x.shape.dims.enumerated() {
            if set.contains(i) { if keepDims { outDims.append(1) } } else { outDims.append(d) }
        }
        var out = try Tensor(zeros: Shape(outDims))
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) {
                reduce(op, input: xp.baseAddress!, shape: x.shape, axes: set, output: $0.baseAddress!, pool: pool)
            }
        }
        return out
    }
}
