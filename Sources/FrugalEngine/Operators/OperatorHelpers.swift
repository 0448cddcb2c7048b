import FrugalCore

/// Checks and conversions shared by op families: axes, integer inputs, output allocation.
extension OpCall {
    /// `axis` normalized into `0..<rank` (negative counts from the end), or an error naming the node.
    func axis(_ axis: Int, rank: Int, what: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 0) else {
            throw fail("\(what) \(axis) is out of range for a rank-\(rank) input; it must be in [\(-rank), \(rank - 1)]")
        }
        return a
    }

    /// Normalized axes, all distinct.
    func axes(_ list: [Int], rank: Int, what: String = "axes") throws -> [Int] {
        let out = try list.map { try axis($0, rank: rank, what: what) }
        guard Set(out).count == out.count else { throw fail("\(what) \(list) repeats an axis") }
        return out
    }

    /// The values of an integer (int32/int64) input as `[Int]`.
    func intValues(_ t: Tensor, what: String) throws -> [Int] {
        switch t.dtype {
        case .int64: return t.scalars(as: Int64.self).map { Int($0) }
        case .int32: return t.scalars(as: Int32.self).map { Int($0) }
        default: throw fail("\(what) must be int64 or int32, not \(t.dtype)")
        }
    }

    /// Optional input `i`'s integer values, nil when omitted (or empty, where `emptyIsOmitted`).
    func optionalInts(_ i: Int, what: String, emptyIsOmitted: Bool = false) throws -> [Int]? {
        guard let t = optionalInput(i) else { return nil }
        if emptyIsOmitted && t.elementCount == 0 { return nil }
        return try intValues(t, what: what)
    }

    /// A zero-filled output tensor, with absurd shapes reported as this node's error.
    func output(_ shape: Shape, _ dtype: DType) throws -> Tensor {
        for d in shape.dims where d < 0 {
            throw fail("output shape \(shape) has a negative dimension")
        }
        return try kernel { try Tensor(zeros: shape, dtype: dtype) }
    }

    /// `t` viewed with `shape` (shared storage), with a mismatch reported as this node's error.
    func reshape(_ t: Tensor, _ shape: Shape) throws -> Tensor {
        try kernel { try t.reshaped(shape) }
    }

    /// The `fill` bytes of one element of `dtype` holding the value of a scalar tensor `v`
    /// (converted when its dtype differs).
    func elementBytes(of v: Tensor, as dtype: DType) throws -> [UInt8] {
        guard v.elementCount >= 1 else { throw fail("expected a one-element value, got shape \(v.shape)") }
        let c = v.dtype == dtype ? v : try CastOperators.cast(v, to: dtype)
        return c.withUnsafeRawBytes { Array($0.prefix(dtype.byteSize)) }
    }
}

extension Shape {
    /// Product of dims in `range`.
    func count(_ range: Range<Int>) -> Int { dims[range].reduce(1, *) }
}
