// LLM-QFA on the embedded tiny model: the QA-LoRA adapter's backward matches finite differences,
// a step leaves the adapters of unsampled widths (and their AdamW moments) bit-identical, merged
// adapters reproduce base + adapter, an exported subnet loads back as the same function, and a
// resumed run ends bit for bit where an uninterrupted one does.
import Foundation
import Testing
@testable import QATTrain
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

/// The tiny model with RTN bases at widths 2, 3, 4 (group 32: 4 pooled groups on 128 inputs).
func tinySupernet(adapters: QFAAdapterMode = .decoupled, unit: QFAUnit = .block, widths: [Int] = [2, 3, 4]) throws -> (QFASupernet, TrainingWindows) {
    let (loaded, data) = try tinyWindows(samples: 16, seqlen: 32)
    var o = QFAOptions()
    o.widths = widths; o.base = .rtn; o.rank = 4; o.alpha = 8; o.adapters = adapters; o.unit = unit
    let bases = try QFABases.build(model: loaded.model, options: o, calibration: nil, log: { _ in })
    return (try QFASupernet(model: loaded.model, source: "tiny", options: o, bases: bases), data)
}

/// Random non-zero adapters (a fresh B is zero, which would make merge tests vacuous).
func randomizeAdapters(_ net: QFASupernet, seed: UInt64) {
    var rng = SeededRandom(seed: seed)
    for (_, p) in net.parameters { for i in 0..<p.value.count { p.value.data[i] = 0.2 * (rng.uniform() - 0.5) } }
}

func scratch(_ tag: String) throws -> String {
    let p = NSTemporaryDirectory() + "qat-qfa-\(tag)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

func trainOptions(steps: Int, dir: String? = nil) -> QFATrainOptions {
    var o = QFATrainOptions()
    o.steps = steps; o.lr = 1e-2; o.accumulation = 2; o.sampler = .uniform; o.period = 4
    o.checkpointDir = dir; o.checkpointEvery = 2
    return o
}

@Suite struct QFATrainTests {
    @Test func adapterBackwardMatchesFiniteDifferences() throws {
        // 10 inputs in groups of 4: the last group is shorter (2 columns)
        let ad = try QFAAdapter(name: "t", inFeatures: 10, outFeatures: 6, groupSize: 4, rank: 3, alpha: 6, seed: 1)
        var rng = SeededRandom(seed: 9)
        for i in 0..<ad.b.value.count { ad.b.value.data[i] = rng.normal() }
        let x = Var(try Tensor.randn([2, 5, 10], seed: 4), requiresGrad: true)
        let r = try gradCheck(inputs: [x, ad.a, ad.b]) { v in try ad.delta(v[0]) }
        #expect(r.passed, "\(r)")
    }

    @Test func unsampledAdaptersAndMomentsAreUntouched() throws {
        let (net, data) = try tinySupernet()
        let dir = try scratch("untouched")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = trainOptions(steps: 8, dir: dir)
        o.maxSteps = 1
        _ = try QFATrain.run(net, data: data, options: o, log: { _ in })
        let before = try SafetensorsFile(path: QFACheckpoint.statePath(dir))
        let beforeValues = try Dictionary(uniqueKeysWithValues: before.names.map { ($0, try before.tensor($0).toArray()) })
        o.maxSteps = 2; o.resume = true
        _ = try QFATrain.run(net, data: data, options: o, log: { _ in })
        let after = try SafetensorsFile(path: QFACheckpoint.statePath(dir))
        let config = try QFATrain.sampler(for: net, o).configuration(step: 1)
        let sampled = Set(net.slots.map { "w\(config[$0.block]).\($0.key)" })
        #expect(Set(config).count > 1, "step 1 should mix widths to make this test meaningful: \(config)")
        var untouched = 0, moved = 0
        for name in after.names where name.contains(".lora_") && !name.hasPrefix("history") {
            let stem = name.components(separatedBy: ".lora_")[0]
            let now = try after.tensor(name).toArray()
            if sampled.contains(stem) {
                if name.hasSuffix(".lora_B") && now != beforeValues[name] { moved += 1 }
            } else {
                #expect(beforeValues[name] == now, "\(name) changed although width \(stem.prefix(2)) was not sampled")
                #expect(after.metadata[name + ".step"] == before.metadata[name + ".step"])
                untouched += 1
            }
        }
        #expect(untouched > 0 && moved > 0, "untouched \(untouched), moved \(moved)")
    }

    @Test func mergedAdaptersEqualBasePlusAdapter() throws {
        let (net, data) = try tinySupernet()
        randomizeAdapters(net, seed: 11)
        let config = [2, 4, 3, 2]
        try net.apply(config)
        let window = data.validation[0]
        let withAdapters = try net.model.logits(window)
        let bare = try { try net.apply(config, adapters: false); return try net.model.logits(window) }()
        // per linear: s (q - z') = s (q - z) + (alpha/r) (B A)[o, g] / G
        let slot = net.slots[3], w = config[slot.block]
        let qw = try #require(slot.bases[w]), ad = try #require(slot.adapters[w])
        let merged = try ad.merged(into: qw).dequantized(), base = qw.dequantized(), delta = ad.groupDelta()
        var worst: Float = 0
        for o in 0..<qw.rows { for i in 0..<qw.cols {
            let want = base.data[o * qw.cols + i] + delta[o * ad.groupCount + i / ad.groupSize]
            worst = max(worst, abs(merged.data[o * qw.cols + i] - want))
        } }
        #expect(worst < 1e-5, "merged weight off by \(worst)")
        try QFAExport.installMerged(net, config: config)
        let mergedLogits = try net.model.logits(window)
        let diff = zip(withAdapters.toArray(), mergedLogits.toArray()).map { abs($0 - $1) }.max() ?? 1
        let adapterEffect = zip(withAdapters.toArray(), bare.toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(diff < 1e-3, "merged logits differ from base + adapter by \(diff)")
        #expect(adapterEffect > 100 * diff, "the adapters change the logits by only \(adapterEffect)")
        try QFAExport.restore(net, config: config)
        #expect(try net.model.logits(window).toArray() == withAdapters.toArray())
    }

    @Test func exportedSubnetLoadsAsTheSameFunction() throws {
        let (net, data) = try tinySupernet()
        randomizeAdapters(net, seed: 12)
        let dir = try scratch("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = [4, 2, 2, 3]
        try net.apply(config)
        let window = data.validation[0]
        let want = try net.model.logits(window).toArray()
        try QFAExport.write(net, config: config, to: dir + "/subnet")
        let ck = try QuantCheckpoint.load(dir + "/subnet")
        let got = try ck.model.logits(window).toArray()
        #expect((zip(want, got).map { abs($0 - $1) }.max() ?? 1) < 1e-3)
        let manifest = try NativeCheckpoint.readManifest(dir + "/subnet")
        #expect(manifest.linears["model.layers.0.self_attn.q_proj"]?.bits == 4)
        #expect(manifest.linears["model.layers.1.mlp.down_proj"]?.bits == 2)
        #expect(ck.model.blocks[1].q.quantizer is MergedZeroQuantizer)
        // the supernet is back at the configuration after the export
        #expect(try net.model.logits(window).toArray() == want)
    }

    @Test func resumedRunEqualsUninterrupted() throws {
        let dirA = try scratch("resumeA"), dirB = try scratch("resumeB")
        defer { for d in [dirA, dirB] { try? FileManager.default.removeItem(atPath: d) } }
        let (netA, data) = try tinySupernet()
        let full = try QFATrain.run(netA, data: data, options: trainOptions(steps: 6, dir: dirA), log: { _ in })
        let (netB, _) = try tinySupernet()
        var o = trainOptions(steps: 6, dir: dirB)
        o.maxSteps = 3
        _ = try QFATrain.run(netB, data: data, options: o, log: { _ in })
        let (netC, _) = try tinySupernet()   // a fresh process: nothing but the checkpoint survives
        o.maxSteps = nil; o.resume = true
        let resumed = try QFATrain.run(netC, data: data, options: o, log: { _ in })
        #expect(resumed.losses == full.losses)
        #expect(resumed.configurations == full.configurations)
        for ((name, a), (_, c)) in zip(netA.parameters, netC.parameters) {
            #expect(a.value.toArray() == c.value.toArray(), "\(name) differs after resume")
        }
        #expect(full.losses.count == 6 && full.losses.allSatisfy(\.isFinite))
        let log = try HDF5File.open(path: dirB + "/train_log.h5")
        #expect(try log.readTensor("/qfa/mean_width").count == 6)
    }

    @Test func trainingLowersTheLossAndSearchRunsOnTheTrainedSupernet() throws {
        let (net, data) = try tinySupernet()
        // the tiny model's 16 windows are too few for validation to move in a few steps: the loss on
        // the training windows themselves at every width is what must drop
        func trainLoss() throws -> [Double] {
            try [2, 3, 4].map { w in
                try net.apply([w, w, w, w])
                return try E2EQP.validationLoss(model: net.model, windows: data.train)
            }
        }
        let before = try trainLoss()
        var o = trainOptions(steps: 16)
        o.sampler = .balanced; o.period = 8
        _ = try QFATrain.run(net, data: data, options: o, log: { _ in })
        let after = try trainLoss()
        for i in 0..<3 { #expect(after[i] < before[i], "w\(i + 2): \(before) -> \(after)") }
        var so = QFASearchOptions()
        so.budget = 3; so.coarse = 8; so.fine = 4; so.pin = 0.25
        let scorer = QFAScorer.perplexity(selection: Array(data.validation.prefix(2)), heldout: Array(data.validation.suffix(2)))
        let s = try QFASearch.run(net, options: so, scorer: scorer, log: { _ in })
        // 4 block units at 3 bits: the pinned space is small, so the fine stage stops when it runs out of new subnets
        #expect(s.evaluated.filter { $0.stage == "coarse" }.count == 8)
        #expect((1...4).contains(s.evaluated.filter { $0.stage == "fine" }.count))
        #expect(Set(s.evaluated.map(\.configuration)).count == s.evaluated.count)
        #expect(s.evaluated.allSatisfy { $0.meanWidth <= 3 + 1e-9 })
        let best = try #require(s.best)
        // the pick's held-out perplexity is that of the held-out windows at its configuration
        try net.apply(best.configuration)
        let heldout = try E2EQP.validationLoss(model: net.model, windows: Array(data.validation.suffix(2)))
        #expect(abs((s.heldout.picked?.score ?? 0) - qexpD(heldout)) < 1e-9 * qexpD(heldout))
        #expect(s.pinnedHigh.count + s.pinnedLow.count == 2)
        #expect(s.evaluated.filter { $0.stage == "fine" }.allSatisfy { c in
            s.pinnedHigh.allSatisfy { c.configuration[$0] == 4 } && s.pinnedLow.allSatisfy { c.configuration[$0] == 2 } })
        #expect(net.configuration == best.configuration)
    }

    @Test func sharedVariantsAndLinearUnits() throws {
        let (shared, _) = try tinySupernet(adapters: .shared)
        let (matched, _) = try tinySupernet(adapters: .shared_matched)
        let (decoupled, _) = try tinySupernet()
        let count = { (n: QFASupernet) in n.parameters.reduce(0) { $0 + $1.1.value.count } }
        #expect(count(decoupled) == 3 * count(shared))
        #expect(count(matched) == count(decoupled))
        #expect(shared.slots[0].adapters[2] === shared.slots[0].adapters[4])
        let (perLinear, _) = try tinySupernet(unit: .linear)
        #expect(perLinear.unitCount == 4 * 7)
        #expect(decoupled.memoryReport.contains("w2: base"))
        #expect(decoupled.baseBytes(width: 2) == decoupled.slots.reduce(0) { $0 + $1.linear.weight.value.count * 5 / 4 })
    }
}
