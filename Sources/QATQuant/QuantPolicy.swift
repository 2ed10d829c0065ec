// Which linears are quantized, with which bits and group size.
//
// Default (EfficientQAT, docs/efficientqat.md 1): q/k/v/o/gate/up/down of every block get `spec`;
// embeddings, norms and the LM head stay full precision. Overrides are keyed by name, the most
// specific key winning:
//   "blocks.3.q_proj"  one linear      "blocks.3"  every linear of block 3      "down_proj"  that linear in every block
// Text form (the CLI and REPL): "w3g128" or "w3g128,blocks.0=w4g128,down_proj=fp" ("none" as the
// default leaves everything full precision unless overridden).
//
// What a quantized model costs in bits is counted from its installed quantizers, not from a
// policy: AverageBits.swift.
import QATModel
import QATTensor

/// Fake quantization (trainable W, s, z) or hard quantization (integer codes, trainable s).
public enum QuantMode: String, Sendable, CaseIterable { case fake, hard }

/// What one linear gets.
public enum LinearPrecision: Sendable, Equatable, CustomStringConvertible {
    case full
    case quantized(QuantSpec)

    public var description: String {
        switch self {
        case .full: return "fp"
        case .quantized(let s): return s.description
        }
    }
}

extension QuantSpec {
    /// "w3g128" (bits 3, group 128), "w4" or "w4g-1" (whole rows).
    public init(parsing text: String) throws {
        let t = text.lowercased()
        let bad = TensorError.invalidArgument(op: "quant spec", message: "'\(text)' is not a spec; write wNgG, e.g. w3g128, or wN for whole-row groups")
        guard t.hasPrefix("w") else { throw bad }
        let parts = t.dropFirst().split(separator: "g", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bits = Int(parts[0]) else { throw bad }
        if parts.count == 1 { try self.init(bits: bits, groupSize: -1); return }
        guard let g = Int(parts[1]) else { throw bad }
        try self.init(bits: bits, groupSize: g)
    }
}

public struct QuantPolicy: Sendable, Equatable {
    /// The linears of a block, in DecoderBlock.linears order.
    public static let linearNames = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// What every block linear gets unless overridden; nil: full precision.
    public var spec: QuantSpec?
    /// By "blocks.I.NAME", "blocks.I" or "NAME"; the most specific wins.
    public var overrides: [String: LinearPrecision]

    public init(_ spec: QuantSpec?, overrides: [String: LinearPrecision] = [:]) {
        self.spec = spec; self.overrides = overrides
    }

    /// Parses "w3g128,blocks.0=w4g128,down_proj=fp" (first item: the default, "none" for full precision).
    public init(parsing text: String) throws {
        let items = text.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }
        guard let first = items.first, !first.contains("=") else {
            throw TensorError.invalidArgument(op: "quant policy", message: "'\(text)' must start with the default spec (w3g128) or none")
        }
        self.init(first == "none" ? nil : try QuantSpec(parsing: first))
        for item in items.dropFirst() {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else {
                throw TensorError.invalidArgument(op: "quant policy", message: "'\(item)' is not KEY=SPEC (e.g. blocks.0=w4g128, down_proj=fp)")
            }
            overrides[kv[0]] = kv[1] == "fp" ? .full : .quantized(try QuantSpec(parsing: kv[1]))
        }
    }

    /// What linear `name` of block `block` gets.
    public func precision(block: Int, linear name: String) -> LinearPrecision {
        overrides["blocks.\(block).\(name)"] ?? overrides["blocks.\(block)"] ?? overrides[name] ?? spec.map { .quantized($0) } ?? .full
    }

    /// Every quantized linear of the model as (full name "blocks.I.NAME", linear, spec). Throws on an
    /// override key that names no block or linear of this model (a typo would silently do nothing).
    public func plan(blockCount: Int, blocks: (Int) -> DecoderBlock) throws -> [(name: String, linear: Linear, spec: QuantSpec)] {
        try validateKeys(blockCount: blockCount)
        var out: [(name: String, linear: Linear, spec: QuantSpec)] = []
        for i in 0..<blockCount {
            for (name, linear) in zip(Self.linearNames, blocks(i).linears) {
                if case .quantized(let s) = precision(block: i, linear: name) { out.append(("blocks.\(i).\(name)", linear, s)) }
            }
        }
        return out
    }

    public func plan(for model: LlamaModel) throws -> [(name: String, linear: Linear, spec: QuantSpec)] {
        try plan(blockCount: model.blocks.count) { model.blocks[$0] }
    }

    func validateKeys(blockCount: Int) throws {
        for key in overrides.keys {
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let ok: Bool
            switch parts.count {
            case 1: ok = Self.linearNames.contains(parts[0])
            case 2, 3:
                ok = parts[0] == "blocks" && Int(parts[1]).map { (0..<blockCount).contains($0) } == true
                    && (parts.count == 2 || Self.linearNames.contains(parts[2]))
            default: ok = false
            }
            guard ok else {
                throw TensorError.invalidArgument(op: "quant policy", message: "override '\(key)' names nothing: use blocks.I.NAME, blocks.I (I in 0..<\(blockCount)) or NAME in \(Self.linearNames.joined(separator: "/"))")
            }
        }
    }

    /// Installs a quantizer on every linear the policy quantizes (and removes any from the others),
    /// initialized by min/max from the linear's current weight. Fake mode leaves W trainable as it
    /// was; hard mode freezes W (the codes replace it) and trains s only. Returns them by full name.
    @discardableResult
    public func apply(to model: LlamaModel, mode: QuantMode, init range: RangeInit = .minMax) throws -> [String: any LinearQuantizer] {
        var installed: [String: any LinearQuantizer] = [:]
        for i in 0..<model.blocks.count {
            installed.merge(try apply(to: model.blocks[i], index: i, blockCount: model.blocks.count, mode: mode, init: range)) { a, _ in a }
        }
        return installed
    }

    /// The same for one block (block-wise training quantizes one block at a time); `index` picks
    /// the block's overrides.
    @discardableResult
    public func apply(to block: DecoderBlock, index: Int, blockCount: Int, mode: QuantMode, init range: RangeInit = .minMax) throws -> [String: any LinearQuantizer] {
        try validateKeys(blockCount: blockCount)
        var installed: [String: any LinearQuantizer] = [:]
        for (name, linear) in zip(Self.linearNames, block.linears) {
            guard case .quantized(let s) = precision(block: index, linear: name) else { linear.quantizer = nil; continue }
            let full = "blocks.\(index).\(name)"
            let fake = try FakeQuantizer(weight: linear.weight.value, spec: s, range: range, name: full)
            switch mode {
            case .fake:
                linear.quantizer = fake
            case .hard:
                linear.quantizer = try HardQuantizer(fake.harden(weight: linear.weight.value), name: full)
                linear.weight.requiresGrad = false
            }
            installed[full] = linear.quantizer
        }
        return installed
    }
}
