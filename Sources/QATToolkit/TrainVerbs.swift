// Verbs that train: blockap, e2eqp (EfficientQAT's two phases) and make-tiny (the embedded tiny
// model's recipe). Both phases return the quantized model; with out=DIR they also write a QATLab
// checkpoint, and checkpoint long runs into DIR.work/ so resume=1 continues an interrupted run.
import Foundation
import QATInterp
import QATModel
import QATQuant
import QATTensor
import QATTrain

enum TrainVerbs {
    static var rows: [VerbSpec] { [blockap, e2eqp, makeTiny] }

    /// The data keys both phases share.
    static func dataKeys(val: Int) -> [ArgSpec] {
        [.key("calib", textKind, default: .string("fortunes"), help: "a text name or path, or a `calib` dataset (which fixes samples/val/seqlen)"),
         .key("samples", .int, default: .number(128), range: 1...1_000_000, help: "training windows drawn from the text"),
         .key("val", .int, default: .number(Double(val)), range: 0...100_000, help: "validation windows (from the last 10% of the text)"),
         .key("seqlen", .int, default: .number(256), range: 2...32768, help: "tokens per window")]
    }

    /// init= of blockap and fullqat (PTQInitChoice).
    static var initKey: ArgSpec {
        .key("init", .string, default: .string("minmax"), help: """
            where the quantizers start: minmax (the paper's), \(QuantMethod.all.map(\.name).joined(separator: ", ")) \
            (that quantize method with this call's bits/group/policy, calibrated on the training \
            windows; its own options act_order=/search_windows= apply), or a quantized \
            checkpoint directory (native or GPTQ) of this model with the same bits/group/policy
            """)
    }

    /// The keys that choose what Block-AP and full-model QAT train, and at which learning rates.
    static var trainableKeys: [ArgSpec] {
        [.key("train", .string, default: .string("wsz"), help: "what to train: letters from w, s, z"),
         .key("norms", .bool, default: .number(1), help: "also train the blocks' attention and MLP RMSNorm gains (Qwen3's per-head q/k norm gains stay frozen)"),
         .key("wlr", .number, range: 0...1, help: "learning rate of W and the norms (default 2e-5 at 2 bits, else 1e-5)"),
         .key("qlr", .number, default: .number(1e-4), range: 0...1, help: "learning rate of s and z")]
    }

    struct Trainables { var weights, scales, zeros, norms: Bool; var weightLR: Float?; var quantLR: Float }

    /// train=, norms=, wlr= and qlr= of a call.
    static func trainables(_ call: VerbCall) throws -> Trainables {
        let train = try call.string("train")
        guard !train.isEmpty, train.allSatisfy({ "wsz".contains($0) }) else {
            throw InterpError.verb("train=\(train) must be letters from w, s, z", hint: "e.g. train=wsz, train=sz, train=w")
        }
        return Trainables(weights: train.contains("w"), scales: train.contains("s"), zeros: train.contains("z"), norms: try call.bool("norms"),
                          weightLR: call.has("wlr") ? Float(try call.number("wlr")) : nil, quantLR: Float(try call.number("qlr")))
    }

    /// bits= and group= as a spec, and the policy: policy= when given, else the spec everywhere.
    static func quantPolicy(_ call: VerbCall) throws -> (QuantSpec, QuantPolicy) {
        let qspec = try QuantSpec(bits: try call.int("bits"), groupSize: try call.int("group"))
        return (qspec, call.has("policy") ? try QuantPolicy(parsing: try call.string("policy")) : QuantPolicy(qspec))
    }

    /// loss=, kd_temp=, kd_weight= and teacher= of e2eqp and fullqat (QATTrain/Distillation.swift).
    static var distillationKeys: [ArgSpec] {
        [.key("loss", .choice(TrainingLossKind.allCases.map(\.rawValue)), default: .string("ce"), help: """
            ce: next-token cross-entropy; kd: T^2 KL(teacher || student) per token at temperature \
            kd_temp, averaged over the predicted tokens; ce+kd: (1 - kd_weight) ce + kd_weight kd
            """),
         .key("kd_temp", .number, default: .number(1), help: "distillation temperature T > 0 (loss=kd or ce+kd)"),
         .key("kd_weight", .number, default: .number(0.5), help: "the weight w of kd in 0...1 (loss=ce+kd)"),
         .key("teacher", modelKind, help: """
            the full-precision teacher (default: the source model the quantized one came from, as \
            its checkpoint records it)
            """)]
    }

    /// The objective of a call and its teacher (nil for loss=ce): teacher= when given, else the
    /// source model `student` records, which must load as a full-precision model.
    static func distillation(_ call: VerbCall, student: ModelObject, verb: String) throws -> (TrainingObjective, LlamaModel?) {
        var o = TrainingObjective()
        let name = try call.string("loss")
        guard let kind = TrainingLossKind(rawValue: name) else {
            throw InterpError.verb("loss=\(name) is not a loss", hint: "use loss=ce, loss=kd or loss=ce+kd")
        }
        o.kind = kind
        let temp = try call.number("kd_temp"), weight = try call.number("kd_weight")
        guard temp.isFinite, temp > 0, temp <= 1e4 else {
            throw InterpError.verb("kd_temp=\(fmt(temp)) is not a temperature", hint: "give a positive number such as kd_temp=1 (plain) or kd_temp=2 (softer)")
        }
        guard weight.isFinite, (0...1).contains(weight) else {
            throw InterpError.verb("kd_weight=\(fmt(weight)) is outside 0...1", hint: "the loss is (1 - w) ce + w kd; e.g. kd_weight=0.5")
        }
        o.temperature = Float(temp); o.kdWeight = Float(weight)
        if kind == .ce {
            if let k = ["kd_temp", "kd_weight", "teacher"].first(where: call.has) {
                throw InterpError.verb("\(k)= has no effect with loss=ce", hint: "add loss=kd or loss=ce+kd, or drop \(k)=")
            }
            return (o, nil)
        }
        if kind == .kd, call.has("kd_weight") {
            throw InterpError.verb("kd_weight= has no effect with loss=kd", hint: "use loss=ce+kd to mix, or drop kd_weight=")
        }
        let teacher: ModelObject
        if call.has("teacher") {
            teacher = try call.model("teacher")
        } else {
            let loaded: LoadedModel
            do { loaded = try loadModel(student.origin) } catch {
                throw InterpError.verb("\(verb): the source model of \(student.loaded.name) is unknown (its recorded origin \"\(student.origin)\" does not load: \(error))",
                                       hint: "give the full-precision teacher: teacher=smollm2 (or its path)")
            }
            teacher = ModelObject(loaded, reloadSpec: student.origin, origin: student.origin, method: "loaded")
            guard !teacher.isQuantized else {
                throw InterpError.verb("\(verb): \(student.loaded.name) records no full-precision source (\(student.origin) is itself quantized)",
                                       hint: "give the full-precision teacher: teacher=MODEL")
            }
        }
        o.teacherIdentity = teacher.reloadSpec.map(sourceSpec) ?? "\(teacher.loaded.name) (\(teacher.method), in memory)"
        return (o, teacher.model)
    }

    static var blockap: VerbSpec {
        VerbSpec(name: "blockap", summary: """
            Block-AP: train each block's W, s, z against the full-precision block (returns the \
            quantized model).
            """,
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp + " (an object is not changed)"),
                    .key("bits", .int, default: .number(2), range: 2...8, help: "bits per weight"),
                    .key("group", .int, default: .number(64), range: -1...65536, help: "columns per group"),
                    .key("out", .string, help: "write a QATLab checkpoint here (and per-block checkpoints into DIR.work)"),
                 ] + dataKeys(val: 16) + [
                    .key("epochs", .int, default: .number(2), range: 0...1000, help: "passes over the windows per block"),
                    .key("batch", .int, default: .number(2), range: 1...4096, help: "windows per step"),
                 ] + trainableKeys + [
                    .key("clip", .number, default: .number(0), range: 0...1e6, help: "global gradient-norm clip (0: off)"),
                    .key("half", .bool, default: .number(0), help: "keep the hidden-state buffers in float16"),
                    .key("shuffle", .bool, default: .number(0), help: "reshuffle the windows every epoch"),
                    seedKey(2, "windows and shuffling"),
                    .key("blocks", .string, help: """
                        train only blocks A:B (A to B-1) or one block N; the rest stay full \
                        precision
                        """),
                    .key("resume", .bool, default: .number(0), help: """
                        continue from out=DIR.work (and replace out=DIR if the interrupted run got \
                        that far)
                        """),
                    .key("policy", .string, help: "per-block/linear overrides, e.g. \"w2g64,down_proj=w4g64\""),
                    .key("format", .choice(GGMLTrainables.formats), help: """
                        train in this llama.cpp block format instead of bits=/group=: start from \
                        llama.cpp's RTN, train W (wlr=) and the sub-blocks' scales and mins (qlr=; \
                        train= s and z; per 32 columns, per 16 for q2_k q3_k q6_k; iq4_nl: d per 32), \
                        rounded onto the format's integer scales against its fp16 d every step, then \
                        store the blocks (no out=, resume= or dump=; e2eqp continues in the format; \
                        linears whose inputs are not whole super-blocks train in llama.cpp's \
                        fallback: q2_k/q3_k -> q4_0, q4_k -> q5_0, q5_k -> q5_1; q6_k's q8_0 does not train)
                        """),
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing out= directory"),
                    .key("dump", .string, help: """
                        write activations and W/s/z gradients to this HDF5 file (layout: \
                        Sources/QATTrain/BlockAPDump.swift)
                        """),
                    .key("dump_blocks", .either([.list, .string]), default: .string("0"), help: "blocks to dump: [0 1] or 0,1"),
                    .key("dump_steps", .either([.list, .string]), default: .string("0"), help: "steps to dump: [0 10] or 0,10"),
                    memoryKey,
                    initKey,
                    .key("keep", .choice(["best", "trained"]), default: .string("best"), help: """
                        best: each block keeps the better of its start and its trained state by \
                        MSE on the validation windows (the training windows when val=0); \
                        trained: always the trained state (the paper's)
                        """),
                 ] + QuantVerbs.methodOptionKeys,
                 help: """
                     Each block's linears get fake quantizers initialised by RTN (or by init=: a \
                     PTQ solution's codes, s, z, with W set to its dequantized weight and, for AWQ, \
                     its folded norm gains, so before training the block equals the PTQ block bit \
                     for bit); W, s, z (and the norm gains) are trained with the MSE to the \
                     full-precision block's output on calibration windows, then frozen to integer \
                     codes. With keep=best a block whose trained MSE is not below its start's goes \
                     back to its start. Prints a progress line and a decision line per block \
                     (`block 7: start mse=... trained mse=... kept=trained|start (validation \
                     windows)`) and ends with `blockap spec=... init=... blocks=... \
                     final_val_mse=... start_val_mse=... kept_start=K tok_per_s=... \
                     init_seconds=... seconds=... out=...` (final and start: the last block's, on \
                     the decision's windows; K: blocks that kept their start; seconds: the whole \
                     verb's wall time, the init's PTQ included).
                     """,
                 examples: ["b = blockap m bits=2 group=64 blocks=0:4 samples=32 seqlen=128 epochs=1",
                            "b = blockap m bits=3 group=128 init=gptq samples=32 seqlen=128",
                            "b = blockap m bits=3 group=128 init=Models/gptq-w3g128",
                            "d = calib m fortunes samples=64 val=8 seqlen=128; b = blockap m calib=$d",
                            "blockap smollm2 bits=2 group=64 out=Models/eqat-w2g64 memory=4G"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out", "dump"])
            let budget = try memoryBudget(call)
            let (source, loaded) = try call.modelToChange("MODEL")
            let (qspec, policy) = try quantPolicy(call)
            let t = try trainables(call)
            var o = BlockAPOptions(policy: policy)
            o.epochs = try call.int("epochs")
            o.batchSize = try call.int("batch")
            o.trainWeights = t.weights; o.trainScales = t.scales; o.trainZeros = t.zeros; o.trainNorms = t.norms
            o.weightLR = t.weightLR; o.quantLR = t.quantLR
            o.clipGrad = Float(try call.number("clip"))
            o.halfBuffers = try call.bool("half")
            o.shuffle = try call.bool("shuffle")
            o.seed = try seed(call)
            o.blocks = call.has("blocks") ? try parseRange(try call.string("blocks"), key: "blocks") : nil
            let out = call.has("out") ? try call.string("out") : nil
            o.checkpointDir = out.map { $0 + ".work" }
            o.resume = try call.bool("resume")
            guard !o.resume || out != nil else { throw InterpError.verb("resume=1 needs out=DIR (it continues from DIR.work)", hint: "give the out= of the interrupted run") }
            if call.has("dump") {
                o.dump = DumpSelection(path: try call.string("dump"), blocks: try intSet(call, "dump_blocks"), steps: try intSet(call, "dump_steps"))
            }
            o.keepBest = try call.string("keep") == "best"
            let initChoice = try PTQInitChoice(call)
            let data = try windows(call, loaded, seed: o.seed)
            o.memoryBudget = budget
            if call.has("format") {
                o.format = try GGMLFormats.named(try call.string("format"))
                for k in ["bits", "group", "policy", "out", "resume", "dump"] where call.has(k) {
                    throw InterpError.verb("\(k)= does not apply with format=: the format fixes the codes and blocks, and a format-quantized model is not a QATLab checkpoint", hint: "drop \(k)=")
                }
            }
            try o.loop.checkMemory(advice: "lower samples=, seqlen= or batch=, or keep the buffers in float16 with half=1") {
                MemoryEstimator.blockAP(model: loaded.model, windows: data.train.count + data.validation.count, seqlen: data.seqlen,
                                        batch: o.batchSize, evalBatch: o.evalBatch, half: o.halfBuffers, blocks: o.blocks?.count)
            }
            let clock = ContinuousClock(), initStart = clock.now
            let start = try initChoice.start(source: source, model: loaded.model, policy: policy, data: data, log: { call.out($0) })
            let initSeconds = (clock.now - initStart).inSeconds
            o.initName = initChoice.fingerprint
            let r = try BlockAP.run(model: loaded.model, data: data, options: o, start: start, log: { call.out($0) })
            if let out {
                // resume=1 continues this same run, so its own finished out= may be replaced
                try NativeCheckpoint.write(loaded.model, to: out, method: "blockap", source: source.origin,
                                           metadata: ["spec": "\(qspec)", "options": o.fingerprint, "seconds": fmt(initSeconds + r.totalSeconds)],
                                           overwrite: try call.bool("overwrite") || o.resume)
            }
            let spec = o.format.map { "format=\($0)" } ?? "\(qspec)"
            let last = r.blocks.last?.decision, keptStart = r.blocks.filter { $0.decision.kept == .start }.count
            call.out("blockap spec=\(spec) init=\(initChoice.label) blocks=\(r.blocks.count) final_val_mse=\(last.map { "\($0.keptMSE)" } ?? "none") start_val_mse=\(last.map { "\($0.startMSE)" } ?? "none") kept_start=\(keptStart) tok_per_s=\(fmt(r.tokensPerSecond)) init_seconds=\(fmt(initSeconds)) seconds=\(fmt(initSeconds + r.totalSeconds)) peak_rss_mb=\(fmt(r.peakRSSMB)) out=\(out ?? "none")")
            return .object(ModelObject(loaded, reloadSpec: out, origin: source.origin,
                                       method: "blockap \(spec)" + (initChoice.label == "minmax" ? "" : " init=\(initChoice.label)")))
        }
    }

    static var e2eqp: VerbSpec {
        VerbSpec(name: "e2eqp", summary: "E2E-QP: train the step sizes of a hard-quantized model end to end (returns the model).",
                 arguments: [
                    .positional("MODEL", modelKind, help: """
                        a quantized model object or checkpoint (Block-AP, RTN, GPTQ, AWQ, any of \
                        them on a rotated model, or a model in a llama.cpp format from quantize or \
                        blockap format=F); an object is not changed. A PTQ model is a start \
                        as it is: E2E-QP trains the s (and z) of its codes, no init= needed
                        """),
                    .key("out", .string, help: "write a QATLab checkpoint here (and resumable state into DIR.work)"),
                 ] + dataKeys(val: 16) + [
                    .key("epochs", .int, default: .number(1), range: 1...1000, help: "passes over the windows"),
                    .key("batch", .int, default: .number(1), range: 1...4096, help: "windows per forward"),
                    .key("accum", .int, default: .number(4), range: 1...4096, help: "forwards per optimizer step"),
                    .key("lr", .number, range: 0...1, help: "peak learning rate (default 2e-5 at 2 bits, else 1e-5)"),
                    .key("zeros", .bool, default: .number(0), help: "also train the zero points (as train=sz)"),
                    .key("train", .choice(["s", "z", "sz"]), help: """
                        what to train: the scales s (default), the zero points z, or both \
                        (EfficientQAT Table 6)
                        """),
                    .key("clip", .number, default: .number(0.3), range: 0...1e6, help: "global gradient-norm clip (0: off)"),
                    .key("warmup", .number, default: .number(0.03), range: 0...1, help: "warm-up fraction of the steps"),
                    seedKey(42, "training order"),
                    .key("max_steps", .int, range: 1...10_000_000, help: "stop after this many optimizer steps (a time budget)"),
                    .key("resume", .bool, default: .number(0), help: """
                        continue from out=DIR.work (and replace out=DIR if the interrupted run got \
                        that far)
                        """),
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing out= directory"),
                    .key("checkpoint_every", .int, default: .number(16), range: 1...1_000_000, help: "steps between resumable checkpoints (with out=)"),
                    memoryKey,
                 ] + distillationKeys,
                 help: """
                     Codes stay frozen; the scales (and with zeros=1 the zero points) follow \
                     next-token cross-entropy (loss=ce), or distill the full-precision teacher \
                     (loss=kd: T^2 KL per token; loss=ce+kd mixes them), whose logits are computed \
                     per micro-batch without gradients. Windows are drawn with seed 2, as \
                     Block-AP's default, so both phases see the same data. On a model in a \
                     llama.cpp format the codes and integer sub-block scales stay and each block's \
                     fp16 d trains (zeros=1 or train=sz: also m / dmin), stored to fp16 every \
                     forward, so the result stays in its format and `export format=gguf` writes \
                     it exactly (no out=: a format model is not a QATLab checkpoint). Ends with `e2eqp \
                     steps=... loss=ce|kd|ce+kd initial_val_loss=... final_val_loss=... \
                     tok_per_s=... seconds=... out=...` (the val losses are cross-entropy).
                     """,
                 examples: ["e = e2eqp b samples=32 seqlen=128 max_steps=8", "e = e2eqp (quantize m method=gptq bits=3 group=128) max_steps=8", "e = e2eqp b loss=ce+kd kd_temp=2 teacher=smollm2 max_steps=8", "e2eqp Models/eqat-w2g64 out=Models/eqat-w2g64-e2e memory=4G"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            let budget = try memoryBudget(call)
            let (source, loaded) = try call.modelToChange("MODEL")
            var o = E2EQPOptions()
            o.lr = call.has("lr") ? Float(try call.number("lr")) : nil
            o.epochs = try call.int("epochs")
            o.batchSize = try call.int("batch")
            o.accumulation = try call.int("accum")
            o.trainZeros = try call.bool("zeros")
            if call.has("train") {
                let t = try call.string("train")
                guard !call.has("zeros") else { throw InterpError.verb("give train= or zeros=, not both", hint: "train=sz is zeros=1") }
                o.trainScales = t.contains("s"); o.trainZeros = t.contains("z")
            }
            o.clipGrad = Float(try call.number("clip"))
            o.warmupRatio = Float(try call.number("warmup"))
            o.seed = try seed(call)
            o.maxSteps = call.has("max_steps") ? try call.int("max_steps") : nil
            o.checkpointEvery = try call.int("checkpoint_every")
            let out = call.has("out") ? try call.string("out") : nil
            o.checkpointDir = out.map { $0 + ".work" }
            o.resume = try call.bool("resume")
            guard !o.resume || out != nil else { throw InterpError.verb("resume=1 needs out=DIR (it continues from DIR.work)", hint: "give the out= of the interrupted run") }
            let data = try windows(call, loaded, seed: 2)
            o.memoryBudget = budget
            let distills = try call.string("loss") != TrainingLossKind.ce.rawValue
            try o.loop.checkMemory(advice: "lower seqlen= or batch=") {
                MemoryEstimator.endToEnd(model: loaded.model, seqlen: data.seqlen, batch: o.batchSize,
                                         trained: E2EQP.trainedCount(loaded.model, zeros: o.trainZeros), teacher: distills)
            }
            // the teacher is loaded after the memory check, which counts its weights itself
            let (objective, teacher) = try distillation(call, student: source, verb: "e2eqp")
            o.objective = objective
            let r = try E2EQP.run(model: loaded.model, data: data, options: o, teacher: teacher, log: { call.out($0) })
            if let out {
                try NativeCheckpoint.write(loaded.model, to: out, method: "e2eqp", source: source.origin,
                                           metadata: ["options": o.fingerprint, "seconds": fmt(r.seconds)], overwrite: try call.bool("overwrite") || o.resume)
            }
            call.out("e2eqp steps=\(r.steps) loss=\(o.objective.kind.rawValue) initial_val_loss=\(r.initialValidationLoss) final_val_loss=\(r.finalValidationLoss) tok_per_s=\(fmt(r.tokensPerSecond)) seconds=\(fmt(r.seconds)) peak_rss_mb=\(fmt(r.peakRSSMB)) out=\(out ?? "none")")
            return .object(ModelObject(loaded, reloadSpec: out, origin: source.origin, method: source.method + " + e2eqp"))
        }
    }

    static var makeTiny: VerbSpec {
        let recipe = TinyRecipe()
        return VerbSpec(name: "make-tiny", summary: "Train the embedded tiny model and save it as a Hugging Face directory.",
                        arguments: [
                            .key("out", .string, default: .string("Data/tiny"), help: "the directory to write"),
                            .key("steps", .int, default: .number(Double(recipe.steps)), range: 1...1_000_000, help: "training steps"),
                            seedKey(Int(recipe.seed), "initial weights and batches"),
                            .key("text", .string, default: .string(recipe.text), help: "the training text (name or path)"),
                        ],
                        help: """
                            4 blocks, hidden 128, byte tokenizer; the recipe is documented in \
                            Sources/QATTrain/TinyModel.swift.
                            """,
                        examples: ["make-tiny out=/tmp/tiny steps=200"]) { call in
            var r = TinyRecipe()
            r.steps = try call.int("steps")
            r.seed = try seed(call)
            r.text = try call.string("text")
            let dir = try call.string("out")
            let model = try r.train(log: { call.out($0) })
            try TinyRecipe.save(model, to: dir)
            call.out("saved the tiny model to \(dir)")
            return .none
        }
    }

    /// memory=: a budget for the long runs, checked against an estimate before training starts.
    static var memoryKey: ArgSpec {
        .key("memory", .either([.string, .number]), help: """
            refuse to start when the estimated peak memory exceeds this budget, e.g. 2G or 1500M \
            (k/M/G/T = 1024^n bytes)
            """)
    }

    static func memoryBudget(_ call: VerbCall) throws -> Int? {
        guard call.has("memory") else { return nil }
        if case .number(let d)? = call.value("memory") { return try memoryBudget(text: String(d)) }
        return try memoryBudget(text: try call.string("memory"))
    }

    static func memoryBudget(text: String) throws -> Int {
        guard let b = MemoryEstimate.parseBudget(text) else {
            throw InterpError.verb("memory=\(text) is not a size", hint: "e.g. memory=2G, memory=1500M, memory=512k")
        }
        return b
    }

    /// Training and validation windows from calib=: a dataset's windows as they are, or drawn
    /// from a text (a dataset holding text, a name or a path).
    static func windows(_ call: VerbCall, _ loaded: LoadedModel, seed: UInt64) throws -> TrainingWindows {
        guard let d = call.dataset("calib") else {
            return try TrainingWindows.load(text: try call.string("calib"), tokenizer: loaded.tokenizer, samples: try call.int("samples"),
                                            validationSamples: try call.int("val"), seqlen: try call.int("seqlen"), seed: seed)
        }
        if let v = d.vocabSize, v != loaded.model.vocabSize {
            throw InterpError.verb("calib=\(d.name) was tokenized for a vocabulary of \(v), the model has \(loaded.model.vocabSize)",
                                   hint: "make the windows with this model: calib MODEL TEXT ...")
        }
        switch d.content {
        case .windows(let w):
            if let k = ["samples", "val", "seqlen"].first(where: call.has) {
                throw InterpError.verb("\(k)= conflicts with calib=\(d.name), whose windows are already drawn", hint: "set \(k)= on the `calib` verb instead")
            }
            return w
        case let .text(t, tokens):
            let ids = tokens ?? loaded.tokenizer.encode(t, addSpecial: true, parseSpecial: false)
            return try TrainingWindows.sample(tokens: ids, samples: try call.int("samples"), validationSamples: try call.int("val"),
                                              seqlen: try call.int("seqlen"), seed: seed)
        }
    }

    /// dump_blocks= / dump_steps=: a list of whole numbers or "0,10".
    static func intSet(_ call: VerbCall, _ key: String) throws -> Set<Int> {
        if case .list = call.value(key) { return Set(try call.ints(key)) }
        return try parseIntSet(try call.string(key), key: key)
    }
}

/// "A:B" (blocks A..<B) or "A" (just block A).
func parseRange(_ s: String, key: String) throws -> Range<Int> {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
    if parts.count == 1, let a = parts[0], a >= 0 { return a..<(a + 1) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], 0 <= a, a < b else {
        throw InterpError.verb("\(key)=\(s) is not valid", hint: "expected A:B (blocks A to B-1) or a single block number")
    }
    return a..<b
}

/// "0,3,7" -> {0, 3, 7}.
func parseIntSet(_ s: String, key: String) throws -> Set<Int> {
    var out = Set<Int>()
    for part in s.split(separator: ",") {
        guard let v = Int(part), v >= 0 else {
            throw InterpError.verb("\(key)=\(s) is not valid", hint: "expected whole numbers: [0 10] or 0,10")
        }
        out.insert(v)
    }
    return out
}

/// blockap's and fullqat's init=: min/max (the paper's), a quantize method run on a copy of the model, or a
/// quantized checkpoint directory; the PTQ solution becomes Block-AP's start (QATTrain/PTQInit.swift).
struct PTQInitChoice {
    enum Kind { case minMax, method(QuantMethod, [String: Int]), checkpoint(String) }
    let kind: Kind
    /// What init= said: "minmax", "gptq", or the checkpoint directory as given.
    let label: String

    init(_ call: VerbCall) throws {
        let label = try call.string("init")
        self.label = label
        let methods = QuantMethod.all.map(\.name).joined(separator: ", ")
        let kind: Kind
        if label == "minmax" {
            kind = .minMax
        } else if let m = QuantMethod.all.first(where: { $0.name == label }) {
            kind = .method(m, [:])
        } else if QuantCheckpoint.isCheckpoint(label) {
            kind = .checkpoint(label)
        } else {
            let what = FileManager.default.fileExists(atPath: label)
                ? "\(label) exists but is not a quantized checkpoint (no qatlab.json, quantize_config.json or GPTQ config.json)"
                : "there is no method or directory called \(label)"
            throw InterpError.verb("init=\(label) is not a start: \(what)",
                                   hint: "use init=minmax, a method (\(methods)) or a directory written by quantize/blockap out= or export format=gptq")
        }
        // a method's own options (act_order=, search_windows=) only with that method
        var given: [String: Int] = [:]
        for other in QuantMethod.all {
            for option in other.options where call.has(option.name) {
                guard case .method(let m, _) = kind, m.options.contains(where: { $0.name == option.name }) else {
                    let owner = QuantVerbs.owners(of: option.name)
                    throw InterpError.verb("\(option.name)= applies with init=\(owner), not init=\(label)", hint: "drop \(option.name)= or use init=\(owner)")
                }
                switch option.kind {
                case .bool: given[option.name] = try call.bool(option.name) ? 1 : 0
                case .int: given[option.name] = try call.int(option.name)
                }
            }
        }
        if given["act_order"] == 1 {
            // refused before GPTQ runs: its column -> group map has no contiguous groups to start from
            throw InterpError.verb("act_order=1 gives GPTQ groups by column rank, which Block-AP's and full QAT's fake quantizers (contiguous groups) cannot start from",
                                   hint: "drop act_order=1 (init=gptq uses act_order=0)")
        }
        if case .method(let m, _) = kind { self.kind = .method(m, given) } else { self.kind = kind }
    }

    /// For the options' fingerprint: the method with its options, or the checkpoint's absolute path.
    var fingerprint: String {
        switch kind {
        case .minMax: return "minmax"
        case let .method(m, options): return ([m.name] + options.keys.sorted().map { "\($0)=\(options[$0] ?? 0)" }).joined(separator: ",")
        case .checkpoint(let dir): return "checkpoint:" + sourceSpec(dir)
        }
    }

    /// The PTQ solution Block-AP starts from (nil for min/max). A method runs on a fresh copy of
    /// the source model, calibrated on Block-AP's own training windows; `model` (the copy
    /// Block-AP trains) stays full precision for its targets.
    func start(source: ModelObject, model: LlamaModel, policy: QuantPolicy, data: TrainingWindows, log: (String) -> Void) throws -> PTQStart? {
        switch kind {
        case .minMax:
            return nil
        case let .method(m, options):
            log("init=\(m.name): quantizing a copy of the model on the \(data.train.count) training windows")
            let copy = try source.freshCopy().model
            let calibration = m.needsCalibration ? try CalibrationSet(windows: data.train) : nil
            return try PTQStart.run(m, options: options, copy: copy, fp: model, policy: policy, calibration: calibration, log: log)
        case .checkpoint(let dir):
            let checkpoint = try QuantCheckpoint.read(dir)
            if let recorded = checkpoint.source, sourceSpec(recorded) != sourceSpec(source.origin) {
                log("note: init=\(dir) records source \(recorded), this model's is \(source.origin)")
            }
            return try PTQStart(quantized: checkpoint.model, fp: model, policy: policy, name: dir)
        }
    }
}
