// The LM head fused with cross-entropy or distillation, in vocabulary chunks (kernels and the
// derivation: QATTensor/ChunkedLoss.swift). Equal to Var.matmul(h, w, transB: true) followed by
// Var.crossEntropy / Var.distillation, without the (N, V) logits' gradient, and without the logits
// too unless they fit headLogitsCacheBytes (then kept for the backward instead of recomputed; the
// same bits either way: `cacheLogits: false` forces the recompute). They record under the names of
// the unfused losses, so the profiler charges head + loss to "loss/softmax".
import QATTensor

extension Var {
    /// Mean cross-entropy of the logits h w^T (h (N, C), w (V, C)) against targets (N; -1 ignored).
    public static func headCrossEntropy(_ h: Var, weight w: Var, targets: [Int32], chunk: Int = defaultVocabChunk,
                                        cacheLogits: Bool = true) throws -> Var {
        var s = try ChunkedHeadShape(hidden: h.shape, weight: w.shape, chunk: chunk, op: "cross_entropy")
        s.precision = MatmulPrecision.inForce   // read once: the backward runs at the forward's precision
        try validateTargets(targets, rows: s.rows, v: s.vocab)
        let lse = Tensor(uninitialized: [s.rows])   // (N): each row's log-sum-exp, for the backward
        // (N, V) chunk-major logits kept for the backward, when they fit
        let cache = cacheLogits ? s.cacheFloats(copies: 1).map { Tensor(uninitialized: [$0]) } : nil
        let (loss, kept) = chunkedCrossEntropyForward(s, h: h.value.data, w: w.value.data, targets: targets, lse: lse.data,
                                                      cache: cache?.data)
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "cross_entropy", [h, w]) { g in
            chunkedCrossEntropyBackward(s, h: h.value.data, w: w.value.data, targets: targets, lse: lse.data, kept: kept,
                                        dloss: g.data[0], dh: h.gradPointer(), dw: w.gradPointer(), cache: cache.map { UnsafePointer($0.data) })
        }
    }

    /// The mean over rows of T^2 KL(softmax(teacher / T) || softmax(h w^T / T)) with teacher logits
    /// ht wt^T (constants: the teacher gets no gradient); both heads must share the vocabulary.
    public static func headDistillation(_ h: Var, weight w: Var, teacherHidden ht: Tensor, teacherWeight wt: Tensor,
                                        temperature tau: Float, chunk: Int = defaultVocabChunk, cacheLogits: Bool = true) throws -> Var {
        var s = try ChunkedHeadShape(hidden: h.shape, weight: w.shape, chunk: chunk, op: "distillation")
        var t = try ChunkedHeadShape(hidden: ht.shape, weight: wt.shape, chunk: chunk, op: "distillation")
        s.precision = MatmulPrecision.inForce; t.precision = s.precision   // read once, as Var.matmul does
        try validateDistillation(student: [s.rows, s.vocab], teacher: [t.rows, t.vocab], temperature: tau)
        // lseStudent, lseTeacher: (N) log-sum-exp of each row of the logits / T
        let lseStudent = Tensor(uninitialized: [s.rows]), lseTeacher = Tensor(uninitialized: [s.rows])
        // the student's and the teacher's (N, V) chunk-major logits kept for the backward, when both fit
        let cache = cacheLogits ? s.cacheFloats(copies: 2).map { (Tensor(uninitialized: [$0]), Tensor(uninitialized: [$0])) } : nil
        let loss = chunkedDistillationForward(s, h: h.value.data, w: w.value.data, teacher: t, ht: ht.data, wt: wt.data, temperature: tau,
                                              lseStudent: lseStudent.data, lseTeacher: lseTeacher.data,
                                              cache: cache.map { ($0.0.data, $0.1.data) })
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "distillation", [h, w]) { g in
            chunkedDistillationBackward(s, h: h.value.data, w: w.value.data, teacher: t, ht: ht.data, wt: wt.data, temperature: tau,
                                        lseStudent: lseStudent.data, lseTeacher: lseTeacher.data, dloss: g.data[0],
                                        dh: h.gradPointer(), dw: w.gradPointer(),
                                        cache: cache.map { (UnsafePointer($0.0.data), UnsafePointer($0.1.data)) })
        }
    }
}
