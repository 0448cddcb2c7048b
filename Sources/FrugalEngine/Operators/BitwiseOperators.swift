import FrugalCore

/// BitwiseAnd, BitwiseOr, BitwiseXor (broadcasting) and BitwiseNot (opset 18) on int8,
/// uint8, int32 and int64; BitShift (opset 11, direction LEFT or RIGHT) on uint8, the one
/// unsigned type Frugal stores. Shifts of the type's width or more give 0, as in numpy.
enum BitwiseOperators {
    static let integers: Set<DType> = [.int8, .uint8, .int32, .int64]
    static let schemas: [OperatorSchema] = [
        OperatorSchema("BitwiseAnd", since: 18, dtypes: integers) { try binary($0, Op.and) },
        OperatorSchema("BitwiseOr", since: 18, dtypes: integers) { try binary($0, Op.or) },
        OperatorSchema("BitwiseXor", since: 18, dtypes: integers) { try binary($0, Op.xor) },
        OperatorSchema("BitwiseNot", since: 18, dtypes: integers) { try not($0) },
        OperatorSchema("BitShift", since: 11, dtypes: [.uint8]) { call in
            let direction = try call.node.string("direction") ?? ""
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw call.fail("attribute 'direction' is '\(direction)'; it must be LEFT or RIGHT")
            }
            return try binary(call, direction == "LEFT" ? Op.left : Op.right)
        },
    ]

    enum Op { case and, or, xor, left, right }

    static func binary(_ call: OpCall, _ op: Op) throws -> [Tensor] {
        let (a, b, shape) = try ComparisonOperators.broadcastPair(call)
        func typed<T: FixedWidthInteger & TensorScalar>(_: T.Type) throws -> Tensor {
            let x = a.scalars(as: T.self), y = b.scalars(as: T.self)
            let out: [T] = (0..<x.count).map { i in
                switch op {
                case .and: return x[i] & y[i]
                case .or: return x[i] | y[i]
                case .xor: return x[i] ^ y[i]
                case .left: return y[i] >= T.bitWidth ? 0 : x[i] << y[i]
                case .right: return y[i] >= T.bitWidth ? 0 : x[i] >> y[i]
                }
            }
            return try Tensor(shape: shape, scalars: out)
        }
        switch a.dtype {
        case .int8: return [try typed(Int8.self)]
        case .uint8: return [try typed(UInt8.self)]
        case .int32: return [try typed(Int32.self)]
        case .int64: return [try typed(Int64.self)]
        default: throw call.fail("inputs are \(a.dtype); bitwise ops take int8, uint8, int32 or int64")
        }
    }

    static func not(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0)
        func typed<T: FixedWidthInteger & TensorScalar>(_: T.Type) throws -> Tensor {
            try Tensor(shape: x.shape, scalars: x.scalars(as: T.self).map { ~$0 })
        }
        switch x.dtype {
        case .int8: return [try typed(Int8.self)]
        case .uint8: return [try typed(UInt8.self)]
        case .int32: return [try typed(Int32.self)]
        case .int64: return [try typed(Int64.self)]
        default: throw call.fail("input is \(x.dtype); BitwiseNot takes int8, uint8, int32 or int64")
        }
    }
}
