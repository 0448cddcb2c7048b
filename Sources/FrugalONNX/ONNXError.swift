/// The one error type of FrugalONNX: every message names the file and the tensor, node or
/// field at fault, and what to do.
public enum ONNXError: Error, CustomStringConvertible, Sendable {
    /// The file is not a readable ONNX model (truncated, corrupted, not protobuf).
    case malformed(path: String, reason: String)
    /// A tensor (initializer, Constant, attribute) that cannot be turned into a Frugal tensor.
    case tensor(path: String, name: String, reason: String)
    /// A structural problem with the model (missing graph, bad opset, duplicate names).
    case invalidModel(path: String, reason: String)
    /// The file could not be written.
    case write(path: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let p, let r): return "\(p): not a valid ONNX model: \(r)"
        case .tensor(let p, let n, let r): return "\(p): tensor '\(n)': \(r)"
        case .invalidModel(let p, let r): return "\(p): \(r)"
        case .write(let p, let r): return "\(p): cannot write: \(r)"
        }
    }
}
