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

    static func matmul(_ call: OpCall) throws -> [Tensor] {
        let a = try call.floatInput(0, "A"), b = try call.floatInput(1, "B")
        guard a.rank >= 1, b.rank >= 1 else {
            throw call.fail("A \(a.shape) and B \(b.shape) must have rank 1 or more")
        }
        // 1-D operands: A [K] -> [1, K], B [K] -> [K, 1]; the added dimension is dropped after.
        let aDims = a.rank == 1 ? [1] + a.shape.dims : a.shape.dims
        let bDims = b.rank == 1 ? b.shape.dims + [1] : b.shape.dims
        let M = aDims[aDims.count - 2], K = aDims[aDims.count - 1]
        let Kb = bDims[bDims.count - 2], N = bDims[bDims.count - 1]
        guard K == Kb else {
            throw call.fail("A \(a.shape) has K = \(K) but B \(b.shape) has K = \(Kb); the last dimension of A must equal the second-to-last of B")
        }
        let aBatch = Shape(Array(aDims.dropLast(2))), bBatch = Shape(Array(bDims.dropLast(2)))
        let batch: Shape
        do { batch = try Shape.broadcast(aBatch, bBatch) } catch {
            throw call.fail("the batch dimensions of A \(a.shape) and B \(b.shape) do not broadcast")
        }
        var outDims = batch.dims
        if a.rank > 1 { outDims.append(M) }
        if b.rank > 1 { outDims.append(N) }
        let fused = try FusedActivation(fusedIn: call.node)
        var y = try call.newOutput(outDims)
        let yp = y.mutableFloatPointer()
        let count = batch.elementCount
        if count * M * N == 0 { return [y] }
        let ap = a.floatPointer, bp = b.floatPointer, pool = call.context.pool
        if bBatch.elementCount == 1 && aBatch == batch {
            // B is one matrix: fold A's batches into its rows.
            GEMM.sgemm(m: count * M, n: N, k: K, a: ap, lda: max(K, 1), b: bp, ldb: max(N, 1), c: yp, ldc: N, pool: pool)
        } else {
            let aStrides = aBatch.broadcastStrides(to: batch), bStrides = bBatch.broadcastStrides(to: batch)
            let dims = batch.dims
            var index = [Int](repeating: 0, count: dims.count)
            for t in 0..<count {
                var ao = 0, bo = 0
                for i in 0..<dims.count { ao += index[i] * aStrides[i]; bo += index[i] * bStrides[i] }
                GEMM.sgemm(m: M, n: N, k: K, a: ap + ao * M * K, lda: max(K, 1), b: bp + bo * K * N, ldb: max(N, 1),
                           c: yp + t * M * N, ldc: N, pool: pool)
                var i = dims.count - 1
                while i >= 0 {
                    index[i] += 1
                    if index[i] < dims[i] { break }
                    index[i] = 0
                    i -= 1
                }
            }
        }
        if let fused { fused.run(yp, count: y.elementCount) }
        return [y]
    }
}
