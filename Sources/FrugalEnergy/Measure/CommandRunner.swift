#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// The outcome of running a command under the meters.
public struct CommandRun: Sendable {
    public var command: [String]
    /// The child's exit status, or 128 + signal number when a signal ended it (as shells report).
    public var exitStatus: Int32
    /// The signal that ended the child, if one did.
    public var signal: Int32?
    public var wallSeconds: Double
    public var measurement: EnergyMeasurement
}

/// Runs a command as a child process between `start()` and `stop()` of a meter set.
public enum CommandRunner {
    /// The executable for `name`: itself when it contains a slash, else the first executable
    /// file of that name on `PATH`.
    public static func resolveExecutable(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) throws -> String {
        if name.contains("/") {
            guard access(name, X_OK) == 0 else {
                throw EnergyError.invalidArgument("cannot run '\(name)': \(String(cString: strerror(errno)))")
            }
            return name
        }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
               access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw EnergyError.invalidArgument("command '\(name)' not found on PATH")
    }

    /// Runs `command` (program and arguments) with the inherited stdin/stdout/stderr, or with its
    /// stdout sent to stderr when `stdoutToStderr` (so that stdout can carry one JSON object).
    /// With `forwardSignals`, SIGINT and SIGTERM sent to this process while the child runs are
    /// passed to the child instead of ending this process, so that an interrupted run is still
    /// measured and reported (as `time` does); the previous handlers are restored afterwards.
    public static func run(_ command: [String], meters: EnergyMeterSet, stdoutToStderr: Bool = false,
                           forwardSignals: Bool = false) throws -> CommandRun {
        guard let program = command.first else {
            throw EnergyError.invalidArgument("no command given: put it after --, e.g. frugal measure -- python train.py")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try resolveExecutable(program))
        p.arguments = Array(command.dropFirst())
        if stdoutToStderr { p.standardOutput = FileHandle.standardError }
        try meters.start()
        let t0 = Date()
        do {
            try p.run()
        } catch {
            _ = try? meters.stop()
            throw EnergyError.invalidArgument("cannot start '\(program)': \(error.localizedDescription)")
        }
        var sources: [DispatchSourceSignal] = []
        var restore: [() -> Void] = []
        if forwardSignals {
            for sig in [SIGINT, SIGTERM] {
                let old = signal(sig, SIG_IGN)
                restore.append { _ = signal(sig, old) }
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                let pid = p.processIdentifier
                source.setEventHandler { kill(pid, sig) }
                source.resume()
                sources.append(source)
            }
        }
        p.waitUntilExit()
        for source in sources { source.cancel() }
        for r in restore { r() }
        let wall = Date().timeIntervalSince(t0)
        let measurement = try meters.stop()
        let bySignal = p.terminationReason == .uncaughtSignal
        return CommandRun(command: command, exitStatus: bySignal ? 128 + p.terminationStatus : p.terminationStatus,
                          signal: bySignal ? p.terminationStatus : nil, wallSeconds: wall, measurement: measurement)
    }
}
