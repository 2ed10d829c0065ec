// Losses, forward and backward side by side: cross-entropy, MSE and distillation (KD, below).
// Cross-entropy over logits (N, V) and integer targets (N); a target of -1 is ignored (padding).
//   loss = mean over kept rows of (logsumexp(row) - row[target]);  lse: (N) saved for backward
//   dlogits += dloss * (softmax(row) - onehot(target)) / kept   (softmax recomputed from lse, so
//   forward never stores an (N, V) probability matrix)
// MSE: loss = mean((a - b)^2);  da += dloss * 2 (a - b) / n;  db -= the same.

public func crossEntropyForward(_ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, v: Int,
                                lse: UnsafeMutablePointer<Float>) -> (loss: Double, kept: Int) {
    var total = 0.0, kept = 0
    for r in 0..<rows {
        let x = logits + r * v
        var m = -Float.infinity
        for j in 0..<v { m = max(m, x[j]) }
        var s: Float = 0
        for j in 0..<v { s += fastExp(x[j] - m) }
        lse[r] = m + qlog(s)
        let tgt = Int(targets[r])
        if tgt >= 0 { total += Double(lse[r] - x[tgt]); kept += 1 }
    }
    return (kept > 0 ? total / Double(kept) : 0, kept)
}

// dlogits: (N, V) += ...
public func crossEntropyBackward(_ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, lse: UnsafePointer<Float>,
                                 rows: Int, v: Int, kept: Int, dloss: Float, dlogits: UnsafeMutablePointer<Float>) {
    guard kept > 0 else { return }
    let scale = dloss / Float(kept)
    parallelFor(rows, costPerItem: v) { range in
        for r in range {
            let tgt = Int(targets[r])
            if tgt < 0 { continue }
            let x = logits + r * v, dx = dlogits + r * v, l = lse[r]
            scaledFastExp(x, dx, count: v, shift: l, scale: scale, accumulate: true)   // dx[j] += scale * exp(x[j] - l)
            dx[tgt] -= scale
        }
    }
}

/// Checks targets against the vocabulary; -1 means "ignore".
public func validateTargets(_ targets: [Int32], rows: Int, v: Int) throws {
    guard targets.count == rows else {
        throw TensorError.shapeMismatch(op: "cross_entropy", lhs: [rows, v], rhs: [targets.count], hint: "one target per logits row")
    }
    for (i, t) in targets.enumerated() where t < -1 || Int(t) >= v {
        throw TensorError.invalidArgument(op: "cross_entropy", message: "target \(t) at row \(i) is outside 0..<\(v) (use -1 to ignore a row)")
    }
}

public func mseForward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { let d = Double(a[i] - b[i]); s += d * d }
    return n > 0 ? s / Double(n) : 0
}

// da, db: (N) += ... (either may be nil)
public func mseBackward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int, dloss: Float,
                        da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?) {
    guard n > 0 else { return }
    let k = 2 * dloss / Float(n)
    if let da { parallelFor(n) { r in for i in r { da[i] += k * (a[i] - b[i]) } } }
    if let db { parallelFor(n) { r in for i in r { db[i] -= k * (a[i] - b[i]) } } }
}

// Distillation from a teacher's logits (knowledge distillation). Student logits x and teacher
// logits y are both (N, V), one row per predicted token (every row counts: the trainers' windows
// have no padding); temperature T > 0.
//   p = softmax(x / T), q = softmax(y / T)
//   loss = (1/N) sum_rows T^2 KL(q || p) = (T^2 / N) sum_rows sum_j q_j (log q_j - log p_j)
//   log p_j = x_j / T - lse(x / T), so d log p_j / d x_k = (delta_jk - p_k) / T and, as sum_j q_j = 1,
//   d loss / d x_k = (T^2 / N) (p_k - q_k) / T = T (p_k - q_k) / N   (the teacher gets no gradient)
// The T^2 keeps the gradient's size independent of T (Hinton et al.). The log-probabilities are
// formed by one expression for both sides, so a teacher equal to the student gives exactly 0.

/// Scaled log-sum-exp of one row: log sum_j exp(x_j / T).
@inline(__always) private func scaledLogSumExp(_ x: UnsafePointer<Float>, v: Int, temperature t: Float) -> Float {
    var m = -Float.infinity
    for j in 0..<v { m = max(m, x[j] / t) }
    var s: Float = 0
    for j in 0..<v { s += fastExp(x[j] / t - m) }
    return m + qlog(s)
}

/// The mean over rows of T^2 KL(q || p). lseStudent, lseTeacher: (N), saved for the backward.
public func distillationForward(_ student: UnsafePointer<Float>, teacher: UnsafePointer<Float>, rows: Int, v: Int, temperature t: Float,
                                lseStudent: UnsafeMutablePointer<Float>, lseTeacher: UnsafeMutablePointer<Float>) -> Double {
    guard rows > 0 else { return 0 }
    // rowKL: (N), each row's KL; summed in row order afterwards so the thread count cannot change the bits
    var rowKL = [Double](repeating: 0, count: rows)
    rowKL.withUnsafeMutableBufferPointer { kl in
        let out = kl
        parallelFor(rows, costPerItem: 3 * v) { range in
            for r in range {
                let x = student + r * v, y = teacher + r * v
                let ls = scaledLogSumExp(x, v: v, temperature: t), lt = scaledLogSumExp(y, v: v, temperature: t)
                lseStudent[r] = ls; lseTeacher[r] = lt
                var s = 0.0
                for j in 0..<v {
                    let logQ = y[j] / t - lt, logP = x[j] / t - ls
                    s += Double(fastExp(logQ)) * Double(logQ - logP)
                }
                out[r] = s
            }
        }
    }
    var total = 0.0
    for r in 0..<rows { total += rowKL[r] }
    return Double(t) * Double(t) * total / Double(rows)
}

// dstudent: (N, V) += dloss * T * (p - q) / N
public func distillationBackward(_ student: UnsafePointer<Float>, teacher: UnsafePointer<Float>, lseStudent: UnsafePointer<Float>,
                                 lseTeacher: UnsafePointer<Float>, rows: Int, v: Int, temperature t: Float, dloss: Float,
                                 dstudent: UnsafeMutablePointer<Float>) {
    guard rows > 0 else { return }
    let scale = dloss * t / Float(rows)
    parallelFor(rows, costPerItem: v) { range in
        for r in range {
            let x = student + r * v, y = teacher + r * v, dx = dstudent + r * v, ls = lseStudent[r], lt = lseTeacher[r]
            // dx[j] += scale * (exp(x[j] / t - ls) - exp(y[j] / t - lt))
            scaledExpDifference(x, y, dx, count: v, t: t, ls: ls, lz: lt, scale: scale, accumulate: true)
        }
    }
}

/// The plain reference of the distillation loss and its gradient (Double throughout, libm exp
/// and log, one row at a time): the test oracle of the two kernels above.
public func distillationReference(student: [Float], teacher: [Float], rows: Int, v: Int, temperature t: Double) -> (loss: Double, grad: [Double]) {
    var loss = 0.0, grad = [Double](repeating: 0, count: rows * v)
    for r in 0..<rows {
        func logSoftmax(_ z: ArraySlice<Float>) -> [Double] {
            let scaled = z.map { Double($0) / t }, m = scaled.max() ?? 0
            let lse = m + scaled.reduce(0) { $0 + ($1 - m).expValue }.logValue
            return scaled.map { $0 - lse }
        }
        let logP = logSoftmax(student[(r * v)..<((r + 1) * v)]), logQ = logSoftmax(teacher[(r * v)..<((r + 1) * v)])
        for j in 0..<v {
            loss += t * t * logQ[j].expValue * (logQ[j] - logP[j]) / Double(rows)
            grad[r * v + j] = t * (logP[j].expValue - logQ[j].expValue) / Double(rows)
        }
    }
    return (loss, grad)
}

/// Checks the operands of the distillation loss: equal (N, V) shapes and a positive finite T.
public func validateDistillation(student: [Int], teacher: [Int], temperature: Float) throws {
    guard student.count == 2, student[0] > 0, student[1] > 0 else {
        throw TensorError.invalidShape(op: "distillation", shape: student, hint: "student logits must be (N, V) with N, V > 0; reshape first")
    }
    guard teacher == student else {
        throw TensorError.shapeMismatch(op: "distillation", lhs: student, rhs: teacher, hint: "the teacher's logits must have the student's shape (same tokens, same vocabulary)")
    }
    guard temperature.isFinite, temperature > 0 else {
        throw TensorError.invalidArgument(op: "distillation", message: "temperature \(temperature) must be a positive number (1 is plain KL)")
    }
}
