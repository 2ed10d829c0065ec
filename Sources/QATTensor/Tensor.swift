// Tensor: a dense Float32 array in row-major order with an N-d shape.
//
// A Tensor holds one heap buffer of `count` floats (64-byte aligned), freed when the last tensor
// using it goes (a view made by `view(_:)` shares it). It has reference semantics, like a PyTorch tensor or an llm.c activation buffer: kernels
// write into tensors in place, and every layout op (transpose, permute, slice) returns a new
// contiguous tensor. Matmul never needs those copies: it takes transpose flags and leading
// dimensions instead (see Matmul.swift).

/// Errors raised by tensor operations. Each names the operation and the shapes involved.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(op: String, lhs: [Int], rhs: [Int], hint: String)
    case invalidShape(op: String, shape: [Int], hint: String)
    case invalidArgument(op: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, lhs, rhs, hint):
            return "\(op): shapes \(lhs) and \(rhs) do not fit: \(hint)"
        case let .invalidShape(op, shape, hint):
            return "\(op): shape \(shape) is not valid: \(hint)"
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        }
    }
}

public final class Tensor: @unchecked Sendable {
    /// Dimensions, outermost first. A scalar has shape [].
    public let shape: [Int]
    /// Number of elements (product of `shape`; 1 for a scalar).
    public let count: Int
    /// The elements, `count` floats, row-major.
    public let data: UnsafeMutablePointer<Float>
    /// Keeps the buffer alive; shared between a tensor and its views.
    private let storage: TensorStorage

    /// A tensor whose contents are undefined; `shape` must already be valid (kernels use this
    /// for outputs they overwrite completely).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        var n = 1
        for d in shape { n *= d }
        self.count = n
        self.storage = TensorStorage(count: n)
        self.data = storage.pointer
    }

    private init(shape: [Int], count: Int, sharing storage: TensorStorage) {
        self.shape = shape; self.count = count; self.storage = storage; self.data = storage.pointer
    }

    /// The same elements seen with another shape (one dim may be -1), sharing memory: writes
    /// through either tensor show in both (as torch's view of a contiguous tensor).
    public func view(_ newShape: [Int]) throws -> Tensor {
        let resolved = try Shape.resolveReshape(newShape, count: count, from: shape)
        return Tensor(shape: resolved, count: count, sharing: storage)
    }

    public var rank: Int { shape.count }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    public func toArray() -> [Float] { Array(buffer) }

    /// The single element of a one-element tensor (a loss, a sum).
    public var scalar: Float { data[0] }

    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

final class TensorStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(count n: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(n, 1))
    }
    deinit { pointer.deallocate() }
}

// MARK: - Shapes

public enum Shape {
    /// Checks that every dimension is non-negative and the element count does not overflow.
    public static func validate(_ shape: [Int], op: String) throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw TensorError.invalidShape(op: op, shape: shape, hint: "dimensions must be >= 0") }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= 1 << 40 else {
                throw TensorError.invalidShape(op: op, shape: shape, hint: "too many elements")
            }
            n = p
        }
        return n
    }

    /// Row-major strides of `shape`, in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// Resolves a possibly negative axis (-1 = last) against a rank.
    public static func axis(_ axis: Int, rank: Int, op: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else {
            throw TensorError.invalidArgument(op: op, message: "axis \(axis) is out of range for rank \(rank); use 0..<\(rank) or -\(rank)..<0")
        }
        return a
    }
}

// MARK: - Creation

extension Tensor {
    public static func zeros(_ shape: [Int]) throws -> Tensor { try full(shape, 0) }
    public static func ones(_ shape: [Int]) throws -> Tensor { try full(shape, 1) }

    public static func full(_ shape: [Int], _ value: Float) throws -> Tensor {
        _ = try Shape.validate(shape, op: "full")
        let t = Tensor(uninitialized: shape)
        t.data.initialize(repeating: value, count: t.count)
        return t
    }

    /// Zeros of a shape known to be valid (internal buffers, gradients).
    public convenience init(zeros shape: [Int]) {
        self.init(uninitialized: shape)
        data.initialize(repeating: 0, count: count)
    }

    /// A tensor holding `values` with the given shape; the counts must agree.
    public convenience init(shape: [Int], _ values: [Float]) throws {
        let n = try Shape.validate(shape, op: "tensor")
        guard n == values.count else {
            throw TensorError.shapeMismatch(op: "tensor", lhs: shape, rhs: [values.count],
                                            hint: "shape holds \(n) elements but \(values.count) values were given")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { src in if let b = src.baseAddress { data.update(from: b, count: n) } }
    }

    /// A 1-d tensor of the values.
    public convenience init(_ values: [Float]) {
        self.init(uninitialized: [values.count])
        values.withUnsafeBufferPointer { src in if let b = src.baseAddress { data.update(from: b, count: values.count) } }
    }

    /// [start, start+step, ...) up to but not including `end`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw TensorError.invalidArgument(op: "arange", message: "step must be finite and non-zero (got \(step))")
        }
        // (end - start) / step overflows to inf for a huge span or a tiny step: an error, not a trap
        let n = max(0, try checkedInt(Double((end - start) / step), rounding: .up, "arange's element count (end - start) / step"))
        let t = Tensor(uninitialized: [n])
        for i in 0..<n { t.data[i] = start + Float(i) * step }
        return t
    }

    /// A new tensor with the same shape and a copy of the elements.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Same elements, new shape (one dimension may be -1). Copies, so the result is independent.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let resolved = try Shape.resolveReshape(newShape, count: count, from: shape)
        let t = Tensor(uninitialized: resolved)
        t.data.update(from: data, count: count)
        return t
    }
}

extension Shape {
    public static func resolveReshape(_ newShape: [Int], count: Int, from old: [Int]) throws -> [Int] {
        var shape = newShape
        let wild = shape.indices.filter { shape[$0] == -1 }
        guard wild.count <= 1 else {
            throw TensorError.invalidShape(op: "reshape", shape: newShape, hint: "at most one dimension may be -1")
        }
        if let w = wild.first {
            shape[w] = 1
            let known = try validate(shape, op: "reshape")
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", lhs: old, rhs: newShape, hint: "\(count) elements cannot fill the shape")
            }
            shape[w] = count / known
        }
        let n = try validate(shape, op: "reshape")
        guard n == count else {
            throw TensorError.shapeMismatch(op: "reshape", lhs: old, rhs: newShape, hint: "element counts differ (\(count) vs \(n))")
        }
        return shape
    }
}
