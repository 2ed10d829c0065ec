// The objects verbs hand to the command language: models (full precision or quantized), datasets
// and results tables, and how a verb argument that may be an object or a name is resolved.
//
// A MODEL argument is a model object (`$m`, or a bare word naming a variable that holds one) or a
// path/name for loadModel (a .gguf, a Hugging Face or QATLab checkpoint directory, smollm2, tiny,
// default). A bare word is looked up as a variable first, so `ppl q devil` uses `$q` when it is
// set and loads a model called `q` otherwise.
import Foundation
import QATInterp
import QATModel
import QATQuant
import QATResults
import QATTensor
import QATTokenizer
import QATTrain

/// A loaded model in the session: `m = load smollm2`.
public final class ModelObject: InterpObject {
    public let loaded: LoadedModel
    /// What loading again gives the same weights from (a name, a path or a checkpoint directory);
    /// nil when the weights exist only in memory (a quantize/blockap/e2eqp result without out=).
    public let reloadSpec: String?
    /// The full-precision model the weights came from, as checkpoints record it.
    public let origin: String
    /// How it was made ("loaded", "rtn w2g64", "blockap w2g64", ...).
    public let method: String

    public init(_ loaded: LoadedModel, reloadSpec: String?, origin: String, method: String) {
        self.loaded = loaded; self.reloadSpec = reloadSpec; self.origin = origin; self.method = method
    }

    public var model: LlamaModel { loaded.model }

    /// What `eval` and `compare` call this model: the loaded name for a model as loaded, else where
    /// it was saved (out=), else how it was made. A quantized copy keeps its source's loaded name,
    /// which would label GPTQ, AWQ and QAT rows all as the full-precision file.
    public var label: String {
        if method == "loaded" { return loaded.name }
        return reloadSpec ?? method.replacingOccurrences(of: " + ", with: "+").replacingOccurrences(of: " ", with: "-")
    }

    public var isQuantized: Bool { model.blocks.contains { $0.linears.contains { $0.quantizer != nil } } }

    public var kind: String { isQuantized ? "quantized model" : "model" }

    public var summary: String {
        let params = Double(model.parameterCount)
        let p = params >= 1e6 ? fmt(params / 1e6, digits: 1) + "M" : fmt(params / 1e3, digits: 1) + "K"
        return "source=\(loaded.name) blocks=\(model.blocks.count) params=\(p) avg_bits=\(fmt(averageBits, digits: 3)) method=\(method)"
    }

    /// Average bits per weight of the block linears as installed (QATQuant's AverageBits).
    public var averageBits: Double { AverageBits.blockLinears(model) }

    /// A model to change without touching this one: loaded again from its source when it has one,
    /// otherwise copied through a temporary QATLab checkpoint.
    public func freshCopy() throws -> LoadedModel {
        if let spec = reloadSpec {
            let l = try loadModel(spec)
            return LoadedModel(model: l.model, tokenizer: l.tokenizer, name: loaded.name)
        }
        // linears in a llama.cpp format are not a QATLab checkpoint's: it carries their
        // full-precision weights, and the copy gets quantizers over the same blocks
        let tmp = NSTemporaryDirectory() + "qat-copy-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try GGMLQuantization.withFormatLinearsSetAside(model) { try NativeCheckpoint.write(model, to: tmp, method: method, source: origin) }
        let copy = try QuantCheckpoint.read(tmp).model
        try GGMLQuantization.copyQuantizers(from: model, to: copy)
        return LoadedModel(model: copy, tokenizer: loaded.tokenizer, name: loaded.name)
    }
}

/// The quantization spec a linear's quantizer uses, if any.
func quantSpec(_ l: Linear) -> QuantSpec? { AverageBits.installedSpec(l) }

/// Text and token windows: `text devil`, `calib m fortunes samples=32`.
public final class DatasetObject: InterpObject {
    public enum Content {
        /// A whole text (and its tokens when a model's tokenizer was given).
        case text(String, tokens: [Int32]?)
        /// Training and validation windows for quantize/blockap/e2eqp.
        case windows(TrainingWindows)
    }
    public let name: String
    public let content: Content
    /// The vocabulary size of the tokenizer that made the tokens (nil for raw text).
    public let vocabSize: Int?
    public let details: String

    public init(name: String, content: Content, vocabSize: Int?, details: String = "") {
        self.name = name; self.content = content; self.vocabSize = vocabSize; self.details = details
    }

    public var kind: String { "dataset" }

    public var summary: String {
        switch content {
        case let .text(t, tokens):
            let lines = t.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            return "text \(name): \(t.utf8.count) bytes, \(lines) lines" + (tokens.map { ", \($0.count) tokens" } ?? "")
        case let .windows(w):
            return "windows of \(name): train=\(w.train.count) val=\(w.validation.count) seqlen=\(w.seqlen)" + (details.isEmpty ? "" : " " + details)
        }
    }
}

extension ResultsTable: InterpObject {
    public var kind: String { "table" }
    public var summary: String { "\(name): \(rows.count) rows, columns \(columns.joined(separator: " "))" }
}

// MARK: - Argument resolution

/// The kinds a MODEL argument accepts.
let modelKind: ArgKind = ArgKind.either([.object("model"), .object("quantized model"), .string])
/// The kinds a TEXT or calib= argument accepts.
let textKind: ArgKind = ArgKind.either([.object("dataset"), .string])

extension VerbCall {
    /// An object argument given directly, or through a bare word naming a variable.
    func objectArgument<T: InterpObject>(_ name: String, as type: T.Type) -> T? {
        switch value(name) {
        case .object(let o)?: return o as? T
        case .string(let s)?:
            if case .object(let o)? = interpreter.variables[s] { return o as? T }
            return nil
        default: return nil
        }
    }

    /// A MODEL argument as a model object: the object itself, or a model loaded by name or path.
    func model(_ name: String) throws -> ModelObject {
        if let m = objectArgument(name, as: ModelObject.self) { return m }
        let spec = try string(name)
        let loaded = try loadModel(spec)
        let isCheckpoint = QuantCheckpoint.isCheckpoint(spec)
        let origin = isCheckpoint ? ((try? QuantCheckpoint.read(spec).source).flatMap { $0 } ?? spec) : sourceSpec(spec)
        return ModelObject(loaded, reloadSpec: spec, origin: origin, method: isCheckpoint ? "checkpoint" : "loaded")
    }

    /// A dataset argument, if one was given as an object (or a variable name holding one).
    func dataset(_ name: String) -> DatasetObject? { objectArgument(name, as: DatasetObject.self) }

    /// The text of a TEXT argument: a dataset holding text, or a bundled name or path.
    func text(_ name: String) throws -> (label: String, text: String) {
        if let d = dataset(name) {
            guard case let .text(t, _) = d.content else {
                throw InterpError.verb("\(name) is a dataset of windows, not a text", hint: "give a text name, a path, or a `text NAME` value")
            }
            return (d.name, t)
        }
        let spec = try string(name)
        return (spec, try TextCorpus.load(spec))
    }
}

/// Checks that tokens made by one tokenizer fit the model that will read them.
func checkVocabulary(_ d: DatasetObject, _ m: ModelObject) throws {
    if let v = d.vocabSize, v != m.model.vocabSize {
        throw InterpError.verb("the dataset \(d.name) was tokenized for a vocabulary of \(v), the model has \(m.model.vocabSize)",
                               hint: "make the windows with this model: calib \(m.loaded.name) \(d.name) ...")
    }
}
