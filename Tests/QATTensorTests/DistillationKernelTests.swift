// The distillation (KD) kernels of Loss.swift against their plain Double reference
// (distillationReference), and the exact zero a teacher equal to the student must give.
import Testing
@testable import QATTensor

@Suite struct DistillationKernelTests {
    /// Forward and backward of the fast kernels; dloss scales the gradient.
    func kernels(_ x: Tensor, _ y: Tensor, rows: Int, v: Int, t: Float, dloss: Float = 1) -> (Double, [Float]) {
        let ls = Tensor(zeros: [rows]), lt = Tensor(zeros: [rows]), g = Tensor(zeros: [rows, v])
        let loss = distillationForward(x.data, teacher: y.data, rows: rows, v: v, temperature: t, lseStudent: ls.data, lseTeacher: lt.data)
        distillationBackward(x.data, teacher: y.data, lseStudent: ls.data, lseTeacher: lt.data, rows: rows, v: v, temperature: t,
                             dloss: dloss, dstudent: g.data)
        return (loss, g.toArray())
    }

    @Test(arguments: [Float(0.5), 1, 2, 4])
    func kernelsMatchTheReference(t: Float) throws {
        let rows = 7, v = 13
        let x = randn([rows, v], 31, std: 3), y = randn([rows, v], 32, std: 3)
        let (loss, grad) = kernels(x, y, rows: rows, v: v, t: t)
        let ref = distillationReference(student: x.toArray(), teacher: y.toArray(), rows: rows, v: v, temperature: Double(t))
        #expect(ref.loss > 0.01, "random logits must be far apart for the check to mean something")
        #expect(abs(loss - ref.loss) < 1e-5 * max(1, ref.loss), "T=\(t): \(loss) vs \(ref.loss)")
        for i in grad.indices { #expect(abs(Double(grad[i]) - ref.grad[i]) < 1e-6, "T=\(t) [\(i)]: \(grad[i]) vs \(ref.grad[i])") }
    }

    /// Hand-derived: one row, V = 2, teacher (0, 0), student (log 3, 0), T = 1: q = (1/2, 1/2),
    /// p = (3/4, 1/4); KL = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3); gradient p - q = (1/4, -1/4).
    /// At T = 2 the student's p is softmax(log 3 / 2, 0) = (sqrt 3, 1) / (sqrt 3 + 1).
    @Test func referenceMatchesHandDerivedNumbers() {
        let one = distillationReference(student: [Float(3).logValueF, 0], teacher: [0, 0], rows: 1, v: 2, temperature: 1)
        #expect(abs(one.loss - 0.5 * (4.0 / 3.0).logValue) < 1e-7)
        #expect(abs(one.grad[0] - 0.25) < 1e-7 && abs(one.grad[1] + 0.25) < 1e-7)
        let two = distillationReference(student: [Float(3).logValueF, 0], teacher: [0, 0], rows: 1, v: 2, temperature: 2)
        let s3 = 3.0.squareRoot(), p0 = s3 / (s3 + 1), p1 = 1 / (s3 + 1)
        #expect(abs(two.loss - 4 * (0.5 * (0.5 / p0).logValue + 0.5 * (0.5 / p1).logValue)) < 1e-6)
        #expect(abs(two.grad[0] - 2 * (p0 - 0.5)) < 1e-6)
    }

    @Test(arguments: [Float(0.5), 1, 3])
    func aTeacherEqualToTheStudentGivesExactlyZero(t: Float) throws {
        let rows = 5, v = 17
        let x = randn([rows, v], 33, std: 4)
        let (loss, grad) = kernels(x, x.copy(), rows: rows, v: v, t: t, dloss: 3)
        #expect(loss == 0)
        #expect(grad.allSatisfy { $0 == 0 })
    }

    @Test func badOperandsAreRefused() throws {
        #expect(throws: TensorError.self) { try validateDistillation(student: [2, 3], teacher: [2, 4], temperature: 1) }
        #expect(throws: TensorError.self) { try validateDistillation(student: [6], teacher: [6], temperature: 1) }
        for t in [Float(0), -1, .nan, .infinity] {
            #expect(throws: TensorError.self) { try validateDistillation(student: [2, 3], teacher: [2, 3], temperature: t) }
        }
    }
}

private extension Float {
    var logValueF: Float { qlog(self) }
}
