import ArgumentParser
import FrugalCore
import FrugalEngine

struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List the ONNX operators Frugal runs, with their opset ranges and element types.")

    @Flag(help: "Print a JSON array of {\"op\", \"domain\", \"since\", \"until\", \"dtypes\"}.") var json = false

    func run() throws {
        let all = OperatorRegistry.all
        if json {
            let rows: [JSON] = all.map { s in
                ["op": JSON(s.name), "domain": JSON(s.domain), "since": JSON(s.since), "until": JSON(s.until),
                 "dtypes": .array(s.dtypes.map(\.rawValue).sorted().map { JSON($0) })]
            }
            print(JSON.array(rows).serialized())
            return
        }
        let width = (all.map(\.name.count).max() ?? 4) + 2
        print("op".padding(toLength: width, withPad: " ", startingAt: 0) + "opsets  element types")
        for s in all {
            let name = (s.domain.isEmpty ? s.name : "\(s.domain).\(s.name)").padding(toLength: width, withPad: " ", startingAt: 0)
            let range = "\(s.since)-\(s.until)".padding(toLength: 8, withPad: " ", startingAt: 0)
            print(name + range + s.dtypes.map(\.rawValue).sorted().joined(separator: ", "))
        }
        print("\(all.count) operators")
    }
}
