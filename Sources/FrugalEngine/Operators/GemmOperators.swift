import FrugalCore

/// Gemm (transA/transB, alpha/beta, unidirectionally broadcast C) and MatMul (numpy
/// semantics: N-d batches with broadcasting, 1-D operands), float32, on GEMM.sgemm.
enum GemmOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Gemm", since: 7, dtypes: .floats) { try gemm($0) },
        OperatorSchema("MatMul", since: 1, dtypes: .floats) { try matmul($0) },
    ]

    static func gemm(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let a = try call.floatInput(0, "A"), b = try call.floatInput(1, "B")
        guard a.rank == 2, b.rank == 2 else {
            throw call.fail("A \(a.shape) and B \(b.shape) must both be 2-D")
        }
        let transA = try node.int("transA", default: 0) != 0, transB = try node.int("transB", default: 0) != 0
        let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
        let (M, K) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (Kb, N) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard K == Kb else {
            throw call.fail("A \(a.shape)\(transA ? " (transposed)" : "") gives K = \(K) but B \(b.shape)\(transB ? " (transposed)" : "") gives K = \(Kb)")
        }
        var c: Tensor? = call.optionalInput(2)
        if let ct = c {
            guard ct.dtype == .float32 else { throw call.fail("C is \(ct.dtype); only float32 is supported") }
            guard (try? Shape.broadcast(ct.shape, [M, N])) == Shape([M, N]), ct.rank <= 2 else {
                throw call.fail("C \(ct.shape) does not broadcast to the output [\(M), \(N)]")
            }
            if beta == 0 { c = nil }
        }
        let fused = try FusedActivation(fusedIn: node)
        var y = try call.newOutput([M, N])
        let yp = y.mutableFloatPointer()
        if M * N > 0, K > 0, alpha == 1, c == nil || (beta == 1 && c!.elementCount == N && c!.shape.dims.last == N) {
            // The common layer: packed weights (kept while B is the same tensor), bias per
            // column and a clamp activation in the GEMM's epilogue.
            let packed = packedB(call, b, k: K, n: N, ldb: b.shape[1], transB: transB)
            let clamp = fused?.clampRange
            packedProduct(m: M, a: a.floatPointer, lda: max(a.shape[1], 1), transA: transA, b: packed, c: yp, ldc: N,
                          bias: c.map { .perColumn($0.floatPointer) } ?? .none, clamp: clamp, pool: call.context.pool)
            if let fused, clamp == nil { fused.run(yp, count: M * N) }
            return [y]
        }
        if M * N > 0 {
            GEMM.sgemm(m: M, n: N, k: K, a: a.floatPointer, lda: max(a.shape[1], 1), transA: transA,
                       b: b.floatPointer, ldb: max(b.shape[1], 1), transB: transB, c: yp, ldc: N, pool: call.context.pool)
            if let ct = c {
                // Strides of C viewed as [M, N].
                let strides = ct.shape.broadcastStrides(to: [M, N])
                let cp = ct.floatPointer
                for i in 0..<M {
                    let row = yp + i * N, crow = cp + i * strides[0]
                    if strides[1] == 1 {
                        for j in 0..<N { row[j] = alpha * row[j] + beta * crow[j] }
                    } else {
                        let v = beta * crow[0]
                        for j in 0..<N { row[j] = alpha * row[j] + v }
                    }
                }
            } else if alpha != 1 {
                for i in 0..<(M * N) { yp[i] *= alpha }
            }
        }
        if let fused { fused.run(yp, count: M * N) }
        return [y]
    }

    /// Shapes of a numpy-style matrix product: batch broadcasting and 1-D operands.
    struct MatMulPlan {
        let m: Int, k: Int, n: Int
        let batch: Shape, aBatch: Shape, bBatch: Shape
        let outDims: [Int]
        var batchCount: Int { batch.elementCount }
        /// B is one matrix and A's batches are the output's: A's batches fold into its rows.
        var foldsIntoRows: Bool { bBatch.elementCount == 1 && aBatch == batch }

        init(_ call: OpCall, _ a: Shape, _ b: Shape) throws {
            guard a.rank >= 1, b.rank >= 1 else { throw call.fail("A \(a) and B \(b) must have rank 1 or more") }
            // 1-D operands: A [K] -> [1, K], B [K] -> [K, 1]; the added dimension is dropped after.
            let aDims = a.rank == 1 ? [1] + a.dims : a.dims
            let bDims = b.rank == 1 ? b.dims + [1] : b.dims
            m = aDims[aDims.count - 2]
            k = aDims[aDims.count - 1]
            n = bDims[bDims.count - 1]
            let kb = bDims[bDims.count - 2]
            guard k == kb else {
                throw call.fail("A \(a) has K = \(k) but B \(b) has K = \(kb); the last dimension of A must equal the second-to-last of B")
            }
            aBatch = Shape(Array(aDims.dropLast(2)))
            bBatch = Shape(Array(bDims.dropLast(2)))
            do { batch = try Shape.broadcast(aBatch, bBatch) } catch {
                throw call.fail("the batch dimensions of A \(a) and B \(b) do not broadcast")
            }
            var out = batch.dims
            if a.rank > 1 { out.append(m) }
            if b.rank > 1 { out.append(n) }
            outDims = out
        }

        /// Calls `body(t, aMatrix, bMatrix)` for each output matrix t with the indices of the
        /// A and B matrices it multiplies.
        func forEachBatch(_ body: (Int, Int, Int) throws -> Void) rethrows {
            let aStrides = aBatch.broadcastStrides(to: batch), bStrides = bBatch.broadcastStrides(to: batch)
            let dims = batch.dims
            var index = [Int](repeating: 0, count: dims.count)
            for t in 0..<batch.elementCount {
                var ao = 0, bo = 0
                for i in 0..<dims.count { ao += index[i] * aStrides[i]; bo += index[i] * bStrides[i] }
                try body(t, ao, bo)
                var i = dims.count - 1
                while i >= 0 {
                    index[i] += 1
                    if index[i] < dims[i] { break }
                    index[i] = 0
                    i -= 1
                }
            }
        }
    }

    /// A one-thread pool for the products run inside a task of the session's pool.
    static let serialPool = ThreadPool(threadCount: 1)
    /// Rows per thread from which a product with packed B is cut by rows (see packedProduct).
    static let rowSplitMinRows = 16
    /// Largest packed B (bytes) that each thread reads whole when the product is cut by rows:
    /// it stays in every core's L2 (2 MiB per core here) from one run to the next.
    static let rowSplitMaxBBytes = 2 << 20

    /// C = op(A) · B (+ bias), clamped, B packed. With several threads and enough rows (a
    /// batch of activations times a layer's weights), each thread takes one contiguous block
    /// of rows and runs the whole product for it alone: it packs only its rows of A, reads
    /// all of B (kept in its cache across runs) and writes rows of C that the next layer,
    /// cut the same way, reads on the same thread. The GEMM driver's own split (columns of
    /// C, with A packed once by all threads) moves half of the packed A and of C between
    /// cores, and its pack and compute phases are two parallel regions per k block.
    /// Measured (LeNet-300-100, batch 64, 2 threads, 784x300 and 300x100 layers):
    /// see the commit that introduced it.
    static func packedProduct(
        m: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool, b: GEMM.PackedB,
        c: UnsafeMutablePointer<Float>, ldc: Int, bias: GEMMBias, clamp: ClosedRange<Float>?, pool: ThreadPool
    ) {
        let threads = pool.threadCount
        let splitRows = threads > 1 && !transA && m >= rowSplitMinRows * threads
            && b.k * b.n * MemoryLayout<Float>.size <= rowSplitMaxBBytes
            && m * b.n * b.k >= 1 << 15
        guard splitRows else {
            GEMM.sgemm(m: m, a: a, lda: lda, transA: transA, b: b, c: c, ldc: ldc, bias: bias, clamp: clamp, pool: pool)
            return
        }
        pool.parallelFor(threads) { t in
            let r0 = m * t / threads, r1 = m * (t + 1) / threads
            GEMM.sgemm(m: r1 - r0, a: a + r0 * lda, lda: lda, b: b, c: c + r0 * ldc, ldc: ldc, bias: bias,
                       clamp: clamp, pool: serialPool)
        }
    }

    /// Cached packing of this node's B: reused while B is the same tensor (an initializer),
    /// re-made when a run feeds another one.
    final class PackedCache: @unchecked Sendable {
        var source: Tensor? = nil
        var packed: GEMM.PackedB? = nil
    }

    static func packedB(_ call: OpCall, _ b: Tensor, k: Int, n: Int, ldb: Int, transB: Bool) -> GEMM.PackedB {
        let cache = call.cachedObject("packedB") { PackedCache() }
        if let p = cache.packed, let s = cache.source, s.sharesStorage(with: b), p.k == k, p.n == n { return p }
        let p = GEMM.PackedB(k: k, n: n, b: b.floatPointer, ldb: max(ldb, 1), transB: transB, pool: call.context.pool)
        cache.source = b
        cache.packed = p
        return p
    }

    static func matmul(_ call: OpCall) throws -> [Tensor] {
        let a = try call.floatInput(0, "A"), b = try call.floatInput(1, "B")
        let plan = try MatMulPlan(call, a.shape, b.shape)
        let M = plan.m, K = plan.k, N = plan.n
        let fused = try FusedActivation(fusedIn: call.node)
        var y = try call.newOutput(plan.outDims)
        let yp = y.mutableFloatPointer()
        if y.elementCount == 0 { return [y] }
        let ap = a.floatPointer, bp = b.floatPointer, pool = call.context.pool
        if plan.foldsIntoRows && K > 0 {
            let packed = packedB(call, b, k: K, n: N, ldb: N, transB: false)
            let clamp = fused?.clampRange
            packedProduct(m: plan.batchCount * M, a: ap, lda: K, transA: false, b: packed, c: yp, ldc: N,
                          bias: .none, clamp: clamp, pool: pool)
            if let fused, clamp == nil { fused.run(yp, count: y.elementCount) }
            return [y]
        } else {
            plan.forEachBatch { t, ao, bo in
                GEMM.sgemm(m: M, n: N, k: K, a: ap + ao * M * K, lda: max(K, 1), b: bp + bo * K * N, ldb: max(N, 1),
                           c: yp + t * M * N, ldc: N, pool: pool)
            }
        }
        if let fused { fused.run(yp, count: y.elementCount) }
        return [y]
    }
}
