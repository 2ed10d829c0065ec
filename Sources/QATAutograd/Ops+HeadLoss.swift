// The LM head fused with cross-entropy or distillation, in vocabulary chunks (kernels and the
// derivation: QATTensor/ChunkedLoss.swift). Equal to Var.matmul(h, w, transB: true) followed by
// Var.crossEntropy / Var.distillation, without the (N, V) logits or their gradient. They record
// under the names of the unfused losses, so the profiler charges head + loss to "loss/softmax".
import QATTensor

extension Var {
    /// Mean cross-entropy of the logits h w^T (h (N, C), w (V, C)) against targets (N; -1 ignored).
    public static func headCrossEntropy(_ h: Var, weight w: Var, targets: [Int32], chunk: Int = defaultVocabChunk) throws -> Var {
        let s = try ChunkedHeadShape(hidden: h.shape, weight: w.shape, chunk: chunk, op: "cross_entropy")
        try validateTargets(targets, rows: s.rows, v: s.vocab)
        let lse = Tensor(uninitialized: [s.rows])   // (N): each row's log-sum-exp, for the backward
        let (loss, kept) = chunkedCrossEntropyForward(s, h: h.value.data, w: w.value.data, targets: targets, lse: lse.data)
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "cross_entropy", [h, w]) { g in
            chunkedCrossEntropyBackward(s, h: h.value.data, w: w.value.data, targets: targets, lse: lse.data, kept: kept,
                                        dloss: g.data[0], dh: h.gradPointer(), dw: w.gradPointer())
        }
    }

    /// The mean over rows of T^2 KL(softmax(teacher / T) || softmax(h w^T / T)) with teacher logits
    /// ht wt^T (constants: the teacher gets no gradient); both heads must share the vocabulary.
    public static func headDistillation(_ h: Var, weight w: Var, teacherHidden ht: Tensor, teacherWeight wt: Tensor,
                                        temperature tau: Float, chunk: Int = defaultVocabChunk) throws -> Var {
        let s = try ChunkedHeadShape(hidden: h.shape, weight: w.shape, chunk: chunk, op: "distillation")
        let t = try ChunkedHeadShape(hidden: ht.shape, weight: wt.shape, chunk: chunk, op: "distillation")
        try validateDistillation(student: [s.rows, s.vocab], teacher: [t.rows, t.vocab], temperature: tau)
        // lseStudent, lseTeacher: (N) log-sum-exp of each row of the logits / T
        let lseStudent = Tensor(uninitialized: [s.rows]), lseTeacher = Tensor(uninitialized: [s.rows])
        let loss = chunkedDistillationForward(s, h: h.value.data, w: w.value.data, teacher: t, ht: ht.data, wt: wt.data, temperature: tau,
                                              lseStudent: lseStudent.data, lseTeacher: lseTeacher.data)
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(loss)
        return result(y, "distillation", [h, w]) { g in
            chunkedDistillationBackward(s, h: h.value.data, w: w.value.data, teacher: t, ht: ht.data, wt: wt.data, temperature: tau,
                                        lseStudent: lseStudent.data, lseTeacher: lseTeacher.data, dloss: g.data[0],
                                        dh: h.gradPointer(), dw: w.gradPointer())
        }
    }
}
