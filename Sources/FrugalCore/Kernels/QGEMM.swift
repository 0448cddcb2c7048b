import CFrugalKernels

/// Integer matrix multiplication for int8 quantization (QLinearConv, QLinearMatMul,
/// MatMulInteger, ConvInteger, fused QDQ).
///
/// `C[m×n] = Σₚ (A[i,p] − aZeroPoint) · (B[p,j] − bZeroPoint[j])`, A uint8 or int8
/// (activations, row-major `m × k`, or `k × m` with `transA`), B int8 or uint8 (weights,
/// ``PackedB``). The kernels multiply raw uint8 × int8 bytes (`vpdpbusd` with AVX-512 VNNI,
/// `vpmaddubsw`/`vpmaddwd` with AVX2, plain C otherwise) and the zero points are applied
/// afterwards with row and column sums. int8 activations are stored as `A + 128` with zero
/// point `aZeroPoint + 128`; uint8 weights as `B − 128` with zero points `− 128`: the
/// differences, hence the results, do not change.
///
/// Exactness: every product and sum is computed in wrapping Int32 arithmetic, so the result is
/// exact whenever the true value fits in Int32 (always when `k ≤ 33025`, since
/// `|A − aZero| · |B − bZero| ≤ 255²`); beyond that it is the true value modulo 2^32.
///
/// ```swift
/// let w = try QGEMM.PackedB(k: k, n: n, b: weights, ldb: n, zeroPoints: [0])
/// try QGEMM.gemm(m: m, a: x, lda: k, aZeroPoint: 128, b: w, c: acc, ldc: n, pool: pool)
/// ```
public enum QGEMM {
    /// `C[m×n] = (A − aZeroPoint)(B − bZeroPoint)` as Int32, B pre-packed (`n = b.n`, `k = b.k`).
    public static func gemm<A: QuantizedScalar>(
        m: Int, a: UnsafePointer<A>, lda: Int, transA: Bool = false, aZeroPoint: Int32,
        b: PackedB, c: UnsafeMutablePointer<Int32>, ldc: Int, pool: ThreadPool
    ) throws(CoreError) {
        let driver = try makeDriver(m: m, a: a, lda: lda, transA: transA, aZeroPoint: aZeroPoint, b: b)
        guard ldc >= b.n, ldc > 0 || m == 0 || b.n == 0 else { throw .invalidArgument("QGEMM: ldc \(ldc) < n \(b.n)") }
        withColumnOffsets(driver, bias: nil) { co, rowBias in
            driver.run(output: .int32(c, ldc: ldc), colOffset: co, rowBias: rowBias, pool: pool)
        }
    }

    /// The same, packing `B` first (`k × n` at `b[p·ldb + j]`, or `n × k` with `transB`);
    /// `bZeroPoints` has 1 entry or `n`. For repeated products, pack once with ``PackedB``.
    public static func gemm<A: QuantizedScalar, W: QuantizedScalar>(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<A>, lda: Int, transA: Bool = false, aZeroPoint: Int32,
        b: UnsafePointer<W>, ldb: Int, transB: Bool = false, bZeroPoints: [Int32] = [0],
        c: UnsafeMutablePointer<Int32>, ldc: Int, pool: ThreadPool, isa: KernelISA? = nil
    ) throws(CoreError) {
        let packed = try PackedB(k: k, n: n, b: b, ldb: ldb, transB: transB, zeroPoints: bZeroPoints,
                                 isa: isa, pool: pool)
        try gemm(m: m, a: a, lda: lda, transA: transA, aZeroPoint: aZeroPoint, b: packed, c: c, ldc: ldc, pool: pool)
    }

    /// GEMM and requantization in one pass (QLinearMatMul, QLinearConv): each int32 block is
    /// requantized by `requantizer` while it is in cache, and only the int8/uint8 result is
    /// written, row stride `ldc`. Channels are the columns of C (`[m, n]`, NHWC convolution as
    /// im2col · W, MatMul), or with `channelAxis: .rows` its rows (NCHW convolution as W · im2col,
    /// W being the int8 or uint8 `A` and the activations the `PackedB`).
    public static func gemm<A: QuantizedScalar, Out: QuantizedScalar>(
        m: Int, a: UnsafePointer<A>, lda: Int, transA: Bool = false, aZeroPoint: Int32,
        b: PackedB, requantizer: Requantizer, channelAxis: ChannelAxis = .columns,
        c: UnsafeMutablePointer<Out>, ldc: Int, pool: ThreadPool
    ) throws(CoreError) {
        let driver = try makeDriver(m: m, a: a, lda: lda, transA: transA, aZeroPoint: aZeroPoint, b: b)
        guard ldc >= b.n, ldc > 0 || m == 0 || b.n == 0 else { throw .invalidArgument("QGEMM: ldc \(ldc) < n \(b.n)") }
        try requantizer.validate(channels: channelAxis == .columns ? b.n : m, output: Out.self)
        var params = requantizer.parameters(output: Out.self)
        let row = QGEMMKernels.requantRow(for: b.isa)
        let biasTable = requantizer.bias ?? []
        biasTable.withUnsafeBufferPointer { bias in
            var rowChannels: QGEMMDriver.RowChannels? = nil
            if channelAxis == .rows {
                let t = requantizer.tables
                params.per_channel = 0
                rowChannels = QGEMMDriver.RowChannels(
                    multiplier: UnsafePointer(t.multiplier), lshift: UnsafePointer(t.lshift),
                    rshift: UnsafePointer(t.rshift), rmask: UnsafePointer(t.rmask), perRow: t.count > 1,
                    bias: bias.count > 0 ? bias.baseAddress : nil, biasPerRow: bias.count > 1)
            }
            withColumnOffsets(driver, bias: channelAxis == .columns ? requantizer.bias : nil) { co, rowBias in
                driver.run(output: .quantized(UnsafeMutableRawPointer(c), ldc: ldc, params: params, row: row,
                                              rowChannels: rowChannels),
                           colOffset: co, rowBias: rowBias, pool: pool)
            }
        }
        withExtendedLifetime(requantizer) {}
    }

    static func makeDriver<A: QuantizedScalar>(
        m: Int, a: UnsafePointer<A>, lda: Int, transA: Bool, aZeroPoint: Int32, b: PackedB
    ) throws(CoreError) -> QGEMMDriver {
        guard m >= 0 else { throw .invalidShape("QGEMM: m \(m) must be >= 0") }
        guard lda >= (transA ? m : b.k), lda > 0 || m == 0 || b.k == 0 else {
            throw .invalidArgument("QGEMM: lda \(lda) < \(transA ? "m" : "k") = \(transA ? m : b.k)")
        }
        guard aZeroPoint >= Int32(A.min) && aZeroPoint <= Int32(A.max) else {
            throw .invalidArgument("QGEMM: activation zero point \(aZeroPoint) outside the \(A.dtype) range")
        }
        return QGEMMDriver(
            m: m, a: UnsafeRawPointer(a).assumingMemoryBound(to: UInt8.self), lda: lda, transA: transA,
            aFlip: A.isSigned ? 0x8080_8080 : 0, aZero: aZeroPoint + (A.isSigned ? 128 : 0), b: b)
    }

    /// colOffset[j] = bias[j] − aZero·colSum[j] + k·aZero·bZero[j] (wrapping); a single bias is
    /// passed on as the row bias.
    static func withColumnOffsets(
        _ d: QGEMMDriver, bias: [Int32]?, _ body: (UnsafePointer<Int32>, Int32) -> Void
    ) {
        let n = d.b.n, az = d.aZero, kk = Int32(truncatingIfNeeded: d.b.k)
        let perColumnBias = bias.flatMap { $0.count == n && n != 1 ? $0 : nil }
        let rowBias = bias.flatMap { $0.count == 1 ? $0[0] : nil } ?? 0
        var co = [Int32](repeating: 0, count: max(n, 1))
        d.b.columnSums.withUnsafeBufferPointer { cs in
            d.b.zeroPoints.withUnsafeBufferPointer { zs in
                for j in 0..<n {
                    co[j] = (perColumnBias?[j] ?? 0) &- az &* cs[j] &+ kk &* az &* zs[j]
                }
            }
        }
        co.withUnsafeBufferPointer { body($0.baseAddress!, rowBias) }
    }
}
