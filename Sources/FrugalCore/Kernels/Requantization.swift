import CFrugalKernels

/// An element type of quantized tensors: `Int8` or `UInt8`.
public protocol QuantizedScalar: TensorScalar, FixedWidthInteger {}
extension Int8: QuantizedScalar {}
extension UInt8: QuantizedScalar {}

/// A real multiplier `M ≥ 0` in the fixed-point form of Jacob et al. 2018 (gemmlowp, TFLite):
/// `M ≈ multiplier · 2^(exponent − 31)` with `multiplier` in `[2^30, 2^31)`.
///
/// ``apply(_:)`` computes `x · M` as
/// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << max(exponent, 0), multiplier), max(−exponent, 0))`.
/// The left shift saturates to the Int32 range. Multipliers below 2^-32 become 0 (for every
/// Int32 `x`, `|x · M| < 0.5`, so the exact rounded product is 0 too).
///
/// ```swift
/// let m = try QuantizedMultiplier(0.25)   // multiplier 2^30, exponent -1
/// m.apply(10)                             // 3 (2.5 rounds away from zero)
/// ```
public struct QuantizedMultiplier: Sendable, Equatable, CustomStringConvertible {
    /// Fixed-point mantissa, in `[2^30, 2^31)`, or 0.
    public let multiplier: Int32
    /// Power of two: positive shifts left before the multiplication, negative rounds right after.
    public let exponent: Int32

    /// Quantizes a real multiplier; throws if it is negative, not finite, or 2^31 or more.
    public init(_ real: Double) throws(CoreError) {
        guard real.isFinite, real >= 0 else {
            throw .invalidArgument("requantization multiplier \(real): must be finite and >= 0 (scales are positive)")
        }
        guard real < 0x1p31 else {
            throw .invalidArgument("requantization multiplier \(real) is 2^31 or more; check the scales")
        }
        if real == 0 { multiplier = 0; exponent = 0; return }
        // real = fraction · 2^e with fraction in [0.5, 1).
        var e = Int(real.exponent) + 1
        var q = (real.significand * 0x1p30).rounded(.toNearestOrAwayFromZero)
        if q == 0x1p31 { q /= 2; e += 1 }
        if e < -31 { multiplier = 0; exponent = 0; return }
        multiplier = Int32(q)
        exponent = Int32(e)
    }

    /// A multiplier from its raw parts (`multiplier` in `[2^30, 2^31)` or 0, `exponent` in -31...31).
    public init(multiplier: Int32, exponent: Int32) {
        precondition(multiplier == 0 || multiplier >= 1 << 30, "multiplier \(multiplier) not normalised")
        precondition((-31...31).contains(exponent), "exponent \(exponent) out of -31...31")
        self.multiplier = multiplier
        self.exponent = exponent
    }

    /// The real value represented.
    public var realValue: Double { Double(multiplier) * Double(sign: .plus, exponent: Int(exponent) - 31, significand: 1) }

    public var description: String { "\(multiplier)·2^(\(exponent)-31)" }

    var leftShift: Int32 { max(exponent, 0) }
    var rightShift: Int32 { max(-exponent, 0) }

    /// `x · M` rounded, bit-exactly as gemmlowp (scalar reference; the kernels match it).
    public func apply(_ x: Int32) -> Int32 {
        let shifted = Int32(clamping: Int64(x) << Int64(leftShift))
        return Self.roundingDivideByPOT(Self.saturatingRoundingDoublingHighMul(shifted, multiplier), rightShift)
    }

    /// gemmlowp's SaturatingRoundingDoublingHighMul: round(a·b / 2^31), ties toward +∞.
    public static func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
        if a == .min && b == .min { return .max }
        let ab = Int64(a) * Int64(b)
        let nudge: Int64 = ab >= 0 ? 1 << 30 : 1 - (1 << 30)
        return Int32((ab + nudge) / (1 << 31))  // Swift's `/` truncates toward zero, as C's
    }

    /// gemmlowp's RoundingDivideByPOT: round(x / 2^e), ties away from zero; `e` in 0...31.
    public static func roundingDivideByPOT(_ x: Int32, _ e: Int32) -> Int32 {
        let mask = Int32(truncatingIfNeeded: (Int64(1) << Int64(e)) - 1)
        let remainder = x & mask
        let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
        return (x >> e) + (remainder > threshold ? 1 : 0)
    }
}

/// Which axis of a row-major int32 matrix holds the channels of a ``Requantizer``.
public enum ChannelAxis: Sendable {
    /// Channel = column (GEMM output `[m, n]` with `n` output channels, NHWC).
    case columns
    /// Channel = row (NCHW: `[channels, spatial]`).
    case rows
}

/// Maps int32 accumulators to int8/uint8: `clamp(round((acc + bias[c]) · M[c]) + zeroPoint)`,
/// with `M[c] = sA · sB[c] / sC` in fixed point (``QuantizedMultiplier``).
///
/// Exactness: the result is bit-exact with ``requantize(_:channel:as:)`` (the gemmlowp scheme)
/// on every ISA. Against `clamp(roundHalfEven((acc + bias) · M) + zeroPoint)` in real
/// arithmetic (what ONNX Runtime computes in float) it differs by at most 1, for every Int32
/// input. Before the clamp, with `y = (acc + bias) · M` and `R` the right shift of `M`:
/// `|result − y| ≤ 3/4 + |y| · 2^-31` (1/2 when R = 0), so a difference needs y within
/// `2^-(R+1) + |y| · 2^-31` of a half-integer: the high multiply rounds ties up and the shift
/// rounds again, ties away from zero (e.g. M = 0.25, acc = 9: 2.25 gives 3). For typical
/// multipliers (M < 1/16, R ≥ 4) that is under 1 in 16 values even in the worst case, and
/// measured 0.3% on random data.
///
/// ```swift
/// let rq = try Requantizer(inputScale: 0.02, weightScales: [0.005, 0.004], outputScale: 0.1,
///                          bias: [120, -40], outputZeroPoint: 3)
/// try rq.requantize(acc, rows: 4, columns: 2, ldSrc: 2, to: out, ldDst: 2)
/// ```
public struct Requantizer: Sendable {
    /// One multiplier for the whole tensor, or one per channel.
    public let multipliers: [QuantizedMultiplier]
    /// Added to the accumulator before scaling: one per channel, one for all, or none.
    public let bias: [Int32]?
    /// Added after scaling.
    public let outputZeroPoint: Int32
    /// Fused ReLU: clamps the output from below at the zero point (real 0).
    public let relu: Bool
    let tables: RequantTables

    /// A requantizer from real multipliers (1 or one per channel).
    public init(multipliers real: [Double], bias: [Int32]? = nil, outputZeroPoint: Int32, relu: Bool = false) throws(CoreError) {
        guard !real.isEmpty else { throw .invalidArgument("Requantizer: no multiplier given") }
        if let bias, bias.count != 1 && bias.count != real.count && real.count != 1 {
            throw .shapeMismatch("Requantizer: \(bias.count) biases for \(real.count) channel multipliers")
        }
        var ms: [QuantizedMultiplier] = []
        ms.reserveCapacity(real.count)
        for r in real { ms.append(try QuantizedMultiplier(r)) }
        multipliers = ms
        self.bias = bias
        self.outputZeroPoint = outputZeroPoint
        self.relu = relu
        tables = RequantTables(ms)
    }

    /// A requantizer for `QLinearConv`/`QLinearMatMul`: `M[c] = inputScale · weightScales[c] / outputScale`.
    public init(inputScale: Float, weightScales: [Float], outputScale: Float, bias: [Int32]? = nil,
                outputZeroPoint: Int32, relu: Bool = false) throws(CoreError) {
        guard inputScale > 0, outputScale > 0, weightScales.allSatisfy({ $0 > 0 }) else {
            throw .invalidArgument("Requantizer: scales must be > 0 (input \(inputScale), output \(outputScale))")
        }
        try self.init(multipliers: weightScales.map { Double(inputScale) * Double($0) / Double(outputScale) },
                      bias: bias, outputZeroPoint: outputZeroPoint, relu: relu)
    }

    /// Number of channels the multipliers distinguish (1 = per tensor).
    public var channelCount: Int { multipliers.count }

    /// One value, bit-exactly as the vectorised paths (the scalar reference).
    public func requantize<Out: QuantizedScalar>(_ acc: Int32, channel: Int, as: Out.Type = Out.self) -> Out {
        let b = bias.map { $0[$0.count == 1 ? 0 : channel] } ?? 0
        let m = multipliers[multipliers.count == 1 ? 0 : channel]
        let v = Int64(m.apply(acc &+ b)) + Int64(outputZeroPoint)
        let r = clampRange(Out.self)
        return Out(truncatingIfNeeded: min(max(v, Int64(r.lowerBound)), Int64(r.upperBound)))
    }

    /// Requantizes a row-major `rows × columns` int32 matrix (row stride `ldSrc`) into `dst`
    /// (row stride `ldDst`). Channels run along `channelAxis`.
    public func requantize<Out: QuantizedScalar>(
        _ src: UnsafePointer<Int32>, rows: Int, columns: Int, ldSrc: Int,
        to dst: UnsafeMutablePointer<Out>, ldDst: Int,
        channelAxis: ChannelAxis = .columns, isa: KernelISA? = nil
    ) throws(CoreError) {
        guard rows >= 0, columns >= 0, ldSrc >= columns, ldDst >= columns else {
            throw .invalidArgument("requantize: rows \(rows), columns \(columns), ldSrc \(ldSrc), ldDst \(ldDst)")
        }
        let channels = channelAxis == .columns ? columns : rows
        try validate(channels: channels, output: Out.self)
        let row = QGEMMKernels.requantRow(for: isa ?? .best)
        var p = parameters(output: Out.self)
        let biasTable = bias ?? []
        biasTable.withUnsafeBufferPointer { bb in
            for i in 0..<rows {
                var rowOffset: Int32 = 0
                if channelAxis == .columns {
                    if bb.count == 1 { rowOffset = bb[0] } else if bb.count > 1 { p.col_offset = bb.baseAddress }
                } else {
                    if bb.count > 0 { rowOffset = bb[bb.count == 1 ? 0 : i] }
                    let c = multipliers.count == 1 ? 0 : i
                    p.multiplier = UnsafePointer(tables.multiplier + c)
                    p.lshift = UnsafePointer(tables.lshift + c)
                    p.rshift = UnsafePointer(tables.rshift + c)
                    p.rmask = UnsafePointer(tables.rmask + c)
                    p.per_channel = 0
                }
                row(src + i * ldSrc, columns, rowOffset, 0, &p, dst + i * ldDst)
            }
        }
    }

    /// Checks channel counts and the zero point against the output type.
    func validate<Out: QuantizedScalar>(channels: Int, output: Out.Type) throws(CoreError) {
        if multipliers.count != 1 && multipliers.count != channels {
            throw .shapeMismatch("Requantizer has \(multipliers.count) channel multipliers, the output \(channels) channels")
        }
        if let bias, bias.count != 1 && bias.count != channels {
            throw .shapeMismatch("Requantizer has \(bias.count) biases, the output \(channels) channels")
        }
        guard outputZeroPoint >= Int32(Out.min) && outputZeroPoint <= Int32(Out.max) else {
            throw .invalidArgument("output zero point \(outputZeroPoint) outside the \(Out.dtype) range")
        }
    }

    func clampRange<Out: QuantizedScalar>(_: Out.Type) -> ClosedRange<Int32> {
        let lo = Int32(Out.min), hi = Int32(Out.max)
        return (relu ? max(lo, min(outputZeroPoint, hi)) : lo)...hi
    }

    /// C parameters with per-column multiplier tables (columns axis); no offsets set.
    func parameters<Out: QuantizedScalar>(output: Out.Type) -> frugal_requant_params {
        let r = clampRange(Out.self)
        return frugal_requant_params(
            col_offset: nil, col_zero: nil,
            multiplier: UnsafePointer(tables.multiplier), lshift: UnsafePointer(tables.lshift),
            rshift: UnsafePointer(tables.rshift), rmask: UnsafePointer(tables.rmask),
            per_channel: tables.uniform ? 0 : 1, any_lshift: tables.anyLeftShift ? 1 : 0,
            zero_point: outputZeroPoint, qmin: r.lowerBound, qmax: r.upperBound,
            out_signed: Out.isSigned ? 1 : 0)
    }
}

/// The multiplier tables in the layout the C rows read; immutable after init.
final class RequantTables: @unchecked Sendable {
    let count: Int
    /// All channels share one multiplier (the rows then treat it as per tensor).
    let uniform: Bool
    let anyLeftShift: Bool
    private let storage: UnsafeMutablePointer<Int32>
    /// `count + 1` entries (the last is padding, see frugal_requant_params).
    var multiplier: UnsafeMutablePointer<Int32> { storage }
    var lshift: UnsafeMutablePointer<Int32> { storage + count + 1 }
    var rshift: UnsafeMutablePointer<Int32> { storage + 2 * count + 1 }
    var rmask: UnsafeMutablePointer<Int32> { storage + 3 * count + 1 }

    init(_ ms: [QuantizedMultiplier]) {
        count = ms.count
        uniform = ms.allSatisfy { $0 == ms[0] }
        anyLeftShift = ms.contains { $0.exponent > 0 }
        storage = .allocate(capacity: 4 * count + 1)
        storage.initialize(repeating: 0, count: 4 * count + 1)
        for (i, m) in ms.enumerated() {
            storage[i] = m.multiplier
            storage[count + 1 + i] = m.leftShift
            storage[2 * count + 1 + i] = m.rightShift
            storage[3 * count + 1 + i] = Int32(truncatingIfNeeded: (Int64(1) << Int64(m.rightShift)) - 1)
        }
    }

    deinit { storage.deallocate() }
}
