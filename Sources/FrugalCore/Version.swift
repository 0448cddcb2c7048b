/// Frugal's version, printed by `frugal version`.
public enum FrugalVersion {
    public static let string = "0.1.0"
}
