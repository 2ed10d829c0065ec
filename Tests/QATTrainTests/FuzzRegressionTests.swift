// Replays every input under Tests/Fuzz/regressions/blockap/ (inputs that once crashed the
// `blockap` fuzz target, Tests/Fuzz/Targets/blockap.swift) through the resume reader they broke,
// into the same one-block model the target uses: each must now be a FormatError that leaves the
// model as it was.
// A regression that crashed again would end this test process, which fails the run.
import Foundation
import Testing
import QATIO
import QATModel
import QATQuant
import QATTensor
@testable import QATTrain

@Suite struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions/blockap").path

    @Test func blockAPRegressionInputsAreFormatErrors() throws {
        let inputs = try FileManager.default.contentsOfDirectory(atPath: Self.regressions).sorted()
        #expect(!inputs.isEmpty, "no regression inputs under \(Self.regressions)")
        for name in inputs {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-fuzzreg-\(getpid())-\(name)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.createDirectory(atPath: dir + "/blockap", withIntermediateDirectories: true)
            let file = BlockAPCheckpoint.blockFile(dir, 0)
            try FileManager.default.copyItem(atPath: Self.regressions + "/" + name, toPath: file)
            let model = try tinyQuantizedModel()
            let gains = model.blocks[0].attnNorm.value.toArray() + model.blocks[0].ffnNorm.value.toArray()
            let quantizers = model.blocks[0].linears.map { $0.quantizer.map(ObjectIdentifier.init) }
            #expect(throws: FormatError.self, "\(name)") { try BlockAPCheckpoint.restoreBlock(0, model: model, dir: dir) }
            // a refused file leaves the model as it was
            #expect(model.blocks[0].attnNorm.value.toArray() + model.blocks[0].ffnNorm.value.toArray() == gains, "\(name): gains changed")
            #expect(model.blocks[0].linears.map { $0.quantizer.map(ObjectIdentifier.init) } == quantizers, "\(name): quantizers replaced")
        }
    }
}
