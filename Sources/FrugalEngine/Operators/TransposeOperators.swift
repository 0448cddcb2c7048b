import FrugalCore

/// Transpose and the block rearrangements built on it: DepthToSpace and SpaceToDepth.
/// All are one strided copy (tiled when it is a 2-D transpose, e.g. NCHW <-> NHWC).
enum TransposeOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Transpose", dtypes: .all) { call in
            let x = try call.input(0)
            let perm = try call.node.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
                throw call.fail("perm \(perm) is not a permutation of 0..<\(x.rank) for input shape \(x.shape)")
            }
            if perm == Array(0..<x.rank) { return [x] }
            return [try call.kernel { try DataMovement.transpose(x, perm: perm) }]
        },
        OperatorSchema("DepthToSpace", dtypes: .all) { call in
            let x = try call.input(0)
            let b = try blocksize(call, x)
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            guard c % (b * b) == 0 else {
                throw call.fail("channels \(c) of input \(x.shape) are not divisible by blocksize² = \(b * b)")
            }
            let mode = try call.node.string("mode", default: "DCR")
            let c2 = c / (b * b)
            let y: Tensor
            switch mode {
            case "DCR":
                y = try call.kernel { try DataMovement.transpose(try x.reshaped([n, b, b, c2, h, w]), perm: [0, 3, 4, 1, 5, 2]) }
            case "CRD":
                y = try call.kernel { try DataMovement.transpose(try x.reshaped([n, c2, b, b, h, w]), perm: [0, 1, 4, 2, 5, 3]) }
            default: throw call.fail("mode '\(mode)' is not DCR or CRD")
            }
            return [try call.reshape(y, [n, c2, h * b, w * b])]
        },
        OperatorSchema("SpaceToDepth", dtypes: .all) { call in
            let x = try call.input(0)
            let b = try blocksize(call, x)
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            guard h % b == 0, w % b == 0 else {
                throw call.fail("height and width of input \(x.shape) must be divisible by blocksize \(b)")
            }
            let y = try call.kernel {
                try DataMovement.transpose(try x.reshaped([n, c, h / b, b, w / b, b]), perm: [0, 3, 5, 1, 2, 4])
            }
            return [try call.reshape(y, [n, c * b * b, h / b, w / b])]
        },
    ]

    static func blocksize(_ call: OpCall, _ x: Tensor) throws -> Int {
        guard x.rank == 4 else { throw call.fail("input must be 4-D [N, C, H, W], got shape \(x.shape)") }
        guard let b = try call.node.int("blocksize") else { throw call.fail("attribute blocksize is required") }
        guard b >= 1 else { throw call.fail("blocksize \(b) must be at least 1") }
        return b
    }
}
