import ArgumentParser
import FrugalCore
import FrugalEngine
import FrugalTraining

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "List the model zoo with parameter and multiply-add counts.",
        discussion: """
            Multiply-adds are those of Conv, Gemm and MatMul for one example, as the MobileNet and \
            EfficientNet papers count them; parameters are the trainable initializers.
            """)

    @Flag(help: "Print a JSON array of {\"name\", \"params\", \"macs\", \"input_shape\"}.") var json = false

    func run() throws { try runReportingErrors(list) }

    func list() throws {
        var rows: [(model: ZooModel, stats: ModelStats)] = []
        for model in Zoo.models {
            rows.append((model, ModelStats(graph: try model.build(seed: 0))))
        }
        if json {
            let out: [JSON] = rows.map { r in
                ["name": JSON(r.model.name), "params": JSON(r.stats.parameters), "macs": JSON(r.stats.macs),
                 "input_shape": .array([JSON("N")] + r.model.inputDims.map { JSON($0) })]
            }
            print(JSON.array(out).serialized())
            return
        }
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        func grouped(_ v: Int) -> String {
            let s = String(v)
            var out = ""
            for (i, c) in s.enumerated() {
                if i > 0 && (s.count - i) % 3 == 0 { out += "," }
                out.append(c)
            }
            return out
        }
        print(pad("model", 17) + pad("params", 12, left: true) + pad("mult-adds", 15, left: true) + "  input")
        for r in rows {
            print(pad(r.model.name, 17) + pad(grouped(r.stats.parameters), 12, left: true)
                  + pad(grouped(r.stats.macs), 15, left: true)
                  + "  [N, " + r.model.inputDims.map(String.init).joined(separator: ", ") + "]")
        }
        print("\nmult-adds: Conv, Gemm and MatMul for one example; build any of them with FrugalTraining's Zoo.build(name, seed:)")
    }
}
