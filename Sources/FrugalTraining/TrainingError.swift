/// The one error type of FrugalTraining: messages name the layer, the step or the file, and what to do.
public enum TrainingError: Error, CustomStringConvertible, Sendable {
    /// A data file that is missing, truncated or inconsistent.
    case data(path: String, reason: String)
    /// A model or layer that cannot be built as asked.
    case model(String)
    /// Training diverged or could not proceed.
    case training(String)

    public var description: String {
        switch self {
        case .data(let p, let r): return "\(p): \(r)"
        case .model(let m): return "model: \(m)"
        case .training(let m): return "training: \(m)"
        }
    }
}
