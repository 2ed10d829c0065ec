// Checked conversions from floating point to Int: the one place that decides whether a number
// typed at the REPL, read from a file or computed can become a count, index, size or seed.
//
// Swift's Int(x) stops the process (SIGILL) when x is NaN, infinite or outside Int's range,
// and silently drops a fraction. A REPL session must survive any number it is given, so every
// conversion whose argument is not bounded by construction goes through `checkedInt`, which
// throws an error naming what the number was for, its value and what was expected.
//
// The text of a number lives here too (`exponentForm`, and `fmt`, the fixed-point form every
// verb, bench line and sweep report uses): both must print any Double without trapping,
// and QATTensor is the lowest module their users (QATBench, QATSweep, QATToolkit) share.

/// A number that cannot become an Int: what it was for, its value, and what was expected.
public struct ConversionError: Error, CustomStringConvertible, Equatable {
    public let what: String
    public let value: Double
    public let expected: String

    public init(what: String, value: Double, expected: String) {
        self.what = what; self.value = value; self.expected = expected
    }

    public var description: String {
        let next = !value.isFinite ? "check what produced it (a division by zero or an overflow?)"
            : value != value.rounded() ? "round it, or give a whole number" : "give a smaller number"
        return "\(what) is \(value), expected \(expected): \(next)"
    }
}

/// The largest magnitude (9e15) a number of the command language may have to count as a whole
/// number: below 2^53, so every whole number up to it is held exactly by a Double.
public let largestExactWholeNumber = 9e15

/// `x` as an Int when it is a whole number in Int's range; throws otherwise (NaN, infinities,
/// fractions, |x| >= 2^63). `what` names the quantity in the error, e.g. "units=".
public func checkedInt(_ x: Double, _ what: String) throws -> Int {
    guard x.isFinite else { throw ConversionError(what: what, value: x, expected: "a finite whole number") }
    guard x == x.rounded() else { throw ConversionError(what: what, value: x, expected: "a whole number") }
    guard let n = Int(exactly: x) else {
        throw ConversionError(what: what, value: x, expected: "a whole number between \(Int.min) and \(Int.max)")
    }
    return n
}

/// `x` rounded by `rule`, as an Int; throws for NaN, infinities and results outside Int's range.
public func checkedInt(_ x: Double, rounding rule: FloatingPointRoundingRule, _ what: String) throws -> Int {
    guard x.isFinite else { throw ConversionError(what: what, value: x, expected: "a finite number") }
    return try checkedInt(x.rounded(rule), what)
}

/// `x` as an Int, checked like `checkedInt(_:_:)` (Float data from files: codes, indices).
public func checkedInt(_ x: Float, _ what: String) throws -> Int {
    try checkedInt(Double(x), what)
}

/// Swift's shortest text for `x`, always with an exponent (Swift itself writes |x| < 1e16 digit
/// by digit): the form the fixed-point formatters use for a number too large for their Int
/// arithmetic (they call it for |x| >= 1e14 or so only).
public func exponentForm(_ x: Double) -> String {
    let s = "\(x)"
    guard x.isFinite, x != 0, !s.contains("e") else { return s }
    var p = 1.0, e = 0
    while abs(x) / p >= 10 { p *= 10; e += 1 }   // p stays an exact power of ten (e < 16 here)
    let m = "\(x / p)"
    return (m.hasSuffix(".0") ? String(m.dropLast(2)) : m) + "e+\(e)"
}

/// Fixed-point text for a number (no Foundation), the one definition every verb and `time` use.
/// Non-finite numbers and numbers of 1e15 or more print in exponent form (1e+19):
/// a broken model's perplexity can be anything up to inf, and must print, not trap.
public func fmt(_ x: Double, digits: Int = 1) -> String {
    let digits = min(max(digits, 0), 15)
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    guard x.isFinite, abs(x) < 1e15 else { return exponentForm(x) }
    let scale = Int64(p)   // safe: p <= 1e15
    var v = (abs(x) * p).rounded()
    var whole: Int64, frac: Int64
    if v < 4_503_599_627_370_496 {   // 2^52: the scaled value and its quotient are exact
        whole = Int64(v) / scale; frac = Int64(v) % scale
    } else {
        // abs(x) * p is past a Double's exact integers, where its last digits are rounding noise
        // (725561595285362 printed as ...361.96): round the fraction alone, which is exact to
        // 2^-52 of itself, and carry
        let w = abs(x).rounded(.down)
        v = ((abs(x) - w) * p).rounded()
        whole = Int64(w); frac = Int64(v)   // safe: w < 1e15, 0 <= v <= p <= 1e15
        if frac == scale { whole += 1; frac = 0 }
    }
    let fs = String(frac)
    let digitsText = String(repeating: "0", count: max(0, digits - fs.count)) + fs
    return (x < 0 && (whole != 0 || frac != 0) ? "-" : "") + String(whole) + (digits > 0 ? "." + digitsText : "")
}
