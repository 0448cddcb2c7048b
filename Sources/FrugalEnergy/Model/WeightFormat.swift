import FrugalCore
import FrugalEngine

/// How a layer's weight matrix is stored when the engine runs it, which decides what the
/// energy model charges for it.
///
/// The engine has no sparse kernel yet. When it gets one, the planner marks each node it runs
/// with a CSR kernel by the node attribute `frugal.weight_format = "csr"`; the model then costs
/// that node as CSR (non-zeros only, plus index reads) whatever the dense initializer holds.
public enum WeightFormat: Sendable, Hashable {
    case dense
    /// Compressed sparse rows over the output features: `nonZeros` values, one int32 column
    /// index per value, and `rows + 1` int32 row pointers.
    case csr(nonZeros: Int, rows: Int)

    /// The node attribute by which the planner marks a sparse layer.
    public static let attributeKey = "frugal.weight_format"
    /// Bytes of one CSR index (column index or row pointer).
    public static let indexBytes = 4

    /// Index of the weight input of the ops that can run sparse, nil for other ops.
    public static func weightInput(of opType: String) -> Int? {
        switch opType {
        case "Conv", "Gemm", "MatMul", "ConvInteger", "MatMulInteger": return 1
        case "QLinearConv", "QLinearMatMul": return 3
        default: return nil
        }
    }

    /// Rows (output features) of a weight tensor as the op reads it: Conv's output channels,
    /// Gemm's or MatMul's N.
    static func rows(of opType: String, node: Node, weightShape: [Int]) -> Int {
        guard !weightShape.isEmpty else { return 1 }
        switch opType {
        case "Conv", "ConvInteger", "QLinearConv": return weightShape[0]
        case "Gemm": return ((try? node.int("transB", default: 0)) ?? 0) == 1 ? weightShape[0] : weightShape.last!
        default: return weightShape.last!
        }
    }

    /// The storage the node runs with: CSR when the node carries the marker and its weight is
    /// a constant, dense otherwise.
    public static func of(_ node: Node, initializers: [String: Tensor]) throws -> WeightFormat {
        guard let marker = try node.string(attributeKey) else { return .dense }
        switch marker {
        case "dense": return .dense
        case "csr":
            guard let wi = weightInput(of: node.opType), wi < node.inputs.count, let w = initializers[node.inputs[wi]] else {
                throw EnergyError.invalidArgument(
                    "node '\(node.name)' (\(node.opType)) is marked \(attributeKey)=csr but has no constant weight input; only Conv, Gemm, MatMul and their integer forms can run sparse")
            }
            let nonZeros = w.floatScalars().reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
            return .csr(nonZeros: nonZeros, rows: rows(of: node.opType, node: node, weightShape: w.shape.dims))
        default:
            throw EnergyError.invalidArgument("node '\(node.name)' (\(node.opType)): unknown \(attributeKey) '\(marker)'; use \"dense\" or \"csr\"")
        }
    }

    /// Bytes read for a weight of `elements` entries of `elementBytes` each in this format.
    func weightBytes(elements: Int, elementBytes: Int) -> Int {
        switch self {
        case .dense: return elements * elementBytes
        case let .csr(nonZeros, rows): return nonZeros * (elementBytes + Self.indexBytes) + (rows + 1) * Self.indexBytes
        }
    }

    /// Fraction of the dense weight's entries that are stored (1 for dense).
    func density(elements: Int) -> Double {
        switch self {
        case .dense: return 1
        case let .csr(nonZeros, _): return elements == 0 ? 0 : Double(nonZeros) / Double(elements)
        }
    }
}
