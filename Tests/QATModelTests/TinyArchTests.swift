// Every architecture row against transformers on tiny random models that transformers itself
// wrote (Tests/Oracles/tiny_arch_models.py, committed under TinyArch/): logits within 1e-4 of
// transformers' float64 forward, or, for a setting QATLab does not implement, a refusal that
// names it. A GGUF of an architecture outside the table is refused with the table's names.
import Foundation
import Testing
@testable import QATModel
import QATIO

/// The tiny models' budget: max |ours - transformers| over every position and vocabulary entry.
let tinyArchBudget: Float = 1e-4

func tinyArchDirectory(_ name: String) -> String { testsDirectory.appendingPathComponent("QATModelTests/TinyArch/\(name)").path }

@Suite struct TinyArchTests {
    @Test(arguments: ["llama", "llama32_tied", "llama3_rope", "qwen2", "mistral"])
    func matchesTransformersOrRefusesByName(_ name: String) throws {
        let dir = tinyArchDirectory(name)
        let golden = try readJSON(URL(fileURLWithPath: dir + "/golden.json"))
        let refusal = golden["refusal"] as? String
        let refusalAt = golden["refusal_at"] as? Int
        if refusalAt == 0 {
            #expect(throws: FormatError.self) { try ModelLoader.load(dir) }
            do { _ = try ModelLoader.load(dir) } catch { #expect("\(error)".contains(refusal ?? "?"), "\(error)") }
            return
        }
        let model = try ModelLoader.load(dir).model
        let ids = (golden["ids"] as? [Int] ?? []).map(Int32.init)
        let ref = try readFloats(URL(fileURLWithPath: dir + "/" + (golden["logits_file"] as? String ?? "")))
        let logits = try model.logits(ids)
        #expect(logits.shape == [ids.count, model.vocabSize] && ref.count == logits.count)
        var worst: Float = ref.count == logits.count ? 0 : .infinity
        for i in 0..<min(ref.count, logits.count) { worst = max(worst, abs(logits.data[i] - ref[i])) }
        #expect(worst <= tinyArchBudget, "\(name): max abs logit difference \(worst)")
        #expect(try logits.argmax(axis: 1) == (golden["argmax"] as? [Int] ?? []))
        if let refusalAt, let refusal {
            let longer = (0..<refusalAt).map { Int32($0 % 256) }
            #expect(throws: (any Error).self) { try model.logits(longer) }
            do { _ = try model.logits(longer) } catch { #expect("\(error)".contains(refusal), "\(error)") }
        }
    }

    @Test func tiedEmbeddingHasNoSeparateHead() throws {
        #expect(try ModelLoader.load(tinyArchDirectory("llama32_tied")).model.lmHead == nil)
        #expect(try ModelLoader.load(tinyArchDirectory("qwen2")).model.config.attentionBias)
    }

    @Test func ggufOfAnUnsupportedArchitectureNamesItAndTheSupportedOnes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("gemma.gguf").path
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        try w.write(to: path)
        do { _ = try ModelLoader.load(path); Issue.record("no error") } catch {
            #expect("\(error)".contains("'gemma3'") && "\(error)".contains(ModelArchitecture.supportedGGUFNames), "\(error)")
        }
    }
}
