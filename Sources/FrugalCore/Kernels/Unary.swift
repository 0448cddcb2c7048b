import Foundation

// Unary float32 activations and math functions (ONNX semantics). exp, sigmoid, silu and
// tanh use a branch-free exp that the compiler vectorises (Cody-Waite reduction, degree-6
// polynomial, two-step 2^n scaling so denormal results stay right; about 1 ulp); erf,
// gelu, log, softplus, elu, the trigonometric / hyperbolic functions, selu, celu and mish
// call the C library, which is accurate to an ulp or two.

/// A unary elementwise operation.
public enum UnaryOp: Sendable, Equatable {
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case tanh, exp, log, sqrt, abs, neg, reciprocal, erf
    /// Exact GELU, x * Phi(x), via erfc.
    case gelu
    /// x * sigmoid(x) (also called Swish).
    case silu
    case softplus
    case elu(alpha: Float)
    /// Rounding: floor, ceil, and round half to even.
    case floor, ceil, round
    /// -1, 0 or 1 (NaN stays NaN).
    case sign
    case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh
    /// x / (1 + |x|).
    case softsign
    /// gamma * (x > 0 ? x : alpha * (e^x - 1)).
    case selu(alpha: Float, gamma: Float)
    /// max(0, x) + min(0, alpha * (e^(x / alpha) - 1)).
    case celu(alpha: Float)
    /// GELU with the tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
    case geluTanh
    /// x * tanh(softplus(x)).
    case mish
    /// x > alpha ? x : 0.
    case thresholdedRelu(alpha: Float)
    /// x < -lambd ? x + bias : x > lambd ? x - bias : 0.
    case shrink(lambd: Float, bias: Float)
    /// x * sigmoid(alpha * x).
    case swish(alpha: Float)

    /// Rough cost in nanoseconds per 256 elements, to decide on threading.
    var costPer256: Int {
        switch self {
        case .relu, .leakyRelu, .clip, .hardSigmoid, .hardSwish, .abs, .neg, .floor, .ceil, .round, .sign,
             .softsign, .thresholdedRelu, .shrink: return 64
        case .sqrt, .reciprocal: return 200
        case .sigmoid, .exp, .silu, .tanh, .swish, .geluTanh: return 600
        default: return 4_000
        }
    }
}

/// Unary elementwise kernels.
public enum Unary {
    /// Applies `op` to `count` floats from `input` into `output` (which may equal `input`).
    public static func apply(
        _ op: UnaryOp, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil
    ) {
        let block = 256
        let blocks = (count + block - 1) / block
        KernelSupport.forRanges(blocks, costPerItem: op.costPer256, pool: pool) { r in
            let lo = r.lowerBound * block, hi = Swift.min(count, r.upperBound * block)
            span(op, input + lo, output + lo, hi - lo)
        }
    }

    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float) -> Float) {
        for i in 0..<n { y[i] = f(x[i]) }
    }

    static func span(_ op: UnaryOp, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch op {
        case .relu: map(x, y, n) { $0 > 0 ? $0 : 0 }
        case .leakyRelu(let alpha): map(x, y, n) { $0 >= 0 ? $0 : $0 * alpha }
        case .clip(let lo, let hi):
            map(x, y, n) { v in
                let a = v < lo ? lo : v
                return a > hi ? hi : a
            }
        case .sigmoid: map(x, y, n) { sigmoid($0) }
        case .hardSigmoid(let alpha, let beta):
            map(x, y, n) { v in
                let t = alpha * v + beta
                let a = t < 0 ? 0 : t
                return a > 1 ? 1 : a
            }
        case .hardSwish:
            map(x, y, n) { v in
                let t = v * (1 / 6 as Float) + 0.5
                let a = t < 0 ? 0 : t
                return v * (a > 1 ? 1 : a)
            }
        case .tanh: map(x, y, n) { tanh($0) }
        case .exp: map(x, y, n) { exp($0) }
        case .log: map(x, y, n) { Foundation.log($0) }
        case .sqrt: map(x, y, n) { $0.squareRoot() }
        case .abs: map(x, y, n) { Swift.abs($0) }
        case .neg: map(x, y, n) { -$0 }
        case .reciprocal: map(x, y, n) { 1 / $0 }
        case .erf: map(x, y, n) { Foundation.erf($0) }
        case .gelu: map(x, y, n) { v in 0.5 * v * Foundation.erfc(v * -0.70710678118654752) }
        case .silu: map(x, y, n) { $0 * sigmoid($0) }
        case .softplus:
            map(x, y, n) { v in
                (v > 0 ? v : 0) + Foundation.log1p(exp(-Swift.abs(v)))
            }
        case .elu(let alpha): map(x, y, n) { $0 > 0 ? $0 : alpha * Foundation.expm1($0) }
        case .floor: map(x, y, n) { $0.rounded(.down) }
        case .ceil: map(x, y, n) { $0.rounded(.up) }
        case .round: map(x, y, n) { $0.rounded(.toNearestOrEven) }
        case .sign: map(x, y, n) { $0 > 0 ? 1 : $0 < 0 ? -1 : $0 }
        case .sin: map(x, y, n) { Foundation.sin($0) }
        case .cos: map(x, y, n) { Foundation.cos($0) }
        case .tan: map(x, y, n) { Foundation.tan($0) }
        case .asin: map(x, y, n) { Foundation.asin($0) }
        case .acos: map(x, y, n) { Foundation.acos($0) }
        case .atan: map(x, y, n) { Foundation.atan($0) }
        case .sinh: map(x, y, n) { Foundation.sinh($0) }
        case .cosh: map(x, y, n) { Foundation.cosh($0) }
        case .asinh: map(x, y, n) { Foundation.asinh($0) }
        case .acosh: map(x, y, n) { Foundation.acosh($0) }
        case .atanh: map(x, y, n) { Foundation.atanh($0) }
        case .softsign: map(x, y, n) { $0 / (1 + Swift.abs($0)) }
        case .selu(let alpha, let gamma): map(x, y, n) { gamma * ($0 > 0 ? $0 : alpha * Foundation.expm1($0)) }
        case .celu(let alpha):
            map(x, y, n) { v in v > 0 ? v : alpha * Foundation.expm1(v / alpha) }
        case .geluTanh:
            map(x, y, n) { v in
                // sqrt(2 / pi)
                let inner = 0.7978845608028654 * (v + 0.044715 * v * v * v)
                return 0.5 * v * (1 + tanh(inner))
            }
        case .mish:
            map(x, y, n) { v in
                let sp = (v > 0 ? v : 0) + Foundation.log1p(exp(-Swift.abs(v)))
                return v * Foundation.tanh(sp)
            }
        case .thresholdedRelu(let alpha): map(x, y, n) { $0 > alpha ? $0 : 0 }
        case .shrink(let lambd, let bias): map(x, y, n) { $0 < -lambd ? $0 + bias : $0 > lambd ? $0 - bias : 0 }
        case .swish(let alpha): map(x, y, n) { $0 * sigmoid(alpha * $0) }
        }
    }

    // MARK: scalar functions (inlined into the loops above)

    /// e^x in float32, branch-free, about 1 ulp; 0 below -104, +inf above ln(FLT_MAX).
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        var v = x > 88.72283905 ? 88.72283905 : x
        v = v < -104 ? -104 : v
        // n = round(v / ln 2) by the 1.5 * 2^23 trick; its integer value sits in the low bits.
        let magic: Float = 12_582_912
        let m = v * 1.44269504088896341 + magic
        let n = m - magic
        let ni = Int32(bitPattern: m.bitPattern) &- 0x4B40_0000
        let r = (v - n * 0.693359375) + n * 2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // 2^n in two halves so n in -150...128 never leaves the normal exponent range.
        let n1 = ni >> 1, n2 = ni &- n1
        let s1 = Float(bitPattern: UInt32(bitPattern: (n1 &+ 127) << 23))
        let s2 = Float(bitPattern: UInt32(bitPattern: (n2 &+ 127) << 23))
        let result = p * s1 * s2
        return x > 88.72283905 ? .infinity : result
    }

    /// 1 / (1 + e^-x), stable for large |x| (never forms e^|x|).
    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Swift.abs(x))
        let s = 1 / (1 + e)
        return x >= 0 ? s : e * s
    }

    /// tanh: odd polynomial below 0.625, else 1 - 2 / (e^(2|x|) + 1), with the sign of x.
    @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        let a = Swift.abs(x)
        let z = x * x
        var p: Float = -5.70498872745e-3
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = x + x * z * p
        let e = exp(2 * a)
        var big = 1 - 2 / (e + 1)
        big = x < 0 ? -big : big
        return a < 0.625 ? small : big
    }

    // MARK: Tensor API

    /// `op` applied to every element of a float32 tensor; the output comes from `buffers`
    /// when given.
    public static func apply(_ op: UnaryOp, _ x: Tensor, pool: ThreadPool? = nil,
                             buffers: TensorBufferPool? = nil) throws -> Tensor {
        try KernelSupport.requireFloat32(x, op: "\(op)", name: "input")
        var out = try buffers?.uninitializedTensor(x.shape) ?? Tensor(zeros: x.shape)
        let n = x.elementCount
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) {
                apply(op, input: xp.baseAddress!, output: $0.baseAddress!, count: n, pool: pool)
            }
        }
        return out
    }
}
