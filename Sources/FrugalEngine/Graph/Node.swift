import FrugalCore

/// One attribute value of a node, as ONNX's AttributeProto holds them.
public enum AttributeValue: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case tensor(Tensor)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case graph(Graph)
}

/// An operation in a ``Graph``: an ONNX op type, named inputs and outputs ("" marks an omitted
/// optional input or output), and attributes.
public struct Node: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: AttributeValue]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: AttributeValue] = [:]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    func fail(_ reason: String) -> EngineError { .invalidNode(node: name, opType: opType, reason: reason) }

    public func int(_ key: String) throws -> Int? {
        guard let a = attributes[key] else { return nil }
        guard case .int(let v) = a else { throw fail("attribute '\(key)' must be an int") }
        return v
    }
    public func int(_ key: String, default d: Int) throws -> Int { try int(key) ?? d }

    public func float(_ key: String) throws -> Float? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw fail("attribute '\(key)' must be a float")
        }
    }
    public func float(_ key: String, default d: Float) throws -> Float { try float(key) ?? d }

    public func ints(_ key: String) throws -> [Int]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw fail("attribute '\(key)' must be a list of ints")
        }
    }
    public func floats(_ key: String) throws -> [Float]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw fail("attribute '\(key)' must be a list of floats")
        }
    }
    public func string(_ key: String) throws -> String? {
        guard let a = attributes[key] else { return nil }
        guard case .string(let v) = a else { throw fail("attribute '\(key)' must be a string") }
        return v
    }
    public func string(_ key: String, default d: String) throws -> String { try string(key) ?? d }
    public func strings(_ key: String) throws -> [String]? {
        guard let a = attributes[key] else { return nil }
        guard case .strings(let v) = a else { throw fail("attribute '\(key)' must be a list of strings") }
        return v
    }
    public func tensor(_ key: String) throws -> Tensor? {
        guard let a = attributes[key] else { return nil }
        guard case .tensor(let v) = a else { throw fail("attribute '\(key)' must be a tensor") }
        return v
    }
}
