// Var: a tensor in the autograd graph, and reverse-mode differentiation over it.
//
// Each op on Vars computes its forward with a QATTensor kernel and, when gradients are being
// recorded and some input needs one, records a node: its parents and a closure that takes the
// node's output gradient and accumulates (+=, never overwrites) into the parents' gradients
// with the matching backward kernel. backward() lays the recorded nodes out as a tape in
// topological order and plays it in reverse. Gradients of leaves accumulate across calls
// until zeroGrad(); gradients of intermediate nodes are freed as soon as they are used.
import QATTensor

public final class Var: @unchecked Sendable {
    /// The forward value.
    public let value: Tensor
    /// Accumulated gradient, same shape as `value`; nil until a backward reaches this Var.
    public var grad: Tensor?
    /// Leaves: trainable (true) or frozen (false). Recorded intermediate nodes: always true.
    public var requiresGrad: Bool
    /// A label for errors and dumps (parameter name, op name).
    public let name: String

    let parents: [Var]
    let backwardFn: ((Tensor) -> Void)?

    /// A leaf: a parameter (requiresGrad: true) or a constant input.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String = "") {
        self.value = value; self.requiresGrad = requiresGrad; self.name = name
        self.parents = []; self.backwardFn = nil
    }

    init(value: Tensor, name: String, parents: [Var], backward: @escaping (Tensor) -> Void) {
        self.value = value; self.requiresGrad = true; self.name = name
        self.parents = parents; self.backwardFn = backward
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { backwardFn == nil }

    /// The op result: a recorded node when grad mode is on and a parent needs a gradient,
    /// otherwise a constant leaf.
    static func result(_ value: Tensor, _ name: String, _ parents: [Var], backward: @escaping (Tensor) -> Void) -> Var {
        if Profile.isRecording { Profile.mark(KernelFamily.of(op: name), backward: false) }   // the forward just ran
        if GradMode.isEnabled && parents.contains(where: { $0.requiresGrad }) {
            return Var(value: value, name: name, parents: parents, backward: backward)
        }
        return Var(value, requiresGrad: false, name: name)
    }

    /// A custom differentiable op defined outside this module (quantizers, adapters): `value` is
    /// the forward result, `backward` receives its gradient and must accumulate (+=) into the
    /// `gradBuffer()` of each parent that `requiresGrad`. Recorded only under the same rules as
    /// the built-in ops.
    public static func custom(_ value: Tensor, name: String, parents: [Var], backward: @escaping (Tensor) -> Void) -> Var {
        result(value, name, parents, backward: backward)
    }

    /// The gradient buffer, created as zeros on first use; backward kernels accumulate into it.
    public func gradBuffer() -> Tensor {
        if let g = grad { return g }
        let g = Tensor(zeros: value.shape)
        grad = g
        return g
    }

    /// Pointer into the gradient buffer when this Var needs one, else nil (kernels skip it).
    func gradPointer() -> UnsafeMutablePointer<Float>? { requiresGrad ? gradBuffer().data : nil }

    /// Adds `g` (same shape) into the gradient.
    func accumulate(_ g: Tensor) {
        guard requiresGrad else { return }
        if let existing = grad { existing.addInPlace(g) } else { grad = g.copy() }
    }

    public func zeroGrad() { grad = nil }

    /// Reverse-mode differentiation from this scalar; seeds d(self)/d(self) = seed.
    public func backward(seed: Float = 1) throws {
        guard value.count == 1 else {
            throw TensorError.invalidShape(op: "backward", shape: value.shape, hint: "backward starts from a scalar (one element); reduce with sum or mean first")
        }
        guard !isLeaf || requiresGrad else { return }
        let g = Tensor(zeros: value.shape)
        g.data[0] = seed
        accumulate(g)
        for node in Var.tape(from: self).reversed() {
            guard let g = node.grad, let fn = node.backwardFn else { continue }
            if Profile.isRecording { Profile.mark(.other, backward: true) }
            fn(g)
            if Profile.isRecording { Profile.mark(KernelFamily.of(op: node.name), backward: true) }
            node.grad = nil   // intermediate gradients are consumed once
        }
    }

    /// Recorded nodes reachable from `root`, parents before children.
    static func tape(from root: Var) -> [Var] {
        var order: [Var] = [], seen = Set<ObjectIdentifier>()
        var stack: [(Var, Bool)] = [(root, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if seen.contains(ObjectIdentifier(node)) { continue }
            seen.insert(ObjectIdentifier(node))
            stack.append((node, true))
            for p in node.parents where p.requiresGrad && !seen.contains(ObjectIdentifier(p)) { stack.append((p, false)) }
        }
        return order
    }
}

/// Whether ops record nodes for backward. Off inside `noGrad { }` (inference, evaluation).
public enum GradMode {
    @TaskLocal static var enabled = true
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording anything for backward.
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$enabled.withValue(false) { try body() }
}
