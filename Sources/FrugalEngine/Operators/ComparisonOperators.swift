import FrugalCore

/// Element-wise comparisons (Equal, Greater, Less, GreaterOrEqual, LessOrEqual), logic (Not,
/// And, Or, Xor), IsNaN, IsInf and Where, all with numpy broadcasting and bool results.
enum ComparisonOperators {
    static let comparable: Set<DType> = [.float32, .float16, .int8, .uint8, .int32, .int64]

    static let schemas: [OperatorSchema] = [
        OperatorSchema("Equal", since: 7, dtypes: .all) { call in try compare(call) { $0 == $1 } },
        OperatorSchema("Greater", since: 7, dtypes: comparable) { call in try compare(call) { $0 > $1 } },
        OperatorSchema("Less", since: 7, dtypes: comparable) { call in try compare(call) { $0 < $1 } },
        OperatorSchema("GreaterOrEqual", since: 12, dtypes: comparable) { call in try compare(call) { $0 >= $1 } },
        OperatorSchema("LessOrEqual", since: 12, dtypes: comparable) { call in try compare(call) { $0 <= $1 } },
        OperatorSchema("And", since: 7, dtypes: [.bool]) { call in try logic(call) { $0 && $1 } },
        OperatorSchema("Or", since: 7, dtypes: [.bool]) { call in try logic(call) { $0 || $1 } },
        OperatorSchema("Xor", since: 7, dtypes: [.bool]) { call in try logic(call) { $0 != $1 } },
        OperatorSchema("Not", dtypes: [.bool]) { call in
            let x = try call.input(0)
            guard x.dtype == .bool else { throw call.fail("input must be bool, not \(x.dtype)") }
            return [try Tensor(shape: x.shape, scalars: x.scalars(as: Bool.self).map { !$0 })]
        },
        OperatorSchema("IsNaN", since: 9, dtypes: [.float32, .float16]) { call in
            let x = try call.input(0)
            return [try Tensor(shape: x.shape, scalars: x.floatScalars().map(\.isNaN))]
        },
        OperatorSchema("IsInf", since: 10, dtypes: [.float32, .float16]) { call in
            let x = try call.input(0)
            let pos = try call.node.int("detect_positive", default: 1) != 0
            let neg = try call.node.int("detect_negative", default: 1) != 0
            return [try Tensor(shape: x.shape, scalars: x.floatScalars().map { $0.isInfinite && ($0 > 0 ? pos : neg) })]
        },
        OperatorSchema("Where", since: 9, dtypes: [.bool]) { call in
            let c = try call.input(0), x = try call.input(1), y = try call.input(2)
            guard c.dtype == .bool else { throw call.fail("condition must be bool, not \(c.dtype)") }
            guard x.dtype == y.dtype else { throw call.fail("X is \(x.dtype) but Y is \(y.dtype); they must match") }
            let shape = try call.kernel { try Shape.broadcast([c.shape, x.shape, y.shape]) }
            var out = try call.output(shape, x.dtype)
            let (cb, xb, yb) = try call.kernel {
                (try DataMovement.broadcast(c, to: shape), try DataMovement.broadcast(x, to: shape), try DataMovement.broadcast(y, to: shape))
            }
            let n = shape.elementCount
            func select<T>(_: T.Type) {
                cb.withUnsafeBufferPointer(as: Bool.self) { cp in
                    xb.withUnsafeRawBytes { xr in
                        yb.withUnsafeRawBytes { yr in
                            out.withUnsafeMutableRawBytes { o in
                                let xp = xr.bindMemory(to: T.self), yp = yr.bindMemory(to: T.self)
                                let op = o.bindMemory(to: T.self)
                                for i in 0..<n { op[i] = cp[i] ? xp[i] : yp[i] }
                            }
                        }
                    }
                }
            }
            switch x.dtype.byteSize {
            case 1: select(UInt8.self)
            case 2: select(UInt16.self)
            case 4: select(UInt32.self)
            default: select(UInt64.self)
            }
            return [out]
        },
    ]

    /// Both inputs broadcast to their common shape.
    static func broadcastPair(_ call: OpCall) throws -> (Tensor, Tensor, Shape) {
        let a = try call.input(0), b = try call.input(1)
        guard a.dtype == b.dtype else { throw call.fail("inputs are \(a.dtype) and \(b.dtype); they must match") }
        let shape = try call.kernel { try Shape.broadcast(a.shape, b.shape) }
        try call.kernel { _ = try MemoryLimit.checkedByteCount(elements: try shape.validated(), dtype: a.dtype, what: "the broadcast shape \(shape)") }
        return (try call.kernel { try DataMovement.broadcast(a, to: shape) }, try call.kernel { try DataMovement.broadcast(b, to: shape) }, shape)
    }

    static func compare(_ call: OpCall, _ pred: @escaping (Double, Double) -> Bool) throws -> [Tensor] {
        let (a, b, shape) = try broadcastPair(call)
        func typed<T>(_: T.Type, _ f: (T, T) -> Bool) throws -> Tensor where T: TensorScalar {
            let x = a.scalars(as: T.self), y = b.scalars(as: T.self)
            return try Tensor(shape: shape, scalars: (0..<x.count).map { f(x[$0], y[$0]) })
        }
        // Integers compare exactly (int64 beyond 2^53 would not survive Double).
        func ints<T: FixedWidthInteger & TensorScalar>(_: T.Type) throws -> Tensor {
            try typed(T.self) { x, y in
                pred(x == y ? 0 : (x < y ? -1 : 1), 0)
            }
        }
        let result: Tensor
        switch a.dtype {
        case .float32: result = try typed(Float.self) { pred(Double($0), Double($1)) }
        case .float16: result = try typed(Half.self) { pred(Double($0.floatValue), Double($1.floatValue)) }
        case .int8: result = try ints(Int8.self)
        case .uint8: result = try ints(UInt8.self)
        case .int32: result = try ints(Int32.self)
        case .int64: result = try ints(Int64.self)
        case .bool: result = try typed(Bool.self) { pred($0 ? 1 : 0, $1 ? 1 : 0) }
        }
        return [result]
    }

    static func logic(_ call: OpCall, _ f: (Bool, Bool) -> Bool) throws -> [Tensor] {
        let (a, b, shape) = try broadcastPair(call)
        guard a.dtype == .bool else { throw call.fail("inputs must be bool, not \(a.dtype)") }
        let x = a.scalars(as: Bool.self), y = b.scalars(as: Bool.self)
        return [try Tensor(shape: shape, scalars: (0..<x.count).map { f(x[$0], y[$0]) })]
    }
}
