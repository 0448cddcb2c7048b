import FrugalCore

/// Einsum (opset 12), float32: explicit ("ij,jk->ik") and implicit ("ij,jk", output letters
/// sorted) forms, repeated letters within one operand (diagonals), and "..." for broadcast
/// dimensions (right-aligned; size-1 dimensions broadcast). And NonZero (opset 9/13), every
/// numeric and bool type.
///
/// Einsum is evaluated directly: each output element sums the product of its operands over
/// every combination of the summed letters. That is exact to the definition and fine for
/// the contractions models write (a few million terms); products the size of a layer's
/// MatMul are better exported as MatMul.
enum EinsumOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Einsum", since: 12, dtypes: .floats) { try einsum($0) },
        OperatorSchema("NonZero", since: 9, dtypes: .all) { try nonZero($0) },
    ]

    /// Most terms (output elements × summed combinations) one Einsum evaluates.
    static let maximumTerms = 1 << 34

    static func einsum(_ call: OpCall) throws -> [Tensor] {
        guard let equation = try call.node.string("equation") else { throw call.fail("attribute 'equation' is required") }
        let operands = try (0..<call.inputs.count).map { try call.floatInput($0, "input \($0)") }
        let eq = equation.filter { !$0.isWhitespace }
        let sides = eq.components(separatedBy: "->")
        guard sides.count <= 2 else { throw call.fail("equation '\(equation)' has more than one '->'") }
        let terms = sides[0].components(separatedBy: ",")
        guard terms.count == operands.count else {
            throw call.fail("equation '\(equation)' names \(terms.count) operands but the node has \(operands.count) inputs")
        }
        // Letters of each operand, "..." expanded to private labels (uppercase-free codes).
        var ellipsisRank = 0
        var labels: [[Character]] = []
        for (t, term) in terms.enumerated() {
            let letters = term.replacingOccurrences(of: "...", with: "")
            guard letters.allSatisfy({ $0.isLetter }) else { throw call.fail("equation term '\(term)' has characters other than letters and '...'") }
            if term.contains("...") {
                let r = operands[t].rank - letters.count
                guard r >= 0 else { throw call.fail("term '\(term)' has more letters than input \(t) has dimensions (\(operands[t].shape))") }
                ellipsisRank = max(ellipsisRank, r)
            } else {
                guard letters.count == operands[t].rank else {
                    throw call.fail("term '\(term)' has \(letters.count) letters but input \(t) has rank \(operands[t].rank) (\(operands[t].shape))")
                }
            }
        }
        let ellipsis: [Character] = (0..<ellipsisRank).map { Character(UnicodeScalar(0x2460 + $0)!) }  // ①②③…
        for (t, term) in terms.enumerated() {
            if let range = term.range(of: "...") {
                let r = operands[t].rank - (term.count - 3)
                labels.append(Array(term[..<range.lowerBound]) + Array(ellipsis.suffix(r)) + Array(term[range.upperBound...]))
            } else {
                labels.append(Array(term))
            }
        }
        // Output letters.
        var output: [Character]
        if sides.count == 2 {
            let out = sides[1]
            guard out.replacingOccurrences(of: "...", with: "").allSatisfy({ $0.isLetter }) else { throw call.fail("output '\(out)' has characters other than letters and '...'") }
            if let range = out.range(of: "...") {
                output = Array(out[..<range.lowerBound]) + ellipsis + Array(out[range.upperBound...])
            } else {
                output = Array(out)
            }
            guard Set(output).count == output.count else { throw call.fail("output '\(out)' repeats a letter") }
            let all = Set(labels.joined())
            for l in output where !all.contains(l) { throw call.fail("output letter '\(l)' appears in no input term") }
        } else {
            var counts: [Character: Int] = [:]
            for l in labels.joined() where !ellipsis.contains(l) { counts[l, default: 0] += 1 }
            output = ellipsis + counts.filter { $0.value == 1 }.keys.sorted()
        }
        // Size of each letter (broadcasting size 1 against the others).
        var size: [Character: Int] = [:]
        for (t, ls) in labels.enumerated() {
            for (d, l) in ls.enumerated() {
                let n = operands[t].shape[d]
                if let s = size[l], s != n {
                    guard s == 1 || n == 1 else {
                        throw call.fail("letter '\(l)' has size \(s) in one place and \(n) in input \(t) (\(operands[t].shape))")
                    }
                    size[l] = max(s, n)
                } else if size[l] == nil {
                    size[l] = n
                }
            }
        }
        let summed = Set(labels.joined()).subtracting(output).sorted()
        let order = output + summed  // loop letters, output first
        let dims = order.map { size[$0]! }
        let outDims = output.map { size[$0]! }
        let outCount = outDims.reduce(1, *), sumCount = summed.map { size[$0]! }.reduce(1, *)
        guard outCount.multipliedReportingOverflow(by: max(sumCount, 1)).overflow == false,
              outCount * max(sumCount, 1) <= maximumTerms else {
            throw call.fail("equation '\(equation)' on these shapes needs more than \(maximumTerms) terms; write it as MatMul")
        }
        // Per operand, its stride for each loop letter (0 where the letter is absent or the
        // dimension is broadcast; repeated letters add their strides: diagonals).
        let strides: [[Int]] = operands.enumerated().map { t, x in
            let own = x.shape.strides
            return order.map { l in
                var s = 0
                for (d, m) in labels[t].enumerated() where m == l && x.shape[d] != 1 { s += own[d] }
                return s
            }
        }
        for (t, ls) in labels.enumerated() {
            for (d, l) in ls.enumerated() where operands[t].shape[d] != size[l]! && operands[t].shape[d] != 1 {
                throw call.fail("letter '\(l)' of input \(t) has size \(operands[t].shape[d]), expected \(size[l]!)")
            }
        }
        var y = try call.newOutput(outDims)
        if outCount == 0 { return [y] }
        let yp = y.mutableFloatPointer()
        let ptrs = operands.map { $0.floatPointer }
        let nOut = output.count, rank = order.count
        var index = [Int](repeating: 0, count: rank)
        var offset = [Int](repeating: 0, count: operands.count)
        // Odometer over the loop letters lo..<hi (the last fastest), moving the operands'
        // offsets with it; wraps to all zeros after the last combination.
        func advance(_ lo: Int, _ hi: Int) {
            var d = hi - 1
            while d >= lo {
                index[d] += 1
                for t in 0..<offset.count { offset[t] += strides[t][d] }
                if index[d] < dims[d] { return }
                for t in 0..<offset.count { offset[t] -= strides[t][d] * dims[d] }
                index[d] = 0
                d -= 1
            }
        }
        for o in 0..<outCount {
            var acc: Float = 0
            for _ in 0..<sumCount {
                var prod: Float = 1
                for t in 0..<ptrs.count { prod *= ptrs[t][offset[t]] }
                acc += prod
                advance(nOut, rank)
            }
            yp[o] = acc
            advance(0, nOut)
        }
        return [y]
    }

    /// The indices of the non-zero elements, int64 [rank, count], in row-major order.
    static func nonZero(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0)
        let values = x.floatScalars()
        let dims = x.rank == 0 ? [] : x.shape.dims
        let hits = values.indices.filter { values[$0] != 0 }
        let rank = dims.count
        var out = [Int64](repeating: 0, count: rank * hits.count)
        let strides = x.shape.strides
        for (j, flat) in hits.enumerated() {
            var rest = flat
            for d in 0..<rank {
                out[d * hits.count + j] = Int64(rest / strides[d])
                rest %= strides[d]
            }
        }
        return [try call.kernel { try Tensor(shape: Shape([rank, hits.count]), scalars: out) }]
    }
}
