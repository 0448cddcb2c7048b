import FrugalCore

/// ONNX's TensorProto.DataType numbers and their mapping to Frugal's ``DType``.
public enum ONNXDataType {
    public static let names: [Int: String] = [
        0: "undefined", 1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
        8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64",
        15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
        20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1",
    ]

    public static func dtype(for code: Int) -> DType? {
        switch code {
        case 1: return .float32
        case 2: return .uint8
        case 3: return .int8
        case 6: return .int32
        case 7: return .int64
        case 9: return .bool
        case 10: return .float16
        default: return nil
        }
    }

    public static func code(for dtype: DType) -> Int {
        switch dtype {
        case .float32: return 1
        case .uint8: return 2
        case .int8: return 3
        case .int32: return 6
        case .int64: return 7
        case .bool: return 9
        case .float16: return 10
        }
    }

    public static func name(_ code: Int) -> String { names[code] ?? "type \(code)" }
}
