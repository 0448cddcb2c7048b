/// The one error type of FrugalCore. Every message says what was wrong, where, and what to do.
public enum CoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A shape that is not valid (negative dimension, wrong rank, element count that overflows).
    case invalidShape(String)
    /// Two shapes that an operation needs to agree, and that do not.
    case shapeMismatch(String)
    /// A tensor element type that an operation does not accept.
    case unsupportedDType(String)
    /// A size refused before anything was allocated.
    case tooLarge(String)
    /// An argument out of its valid range (strides of 0, negative padding, group counts...).
    case invalidArgument(String)
    /// A file that could not be read or written, or whose content is malformed.
    case file(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidShape(let m): return "invalid shape: \(m)"
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .unsupportedDType(let m): return "unsupported dtype: \(m)"
        case .tooLarge(let m): return "too large: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .file(let path, let reason): return "\(path): \(reason)"
        }
    }
}
