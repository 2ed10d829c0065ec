import Foundation
import QATModel

/// Tests/ directory of this checkout.
let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

func goldenURL(_ name: String) -> URL { testsDirectory.appendingPathComponent("QATModelTests/Golden/\(name)") }

func readFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
}

func readJSON(_ url: URL) throws -> [String: Any] {
    (try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]) ?? [:]
}

/// SmolLM2, loaded once per test process. CI installs it with setup.sh; a missing model is a
/// failure with a hint, never a silent pass.
final class SmolLM2 {
    nonisolated(unsafe) static var cached: LoadedModel?
    static let lock = NSLock()
    static func load() throws -> LoadedModel {
        lock.lock(); defer { lock.unlock() }
        if let m = cached { return m }
        let m = try ModelLoader.load("smollm2")
        cached = m
        return m
    }
}
