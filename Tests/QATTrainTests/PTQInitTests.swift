// Block-AP started from a PTQ solution (PTQInit.swift) on the embedded tiny model: before any
// step it is the PTQ model bit for bit (RTN, GPTQ, AWQ and a checkpoint of one), each block keeps
// the better of its start and its trained state (and says so), a resumed run equals an
// uninterrupted one, and a start that cannot seed the run is refused by name.
import Foundation
import Testing
@testable import QATTrain
import QATIO
import QATModel
import QATQuant
import QATTensor

/// Every block linear's dequantized weight (q - z) * s and every norm gain, flattened.
func dequantizedState(_ m: LlamaModel) throws -> [Float] {
    var out: [Float] = []
    for b in m.blocks {
        out += b.attnNorm.value.toArray() + b.ffnNorm.value.toArray()
        for l in b.linears {
            guard let h = l.quantizer as? HardQuantizer else { continue }
            out += try h.quantized.dequantized().toArray()
        }
    }
    return out
}

@Suite(.serialized) struct PTQInitTests {
    static let spec = "w3g32"

    /// `method` run on a fresh tiny model with the windows' training part as calibration.
    static func ptqModel(_ method: String, data: TrainingWindows) throws -> LlamaModel {
        let copy = try ModelLoader.load("tiny").model
        try QuantMethod.named(method).apply(model: copy, policy: try QuantPolicy(parsing: spec),
                                            calibration: try CalibrationSet(windows: data.train))
        return copy
    }

    /// Block-AP from `start` on a fresh tiny model.
    static func blockAP(start: PTQStart?, data: TrainingWindows, epochs: Int, configure: (inout BlockAPOptions) -> Void = { _ in },
                        log: (String) -> Void = { _ in }) throws -> (LlamaModel, BlockAPReport) {
        let model = try ModelLoader.load("tiny").model
        var o = try blockAPOptions(spec)
        o.epochs = epochs
        o.initName = start?.name ?? "minmax"
        configure(&o)
        let r = try BlockAP.run(model: model, data: data, options: o, start: start, log: log)
        return (model, r)
    }

    @Test(arguments: ["rtn", "gptq", "awq"])
    func withNoTrainingTheStartIsThePTQModelBitForBit(method: String) throws { try Interrupt.exclusively {
        let (_, data) = try tinyWindows(samples: 8, seqlen: 32)
        let ptq = try Self.ptqModel(method, data: data)
        let start = try PTQStart(quantized: ptq, fp: try ModelLoader.load("tiny").model, policy: try QuantPolicy(parsing: Self.spec), name: method)
        let (model, report) = try Self.blockAP(start: start, data: data, epochs: 0)
        let want = try dequantizedState(ptq)
        #expect(try dequantizedState(model) == want)
        #expect(report.blocks.allSatisfy { $0.decision.kept == .start && $0.decision.trainedMSE == $0.decision.startMSE })
        // the start matters: min/max (the old only start) gives other weights than GPTQ and AWQ
        if method != "rtn" {
            let (minMax, _) = try Self.blockAP(start: nil, data: data, epochs: 0)
            #expect(try dequantizedState(minMax) != want)
        }
    } }

    @Test func aCheckpointStartsBlockAPAtItsWeightsAndOtherBitsAreRefused() throws { try Interrupt.exclusively {
        let (loaded, data) = try tinyWindows(samples: 8, seqlen: 32)
        let ptq = try Self.ptqModel("gptq", data: data)
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NativeCheckpoint.write(ptq, to: dir + "/q", method: "gptq", source: "tiny")
        let checkpoint = try QuantCheckpoint.read(dir + "/q")
        let start = try PTQStart(quantized: checkpoint.model, fp: loaded.model, policy: try QuantPolicy(parsing: Self.spec), name: dir + "/q")
        let (model, _) = try Self.blockAP(start: start, data: data, epochs: 0)
        #expect(try dequantizedState(model) == dequantizedState(ptq))

        let e = #expect(throws: TrainingError.self) {
            try PTQStart(quantized: checkpoint.model, fp: loaded.model, policy: try QuantPolicy(parsing: "w2g32"), name: "ckpt")
        }
        #expect(e?.message.contains("init=ckpt quantizes blocks.0.q_proj to w3g32, this run to w2g32; give bits=3 group=32") == true, "\(e?.message ?? "")")
        // an act-order GPTQ solution has no contiguous groups for the fake quantizer
        let actOrder = try ModelLoader.load("tiny").model
        try QuantMethod.gptq.apply(model: actOrder, policy: try QuantPolicy(parsing: Self.spec), calibration: try CalibrationSet(windows: data.train),
                                   options: ["act_order": 1])
        let a = #expect(throws: TrainingError.self) {
            try PTQStart(quantized: actOrder, fp: loaded.model, policy: try QuantPolicy(parsing: Self.spec), name: "gptq")
        }
        #expect(a?.message.contains("act-order groups") == true, "\(a?.message ?? "")")
    } }

    @Test func everyBlockKeepsTheBetterOfStartAndTrainedAndSaysSo() throws { try Interrupt.exclusively {
        let (_, data) = try tinyWindows(samples: 8, seqlen: 32)
        let ptq = try Self.ptqModel("gptq", data: data)
        let fp = try ModelLoader.load("tiny").model
        let start = try PTQStart(quantized: ptq, fp: fp, policy: try QuantPolicy(parsing: Self.spec), name: "gptq")
        let (_, normal) = try Self.blockAP(start: start, data: data, epochs: 2)
        for b in normal.blocks {
            #expect(b.decision.keptMSE <= b.decision.startMSE, "block \(b.block): \(b.decision.line)")
            #expect(b.decision.selection == "validation")
        }
        // a learning rate far too large makes every block worse than GPTQ's start: all keep it
        var lines: [String] = []
        let huge: (inout BlockAPOptions) -> Void = { $0.weightLR = 0.05; $0.quantLR = 0.05 }
        let (kept, report) = try Self.blockAP(start: start, data: data, epochs: 2, configure: huge, log: { lines.append($0) })
        for b in report.blocks {
            #expect(b.decision.kept == .start && b.decision.trainedMSE > b.decision.startMSE, "block \(b.block): \(b.decision.line)")
            #expect(lines.contains { $0.hasPrefix("block \(b.block): start mse=") && $0.hasSuffix("kept=start (validation windows)") })
        }
        #expect(try dequantizedState(kept) == dequantizedState(ptq))
        // keep=trained (the paper's, and the only behaviour before) keeps every trained block, so
        // block 0 (the same inputs as above) ends worse than its start; later blocks see other inputs
        let (_, paper) = try Self.blockAP(start: start, data: data, epochs: 2, configure: { huge(&$0); $0.keepBest = false })
        #expect(paper.blocks.allSatisfy { $0.decision.kept == .trained })
        #expect(paper.blocks[0].decision.keptMSE == report.blocks[0].decision.trainedMSE)
        #expect(paper.blocks[0].decision.keptMSE > paper.blocks[0].decision.startMSE)
        // without validation windows the decision is made on the training windows
        let noVal = try TrainingWindows(train: data.train, validation: [])
        let (_, train) = try Self.blockAP(start: start, data: noVal, epochs: 1, configure: huge)
        #expect(train.blocks.allSatisfy { $0.decision.selection == "training" && $0.decision.kept == .start && $0.decision.startMSE > 0 })
    } }

    @Test func aResumedPTQStartedRunEqualsAnUninterruptedOne() throws { try Interrupt.exclusively {
        let (_, data) = try tinyWindows(samples: 8, seqlen: 32)
        let fp = try ModelLoader.load("tiny").model
        let start = try PTQStart(quantized: try Self.ptqModel("awq", data: data), fp: fp, policy: try QuantPolicy(parsing: Self.spec), name: "awq")
        // a middling learning rate, so some blocks may keep their start: the decisions must survive the checkpoint
        let mixed: (inout BlockAPOptions) -> Void = { $0.weightLR = 0.01; $0.quantLR = 0.01 }
        let (a, full) = try Self.blockAP(start: start, data: data, epochs: 1, configure: mixed)
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.blockAP(start: start, data: data, epochs: 1, configure: { mixed(&$0); $0.checkpointDir = dir; $0.blocks = 0..<2 })
        var lines: [String] = []
        let (c, resumed) = try Self.blockAP(start: start, data: data, epochs: 1, configure: { mixed(&$0); $0.checkpointDir = dir; $0.resume = true },
                                            log: { lines.append($0) })
        #expect(lines.contains { $0.contains("block 1: restored") })
        #expect(try modelState(c) == modelState(a))
        #expect(resumed.blocks.map(\.decision) == full.blocks.map(\.decision))
        // a checkpoint made from another start is refused
        #expect(throws: (any Error).self) {
            try Self.blockAP(start: nil, data: data, epochs: 1, configure: { mixed(&$0); $0.checkpointDir = dir; $0.resume = true })
        }
    } }
}
