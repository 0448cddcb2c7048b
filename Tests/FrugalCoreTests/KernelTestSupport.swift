import FrugalCore
import Testing

/// Deterministic random numbers for kernel tests: FrugalCore's SplitMix64 from a raw seed.
typealias TestRNG = SplitMix64

extension SplitMix64 {
    init(seed: UInt64) { self.init(state: seed) }

    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Uniform in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }

    /// Uniform in the range.
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }

    mutating func bool() -> Bool { next() & 1 == 1 }

    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }

    mutating func tensor(_ dims: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        try! Tensor(shape: Shape(dims), scalars: floats(dims.reduce(1, *), lo, hi))
    }
}

/// A pool with workers, shared by the kernel tests.
let testPool = ThreadPool(threadCount: 2)

/// Largest |a - b| / (atol + rtol * |b|); <= 1 means close. NaNs must match NaNs.
func closeness(_ a: [Float], _ b: [Double], atol: Double = 1e-5, rtol: Double = 1e-5) -> Double {
    precondition(a.count == b.count, "count \(a.count) vs \(b.count)")
    var worst = 0.0
    for (x, y) in zip(a, b) {
        if y.isNaN { if !x.isNaN { return .infinity }; continue }
        if y.isInfinite { if Double(x) != y { return .infinity }; continue }
        if !x.isFinite { return .infinity }  // max(worst, NaN) would keep worst and hide it
        worst = max(worst, abs(Double(x) - y) / (atol + rtol * abs(y)))
    }
    return worst
}

/// Expects `body` to throw the CoreError case `kind` (compared by case, not message).
func expectCoreError(_ kind: String, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected CoreError.\(kind), nothing was thrown \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    } catch let e as CoreError {
        let name: String
        switch e {
        case .invalidShape: name = "invalidShape"
        case .shapeMismatch: name = "shapeMismatch"
        case .unsupportedDType: name = "unsupportedDType"
        case .tooLarge: name = "tooLarge"
        case .invalidArgument: name = "invalidArgument"
        case .file: name = "file"
        }
        #expect(name == kind, "\(e) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
        #expect(e.description.count > 30, "message too short: \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected CoreError.\(kind), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Row-major strides.
func stridesOf(_ dims: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: dims.count)
    var acc = 1
    for i in stride(from: dims.count - 1, through: 0, by: -1) { s[i] = acc; acc *= dims[i] }
    return s
}

/// Multi-index of flat index `i` in `dims`.
func unravel(_ i: Int, _ dims: [Int]) -> [Int] {
    var r = i
    var idx = [Int](repeating: 0, count: dims.count)
    for d in stride(from: dims.count - 1, through: 0, by: -1) where dims[d] > 0 {
        idx[d] = r % dims[d]
        r /= dims[d]
    }
    return idx
}
