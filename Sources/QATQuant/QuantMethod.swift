// Post-training quantization methods as one table (as ggml's type_traits): each row says what the
// method is called, whether it needs calibration windows, which options of its own it takes, and
// how to apply it to a model under a QuantPolicy. The `quantize` verb is generated from the table
// (its method= choice, its option keys, the refusal of one method's options with another), so a
// new method is one new row in its own file, listed in `QuantMethod.all`.
//
// Rows: rtn and rtn0 (here), gptq (GPTQ.swift), awq (AWQ.swift). Option values travel as Int
// (a bool is 0 or 1); `apply` checks them against the row and fills in the defaults.
import QATModel
import QATTensor

public struct QuantMethod: Sendable {
    /// One option of a method (a `name=` key of the quantize verb).
    public struct Option: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case bool
            case int(ClosedRange<Int>)
        }
        public let name: String
        public let kind: Kind
        /// Used when the option is not given; nil: the method's own "not set" (e.g. all windows).
        public let defaultValue: Int?
        public let help: String

        public init(name: String, kind: Kind, defaultValue: Int?, help: String) {
            self.name = name; self.kind = kind; self.defaultValue = defaultValue; self.help = help
        }
    }

    /// The method's work: quantize `model` in place under `policy`. `calibration` is non-nil
    /// whenever the row needs it; `options` holds every given option and every default.
    public typealias Body = @Sendable (_ model: LlamaModel, _ policy: QuantPolicy, _ calibration: CalibrationSet?,
                                       _ options: [String: Int], _ log: (String) -> Void) throws -> Void

    public let name: String
    /// One line for `help quantize`.
    public let summary: String
    public let needsCalibration: Bool
    public let options: [Option]
    let body: Body

    public init(name: String, summary: String, needsCalibration: Bool, options: [Option] = [], body: @escaping Body) {
        self.name = name; self.summary = summary; self.needsCalibration = needsCalibration; self.options = options; self.body = body
    }

    /// Every method, in the order `help quantize` lists them.
    public static let all: [QuantMethod] = [.rtn, .rtn0, .gptq, .awq]

    /// The row called `name`; an unknown name is an error listing the known ones.
    public static func named(_ name: String) throws -> QuantMethod {
        guard let row = all.first(where: { $0.name == name }) else {
            throw TensorError.invalidArgument(op: "quantize", message: "unknown method '\(name)'; the methods are \(all.map(\.name).joined(separator: ", "))")
        }
        return row
    }

    /// Quantizes `model` in place: checks the calibration and the options against this row, fills
    /// in the defaults and runs the method.
    public func apply(model: LlamaModel, policy: QuantPolicy, calibration: CalibrationSet?, options given: [String: Int] = [:],
                      log: (String) -> Void = { _ in }) throws {
        if needsCalibration && calibration == nil {
            throw TensorError.invalidArgument(op: name, message: "method \(name) needs calibration windows; give a calibration set (calib=)")
        }
        var values: [String: Int] = [:]
        for option in options { values[option.name] = option.defaultValue }
        for (key, value) in given {
            guard let option = options.first(where: { $0.name == key }) else {
                let own = options.isEmpty ? "none" : options.map(\.name).joined(separator: ", ")
                throw TensorError.invalidArgument(op: name, message: "method \(name) has no option '\(key)'; its options: \(own)")
            }
            let allowed: ClosedRange<Int>
            switch option.kind {
            case .bool: allowed = 0...1
            case .int(let range): allowed = range
            }
            guard allowed.contains(value) else {
                throw TensorError.invalidArgument(op: name, message: "\(key)=\(value) is outside \(allowed.lowerBound)...\(allowed.upperBound)")
            }
            values[key] = value
        }
        try Self.requireFiniteWeights(model, policy: policy, method: name)
        try body(model, policy, calibration, values, log)
    }

    /// Every linear the policy quantizes must have finite weights: a NaN or infinite weight (a
    /// diverged training run, a damaged file) has no code, and every method would otherwise fail
    /// deep inside with a meaningless error or a trap converting it to an integer code.
    static func requireFiniteWeights(_ model: LlamaModel, policy: QuantPolicy, method: String) throws {
        for (name, linear, _) in try policy.plan(for: model) { try requireFinite(linear, name: name, method: method) }
    }

    /// One linear's weights are finite (see requireFiniteWeights).
    static func requireFinite(_ linear: Linear, name: String, method: String) throws {
        let w = linear.weight.value
        if let i = (0..<w.count).first(where: { !w.data[$0].isFinite }) {
            let cols = max(linear.inFeatures, 1)
            throw TensorError.invalidArgument(op: method, message: "\(name).weight[\(i / cols), \(i % cols)] is \(w.data[i]), not a finite number; quantize the model before the training that diverged, or keep \(name) at full precision with policy=...,\(name)=fp")
        }
    }
}

extension QuantMethod {
    /// Round to nearest from each group's own min/max (EfficientQAT's, AWQ's and OmniQuant's RTN).
    public static let rtn = QuantMethod(name: "rtn", summary: "round to nearest, min/max per group", needsCalibration: false) { model, policy, _, _, _ in
        try policy.apply(to: model, mode: .hard, init: .minMax)
    }

    /// Round to nearest with 0 forced into each group's range (GPTQ's quantizer, its --nearest RTN).
    public static let rtn0 = QuantMethod(name: "rtn0", summary: "round to nearest, min/max with 0 in range (GPTQ's quantizer)",
                                         needsCalibration: false) { model, policy, _, _, _ in
        try policy.apply(to: model, mode: .hard, init: .includeZero)
    }
}
