import Foundation

/// Arithmetic precisions the energy model counts operations in.
public enum Precision: String, CaseIterable, Sendable, Codable, Hashable {
    case fp32, fp16, int8, int32
}

/// Energy per elementary operation, in picojoules, with the source of the figures.
///
/// The JSON form (`--cost-table FILE`) is one object with every field below:
/// ```json
/// {"name": "my-chip", "citation": "vendor datasheet, 2025",
///  "fp32_add_pj": 0.9, "fp32_mult_pj": 3.7, "fp16_add_pj": 0.4, "fp16_mult_pj": 1.1,
///  "int8_add_pj": 0.03, "int8_mult_pj": 0.2, "int32_add_pj": 0.1, "int32_mult_pj": 3.1,
///  "sram_read_32bit_pj": 5, "dram_read_32bit_pj": 640}
/// ```
public struct CostTable: Sendable, Hashable, Codable {
    public var name: String
    public var citation: String
    /// Picojoules of one addition, by precision.
    public var add: [Precision: Double]
    /// Picojoules of one multiplication, by precision.
    public var mult: [Precision: Double]
    /// Picojoules to read one 32-bit word from on-chip SRAM (cache).
    public var sramReadPerWord: Double
    /// Picojoules to read one 32-bit word from DRAM.
    public var dramReadPerWord: Double

    public init(name: String, citation: String, add: [Precision: Double], mult: [Precision: Double],
                sramReadPerWord: Double, dramReadPerWord: Double) throws {
        for p in Precision.allCases {
            guard let a = add[p], a.isFinite, a >= 0, let m = mult[p], m.isFinite, m >= 0 else {
                throw EnergyError.invalidArgument("cost table '\(name)': \(p.rawValue) add and mult must be given, finite and >= 0")
            }
        }
        guard sramReadPerWord.isFinite, sramReadPerWord >= 0, dramReadPerWord.isFinite, dramReadPerWord >= 0 else {
            throw EnergyError.invalidArgument("cost table '\(name)': memory read costs must be finite and >= 0")
        }
        self.name = name
        self.citation = citation
        self.add = add
        self.mult = mult
        self.sramReadPerWord = sramReadPerWord
        self.dramReadPerWord = dramReadPerWord
    }

    /// Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
    /// figures for a 45 nm process at 0.9 V.
    public static let horowitz45nm = try! CostTable(
        name: "horowitz-45nm",
        citation: "M. Horowitz, \"Computing's energy problem (and what we can do about it)\", ISSCC 2014, 45 nm",
        add: [.int8: 0.03, .int32: 0.1, .fp16: 0.4, .fp32: 0.9],
        mult: [.int8: 0.2, .int32: 3.1, .fp16: 1.1, .fp32: 3.7],
        sramReadPerWord: 5, dramReadPerWord: 640)

    /// JSON field names of the numeric costs, in the order they are documented.
    public static let fieldNames: [String] = Precision.allCases.flatMap { ["\($0.rawValue)_add_pj", "\($0.rawValue)_mult_pj"] }
        + ["sram_read_32bit_pj", "dram_read_32bit_pj"]

    /// Reads a table from a JSON file; errors name the file and the field at fault.
    public static func load(path: String) throws -> CostTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EnergyError.badFile(path: path, reason: "cannot read the cost table (\(error.localizedDescription))")
        }
        return try parse(data, path: path)
    }

    /// Parses the JSON form; `path` names the source in errors.
    public static func parse(_ data: Data, path: String) throws -> CostTable {
        guard let object = try? JSONDecoder().decode([String: Field].self, from: data) else {
            throw EnergyError.badFile(path: path, reason: "not a JSON object of strings and numbers; a cost table is {\"name\": ..., \"citation\": ..., \(fieldNames.map { "\"\($0)\": pJ" }.joined(separator: ", "))}")
        }
        func text(_ key: String) throws -> String {
            guard case .text(let v)? = object[key], !v.isEmpty else {
                throw EnergyError.badFile(path: path, reason: "field '\(key)' is missing or not a non-empty string; every cost table names itself and cites its source")
            }
            return v
        }
        func number(_ key: String) throws -> Double {
            guard let raw = object[key] else {
                throw EnergyError.badFile(path: path, reason: "field '\(key)' (picojoules) is missing; required fields: \(fieldNames.joined(separator: ", "))")
            }
            guard case .number(let v) = raw else {
                throw EnergyError.badFile(path: path, reason: "field '\(key)' must be a number of picojoules")
            }
            guard v.isFinite, v >= 0 else {
                throw EnergyError.badFile(path: path, reason: "field '\(key)' is \(v); energy per operation must be >= 0 picojoules")
            }
            return v
        }
        let name = try text("name"), citation = try text("citation")
        var add: [Precision: Double] = [:], mult: [Precision: Double] = [:]
        for p in Precision.allCases {
            add[p] = try number("\(p.rawValue)_add_pj")
            mult[p] = try number("\(p.rawValue)_mult_pj")
        }
        return try CostTable(name: name, citation: citation, add: add, mult: mult,
                             sramReadPerWord: try number("sram_read_32bit_pj"), dramReadPerWord: try number("dram_read_32bit_pj"))
    }

    /// A value of the JSON form: a string, a number, or anything else (rejected by field).
    private enum Field: Decodable {
        case text(String), number(Double), other

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if (try? c.decode(Bool.self)) != nil { self = .other }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .text(s) }
            else { self = .other }
        }
    }
}
