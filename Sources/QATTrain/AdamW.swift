// AdamW (decoupled weight decay, Loshchilov & Hutter) over parameter groups, as torch.optim.AdamW:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * wd * p;  p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// State (m, v, step) is kept per parameter; a parameter with no gradient in a step is left
// untouched, moments included (per-adapter training relies on that).
import QATAutograd
import QATTensor

public struct ParameterGroup {
    public var name: String
    public var parameters: [Var]
    public var lr: Float
    public var weightDecay: Float
    public init(name: String, parameters: [Var], lr: Float, weightDecay: Float = 0) {
        self.name = name; self.parameters = parameters; self.lr = lr; self.weightDecay = weightDecay
    }
}

public final class AdamW {
    public var groups: [ParameterGroup]
    public let beta1: Float, beta2: Float, eps: Float
    final class State { let m: Tensor; let v: Tensor; var step = 0; init(_ shape: [Int]) { m = Tensor(zeros: shape); v = Tensor(zeros: shape) } }
    var state: [ObjectIdentifier: State] = [:]

    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    /// One update of every parameter that has a gradient.
    public func step() {
        for group in groups {
            for p in group.parameters {
                guard let g = p.grad else { continue }
                let s = state[ObjectIdentifier(p)] ?? State(p.shape)
                state[ObjectIdentifier(p)] = s
                s.step += 1
                update(p.value, g, s, lr: group.lr, wd: group.weightDecay)
            }
        }
    }

    // p, g, m, v: (N)
    func update(_ p: Tensor, _ g: Tensor, _ s: State, lr: Float, wd: Float) {
        let b1 = beta1, b2 = beta2, eps = eps
        let c1 = 1 - Float(qpow(Double(b1), Double(s.step))), c2 = 1 - Float(qpow(Double(b2), Double(s.step)))
        let pp = p.data, gp = g.data, mp = s.m.data, vp = s.v.data
        parallelFor(p.count) { r in
            for i in r {
                let gi = gp[i]
                mp[i] = b1 * mp[i] + (1 - b1) * gi
                vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                let w = pp[i] * (1 - lr * wd)
                pp[i] = w - lr * (mp[i] / c1) / ((vp[i] / c2).squareRoot() + eps)
            }
        }
    }

    /// The moments of `p` and its step count (nil before its first update): checkpoints save them.
    public func moments(of p: Var) -> (Tensor, Tensor, Int)? {
        state[ObjectIdentifier(p)].map { ($0.m, $0.v, $0.step) }
    }

    /// Restores the moments of `p` (from a checkpoint).
    public func setMoments(of p: Var, m: Tensor, v: Tensor, step: Int) {
        let s = State(p.shape)
        s.m.data.update(from: m.data, count: min(m.count, s.m.count))
        s.v.data.update(from: v.data, count: min(v.count, s.v.count))
        s.step = step
        state[ObjectIdentifier(p)] = s
    }

    public func zeroGrad() { for g in groups { for p in g.parameters { p.zeroGrad() } } }

    /// Scales every gradient so their global L2 norm is at most `maxNorm`; returns the norm before.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        var total = 0.0
        for g in groups { for p in g.parameters { if let gr = p.grad { for i in 0..<gr.count { total += Double(gr.data[i]) * Double(gr.data[i]) } } } }
        let norm = Float(total.squareRoot())
        if maxNorm > 0 && norm > maxNorm {
            let k = maxNorm / (norm + 1e-6)
            for g in groups { for p in g.parameters { if let gr = p.grad { for i in 0..<gr.count { gr.data[i] *= k } } } }
        }
        return norm
    }

    /// clipGradients for the training phases: a gradient whose norm is not finite is refused
    /// before any parameter moves, so the run stops with its last good state. (A NaN can reach the
    /// gradients while the loss stays finite, e.g. through a step size that became NaN.)
    public func clipFiniteGradients(maxNorm: Float, at place: String) throws -> Float {
        let norm = clipGradients(maxNorm: maxNorm)
        guard norm.isFinite else {
            throw TrainingError("\(place): the gradient norm is \(norm); stopping with the last good state (lower the learning rate, or look for NaN weights, scales or zeros in the model)")
        }
        return norm
    }
}
