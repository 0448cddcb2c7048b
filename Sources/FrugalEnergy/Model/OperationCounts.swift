import FrugalCore

/// Arithmetic and memory traffic of one node for one run of the graph (the whole batch).
public struct OperationCounts: Sendable, Hashable {
    /// Additions (and comparisons, which cost the same) by precision.
    public var adds: [Precision: Double] = [:]
    /// Multiplications by precision.
    public var mults: [Precision: Double] = [:]
    /// Multiply-adds of the Conv, Gemm and MatMul families (the papers' "mult-adds");
    /// 0 for every other op. Included in `adds` and `mults` as one of each.
    public var macs: Int = 0
    /// Bytes of activations (non-constant inputs) read.
    public var activationBytesRead: Int = 0
    /// Bytes of constant inputs (weights, biases, quantization parameters) read, CSR indices included.
    public var weightBytesRead: Int = 0
    /// Bytes of outputs written.
    public var bytesWritten: Int = 0
    /// False when the op is not in the model's table and was costed as one addition per
    /// output element.
    public var modeled: Bool = true

    public init() {}

    public var bytes: Int { activationBytesRead + weightBytesRead + bytesWritten }

    mutating func add(_ n: Double, _ p: Precision) { if n != 0 { adds[p, default: 0] += n } }
    mutating func mult(_ n: Double, _ p: Precision) { if n != 0 { mults[p, default: 0] += n } }

    /// `n` multiply-adds: int8 operands accumulate in int32, others in their own precision.
    mutating func multiplyAdds(_ n: Int, _ p: Precision) {
        macs += n
        mult(Double(n), p)
        add(Double(n), p == .int8 ? .int32 : p)
    }
}

extension Precision {
    /// The precision arithmetic on `dtype` elements is charged at: float16 as fp16, 8-bit
    /// integers and booleans as int8, 32- and 64-bit integers as int32, float32 as fp32.
    public init(_ dtype: DType) {
        switch dtype {
        case .float32: self = .fp32
        case .float16: self = .fp16
        case .int8, .uint8, .bool: self = .int8
        case .int32, .int64: self = .int32
        }
    }
}
