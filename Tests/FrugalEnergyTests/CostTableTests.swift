import Foundation
import Testing
@testable import FrugalEnergy

@Suite struct CostTableTests {
    func write(_ text: String) throws -> String {
        let path = try temporaryDirectory("cost") + "/table.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func fields(dropping drop: String? = nil, overriding: [String: String] = [:]) -> String {
        var f: [(String, String)] = [("name", "\"chip\""), ("citation", "\"datasheet\"")]
        let values = [0.9, 3.7, 0.4, 1.1, 0.03, 0.2, 0.1, 3.1, 5, 640]
        for (k, v) in zip(CostTable.fieldNames, values) { f.append((k, "\(v)")) }
        return "{" + f.filter { $0.0 != drop }.map { "\"\($0.0)\": \(overriding[$0.0] ?? $0.1)" }.joined(separator: ", ") + "}"
    }

    @Test func aCompleteTableLoadsWithItsFigures() throws {
        let t = try CostTable.load(path: try write(fields()))
        #expect(t.name == "chip" && t.citation == "datasheet")
        #expect(t.add == CostTable.horowitz45nm.add && t.mult == CostTable.horowitz45nm.mult)
        #expect(t.sramReadPerWord == 5 && t.dramReadPerWord == 640)
    }

    @Test func theDefaultIsHorowitz45nm() {
        let h = CostTable.horowitz45nm
        #expect(h.add[.int8] == 0.03 && h.mult[.int8] == 0.2 && h.add[.int32] == 0.1 && h.mult[.int32] == 3.1)
        #expect(h.add[.fp16] == 0.4 && h.mult[.fp16] == 1.1 && h.add[.fp32] == 0.9 && h.mult[.fp32] == 3.7)
        #expect(h.citation.contains("ISSCC 2014"))
    }

    func expectError(_ text: String, mentions: [String]) throws {
        let path = try write(text)
        do {
            _ = try CostTable.load(path: path)
            Issue.record("expected an error for \(text)")
        } catch let e as EnergyError {
            for m in mentions + [path] { #expect(e.description.contains(m), "\(e) should mention \(m)") }
        }
    }

    @Test func errorsNameTheFileAndTheField() throws {
        try expectError(fields(dropping: "int8_mult_pj"), mentions: ["int8_mult_pj", "missing"])
        try expectError(fields(overriding: ["dram_read_32bit_pj": "-1"]), mentions: ["dram_read_32bit_pj", "-1"])
        try expectError(fields(overriding: ["fp16_add_pj": "\"cheap\""]), mentions: ["fp16_add_pj", "number"])
        try expectError(fields(overriding: ["fp32_add_pj": "true"]), mentions: ["fp32_add_pj"])
        try expectError(fields(dropping: "citation"), mentions: ["citation"])
        try expectError("[1, 2]", mentions: ["JSON object"])
        try expectError("{not json", mentions: ["JSON object"])
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: EnergyError.self) { _ = try CostTable.load(path: "/nonexistent/table.json") }
    }
}
