// Values of the command language and how they print.
//
// A value is a number (Double), a string, a list, a tensor, an object (a model, a quantized
// model, a dataset, a table: anything a verb returns that conforms to InterpObject) or none.
// Printing rules (docs/README and `help language`):
//   number   shortest form: 2, 0.5, 1e-05 (integral values print without ".0")
//   string   its characters, unquoted (quoted inside a list when it holds spaces or is empty)
//   list     [2 3 "a b"]
//   tensor   `tensor [4, 8]` then up to 4 rows of up to 6 values (`...` marks elided ones)
//   object   `<kind> summary`
//   none     nothing (the REPL prints no line for it)
import QATTensor

/// A value made by a verb that the language itself does not look inside.
public protocol InterpObject: AnyObject {
    /// "model", "quantized model", "dataset", "table": what `.object(kind)` arguments match.
    var kind: String { get }
    /// One line describing it (shown by the REPL, `vars` and string interpolation).
    var summary: String { get }
}

public enum Value {
    case none
    case number(Double)
    case string(String)
    case list([Value])
    case tensor(Tensor)
    case object(any InterpObject)

    /// The kind name used in messages and by `vars`.
    public var kindName: String {
        switch self {
        case .none: return "none"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .tensor: return "tensor"
        case .object(let o): return o.kind
        }
    }

    /// Truth for `if`: nonzero numbers, non-empty strings and lists, tensors and objects.
    public var isTrue: Bool {
        switch self {
        case .none: return false
        case .number(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .tensor, .object: return true
        }
    }

    /// Equality for `==` / `!=`: by value for numbers, strings and lists, by identity otherwise.
    public static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.list(x), .list(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.tensor(x), .tensor(y)): return x === y
        case let (.object(x), .object(y)): return x === y
        default: return false
        }
    }

    /// The text a value contributes to string interpolation and to `print`.
    public var text: String {
        switch self {
        case .none: return "none"
        case .number(let d): return Value.format(d)
        case .string(let s): return s
        case .list(let l): return "[" + l.map(\.listItemText).joined(separator: " ") + "]"
        case .tensor(let t): return "tensor \(t.shape)"
        case .object(let o): return "<\(o.kind)> \(o.summary)"
        }
    }

    private var listItemText: String {
        if case .string(let s) = self, s.isEmpty || s.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            return "\"" + s + "\""
        }
        return text
    }

    /// What the REPL prints for a command's value (nil for none): tensors get a preview.
    public var display: String? {
        switch self {
        case .none: return nil
        case .tensor(let t): return Value.preview(t)
        default: return text
        }
    }

    /// Numbers in their shortest readable form; whole numbers without a fraction.
    public static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    /// Floats for tensor previews: 4 decimals in a readable range, Swift's shortest form outside.
    static func formatFloat(_ x: Float) -> String {
        if x.isNaN || x.isInfinite { return "\(x)" }
        let a = abs(x)
        if a != 0 && (a < 1e-3 || a >= 1e6) { return "\(x)" }
        let scaled = Int64((Double(a) * 10_000).rounded())
        let frac = String(scaled % 10_000)
        return (x < 0 && scaled != 0 ? "-" : "") + "\(scaled / 10_000)." + String(repeating: "0", count: 4 - frac.count) + frac
    }

    /// `tensor [4, 8]` and up to 4 rows of up to 6 values; longer rows/columns are elided.
    static func preview(_ t: Tensor) -> String {
        var lines = ["tensor \(t.shape)"]
        let cols = t.shape.last ?? 1
        let rows = cols == 0 ? 0 : t.count / cols
        func row(_ r: Int) -> String {
            let base = r * cols
            let idx = cols <= 6 ? Array(0..<cols) : Array(0..<3) + Array(cols - 3..<cols)
            var items = idx.map { formatFloat(t.data[base + $0]) }
            if cols > 6 { items.insert("...", at: 3) }
            return "  [" + items.joined(separator: " ") + "]"
        }
        let shown = rows <= 4 ? Array(0..<rows) : [0, 1, rows - 2, rows - 1]
        for (i, r) in shown.enumerated() {
            if rows > 4 && i == 2 { lines.append("  ... (\(rows - 4) more rows)") }
            lines.append(row(r))
        }
        return lines.joined(separator: "\n")
    }
}
