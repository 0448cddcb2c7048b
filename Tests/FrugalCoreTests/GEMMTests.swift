// fp32 GEMM against a double-precision reference: shapes around the tile sizes, transposes,
// leading dimensions, accumulate, bias, clamp, PackedB, threads, and every ISA the CPU has.
import FrugalCore
import Testing


private enum BiasKind: CaseIterable { case none, row, column }

/// One GEMM case: builds operands, runs sgemm (plain or packed B), checks against doubles.
private struct Case {
    var m: Int, n: Int, k: Int
    var transA = false, transB = false
    var padA = 0, padB = 0, padC = 0
    var accumulate = false
    var bias = BiasKind.none
    var clamp: ClosedRange<Float>? = nil
    var packed = false
    var packedA = false
    var layoutA = GEMM.PackedA.Layout.rowPanels

    /// Returns a failure description, or nil when every element is within tolerance.
    func run(isa: KernelISA, pool: ThreadPool, seed: UInt64) -> String? {
        var rng = SplitMix64(state: seed)
        let lda = max(1, transA ? m : k) + padA, ldb = max(1, transB ? k : n) + padB
        let ldc = max(1, n) + padC
        let aCount = max(1, (transA ? k : m) * lda), bCount = max(1, (transB ? n : k) * ldb)
        let a = (0..<aCount).map { _ in rng.float() }
        let b = (0..<bCount).map { _ in rng.float() }
        let biasValues = (0..<max(m, n, 1)).map { _ in rng.float() }
        var c = (0..<max(1, m * ldc)).map { _ in rng.float() }
        let c0 = c

        // Reference in double precision.
        var want = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = accumulate ? Double(c0[i * ldc + j]) : 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                if bias == .row { s += Double(biasValues[i]) }
                if bias == .column { s += Double(biasValues[j]) }
                if let clamp { s = min(max(s, Double(clamp.lowerBound)), Double(clamp.upperBound)) }
                want[i * n + j] = s
            }
        }

        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                biasValues.withUnsafeBufferPointer { biasp in
                    c.withUnsafeMutableBufferPointer { cp in
                        let gb: GEMMBias =
                            bias == .row ? .perRow(biasp.baseAddress!)
                            : bias == .column ? .perColumn(biasp.baseAddress!) : .none
                        if packedA {
                            let pa = GEMM.PackedA(
                                m: m, k: k, a: ap.baseAddress!, lda: lda, transA: transA, isa: isa, layout: layoutA,
                                pool: pool)
                            GEMM.sgemm(
                                a: pa, n: n, b: bp.baseAddress!, ldb: ldb, transB: transB,
                                c: cp.baseAddress!, ldc: ldc, accumulate: accumulate, bias: gb,
                                clamp: clamp, pool: pool)
                        } else if packed {
                            let pb = GEMM.PackedB(
                                k: k, n: n, b: bp.baseAddress!, ldb: ldb, transB: transB, isa: isa, pool: pool)
                            GEMM.sgemm(
                                m: m, a: ap.baseAddress!, lda: lda, transA: transA, b: pb,
                                c: cp.baseAddress!, ldc: ldc, accumulate: accumulate, bias: gb,
                                clamp: clamp, pool: pool)
                        } else {
                            GEMM.sgemm(
                                m: m, n: n, k: k, a: ap.baseAddress!, lda: lda, transA: transA,
                                b: bp.baseAddress!, ldb: ldb, transB: transB, c: cp.baseAddress!, ldc: ldc,
                                accumulate: accumulate, bias: gb, clamp: clamp, pool: pool, isa: isa)
                        }
                    }
                }
            }
        }

        let tol = 1e-5 * (Double(k).squareRoot() + 2)
        for i in 0..<m {
            for j in 0..<n where abs(Double(c[i * ldc + j]) - want[i * n + j]) > tol {
                return "\(self) isa \(isa) threads \(pool.threadCount): C[\(i),\(j)] = \(c[i * ldc + j]), want \(want[i * n + j])"
            }
            // Padding columns of C must be untouched.
            for j in n..<ldc where c[i * ldc + j] != c0[i * ldc + j] {
                return "\(self) isa \(isa): wrote C[\(i),\(j)] past n"
            }
        }
        return nil
    }
}

private let isas = [KernelISA.avx512, .avx2, .portable].filter(\.isSupported)
private let pool1 = ThreadPool(threadCount: 1)
private let pool3 = ThreadPool(threadCount: 3)

@Suite struct GEMMTests {
    @Test(arguments: isas) func edgeShapes(isa: KernelISA) {
        // Around the tile sizes of every ISA (4/6/12 rows, 16/32 columns) and primes.
        let dims = [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 16, 17, 31, 32, 33, 97]
        var seed: UInt64 = 1
        for m in dims {
            for n in [1, 7, 15, 16, 17, 31, 33, 97] {
                for k in [1, 3, 13, 64] {
                    seed += 1
                    let cse = Case(m: m, n: n, k: k)
                    if let f = cse.run(isa: isa, pool: pool1, seed: seed) { Issue.record("\(f)"); return }
                }
            }
        }
    }

    @Test(arguments: isas) func packedA(isa: KernelISA) {
        // Every driver path with A packed once: single pass (m <= MR), narrow (m <= 192),
        // blocked (m > 192), several k blocks (k > 512) and n blocks (n > 4096).
        var seed: UInt64 = 500
        let shapes = [(1, 5, 3), (5, 40, 7), (12, 33, 64), (13, 97, 13), (24, 100, 144), (100, 49, 600),
                      (192, 70, 33), (193, 49, 160), (300, 17, 700), (200, 4200, 9), (37, 5000, 20), (7, 0, 5), (9, 8, 0),
                      (20, 70, 1100), (17, 130, 40), (24, 3136, 16)]  // narrow with B read in place: <= 2 row panels
        for (m, n, k) in shapes {
            for (transA, transB) in [(false, false), (true, false), (false, true)] {
                for pool in [pool1, pool3] {
                    seed += 1
                    var cse = Case(m: m, n: n, k: k, transA: transA, transB: transB, padA: Int(seed % 3), padC: Int(seed % 2))
                    cse.packedA = true
                    cse.accumulate = seed % 4 == 0
                    cse.bias = [.none, .row, .column][Int(seed % 3)]
                    cse.clamp = seed % 5 == 0 ? -0.5...0.5 : nil
                    if let f = cse.run(isa: isa, pool: pool, seed: seed) { Issue.record("\(f)"); return }
                }
            }
        }
    }

    @Test(arguments: isas) func packedAColumnPanels(isa: KernelISA) {
        // Rows of C in the lanes: row counts around the 16/32-lane panels, column counts
        // around the 12-column tiles (49 = a 7x7 map), k from 0 to past the prefetch distance.
        var seed: UInt64 = 900
        let shapes = [(1, 1, 1), (5, 3, 7), (16, 12, 20), (17, 13, 9), (31, 49, 64), (32, 24, 3), (33, 49, 160),
                      (64, 25, 0), (70, 1, 33), (100, 49, 700), (160, 97, 40), (48, 200, 17), (7, 0, 5)]
        for (m, n, k) in shapes {
            for (transA, transB) in [(false, false), (true, false), (false, true)] {
                for pool in [pool1, pool3] {
                    seed += 1
                    var cse = Case(m: m, n: n, k: k, transA: transA, transB: transB, padA: Int(seed % 3),
                                   padB: Int(seed % 2), padC: Int(seed % 3))
                    cse.packedA = true
                    cse.layoutA = .columnPanels
                    cse.accumulate = seed % 2 == 0
                    cse.bias = [.none, .row, .column][Int(seed % 3)]
                    cse.clamp = seed % 5 < 2 ? -0.5...0.5 : nil
                    if let f = cse.run(isa: isa, pool: pool, seed: seed) { Issue.record("column panels: \(f)"); return }
                }
            }
        }
    }

    @Test(arguments: isas) func emptyAndZeroDepth(isa: KernelISA) {
        for (m, n, k) in [(0, 5, 3), (5, 0, 3), (0, 0, 0), (5, 7, 0), (20, 40, 0), (1, 1, 0)] {
            for acc in [false, true] {
                for bias in BiasKind.allCases {
                    for packed in [false, true] {
                        let cse = Case(m: m, n: n, k: k, accumulate: acc, bias: bias, clamp: -0.5...0.5, packed: packed)
                        if let f = cse.run(isa: isa, pool: pool3, seed: 7) { Issue.record("\(f)"); return }
                    }
                }
            }
        }
    }

    @Test(arguments: isas) func randomOptions(isa: KernelISA) {
        var rng = SplitMix64(state: 42)
        for iter in 0..<120 {
            var cse = Case(m: rng.int(1...70), n: rng.int(1...90), k: rng.int(1...300))
            if iter % 10 == 0 { cse.m = rng.int(1...4) }  // the single-pass path
            if iter % 15 == 0 { cse.k = rng.int(257...600) }  // several k blocks
            cse.transA = rng.int(0...1) == 1
            cse.transB = rng.int(0...1) == 1
            cse.padA = rng.int(0...1) * rng.int(1...5)
            cse.padB = rng.int(0...1) * rng.int(1...5)
            cse.padC = rng.int(0...1) * rng.int(1...5)
            cse.accumulate = rng.int(0...1) == 1
            cse.bias = BiasKind.allCases[rng.int(0...2)]
            cse.clamp = [nil, 0...Float.infinity, 0...6, -0.25...0.25][rng.int(0...3)]
            cse.packed = rng.int(0...2) == 0
            let pool = iter % 2 == 0 ? pool1 : pool3
            if let f = cse.run(isa: isa, pool: pool, seed: UInt64(iter)) { Issue.record("\(f)"); return }
        }
    }

    @Test(arguments: isas) func largeThreaded(isa: KernelISA) {
        // Several k blocks, an m split and an n split across threads, edges everywhere.
        let cases = [
            Case(m: 131, n: 97, k: 613, accumulate: true, bias: .row, clamp: 0...Float.infinity),
            Case(m: 3, n: 1000, k: 513, bias: .column),
            Case(m: 3, n: 300, k: 300, transB: true, bias: .column, packed: false),
            Case(m: 2, n: 300, k: 300, bias: .column, packed: true),
            Case(m: 40, n: 530, k: 270, transA: true, transB: true, packed: true),
            Case(m: 200, n: 33, k: 100, padA: 3, padB: 2, padC: 1, accumulate: true),
            // Past the narrow path (m > 192): row blocks shared among threads, 2 k blocks.
            Case(m: 301, n: 150, k: 700, transA: true, bias: .row, clamp: 0...6),
            Case(m: 250, n: 70, k: 530, transB: true, accumulate: true, bias: .column, packed: true),
            Case(m: 1, n: 200, k: 1000, padB: 3, accumulate: true, bias: .column, clamp: -1...1),
        ]
        for (i, cse) in cases.enumerated() {
            for pool in [pool1, pool3] {
                if let f = cse.run(isa: isa, pool: pool, seed: UInt64(100 + i)) { Issue.record("\(f)"); return }
            }
        }
    }

    @Test(arguments: isas) func rowMajorAReadInPlace(isa: KernelISA) {
        // A plain row-major A with up to 192 rows is read in place by the AVX-512 kernels (no
        // packing): the single pass (m <= 12) with packed, plain and transposed B, and the
        // narrow path's near-equal row tiles (13, 25, 64, 97 rows), odd k and n, lda > k,
        // several k blocks (k > 1024), every epilogue, 1 and 3 threads.
        var seed: UInt64 = 1300
        let shapes = [(1, 1000, 1280), (2, 33, 17), (5, 100, 300), (11, 47, 9), (12, 32, 1), (13, 300, 784),
                      (25, 10, 100), (64, 300, 131), (64, 97, 1030), (97, 17, 33), (192, 65, 70), (40, 0, 3)]
        for (m, n, k) in shapes {
            for bSource in 0..<3 {  // plain, transposed, packed
                for pool in [pool1, pool3] {
                    seed += 1
                    var cse = Case(m: m, n: n, k: k, transB: bSource == 1, padA: Int(seed % 3) * 3,
                                   padB: Int(seed % 2), padC: Int(seed % 3))
                    cse.packed = bSource == 2
                    cse.accumulate = seed % 2 == 0
                    cse.bias = [.none, .row, .column][Int(seed % 3)]
                    cse.clamp = seed % 5 < 2 ? -0.5...0.5 : nil
                    if let f = cse.run(isa: isa, pool: pool, seed: seed) { Issue.record("A in place: \(f)"); return }
                }
            }
        }
    }

    @Test(arguments: isas) func fewRowsTransposedB(isa: KernelISA) {
        // The dot-product path: m <= 4 with B stored n×k, k tails around 8 and 16 lanes.
        var seed: UInt64 = 900
        for m in 1...5 {
            for n in [1, 3, 4, 5, 9] {
                for k in [1, 7, 8, 15, 16, 17, 40] {
                    seed += 1
                    let cse = Case(
                        m: m, n: n, k: k, transA: seed % 2 == 0, transB: true, padA: Int(seed % 3),
                        padB: Int(seed % 2), accumulate: seed % 3 == 0, bias: BiasKind.allCases[Int(seed % 3)],
                        clamp: seed % 4 == 0 ? -0.3...0.3 : nil)
                    if let f = cse.run(isa: isa, pool: pool3, seed: seed) { Issue.record("\(f)"); return }
                }
            }
        }
    }

    @Test func packedBRemembersItsLayout() {
        let b = [Float](repeating: 1, count: 40 * 50)
        b.withUnsafeBufferPointer { bp in
            for isa in isas {
                let pb = GEMM.PackedB(k: 40, n: 50, b: bp.baseAddress!, ldb: 50, isa: isa)
                #expect(pb.isa == isa && pb.k == 40 && pb.n == 50)
                #expect(pb.byteCount >= 40 * 50 * 4)
            }
        }
    }
}
