// Losses, forward and backward side by side.
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
            for j in 0..<v { dx[j] += scale * fastExp(x[j] - l) }
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
