// Differentiable transformer ops with fused backward kernels (QATTensor): softmax, log-softmax,
// RMSNorm, RoPE, causal GQA attention, SwiGLU, cross-entropy and MSE. Each saves only what its
// backward needs (RMSNorm: rstd per row; attention: its output and the log-sum-exp per row; cross-entropy: the
// log-sum-exp per row) so a block's forward+backward touches no more memory than it must.
import QATTensor

extension Var {
    /// Softmax over the last axis.
    public func softmax() throws -> Var {
        let a = self, y = try value.softmax()
        let n = value.shape.last ?? 1, rows = n == 0 ? 0 : value.count / n
        return Var.result(y, "softmax", [a]) { g in
            softmaxBackward(y.data, g.data, a.gradBuffer().data, rows: rows, n: n)
        }
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() throws -> Var {
        let a = self, y = try value.logSoftmax()
        let n = value.shape.last ?? 1, rows = n == 0 ? 0 : value.count / n
        return Var.result(y, "log_softmax", [a]) { g in
            logSoftmaxBackward(y.data, g.data, a.gradBuffer().data, rows: rows, n: n)
        }
    }

    /// RMSNorm over the last axis with gain `weight` (C).
    public func rmsNorm(weight: Var, eps: Float) throws -> Var {
        let x = self
        guard let c = shape.last, weight.shape == [c] else {
            throw TensorError.shapeMismatch(op: "rmsnorm", lhs: shape, rhs: weight.shape, hint: "the gain must have shape [last dim]")
        }
        let rows = c == 0 ? 0 : value.count / c
        let y = Tensor(uninitialized: shape), rstd = Tensor(uninitialized: [rows])
        rmsnormForward(x.value.data, weight.value.data, eps: eps, y.data, rstd.data, rows: rows, c: c)
        return Var.result(y, "rmsnorm", [x, weight]) { g in
            rmsnormBackward(x.value.data, weight.value.data, rstd.data, g.data,
                            dx: x.gradPointer(), dw: weight.gradPointer(), rows: rows, c: c)
        }
    }

    /// RoPE on (B, T, H, D).
    public func rope(theta: Double, layout: RopeLayout, offset: Int = 0) throws -> Var {
        guard value.rank == 4, shape[3] % 2 == 0 else {
            throw TensorError.invalidShape(op: "rope", shape: shape, hint: "expects (B, T, H, D) with even D")
        }
        let table = RopeTable(positions: shape[1], headDim: shape[3], theta: theta, offset: offset)
        return try rope(table: table, layout: layout)
    }

    /// RoPE with a precomputed table (a model reuses one per sequence length).
    public func rope(table: RopeTable, layout: RopeLayout) throws -> Var {
        let x = self, s = shape
        guard value.rank == 4, s[3] % 2 == 0, table.t == s[1], table.halfDim * 2 == s[3] else {
            throw TensorError.invalidShape(op: "rope", shape: s, hint: "expects (B, T, H, D) with T = \(table.t), D = \(table.halfDim * 2)")
        }
        let y = Tensor(uninitialized: s)
        ropeApply(x.value.data, y.data, table: table, b: s[0], t: s[1], h: s[2], d: s[3], layout: layout, inverse: false, accumulate: false)
        return Var.result(y, "rope", [x]) { g in
            ropeApply(g.data, x.gradBuffer().data, table: table, b: s[0], t: s[1], h: s[2], d: s[3], layout: layout, inverse: true, accumulate: true)
        }
    }

    /// Causal attention, q (B,T,Hq,D), k and v (B,T,Hkv,D) -> (B,T,Hq,D).
    public static func causalAttention(q: Var, k: Var, v: Var) throws -> Var {
        let s = try AttentionShape(q: q.shape, k: k.shape, v: v.shape)
        let out = Tensor(uninitialized: q.shape)
        let lse = Tensor(uninitialized: [s.b, s.hq, s.t])   // (B, Hq, T): what backward needs besides out
        flashAttentionForward(s, q: q.value.data, k: k.value.data, v: v.value.data, out: out.data, lse: lse.data)
        return result(out, "attention", [q, k, v]) { g in
            flashAttentionBackward(s, q: q.value.data, k: k.value.data, v: v.value.data, out: out.data, lse: lse.data, dout: g.data,
                                   dq: q.gradPointer(), dk: k.gradPointer(), dv: v.gradPointer())
        }
    }

    /// silu(gate) * up, fused.
    public static func swiglu(gate: Var, up: Var) throws -> Var {
        guard gate.shape == up.shape else {
            throw TensorError.shapeMismatch(op: "swiglu", lhs: gate.shape, rhs: up.shape, hint: "gate and up must have the same shape")
        }
        let y = Tensor(uninitialized: gate.shape)
        swigluForward(gate.value.data, up.value.data, y.data, count: y.count)
        return result(y, "swiglu", [gate, up]) { g in
            swigluBackward(gate.value.data, up.value.data, g.data, dg: gate.gradPointer(), du: up.gradPointer(), count: g.count)
        }
    }

    /// Mean cross-entropy of logits (N, V) against targets (N); -1 targets are ignored.
    public static func crossEntropy(_ logits: Var, targets: [Int32]) throws -> Var {
        guard logits.value.rank == 2 else {
            throw TensorError.invalidShape(op: "cross_entropy", shape: logits.shape, hint: "logits must be (N, V); reshape first")
        }
        let rows = logits.shape[0], v = logits.shape[1]
        guard rows > 0, v > 0 else {
            throw TensorError.invalidShape(op: "cross_entropy", shape: logits.shape, hint: "needs at least one row and one class")
        }
        try validateTargets(targets, rows: rows, v: v)
        let lse = Tensor(uninitialized: [rows])
        let (loss, kept) = targets.withUnsafeBufferPointer { tp in
            crossEntropyForward(logits.value.data, targets: tp.baseAddress!, rows: rows, v: v, lse: lse.data)
        }
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "cross_entropy", [logits]) { g in
            targets.withUnsafeBufferPointer { tp in
                crossEntropyBackward(logits.value.data, targets: tp.baseAddress!, lse: lse.data, rows: rows, v: v,
                                     kept: kept, dloss: g.data[0], dlogits: logits.gradBuffer().data)
            }
        }
    }

    /// Knowledge distillation: the mean over rows of T^2 KL(softmax(teacher / T) || softmax(logits / T));
    /// logits and teacher are (N, V), the teacher a constant (no gradient). Kernels: QATTensor/Loss.swift.
    public static func distillation(_ logits: Var, teacher: Tensor, temperature t: Float) throws -> Var {
        try validateDistillation(student: logits.shape, teacher: teacher.shape, temperature: t)
        let rows = logits.shape[0], v = logits.shape[1]
        // lseStudent, lseTeacher: (N) log-sum-exp of each row of logits / T and teacher / T
        let lseStudent = Tensor(uninitialized: [rows]), lseTeacher = Tensor(uninitialized: [rows])
        let loss = distillationForward(logits.value.data, teacher: teacher.data, rows: rows, v: v, temperature: t,
                                       lseStudent: lseStudent.data, lseTeacher: lseTeacher.data)
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "distillation", [logits]) { g in
            distillationBackward(logits.value.data, teacher: teacher.data, lseStudent: lseStudent.data, lseTeacher: lseTeacher.data,
                                 rows: rows, v: v, temperature: t, dloss: g.data[0], dstudent: logits.gradBuffer().data)
        }
    }

    /// Mean squared error between two tensors of the same shape.
    public static func mse(_ a: Var, _ b: Var) throws -> Var {
        guard a.shape == b.shape else {
            throw TensorError.shapeMismatch(op: "mse", lhs: a.shape, rhs: b.shape, hint: "both sides must have the same shape")
        }
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(mseForward(a.value.data, b.value.data, count: a.value.count))
        return result(y, "mse", [a, b]) { g in
            mseBackward(a.value.data, b.value.data, count: a.value.count, dloss: g.data[0], da: a.gradPointer(), db: b.gradPointer())
        }
    }
}
