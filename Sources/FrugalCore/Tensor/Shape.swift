/// The dimensions of a tensor, outermost first (C order).
public struct Shape: Equatable, Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    public var rank: Int { dims.count }
    public subscript(i: Int) -> Int {
        get { dims[i] }
        set { dims[i] = newValue }
    }

    /// Number of elements; 1 for a scalar (rank 0). Only valid on a validated shape.
    public var elementCount: Int { dims.reduce(1, *) }

    /// Checks that every dimension is non-negative and that the element count fits in `Int`.
    /// Returns the element count.
    @discardableResult
    public func validated() throws -> Int {
        var n = 1
        for (i, d) in dims.enumerated() {
            guard d >= 0 else {
                throw CoreError.invalidShape("dimension \(i) of \(self) is negative; every dimension must be 0 or more")
            }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw CoreError.tooLarge("shape \(self) has more elements than a 64-bit count can hold")
            }
            n = p
        }
        return n
    }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: dims.count)
        var acc = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= dims[i]
        }
        return s
    }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// numpy/ONNX multidirectional broadcasting of two shapes.
    public static func broadcast(_ a: Shape, _ b: Shape) throws -> Shape {
        let r = max(a.rank, b.rank)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.rank ? 1 : a.dims[i - (r - a.rank)]
            let db = i < r - b.rank ? 1 : b.dims[i - (r - b.rank)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw CoreError.shapeMismatch(
                    "shapes \(a) and \(b) cannot be broadcast: dimension \(i) is \(da) vs \(db); each pair must be equal or one of them 1")
            }
        }
        return Shape(out)
    }

    /// Broadcasts any number of shapes.
    public static func broadcast(_ shapes: [Shape]) throws -> Shape {
        guard var acc = shapes.first else { return Shape([]) }
        for s in shapes.dropFirst() { acc = try broadcast(acc, s) }
        return acc
    }

    /// Strides (in elements) for reading a tensor of this shape as if it had shape `target`
    /// (rank-aligned on the right; broadcast dimensions get stride 0).
    public func broadcastStrides(to target: Shape) -> [Int] {
        let own = strides
        var out = [Int](repeating: 0, count: target.rank)
        let off = target.rank - rank
        for i in 0..<rank where dims[i] != 1 { out[i + off] = own[i] }
        return out
    }
}
