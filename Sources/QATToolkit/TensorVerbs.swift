// Tensor verbs: create (tensor, randn, rand, zeros, ones, arange), slice, matmul, elementwise
// add/sub/mul/div with NumPy broadcasting (numbers act as scalars), and inspection (show, stats,
// hist). Tensors are float32; every verb returns a new tensor and never changes its operands.
import Foundation
import QATInterp
import QATResults
import QATTensor

enum TensorVerbs {
    static var rows: [VerbSpec] {
        [tensor, randn, rand, constant("zeros", 0), constant("ones", 1), arange, slice, matmul]
            + [("add", QATTensor.BinaryOp.add), ("sub", .sub), ("mul", .mul), ("div", .div)].map { elementwise($0.0, $0.1) }
            + [show, stats, hist]
    }

    static var dims: ArgSpec { .variadic("DIM", .int, min: 1, range: 0...1e9, help: "the shape, one whole number per dimension") }

    static var tensor: VerbSpec {
        VerbSpec(name: "tensor", summary: "A tensor from a list of numbers (nested lists give the shape).",
                 arguments: [.positional("VALUES", .list, help: "numbers: [1 2 3] or [[1 2] [3 4]]"),
                             .key("shape", .list, help: "reshape to this, e.g. [2 3] (default: the nesting of VALUES)")],
                 help: """
                     Values are stored as float32. A nested list must be rectangular; shape= \
                     reshapes the flat values (row-major).
                     """,
                 examples: ["t = tensor [1 2 3 4 5 6] shape=[2 3]", "t = tensor [[1 2] [3 4]]"]) { call in
            var flat: [Float] = []
            let nested = try flatten(try call.list("VALUES"), into: &flat)
            let shape = call.has("shape") ? try call.ints("shape") : nested
            guard shape.allSatisfy({ $0 >= 0 }), (try? checkedShape(shape)).map({ _ in shape.reduce(1, *) }) == flat.count else {
                throw InterpError.verb("shape=\(shape) does not hold \(flat.count) values", hint: "the product of the shape must be \(flat.count)")
            }
            return .tensor(try Tensor(shape: shape, flat))
        }
    }

    /// Flattens nested lists of numbers; returns the shape the nesting implies.
    static func flatten(_ items: [Value], into flat: inout [Float]) throws -> [Int] {
        var inner: [Int]?
        for v in items {
            switch v {
            case .number(let d): flat.append(Float(d)); if inner == nil { inner = [] }
            case .list(let l):
                let s = try flatten(l, into: &flat)
                if inner == nil { inner = s }
                guard inner == s else { throw InterpError.verb("ragged nested list: rows of shapes \(inner ?? []) and \(s)", hint: "every row needs the same length") }
            default: throw InterpError.verb("tensor values must be numbers, got \(v.kindName)", hint: "e.g. tensor [1 2 3]")
            }
        }
        return [items.count] + (inner ?? [])
    }

    /// A shape whose element count neither overflows nor exceeds the machine's memory: the
    /// allocation would otherwise end the process (`zeros 100000 100000` asked for 40 GB and
    /// the runtime aborted the whole session).
    static func checkedShape(_ shape: [Int]) throws -> [Int] {
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: max(d, 0))
            guard !overflow else { throw InterpError.verb("shape \(shape) has more elements than an Int holds", hint: "use smaller dimensions") }
            count = p
        }
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard count <= memory / 4 else {
            throw InterpError.verb("shape \(shape) is \(count) float32 values (\(count / 250_000_000) GB), more than this machine's \(memory >> 30) GiB of memory",
                                   hint: "use smaller dimensions")
        }
        return shape
    }

    static var randn: VerbSpec {
        VerbSpec(name: "randn", summary: "A tensor of normal random numbers.",
                 arguments: [dims, seedKey(0), .key("mean", .number, default: .number(0), help: "the mean"),
                             .key("std", .number, default: .number(1), range: 0...1e30, help: "the standard deviation")],
                 help: "The same seed gives the same numbers on every machine.",
                 examples: ["x = randn 4 8 seed=1", "w = randn 576 576 std=0.02"]) { call in
            .tensor(try Tensor.randn(try checkedShape(try call.ints("DIM")), seed: try seed(call), mean: Float(try call.number("mean")), std: Float(try call.number("std"))))
        }
    }

    static var rand: VerbSpec {
        VerbSpec(name: "rand", summary: "A tensor of uniform random numbers in [low, high).",
                 arguments: [dims, seedKey(0), .key("low", .number, default: .number(0), help: "the lower bound"),
                             .key("high", .number, default: .number(1), help: "the upper bound (excluded)")],
                 help: "The same seed gives the same numbers on every machine.",
                 examples: ["u = rand 3 3 seed=2", "u = rand 100 low=-1 high=1"]) { call in
            .tensor(try Tensor.rand(try checkedShape(try call.ints("DIM")), seed: try seed(call), low: Float(try call.number("low")), high: Float(try call.number("high"))))
        }
    }

    static func constant(_ name: String, _ value: Float) -> VerbSpec {
        VerbSpec(name: name, summary: "A tensor filled with \(Int(value))s.", arguments: [dims],
                 help: "Float32, row-major; `\(name) 2 3` has shape [2, 3].",
                 examples: ["\(name) 2 3"]) { call in
            .tensor(try Tensor.full(try checkedShape(try call.ints("DIM")), value))
        }
    }

    static var arange: VerbSpec {
        VerbSpec(name: "arange", summary: "A 1-d tensor of evenly spaced numbers: arange N is 0..N-1, arange A B is A..B-step.",
                 arguments: [.positional("A", .number, help: "the end, or the start when B is given"),
                             .positional("B", .number, optional: true, help: "the end (excluded)"),
                             .key("step", .number, default: .number(1), help: "the spacing (not 0)")],
                 help: "Float32 values start, start+step, ... while below the end (above it for a negative step).",
                 examples: ["arange 5", "arange 0 1 step=0.25"]) { call in
            let a = try call.number("A"), step = try call.number("step")
            let (lo, hi) = call.has("B") ? (a, try call.number("B")) : (0, a)
            guard step != 0 else { throw InterpError.verb("step=0 never ends", hint: "use a non-zero step") }
            guard abs((hi - lo) / step) <= 1e8 else { throw InterpError.verb("more than 1e8 values", hint: "use a larger step") }
            return .tensor(try Tensor.arange(Float(lo), Float(hi), step: Float(step)))
        }
    }

    static var slice: VerbSpec {
        VerbSpec(name: "slice", summary: "The part of a tensor from start to end-1 along one axis.",
                 arguments: [.positional("T", .tensor, help: "the tensor"),
                             .key("axis", .int, default: .number(0), range: -32...31, help: "the axis (negative counts from the last)"),
                             .key("start", .int, default: .number(0), range: 0...1e12, help: "the first index"),
                             .key("end", .int, range: 0...1e12, help: "one past the last index (default: the axis length)")],
                 help: "Returns a copy; the other axes are kept whole.",
                 examples: ["r = slice x axis=0 start=0 end=2", "c = slice x axis=-1 start=4"]) { call in
            let t = try call.tensor("T")
            let axis = try Shape.axis(try call.int("axis"), rank: t.rank, op: "slice")
            let end = call.has("end") ? try call.int("end") : t.shape[axis]
            let start = try call.int("start")
            guard start < end, end <= t.shape[axis] else {
                throw InterpError.verb("start=\(start) end=\(end) is not a range inside axis \(axis) of length \(t.shape[axis])", hint: "need start < end <= \(t.shape[axis])")
            }
            return .tensor(try t.sliced(axis: axis, start, end))
        }
    }

    static var matmul: VerbSpec {
        VerbSpec(name: "matmul", summary: "Matrix product A B (batched over leading dimensions).",
                 arguments: [.positional("A", .tensor, help: "(..., M, K)"), .positional("B", .tensor, help: "(K, N) or (..., K, N)"),
                             .key("ta", .bool, default: .number(0), help: "use A transposed"),
                             .key("tb", .bool, default: .number(0), help: "use B transposed")],
                 help: "Runs OpenBLAS sgemm.",
                 examples: ["y = matmul x w tb=1", "matmul (randn 2 3) (randn 3 4)"]) { call in
            let a = try call.tensor("A"), b = try call.tensor("B")
            // the product's size before the kernel allocates it: (batch, rows of A, columns of B)
            if a.rank >= 2, b.rank >= 2 {
                let rows = try call.bool("ta") ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
                let cols = try call.bool("tb") ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
                _ = try checkedShape(Array(a.shape.dropLast(2)) + [rows, cols])
            }
            return .tensor(try Tensor.matmul(a, b, transA: try call.bool("ta"), transB: try call.bool("tb")))
        }
    }

    static func elementwise(_ name: String, _ op: QATTensor.BinaryOp) -> VerbSpec {
        let symbol = ["add": "+", "sub": "-", "mul": "*", "div": "/"][name] ?? name
        return VerbSpec(name: name, summary: "Elementwise A \(symbol) B with broadcasting; numbers act as scalars.",
                        arguments: [.positional("A", .either([.tensor, .number]), help: "a tensor or a number"),
                                    .positional("B", .either([.tensor, .number]), help: "a tensor or a number")],
                        help: "Shapes broadcast from the right (NumPy rules). Two numbers give a number.",
                        examples: ["\(name) x y", "\(name) x 2"]) { call in
            let a = call.value("A") ?? .none, b = call.value("B") ?? .none
            if case .number(let x) = a, case .number(let y) = b {
                switch op {
                case .add: return .number(x + y)
                case .sub: return .number(x - y)
                case .mul: return .number(x * y)
                default: return .number(x / y)
                }
            }
            return .tensor(try Tensor.binary(op, try asTensor(a), try asTensor(b)))
        }
    }

    static func asTensor(_ v: Value) throws -> Tensor {
        switch v {
        case .tensor(let t): return t
        case .number(let d): return try Tensor(shape: [1], [Float(d)])
        default: throw InterpError.verb("expected a tensor or a number, got \(v.kindName)")
        }
    }

    static var show: VerbSpec {
        VerbSpec(name: "show", summary: "Print a tensor's shape, dtype, statistics and a preview.",
                 arguments: [.positional("T", .tensor, help: "the tensor")],
                 help: """
                     First line: shape=[...] dtype=float32 and the statistics of `stats`; then up \
                     to 4 rows of up to 6 values (`...` marks elided ones).
                     """,
                 examples: ["show x", "show (weight m block=0 linear=q_proj)"]) { call in
            let t = try call.tensor("T")
            call.out("shape=\(t.shape) dtype=float32 " + TensorStats(t).line)
            call.out(Value.tensor(t).display ?? "")
            return .none
        }
    }

    static var stats: VerbSpec {
        VerbSpec(name: "stats", summary: "Print count, min, max, mean, std and abs max of a tensor as key=value.",
                 arguments: [.positional("T", .tensor, help: "the tensor")],
                 help: """
                     Computed in double precision; std is the population standard deviation. Prints \
                     count= min= max= mean= std= absmax=.
                     """,
                 examples: ["stats x", "stats (weight q block=0)"]) { call in
            let s = TensorStats(try call.tensor("T"))
            call.out(s.line)
            return .none
        }
    }

    static var hist: VerbSpec {
        VerbSpec(name: "hist", summary: "Write a histogram of a tensor's values as SVG (or PNG).",
                 arguments: [.positional("T", .tensor, help: "the tensor"),
                             .key("bins", .int, default: .number(50), range: 1...10_000, help: "equal-width bins over the value range"),
                             .key("out", .string, required: true, help: "Plots/NAME.svg, or .png (converted with rsvg-convert)"),
                             .key("title", .string, help: "the figure's title (default: the file name)")],
                 help: "Prints plot=PATH (notebooks link it). Non-finite values are skipped and counted on the figure.",
                 examples: ["hist x bins=40 out=Plots/x_hist.svg", "hist (weight q block=0 linear=q_proj) out=Plots/q0.svg"]) { call in
            let t = try call.tensor("T"), out = try call.string("out")
            let title = call.has("title") ? try call.string("title") : baseName(out)
            let svg = SVGPlot.histogram(t.toArray(), bins: try call.int("bins"), title: title, xLabel: "value")
            try writePlot(svg, to: out, call)
            return .none
        }
    }
}

/// Summary statistics of a tensor, in Double.
struct TensorStats {
    var count = 0, min = Double.infinity, max = -Double.infinity, mean = 0.0, std = 0.0, absMax = 0.0

    init(_ t: Tensor) {
        count = t.count
        var sum = 0.0
        for i in 0..<t.count {
            let x = Double(t.data[i])
            sum += x
            min = Swift.min(min, x); max = Swift.max(max, x); absMax = Swift.max(absMax, abs(x))
        }
        guard count > 0 else { min = .nan; max = .nan; mean = .nan; std = .nan; return }
        mean = sum / Double(count)
        var sq = 0.0
        for i in 0..<t.count { let d = Double(t.data[i]) - mean; sq += d * d }
        std = (sq / Double(count)).squareRoot()
    }

    var line: String {
        "count=\(count) min=\(g(min)) max=\(g(max)) mean=\(g(mean)) std=\(g(std)) absmax=\(g(absMax))"
    }

    /// As results tables show numbers: up to 4 decimals, scientific outside 1e-3...1e6.
    func g(_ x: Double) -> String { TableValue.number(Double(Float(x))).display }
}
