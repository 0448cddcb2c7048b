import FrugalCore

/// Identity, Constant and Dropout (inference): ops that pass or produce values unchanged.
enum ControlOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Identity", dtypes: .all) { call in [try call.input(0)] },
        OperatorSchema("Dropout", dtypes: [.float32, .float16]) { call in
            let x = try call.input(0)
            var outputs = [x]
            if call.node.outputs.count > 1 {
                var mask = try call.kernel { try Tensor(zeros: x.shape, dtype: .bool) }
                mask.withUnsafeMutableBufferPointer(as: Bool.self) { $0.update(repeating: true) }
                outputs.append(mask)
            }
            return outputs
        },
        OperatorSchema("Constant", dtypes: .all) { call in
            let n = call.node
            if let t = try n.tensor("value") { return [t] }
            if let f = try n.float("value_float"), n.attributes["value_float"] != nil { return [Tensor(scalar: f)] }
            if let fs = try n.floats("value_floats") { return [try Tensor(shape: [fs.count], scalars: fs)] }
            if let i = try n.int("value_int") { return [Tensor(scalar: Int64(i))] }
            if let is_ = try n.ints("value_ints") { return [try Tensor(shape: [is_.count], scalars: is_.map(Int64.init))] }
            throw call.fail("Constant needs one of value, value_float(s), value_int(s); string and sparse values are not supported")
        },
    ]
}
