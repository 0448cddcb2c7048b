/// The one table of operators. An op family adds its schemas here; nothing else registers ops,
/// so an op cannot be half-registered.
public enum OperatorRegistry {
    /// The operators a model may use: ONNX's and the contrib domains Frugal reads.
    public static let all: [OperatorSchema] = {
        var list: [OperatorSchema] = []
        list += ControlOperators.schemas
        list += ConvOperators.schemas
        list += GemmOperators.schemas
        list += PoolOperators.schemas
        list += NormalizationOperators.schemas
        list += ChannelNormalizationOperators.schemas
        list += EinsumOperator.schemas
        list += RecurrentOperators.schemas
        list += BitwiseOperators.schemas
        list += NonMaxSuppressionOperator.schemas
        list += GridSampleOperator.schemas
        list += AttentionOperator.schemas
        list += LossOperators.schemas
        list += RotaryEmbeddingOperator.schemas
        list += RoiAlignOperator.schemas
        list += QuantizationOperators.schemas
        list += QLinearOperators.schemas
        list += QLinearContribOperators.schemas
        list += BinaryOperators.schemas
        list += UnaryOperators.schemas
        list += ActivationOperators.schemas
        list += ReduceOperators.schemas
        list += ArgTopKOperators.schemas
        list += SoftmaxOperators.schemas
        list += ShapeOperators.schemas
        list += TransposeOperators.schemas
        list += ConcatSplitOperators.schemas
        list += SliceOperators.schemas
        list += ExpandTileOperators.schemas
        list += GatherScatterOperators.schemas
        list += CastOperators.schemas
        list += PadOperators.schemas
        list += ResizeOperator.schemas
        list += GeneratorOperators.schemas
        list += ComparisonOperators.schemas
        return list.sorted { ($0.domain, $0.name) < ($1.domain, $1.name) }
    }()

    /// Operators only the planner makes (fused forms such as ai.frugal.ConvBlock): they run,
    /// but `frugal ops` does not list them and the exporter refuses them.
    public static let plannerOnly: [OperatorSchema] = ConvBlockOperator.schemas

    private static let byKey: [String: OperatorSchema] = {
        var d: [String: OperatorSchema] = [:]
        for s in all + plannerOnly { d[key(s.name, s.domain)] = s }
        return d
    }()

    private static func key(_ op: String, _ domain: String) -> String {
        (domain == "ai.onnx" ? "" : domain) + "::" + op
    }

    /// The schema for an op type in a domain ("" or "ai.onnx" is the default domain).
    public static func schema(_ op: String, domain: String = "") -> OperatorSchema? {
        byKey[key(op, domain)]
    }
}
