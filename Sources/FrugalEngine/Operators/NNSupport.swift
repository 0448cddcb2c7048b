import FrugalCore

// Helpers shared by the neural-network operator families: spatial attributes (kernel_shape,
// strides, dilations, pads, auto_pad) resolved against an input, raw pointers of tensors, and
// a per-node scratch buffer that is reused across runs.

/// Kernel, strides, dilations and explicit begin/end pads of a convolution or pooling over
/// `spatial.count` dimensions, with auto_pad already applied.
struct SpatialAttributes {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padsBegin: [Int]
    var padsEnd: [Int]

    /// Reads kernel_shape (or `kernel` when the node omits it), strides, dilations, pads and
    /// auto_pad of `node` for an input whose spatial dimensions are `spatial`.
    /// `ceilMode` only affects how SAME padding is sized for pools (ONNX: same formula).
    init(_ node: Node, spatial: [Int], kernel inferred: [Int]?, allowDilations: Bool = true) throws {
        let r = spatial.count
        guard let k = try node.ints("kernel_shape") ?? inferred else {
            throw node.fail("attribute kernel_shape is required")
        }
        guard k.count == r else {
            throw node.fail("kernel_shape \(k) has \(k.count) dimensions but the input has \(r) spatial dimensions")
        }
        if let inferred, inferred != k {
            throw node.fail("kernel_shape \(k) does not match the weight's spatial shape \(inferred)")
        }
        guard k.allSatisfy({ $0 >= 1 }) else { throw node.fail("kernel_shape \(k) must be positive") }
        let s = try node.ints("strides") ?? Array(repeating: 1, count: r)
        let d = try node.ints("dilations") ?? Array(repeating: 1, count: r)
        guard s.count == r, s.allSatisfy({ $0 >= 1 }) else {
            throw node.fail("strides \(s) must be \(r) positive values")
        }
        guard d.count == r, d.allSatisfy({ $0 >= 1 }) else {
            throw node.fail("dilations \(d) must be \(r) positive values")
        }
        if !allowDilations && d.contains(where: { $0 != 1 }) {
            throw node.fail("dilations \(d) are not supported for this op")
        }
        kernel = k
        strides = s
        dilations = d
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET", "":
            let p = try node.ints("pads") ?? Array(repeating: 0, count: 2 * r)
            guard p.count == 2 * r else {
                throw node.fail("pads \(p) must have \(2 * r) values (begins then ends of each spatial dimension)")
            }
            guard p.allSatisfy({ $0 >= 0 }) else { throw node.fail("pads \(p) must not be negative") }
            padsBegin = Array(p[..<r])
            padsEnd = Array(p[r...])
        case "VALID":
            padsBegin = Array(repeating: 0, count: r)
            padsEnd = padsBegin
        case "SAME_UPPER", "SAME_LOWER":
            padsBegin = []
            padsEnd = []
            for i in 0..<r {
                let out = (spatial[i] + s[i] - 1) / s[i]
                let total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - spatial[i])
                let small = total / 2, large = total - small
                padsBegin.append(autoPad == "SAME_UPPER" ? small : large)
                padsEnd.append(autoPad == "SAME_UPPER" ? large : small)
            }
        default:
            throw node.fail("auto_pad '\(autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
    }

    /// Output size of dimension `i` of a convolution (floor division).
    func convOutput(_ i: Int, _ n: Int) -> Int {
        let span = n + padsBegin[i] + padsEnd[i] - (kernel[i] - 1) * dilations[i] - 1
        return span < 0 ? -1 : span / strides[i] + 1
    }
}

extension Tensor {
    /// The float32 elements' base address; valid while this tensor's storage lives.
    var floatPointer: UnsafePointer<Float> {
        withUnsafeBufferPointer(as: Float.self) { UnsafePointer($0.baseAddress!) }
    }

    /// The mutable base address (after making the storage unique).
    mutating func mutableFloatPointer() -> UnsafeMutablePointer<Float> {
        withUnsafeMutableBufferPointer(as: Float.self) { $0.baseAddress! }
    }
}

/// A float buffer an op keeps between runs (im2col columns, transposed operands), grown
/// when a larger one is needed. Cached per node: the session runs one graph at a time.
final class ScratchBuffer: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>? = nil
    private(set) var capacity = 0

    /// A buffer of at least `count` floats (contents undefined).
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity || pointer == nil {
            pointer?.deallocate()
            let n = max(count, 16)
            pointer = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
            capacity = n
        }
        return pointer!
    }

    deinit { pointer?.deallocate() }
}

extension OpCall {
    /// The scratch buffer of this node named `what`.
    func scratch(_ what: String) -> ScratchBuffer {
        cachedObject(what) { ScratchBuffer() }
    }

    /// Input `i` as float32, or an error naming the node.
    func floatInput(_ i: Int, _ name: String) throws -> Tensor {
        let t = try input(i)
        guard t.dtype == .float32 else { throw fail("\(name) (input \(i)) is \(t.dtype); only float32 is supported") }
        return t
    }

    /// A new zero-filled float32 tensor, with size errors attributed to the node.
    func newOutput(_ dims: [Int]) throws -> Tensor {
        guard dims.allSatisfy({ $0 >= 0 }) else { throw fail("the output shape \(dims) would be negative") }
        return try kernel { try context.buffers.zeroedTensor(Shape(dims)) }
    }

    /// A new float32 tensor whose elements are unspecified (often a recycled buffer): only
    /// for ops that write every element.
    func newUninitializedOutput(_ dims: [Int]) throws -> Tensor {
        guard dims.allSatisfy({ $0 >= 0 }) else { throw fail("the output shape \(dims) would be negative") }
        return try kernel { try context.buffers.uninitializedTensor(Shape(dims)) }
    }
}

extension FusedActivation {
    /// Applies the activation to `count` floats, a clamp as a vectorisable min/max.
    func run(_ p: UnsafeMutablePointer<Float>, count: Int) {
        if let r = clampRange {
            let lo = r.lowerBound, hi = r.upperBound
            for i in 0..<count {
                let v = p[i] < lo ? lo : p[i]
                p[i] = v > hi ? hi : v
            }
        } else {
            apply(p, count: count)
        }
    }
}
