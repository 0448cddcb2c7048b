@testable import FrugalCore
import Testing

/// Deterministic generator for the int8 tests.
typealias QRandom = SplitMix64

extension SplitMix64 {
    mutating func bytes<T: QuantizedScalar>(_ count: Int, in r: ClosedRange<Int> = Int(T.min)...Int(T.max)) -> [T] {
        (0..<count).map { _ in T(int(r)) }
    }
}

/// The ISAs of the int8 kernels this CPU can run (`.avx512` shares the AVX2 kernels).
let qgemmISAs: [KernelISA] = [.avx512Vnni, .avx2, .portable].filter { $0.isSupported }

/// One GEMM problem with a naive Int64 reference.
struct QProblem<A: QuantizedScalar, W: QuantizedScalar> {
    var m, n, k: Int
    var transA = false, transB = false
    var lda: Int, ldb: Int
    var a: [A], b: [W]
    var aZero: Int32
    var bZeros: [Int32]

    init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, pad: Int = 0,
         aZero: Int32, bZeros: [Int32], aRange: ClosedRange<Int>? = nil, bRange: ClosedRange<Int>? = nil,
         rng: inout QRandom) {
        self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
        lda = (transA ? m : k) + pad
        ldb = (transB ? k : n) + pad
        a = rng.bytes((transA ? k : m) * lda, in: aRange ?? Int(A.min)...Int(A.max))
        b = rng.bytes((transB ? n : k) * ldb, in: bRange ?? Int(W.min)...Int(W.max))
        self.aZero = aZero; self.bZeros = bZeros
    }

    func reference() -> [Int32] {
        var c = [Int32](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                let bz = Int64(bZeros.count == 1 ? bZeros[0] : bZeros[j])
                var s: Int64 = 0
                for p in 0..<k {
                    let av = Int64(transA ? a[p * lda + i] : a[i * lda + p]) - Int64(aZero)
                    let bv = Int64(transB ? b[j * ldb + p] : b[p * ldb + j]) - bz
                    s += av * bv
                }
                c[i * n + j] = Int32(truncatingIfNeeded: s)
            }
        }
        return c
    }

    func packed(isa: KernelISA, pool: ThreadPool? = nil) throws -> QGEMM.PackedB {
        try b.withUnsafeBufferPointer { bb in
            try QGEMM.PackedB(k: k, n: n, b: bb.baseAddress!, ldb: ldb, transB: transB, zeroPoints: bZeros,
                              isa: isa, pool: pool)
        }
    }

    /// Runs the convenience call (packing inside) with `ldc = n + 3`, returns the m × n result.
    func run(isa: KernelISA, pool: ThreadPool) throws -> [Int32] {
        let ldc = n + 3
        var c = [Int32](repeating: -7, count: max(m * ldc, 1))
        try a.withUnsafeBufferPointer { ab in
            try b.withUnsafeBufferPointer { bb in
                try c.withUnsafeMutableBufferPointer { cb in
                    try QGEMM.gemm(m: m, n: n, k: k, a: ab.baseAddress!, lda: lda, transA: transA, aZeroPoint: aZero,
                                   b: bb.baseAddress!, ldb: ldb, transB: transB, bZeroPoints: bZeros,
                                   c: cb.baseAddress!, ldc: ldc, pool: pool, isa: isa)
                }
            }
        }
        // The padding columns must be untouched.
        for i in 0..<m { for j in n..<ldc { precondition(c[i * ldc + j] == -7, "wrote past n") } }
        return (0..<m).flatMap { i in c[(i * ldc)..<(i * ldc + n)] }
    }
}

@Suite struct QGEMMTests {
    static let pools = [ThreadPool(threadCount: 1), ThreadPool(threadCount: 2)]

    /// Random shapes (1, primes, non-multiples of every tile, k % 4 != 0), zero points,
    /// transposes, leading-dimension padding; uint8 activations x int8 weights.
    @Test(arguments: qgemmISAs)
    func randomShapesUInt8xInt8(isa: KernelISA) throws {
        var rng = QRandom(seed: 1)
        let shapes = [(1, 1, 1), (1, 37, 5), (2, 3, 4), (13, 33, 7), (12, 32, 8), (5, 64, 130), (37, 65, 129),
                      (1, 200, 301), (61, 17, 3), (24, 96, 64)]
        for (s, (m, n, k)) in shapes.enumerated() {
            for pool in Self.pools {
                let bz: [Int32] = switch s % 3 {
                case 0: [0]
                case 1: [Int32(rng.int(-128...127))]
                default: (0..<n).map { _ in Int32(rng.int(-128...127)) }
                }
                let az: Int32 = [0, 128, 255, Int32(rng.int(0...255))][s % 4]
                let p = QProblem<UInt8, Int8>(m: m, n: n, k: k, transA: s % 4 == 3, transB: s % 2 == 1, pad: s % 3,
                                              aZero: az, bZeros: bz, rng: &rng)
                let got = try p.run(isa: isa, pool: pool)
                #expect(got == p.reference(), "\(isa) m\(m) n\(n) k\(k) threads \(pool.threadCount)")
            }
        }
    }

    /// int8 activations (shifted by +128 inside) and uint8 weights (shifted by −128 inside).
    @Test(arguments: qgemmISAs)
    func signedActivationsAndUnsignedWeights(isa: KernelISA) throws {
        var rng = QRandom(seed: 2)
        for (m, n, k) in [(1, 5, 3), (19, 41, 77), (30, 70, 260)] {
            let p1 = QProblem<Int8, Int8>(m: m, n: n, k: k, aZero: Int32(rng.int(-128...127)),
                                          bZeros: (0..<n).map { _ in Int32(rng.int(-128...127)) }, rng: &rng)
            #expect(try p1.run(isa: isa, pool: Self.pools[1]) == p1.reference(), "s8 x s8 \(m) \(n) \(k)")
            let p2 = QProblem<Int8, UInt8>(m: m, n: n, k: k, transB: true, aZero: -128, bZeros: [128], rng: &rng)
            #expect(try p2.run(isa: isa, pool: Self.pools[0]) == p2.reference(), "s8 x u8 \(m) \(n) \(k)")
            let p3 = QProblem<UInt8, UInt8>(m: m, n: n, k: k, transA: true, aZero: 3,
                                            bZeros: (0..<n).map { _ in Int32(rng.int(0...255)) }, rng: &rng)
            #expect(try p3.run(isa: isa, pool: Self.pools[1]) == p3.reference(), "u8 x u8 \(m) \(n) \(k)")
        }
    }

    /// Shapes larger than one block in every direction (row blocks, column blocks, k blocks).
    @Test(arguments: qgemmISAs)
    func multipleBlocks(isa: KernelISA) throws {
        var rng = QRandom(seed: 3)
        let p = QProblem<UInt8, Int8>(m: 157, n: 301, k: 1103, aZero: 131, bZeros: [Int32(rng.int(-20...20))], rng: &rng)
        let ref = p.reference()
        for pool in Self.pools { #expect(try p.run(isa: isa, pool: pool) == ref, "\(isa) threads \(pool.threadCount)") }
    }

    /// A = 255 and B = −128 everywhere, and the widest differences (255 · 255 per term):
    /// int32 sums that a saturating kernel would get wrong.
    @Test(arguments: qgemmISAs)
    func extremeValues(isa: KernelISA) throws {
        var rng = QRandom(seed: 4)
        let p = QProblem<UInt8, Int8>(m: 13, n: 35, k: 2001, aZero: 0, bZeros: [0], aRange: 255...255,
                                      bRange: -128 ... -128, rng: &rng)
        #expect(try p.run(isa: isa, pool: Self.pools[1]) == [Int32](repeating: 255 * -128 * 2001, count: 13 * 35))
        // (0 − 255) · (−128 − 127) = 65025 per term; k = 33025 is the largest k that always fits.
        let q = QProblem<UInt8, Int8>(m: 2, n: 3, k: 33025, aZero: 255, bZeros: [127], aRange: 0...0,
                                      bRange: -128 ... -128, rng: &rng)
        #expect(try q.run(isa: isa, pool: Self.pools[0]) == [Int32](repeating: 65025 * 33025, count: 6))
        // Pairs (127, 127) with A = 255: vpmaddubsw would saturate (64770 > 32767).
        let r = QProblem<UInt8, Int8>(m: 7, n: 19, k: 64, aZero: 0, bZeros: [0], aRange: 255...255,
                                      bRange: 127...127, rng: &rng)
        #expect(try r.run(isa: isa, pool: Self.pools[0]) == [Int32](repeating: 255 * 127 * 64, count: 7 * 19))
    }

    /// AVX2: weights whose pairs cannot saturate take vpmaddubsw, others the widening path;
    /// both are exact.
    @Test func avx2FastAndWideningPaths() throws {
        guard KernelISA.avx2.isSupported else { return }
        var rng = QRandom(seed: 5)
        let small = QProblem<UInt8, Int8>(m: 29, n: 50, k: 203, aZero: 7, bZeros: [3], aRange: 200...255,
                                          bRange: -64...64, rng: &rng)
        let full = QProblem<UInt8, Int8>(m: 29, n: 50, k: 203, aZero: 7, bZeros: [3], aRange: 200...255, rng: &rng)
        // The boundary: 64 + 64 = 128 never saturates; 65 + 64 = 129 can.
        var edge = QProblem<UInt8, Int8>(m: 3, n: 16, k: 4, aZero: 0, bZeros: [0], aRange: 255...255,
                                         bRange: 64...64, rng: &rng)
        #expect(try !small.packed(isa: .avx2).pairsMaySaturate)
        #expect(try full.packed(isa: .avx2).pairsMaySaturate)
        #expect(try !edge.packed(isa: .avx2).pairsMaySaturate)
        edge.b[0] = 65
        #expect(try edge.packed(isa: .avx2).pairsMaySaturate)
        edge.b = edge.b.map { _ in -65 }
        edge.b[0] = -64
        #expect(try edge.packed(isa: .avx2).pairsMaySaturate)  // −64 − 65 = −129
        for p in [small, full] {
            for pool in Self.pools { #expect(try p.run(isa: .avx2, pool: pool) == p.reference()) }
        }
        #expect(try edge.run(isa: .avx2, pool: Self.pools[0]) == edge.reference())
    }

    /// Empty products: m, n or k of 0 (k = 0 gives zeros).
    @Test(arguments: qgemmISAs)
    func emptyShapes(isa: KernelISA) throws {
        var rng = QRandom(seed: 6)
        for (m, n, k) in [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0)] {
            let p = QProblem<UInt8, Int8>(m: m, n: n, k: k, aZero: 9, bZeros: [4], rng: &rng)
            #expect(try p.run(isa: isa, pool: Self.pools[1]) == p.reference(), "m\(m) n\(n) k\(k)")
        }
    }

    /// The pre-packed B is reusable: several activations against one PackedB.
    @Test(arguments: qgemmISAs)
    func prepackedReuse(isa: KernelISA) throws {
        var rng = QRandom(seed: 7)
        var p = QProblem<UInt8, Int8>(m: 9, n: 70, k: 90, transB: true, aZero: 100, bZeros: [0], rng: &rng)
        let packed = try p.packed(isa: isa, pool: Self.pools[1])
        #expect(packed.isa == isa && packed.k == 90 && packed.n == 70)
        for trial in 0..<3 {
            p.a = rng.bytes(p.a.count)
            var c = [Int32](repeating: 0, count: p.m * p.n)
            try p.a.withUnsafeBufferPointer { ab in
                try QGEMM.gemm(m: p.m, a: ab.baseAddress!, lda: p.lda, aZeroPoint: p.aZero, b: packed,
                               c: &c, ldc: p.n, pool: Self.pools[trial % 2])
            }
            #expect(c == p.reference())
        }
    }

    /// Column sums (used for the activation zero point) of every packing path: k-major and
    /// n-major B, int8 and uint8, widths that are and are not multiples of 16, long k.
    @Test(arguments: qgemmISAs)
    func packedColumnSums(isa: KernelISA) throws {
        var rng = QRandom(seed: 8)
        for (n, k, transB) in [(70, 1030, false), (70, 1030, true), (16, 257, false), (5, 9, false)] {
            let s8 = QProblem<UInt8, Int8>(m: 1, n: n, k: k, transB: transB, aZero: 0, bZeros: [0], rng: &rng)
            let u8 = QProblem<UInt8, UInt8>(m: 1, n: n, k: k, transB: transB, aZero: 0, bZeros: [0], rng: &rng)
            let want8 = (0..<n).map { j in (0..<k).reduce(Int32(0)) { $0 + Int32(transB ? s8.b[j * s8.ldb + $1] : s8.b[$1 * s8.ldb + j]) } }
            let wantU = (0..<n).map { j in (0..<k).reduce(Int32(0)) { $0 + Int32(transB ? u8.b[j * u8.ldb + $1] : u8.b[$1 * u8.ldb + j]) - 128 } }
            #expect(try s8.packed(isa: isa, pool: Self.pools[1]).columnSums == want8, "int8 n\(n) k\(k) transB \(transB)")
            #expect(try u8.packed(isa: isa).columnSums == wantU, "uint8 n\(n) k\(k) transB \(transB)")
        }
    }

    /// Invalid arguments throw CoreError instead of reading out of bounds.
    @Test func invalidArguments() throws {
        let b = [Int8](repeating: 1, count: 12)
        #expect(throws: CoreError.self) { try QGEMM.PackedB(k: 3, n: 4, b: b, ldb: 3, zeroPoints: [0]) }
        #expect(throws: CoreError.self) { try QGEMM.PackedB(k: 3, n: 4, b: b, ldb: 4, zeroPoints: [0, 1]) }
        #expect(throws: CoreError.self) { try QGEMM.PackedB(k: 3, n: 4, b: b, ldb: 4, zeroPoints: [200]) }
        let packed = try QGEMM.PackedB(k: 3, n: 4, b: b, ldb: 4)
        let a = [UInt8](repeating: 1, count: 6)
        var c = [Int32](repeating: 0, count: 8)
        #expect(throws: CoreError.self) {
            try QGEMM.gemm(m: 2, a: a, lda: 2, aZeroPoint: 0, b: packed, c: &c, ldc: 4, pool: Self.pools[0])
        }
        #expect(throws: CoreError.self) {
            try QGEMM.gemm(m: 2, a: a, lda: 3, aZeroPoint: 256, b: packed, c: &c, ldc: 4, pool: Self.pools[0])
        }
    }
}
