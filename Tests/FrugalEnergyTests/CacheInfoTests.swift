import Foundation
import Testing
@testable import FrugalEnergy

@Suite struct CacheInfoTests {
    func tree(_ caches: [(level: String, type: String, size: String)]) throws -> String {
        let root = try temporaryDirectory("cache")
        for (i, c) in caches.enumerated() {
            let dir = root + "/index\(i)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try (c.level + "\n").write(toFile: dir + "/level", atomically: true, encoding: .utf8)
            try (c.type + "\n").write(toFile: dir + "/type", atomically: true, encoding: .utf8)
            try (c.size + "\n").write(toFile: dir + "/size", atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func readsTheHighestDataOrUnifiedLevel() throws {
        let root = try tree([("1", "Data", "48K"), ("1", "Instruction", "32K"), ("2", "Unified", "2048K"), ("3", "Unified", "36608K")])
        let info = CacheInfo.read(root: root)
        #expect(info.lastLevelBytes == 36608 * 1024)
        #expect(info.source.contains("L3"))
    }

    @Test func instructionCachesAndBadFilesAreIgnored() throws {
        let root = try tree([("1", "Data", "32K"), ("2", "Instruction", "4M"), ("3", "Unified", "lots"), ("2", "Unified", "1M")])
        #expect(CacheInfo.read(root: root).lastLevelBytes == 1 << 20)
    }

    @Test func absentDirectoryFallsBackToTheStatedDefault() {
        let info = CacheInfo.read(root: "/nonexistent/cache")
        #expect(info.lastLevelBytes == CacheInfo.fallbackBytes)
        #expect(info.source.hasPrefix("default"))
    }

    @Test func sizesParse() {
        #expect(CacheInfo.parseSize("48K") == 48 * 1024)
        #expect(CacheInfo.parseSize("36M") == 36 << 20)
        #expect(CacheInfo.parseSize("1G") == 1 << 30)
        #expect(CacheInfo.parseSize("4096") == 4096)
        #expect(CacheInfo.parseSize("0K") == nil && CacheInfo.parseSize("") == nil && CacheInfo.parseSize("K") == nil)
    }
}
