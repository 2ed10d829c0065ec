// Verbs that train: blockap, e2eqp (EfficientQAT's two phases) and make-tiny (the embedded tiny
// model's recipe). Long runs checkpoint into <out>.work/ and continue from it with resume=1.
import QATModel
import QATQuant
import QATTensor
import QATTrain

enum TrainVerbs {
    static let rows: [Verb] = [
        Verb(name: "blockap", synopsis: "blockap MODEL bits=2 group=64 out=DIR [calib=fortunes] [samples=128] [val=16] [seqlen=256] [epochs=2] [batch=2] [train=wsz] [norms=1] [wlr=] [qlr=1e-4] [clip=0] [half=0] [shuffle=0] [seed=2] [blocks=A:B] [resume=0] [dump=FILE.h5 dump_blocks=0,1 dump_steps=0,10]",
             keys: ["bits", "group", "out", "calib", "samples", "val", "seqlen", "epochs", "batch", "train", "norms", "wlr", "qlr", "clip", "half", "shuffle", "seed", "blocks", "resume", "policy", "overwrite", "dump", "dump_blocks", "dump_steps"],
             help: "Block-AP: train each block's weights, step sizes and zero points (train= any of w, s, z; norms=1 also the RMSNorm gains) against the full-precision block on calibration windows, then freeze it to integer codes. wlr defaults to 2e-5 at 2 bits, 1e-5 otherwise. Checkpoints after every block into DIR.work (with train_log.h5: per-step loss, lr, grad norm); resume=1 continues. dump= writes block inputs/outputs/targets, every linear's input, output and W/s/z gradients at the chosen blocks and steps to an HDF5 file (layout in Sources/QATTrain/BlockAPDump.swift). Ends with a key=value summary.") { args, out in
            guard let spec = args.positional.first, let dir = args.options["out"] else {
                throw VerbError("blockap: expected MODEL and out=DIR, e.g. blockap smollm2 bits=2 group=64 out=Models/eqat-w2g64")
            }
            let loaded = try loadModel(spec)
            let qspec = try QuantSpec(bits: try args.int("bits", default: 2, range: 2...8), groupSize: try args.int("group", default: 64, range: -1...65536))
            var o = BlockAPOptions(policy: try args.options["policy"].map { try QuantPolicy(parsing: $0) } ?? QuantPolicy(qspec))
            o.epochs = try args.int("epochs", default: 2, range: 0...1000)
            o.batchSize = try args.int("batch", default: 2, range: 1...4096)
            let train = args.options["train"] ?? "wsz"
            guard !train.isEmpty, train.allSatisfy({ "wsz".contains($0) }) else { throw VerbError("blockap: train=\(train) must be letters from w, s, z (e.g. wsz, sz, w)") }
            o.trainWeights = train.contains("w"); o.trainScales = train.contains("s"); o.trainZeros = train.contains("z")
            o.trainNorms = try args.int("norms", default: 1, range: 0...1) == 1
            o.weightLR = try args.options["wlr"].map { try parseFloat($0, key: "wlr") }
            o.quantLR = try args.options["qlr"].map { try parseFloat($0, key: "qlr") } ?? 1e-4
            o.clipGrad = try args.options["clip"].map { try parseFloat($0, key: "clip") } ?? 0
            o.halfBuffers = try args.int("half", default: 0, range: 0...1) == 1
            o.shuffle = try args.int("shuffle", default: 0, range: 0...1) == 1
            o.seed = UInt64(try args.int("seed", default: 2, range: 0...Int(Int32.max)))
            o.blocks = try args.options["blocks"].map { try parseRange($0, key: "blocks") }
            o.checkpointDir = dir + ".work"
            o.resume = try args.int("resume", default: 0, range: 0...1) == 1
            if let path = args.options["dump"] {
                o.dump = DumpSelection(path: path, blocks: try parseIntSet(args.options["dump_blocks"] ?? "0", key: "dump_blocks"),
                                       steps: try parseIntSet(args.options["dump_steps"] ?? "0", key: "dump_steps"))
            }
            let data = try TrainingWindows.load(text: args.options["calib"] ?? "fortunes", tokenizer: loaded.tokenizer,
                                                samples: try args.int("samples", default: 128, range: 1...1_000_000),
                                                validationSamples: try args.int("val", default: 16, range: 0...100_000),
                                                seqlen: try args.int("seqlen", default: 256, range: 2...32768), seed: o.seed)
            let r = try BlockAP.run(model: loaded.model, data: data, options: o, log: out)
            try NativeCheckpoint.write(loaded.model, to: dir, method: "blockap", source: sourceSpec(spec),
                                       metadata: ["spec": "\(qspec)", "options": o.fingerprint, "seconds": fmt(r.totalSeconds)],
                                       overwrite: try args.int("overwrite", default: 0, range: 0...1) == 1)
            let last = r.blocks.last
            out("blockap spec=\(qspec) blocks=\(r.blocks.count) final_val_mse=\(last.map { "\($0.validationMSE.last ?? $0.rtnValidationMSE)" } ?? "none") rtn_val_mse=\(last.map { "\($0.rtnValidationMSE)" } ?? "none") tok_per_s=\(fmt(r.tokensPerSecond)) seconds=\(fmt(r.totalSeconds)) out=\(dir)")
        },
        Verb(name: "e2eqp", synopsis: "e2eqp MODEL out=DIR [calib=fortunes] [samples=128] [val=16] [seqlen=256] [epochs=1] [batch=1] [accum=4] [lr=] [zeros=0] [clip=0.3] [warmup=0.03] [seed=42] [max_steps=N] [resume=0]",
             keys: ["out", "calib", "samples", "val", "seqlen", "epochs", "batch", "accum", "lr", "zeros", "clip", "warmup", "seed", "max_steps", "resume", "overwrite", "checkpoint_every"],
             help: "E2E-QP: train the step sizes (zeros=1: and the zero points) of a hard-quantized MODEL (a Block-AP, RTN, GPTQ or AWQ checkpoint) end to end with next-token cross-entropy; codes stay frozen. lr defaults to 2e-5 at 2 bits, 1e-5 otherwise. Checkpoints into DIR.work; resume=1 continues. Ends with a key=value summary.") { args, out in
            guard let spec = args.positional.first, let dir = args.options["out"] else {
                throw VerbError("e2eqp: expected MODEL and out=DIR, e.g. e2eqp Models/eqat-w2g64 out=Models/eqat-w2g64-e2e")
            }
            let loaded = try loadModel(spec)
            var o = E2EQPOptions()
            o.lr = try args.options["lr"].map { try parseFloat($0, key: "lr") }
            o.epochs = try args.int("epochs", default: 1, range: 1...1000)
            o.batchSize = try args.int("batch", default: 1, range: 1...4096)
            o.accumulation = try args.int("accum", default: 4, range: 1...4096)
            o.trainZeros = try args.int("zeros", default: 0, range: 0...1) == 1
            o.clipGrad = try args.options["clip"].map { try parseFloat($0, key: "clip") } ?? 0.3
            o.warmupRatio = try args.options["warmup"].map { try parseFloat($0, key: "warmup") } ?? 0.03
            o.seed = UInt64(try args.int("seed", default: 42, range: 0...Int(Int32.max)))
            o.maxSteps = args.options["max_steps"] == nil ? nil : try args.int("max_steps", default: 1, range: 1...10_000_000)
            o.checkpointEvery = try args.int("checkpoint_every", default: 16, range: 1...1_000_000)
            o.checkpointDir = dir + ".work"
            o.resume = try args.int("resume", default: 0, range: 0...1) == 1
            let data = try TrainingWindows.load(text: args.options["calib"] ?? "fortunes", tokenizer: loaded.tokenizer,
                                                samples: try args.int("samples", default: 128, range: 1...1_000_000),
                                                validationSamples: try args.int("val", default: 16, range: 0...100_000),
                                                seqlen: try args.int("seqlen", default: 256, range: 2...32768), seed: 2)
            let r = try E2EQP.run(model: loaded.model, data: data, options: o, log: out)
            let src = QuantCheckpoint.isCheckpoint(spec) ? try QuantCheckpoint.read(spec).source : sourceSpec(spec)
            try NativeCheckpoint.write(loaded.model, to: dir, method: "e2eqp", source: src,
                                       metadata: ["options": o.fingerprint, "seconds": fmt(r.seconds)],
                                       overwrite: try args.int("overwrite", default: 0, range: 0...1) == 1)
            out("e2eqp steps=\(r.steps) initial_val_loss=\(r.initialValidationLoss) final_val_loss=\(r.finalValidationLoss) tok_per_s=\(fmt(r.tokensPerSecond)) seconds=\(fmt(r.seconds)) out=\(dir)")
        },
        Verb(name: "make-tiny", synopsis: "make-tiny [out=Data/tiny] [steps=1500] [seed=1] [text=fortunes]", keys: ["out", "steps", "seed", "text"],
             help: "Train the embedded tiny model (4 blocks, hidden 128, byte tokenizer) on a text and save it as a Hugging Face directory. The recipe is documented in Sources/QATTrain/TinyModel.swift.") { args, out in
            var recipe = TinyRecipe()
            recipe.steps = try args.int("steps", default: recipe.steps, range: 1...1_000_000)
            recipe.seed = UInt64(try args.int("seed", default: Int(recipe.seed), range: 0...Int(Int32.max)))
            recipe.text = args.options["text"] ?? recipe.text
            let dir = args.options["out"] ?? "Data/tiny"
            let model = try recipe.train(log: out)
            try TinyRecipe.save(model, to: dir)
            out("saved the tiny model to \(dir)")
        },
    ]
}

func parseFloat(_ s: String, key: String) throws -> Float {
    guard let v = Float(s), v.isFinite, v >= 0 else { throw VerbError("\(key)=\(s) is not valid: expected a non-negative number such as 1e-4") }
    return v
}

/// "A:B" (blocks A..<B) or "A" (just block A).
func parseRange(_ s: String, key: String) throws -> Range<Int> {
    let parts = s.split(separator: ":").map { Int($0) }
    if parts.count == 1, let a = parts[0], a >= 0 { return a..<(a + 1) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], 0 <= a, a < b else {
        throw VerbError("\(key)=\(s) is not valid: expected A:B (blocks A to B-1) or a single block number")
    }
    return a..<b
}

/// "0,3,7" -> {0, 3, 7}.
func parseIntSet(_ s: String, key: String) throws -> Set<Int> {
    var out = Set<Int>()
    for part in s.split(separator: ",") {
        guard let v = Int(part), v >= 0 else { throw VerbError("\(key)=\(s) is not valid: expected comma-separated whole numbers, e.g. 0,10") }
        out.insert(v)
    }
    return out
}
