import ArgumentParser
import Foundation
import FrugalCore

/// Writes to standard error (progress, warnings), keeping stdout for results and JSON.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Whether standard error is a terminal (progress bars only then).
var stderrIsTerminal: Bool { isatty(2) != 0 }

/// Turns library errors into a message and a non-zero exit, never a crash.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as ValidationError { throw e } catch {
        printError("error: \(error)")
        throw ExitCode(2)
    }
}

/// Rounds for display in JSON.
func rounded(_ x: Double, _ digits: Int = 3) -> Double {
    let p = pow(10, Double(digits))
    return (x * p).rounded() / p
}

/// The `--dim NAME=VALUE` options as a dictionary (each value a positive integer).
/// Parses `--shape NAME=D0,D1,...` (or D0xD1x...) options: whole input shapes, for inputs whose
/// symbolic dimensions have no usable names (several called '?', or unnamed).
func inputShapes(_ specs: [String]) throws -> [String: [Int]] {
    var shapes: [String: [Int]] = [:]
    for spec in specs {
        guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
            throw ValidationError("--shape takes NAME=D0,D1,... (e.g. x=1,3,48,192), got '\(spec)'")
        }
        let dims = spec[spec.index(after: eq)...].split(whereSeparator: { $0 == "," || $0 == "x" }).map { Int($0) }
        guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--shape takes NAME=D0,D1,... with positive sizes (e.g. x=1,3,48,192), got '\(spec)'")
        }
        shapes[String(spec[..<eq])] = dims.map { $0! }
    }
    return shapes
}

func namedDimensions(_ dims: [String]) throws -> [String: Int] {
    var named: [String: Int] = [:]
    for d in dims {
        let parts = d.split(separator: "=")
        guard parts.count == 2, let v = Int(parts[1]), v > 0 else { throw ValidationError("--dim takes NAME=VALUE, got '\(d)'") }
        named[String(parts[0])] = v
    }
    return named
}
