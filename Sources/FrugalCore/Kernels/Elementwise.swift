import Foundation

// Binary elementwise operations with numpy / ONNX multidirectional broadcasting, for
// float32, int32, int64, int8 and uint8 (plus a closure form for any element types). A ``BroadcastPlan`` collapses the two input shapes into as few
// dimensions as possible (dropping size-1 output dimensions and merging runs that are
// contiguous in both inputs), so same-shape, scalar and per-channel operands all end up as
// one contiguous inner loop whose operands are each a vector or a scalar.

/// A binary elementwise operation.
public enum BinaryOp: String, Sendable, CaseIterable {
    case add, sub, mul, div, pow, max, min
}

/// The precomputed iteration plan of one broadcasting binary operation (cacheable per node).
public struct BroadcastPlan: Sendable, Equatable {
    /// The broadcast output shape.
    public let outputShape: Shape
    /// Collapsed outer dimensions (all but the innermost run) and the element strides of
    /// each input along them.
    let outerDims: [Int], aStrides: [Int], bStrides: [Int]
    /// Length of the innermost run, and whether each input advances along it (stride 1) or
    /// repeats one value (stride 0).
    let inner: Int, aInner: Int, bInner: Int

    /// Plans `a op b`; throws ``CoreError/shapeMismatch(_:)`` if the shapes do not broadcast.
    public init(_ a: Shape, _ b: Shape) throws {
        // Equal shapes, or one operand a single value: one run over every element (what
        // the general path below gives, without its arrays).
        let aOnes = a.dims.allSatisfy { $0 == 1 }, bOnes = b.dims.allSatisfy { $0 == 1 }
        if a == b || (bOnes && a.rank >= b.rank) || (aOnes && b.rank >= a.rank) {
            let out = a == b || (bOnes && a.rank >= b.rank) ? a : b
            let n = try out.validated()
            let varies = out.dims.contains { $0 != 1 }
            self.init(outputShape: out, outerDims: [], aStrides: [], bStrides: [], inner: varies ? n : 1,
                      aInner: varies && !aOnes ? 1 : 0, bInner: varies && !bOnes ? 1 : 0)
        } else {
            try self.init(collapsing: a, b)
        }
    }

    init(outputShape: Shape, outerDims: [Int], aStrides: [Int], bStrides: [Int], inner: Int, aInner: Int, bInner: Int) {
        self.outputShape = outputShape
        self.outerDims = outerDims
        self.aStrides = aStrides
        self.bStrides = bStrides
        self.inner = inner
        self.aInner = aInner
        self.bInner = bInner
    }

    /// The general plan: the broadcast shape's dimensions other than 1, runs contiguous in
    /// both inputs merged.
    init(collapsing a: Shape, _ b: Shape) throws {
        let out = try Shape.broadcast(a, b)
        try out.validated()
        outputShape = out
        let sa = a.broadcastStrides(to: out), sb = b.broadcastStrides(to: out)
        var dims: [Int] = [], ta: [Int] = [], tb: [Int] = []
        for i in 0..<out.rank where out[i] != 1 {
            if let last = dims.last, ta.last! == sa[i] * out[i], tb.last! == sb[i] * out[i] {
                dims[dims.count - 1] = last * out[i]
                ta[ta.count - 1] = sa[i]
                tb[tb.count - 1] = sb[i]
            } else {
                dims.append(out[i]); ta.append(sa[i]); tb.append(sb[i])
            }
        }
        if dims.isEmpty { dims = [1]; ta = [0]; tb = [0] }
        inner = dims.removeLast()
        aInner = ta.removeLast()
        bInner = tb.removeLast()
        outerDims = dims
        aStrides = ta
        bStrides = tb
    }

    /// Number of output elements.
    public var elementCount: Int { outerDims.reduce(inner, *) }
}

/// A scalar binary function, as a type so generic loops specialise on it.
protocol BinaryFunction {
    associatedtype T
    static func apply(_ a: T, _ b: T) -> T
}
enum FAdd: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum FSub: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum FMul: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
enum FDiv: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }
enum FPow: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { Foundation.pow(a, b) } }
enum FMax: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a > b || a.isNaN ? a : b } }
enum FMin: BinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a < b || a.isNaN ? a : b } }
enum IAdd<T: FixedWidthInteger>: BinaryFunction { @inline(__always) static func apply(_ a: T, _ b: T) -> T { a &+ b } }
enum ISub<T: FixedWidthInteger>: BinaryFunction { @inline(__always) static func apply(_ a: T, _ b: T) -> T { a &- b } }
enum IMul<T: FixedWidthInteger>: BinaryFunction { @inline(__always) static func apply(_ a: T, _ b: T) -> T { a &* b } }
enum IDiv<T: FixedWidthInteger>: BinaryFunction {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a.dividedReportingOverflow(by: b).partialValue }
}
enum IPow<T: FixedWidthInteger>: BinaryFunction {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { Elementwise.integerPower(a, b) }
}
enum IMax<T: FixedWidthInteger>: BinaryFunction { @inline(__always) static func apply(_ a: T, _ b: T) -> T { Swift.max(a, b) } }
enum IMin<T: FixedWidthInteger>: BinaryFunction { @inline(__always) static func apply(_ a: T, _ b: T) -> T { Swift.min(a, b) } }

/// Binary elementwise kernels.
public enum Elementwise {
    /// `output = a op b` (float32) as planned by `plan`; `output` may alias `a` or `b` only
    /// when that input has the output's shape. max/min propagate NaN.
    public static func binary(
        _ op: BinaryOp, plan: BroadcastPlan, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil
    ) {
        switch op {
        case .add: run(FAdd.self, plan, a, b, output, pool, 1)
        case .sub: run(FSub.self, plan, a, b, output, pool, 1)
        case .mul: run(FMul.self, plan, a, b, output, pool, 1)
        case .div: run(FDiv.self, plan, a, b, output, pool, 2)
        case .pow: run(FPow.self, plan, a, b, output, pool, 20)
        case .max: run(FMax.self, plan, a, b, output, pool, 1)
        case .min: run(FMin.self, plan, a, b, output, pool, 1)
        }
    }

    /// `output = a op b` (int32, wrapping on overflow); div truncates toward zero like C;
    /// x / 0 yields x (undefined in ONNX) instead of trapping; pow by squaring, x^-n = 1/x^n truncated.
    public static func binary(
        _ op: BinaryOp, plan: BroadcastPlan, a: UnsafePointer<Int32>, b: UnsafePointer<Int32>,
        output: UnsafeMutablePointer<Int32>, pool: ThreadPool? = nil
    ) {
        runInteger(op, plan, a, b, output, pool)
    }

    /// `output = a op b` (int64), with the same integer rules as the int32 version.
    public static func binary(
        _ op: BinaryOp, plan: BroadcastPlan, a: UnsafePointer<Int64>, b: UnsafePointer<Int64>,
        output: UnsafeMutablePointer<Int64>, pool: ThreadPool? = nil
    ) {
        runInteger(op, plan, a, b, output, pool)
    }

    /// `output = a op b` (int8), with the same integer rules as the int32 version.
    public static func binary(
        _ op: BinaryOp, plan: BroadcastPlan, a: UnsafePointer<Int8>, b: UnsafePointer<Int8>,
        output: UnsafeMutablePointer<Int8>, pool: ThreadPool? = nil
    ) {
        runInteger(op, plan, a, b, output, pool)
    }

    /// `output = a op b` (uint8, wrapping); div by 0 yields the dividend.
    public static func binary(
        _ op: BinaryOp, plan: BroadcastPlan, a: UnsafePointer<UInt8>, b: UnsafePointer<UInt8>,
        output: UnsafeMutablePointer<UInt8>, pool: ThreadPool? = nil
    ) {
        runInteger(op, plan, a, b, output, pool)
    }

    @inline(__always)
    static func runInteger<T: FixedWidthInteger>(
        _ op: BinaryOp, _ plan: BroadcastPlan, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
        _ output: UnsafeMutablePointer<T>, _ pool: ThreadPool?
    ) {
        switch op {
        case .add: run(IAdd<T>.self, plan, a, b, output, pool, 1)
        case .sub: run(ISub<T>.self, plan, a, b, output, pool, 1)
        case .mul: run(IMul<T>.self, plan, a, b, output, pool, 1)
        case .div: run(IDiv<T>.self, plan, a, b, output, pool, 4)
        case .pow: run(IPow<T>.self, plan, a, b, output, pool, 20)
        case .max: run(IMax<T>.self, plan, a, b, output, pool, 1)
        case .min: run(IMin<T>.self, plan, a, b, output, pool, 1)
        }
    }

    static func integerPower<T: FixedWidthInteger>(_ x: T, _ e: T) -> T {
        if e < 0 {
            // Only signed types get here; 0 &- 1 is -1 without a literal that unsigned types reject.
            let minusOne: T = 0 &- 1
            return x == 1 ? 1 : x == minusOne ? (e & 1 == 0 ? 1 : minusOne) : 0
        }
        var result: T = 1, base = x, n = e
        while n > 0 {
            if n & 1 == 1 { result = result &* base }
            base = base &* base
            n >>= 1
        }
        return result
    }

    /// One contiguous span: each operand a vector (stride 1) or a scalar (stride 0).
    /// Generic over the function type (not a closure) so that every call site, threaded or
    /// not, gets a specialised, vectorised loop.
    static func span<F: BinaryFunction>(
        _: F.Type, _ pa: UnsafePointer<F.T>, _ pb: UnsafePointer<F.T>, _ o: UnsafeMutablePointer<F.T>,
        _ count: Int, _ sa: Int, _ sb: Int
    ) {
        if sa == 1 && sb == 1 {
            for i in 0..<count { o[i] = F.apply(pa[i], pb[i]) }
        } else if sa == 1 {
            let y = pb[0]
            for i in 0..<count { o[i] = F.apply(pa[i], y) }
        } else if sb == 1 {
            let x = pa[0]
            for i in 0..<count { o[i] = F.apply(x, pb[i]) }
        } else {
            o.update(repeating: F.apply(pa[0], pb[0]), count: count)
        }
    }

    /// Walks the plan: rows of the collapsed outer dimensions, each one span. Threaded over
    /// rows, or over the inner run when there is a single row.
    static func run<F: BinaryFunction>(
        _ fn: F.Type, _ plan: BroadcastPlan, _ a: UnsafePointer<F.T>, _ b: UnsafePointer<F.T>,
        _ out: UnsafeMutablePointer<F.T>, _ pool: ThreadPool?, _ nsPerElement: Int
    ) {
        let n = plan.inner
        let rows = plan.outerDims.reduce(1, *)
        if n == 0 || rows == 0 { return }
        let sa = plan.aInner, sb = plan.bInner
        if rows == 1 {
            let block = 1024
            let blocks = (n + block - 1) / block
            KernelSupport.forRanges(blocks, costPerItem: block * nsPerElement / 2, pool: pool) { r in
                let lo = r.lowerBound * block, hi = Swift.min(n, r.upperBound * block)
                span(fn, a + lo * sa, b + lo * sb, out + lo, hi - lo, sa, sb)
            }
            return
        }
        let dims = plan.outerDims, ta = plan.aStrides, tb = plan.bStrides
        let rank = dims.count
        KernelSupport.forRanges(rows, costPerItem: n * nsPerElement / 2 + 1, pool: pool) { r in
            // Odometer over the outer dimensions, started at row r.lowerBound.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { idx in
                var rem = r.lowerBound, offA = 0, offB = 0
                for d in stride(from: rank - 1, through: 0, by: -1) {
                    idx[d] = rem % dims[d]
                    rem /= dims[d]
                    offA += idx[d] * ta[d]
                    offB += idx[d] * tb[d]
                }
                for row in r {
                    span(fn, a + offA, b + offB, out + row * n, n, sa, sb)
                    var d = rank - 1
                    while d >= 0 {
                        idx[d] += 1
                        offA += ta[d]
                        offB += tb[d]
                        if idx[d] < dims[d] { break }
                        offA -= ta[d] * dims[d]
                        offB -= tb[d] * dims[d]
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
    }

    // MARK: Tensor API

    /// `a op b` with numpy broadcasting; float32, int32, int64, int8 and uint8. Both inputs must have the same dtype.
    /// The output comes from `buffers` when given (every element is written).
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil,
                              buffers: TensorBufferPool? = nil) throws -> Tensor {
        var name: String { op.rawValue.prefix(1).uppercased() + op.rawValue.dropFirst() }
        guard a.dtype == b.dtype else {
            throw CoreError.unsupportedDType("\(name): inputs are \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape); both must have the same dtype, cast one first")
        }
        let plan: BroadcastPlan
        do { plan = try BroadcastPlan(a.shape, b.shape) } catch let CoreError.shapeMismatch(m) {
            throw CoreError.shapeMismatch("\(name): \(m)")
        }
        var out = try buffers?.uninitializedTensor(plan.outputShape, dtype: a.dtype)
            ?? Tensor(zeros: plan.outputShape, dtype: a.dtype)
        switch a.dtype {
        case .float32:
            a.withUnsafeBufferPointer(as: Float.self) { pa in
                b.withUnsafeBufferPointer(as: Float.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: Float.self) {
                        binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!, pool: pool)
                    }
                }
            }
        case .int32:
            a.withUnsafeBufferPointer(as: Int32.self) { pa in
                b.withUnsafeBufferPointer(as: Int32.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: Int32.self) {
                        binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!, pool: pool)
                    }
                }
            }
        case .int64:
            a.withUnsafeBufferPointer(as: Int64.self) { pa in
                b.withUnsafeBufferPointer(as: Int64.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: Int64.self) {
                        binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!, pool: pool)
                    }
                }
            }
        case .int8:
            a.withUnsafeBufferPointer(as: Int8.self) { pa in
                b.withUnsafeBufferPointer(as: Int8.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: Int8.self) {
                        binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!, pool: pool)
                    }
                }
            }
        case .uint8:
            a.withUnsafeBufferPointer(as: UInt8.self) { pa in
                b.withUnsafeBufferPointer(as: UInt8.self) { pb in
                    out.withUnsafeMutableBufferPointer(as: UInt8.self) {
                        binary(op, plan: plan, a: pa.baseAddress!, b: pb.baseAddress!, output: $0.baseAddress!, pool: pool)
                    }
                }
            }
        default:
            throw CoreError.unsupportedDType("\(name): \(a.dtype) inputs are not supported; use float32, int32, int64, int8 or uint8")
        }
        return out
    }

    /// `a + b` with broadcasting.
    public static func add(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.add, a, b, pool: pool) }
    /// `a - b` with broadcasting.
    public static func sub(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.sub, a, b, pool: pool) }
    /// `a * b` with broadcasting.
    public static func mul(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.mul, a, b, pool: pool) }
    /// `a / b` with broadcasting (integers truncate toward zero).
    public static func div(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.div, a, b, pool: pool) }
    /// `a ^ b` with broadcasting.
    public static func pow(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.pow, a, b, pool: pool) }
    /// Elementwise maximum with broadcasting.
    public static func max(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.max, a, b, pool: pool) }
    /// Elementwise minimum with broadcasting.
    public static func min(_ a: Tensor, _ b: Tensor, pool: ThreadPool? = nil) throws -> Tensor { try binary(.min, a, b, pool: pool) }

    // MARK: any element types

    /// `f(a, b)` elementwise with broadcasting, for element types or functions that have no
    /// vector kernel (Mod, mixed-type Pow, integer PRelu). `a` must be `A`, `b` must be `B`.
    public static func map<A: TensorScalar, B: TensorScalar, R: TensorScalar>(
        _ a: Tensor, _ b: Tensor, as _: A.Type, _: B.Type, to _: R.Type, _ f: (A, B) -> R
    ) throws -> Tensor {
        guard a.dtype == A.dtype, b.dtype == B.dtype else {
            throw CoreError.unsupportedDType("inputs are \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape); expected \(A.dtype) and \(B.dtype)")
        }
        let plan = try BroadcastPlan(a.shape, b.shape)
        var out = try Tensor(zeros: plan.outputShape, dtype: R.dtype)
        let n = plan.inner, sa = plan.aInner, sb = plan.bInner
        let dims = plan.outerDims, ta = plan.aStrides, tb = plan.bStrides
        let rows = dims.reduce(1, *)
        if n == 0 || rows == 0 { return out }
        a.withUnsafeBufferPointer(as: A.self) { pa in
            b.withUnsafeBufferPointer(as: B.self) { pb in
                out.withUnsafeMutableBufferPointer(as: R.self) { po in
                    var idx = [Int](repeating: 0, count: dims.count)
                    var offA = 0, offB = 0
                    for row in 0..<rows {
                        let o = row * n
                        for i in 0..<n { po[o + i] = f(pa[offA + i * sa], pb[offB + i * sb]) }
                        var d = dims.count - 1
                        while d >= 0 {
                            idx[d] += 1
                            offA += ta[d]
                            offB += tb[d]
                            if idx[d] < dims[d] { break }
                            offA -= ta[d] * dims[d]
                            offB -= tb[d] * dims[d]
                            idx[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }
        return out
    }
}
