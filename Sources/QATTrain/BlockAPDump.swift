// Dumps of what Block-AP sees, for inspection: at chosen (block, step) points, right after the
// backward pass and before the optimizer step.
//
// Layout of the dump file (HDF5, written atomically when the run ends):
//   /block_NNN/step_SSSSS/input          float32 (B, T, C)   the quantized chain's input batch
//   /block_NNN/step_SSSSS/target         float32 (B, T, C)   the FP block's output on the FP chain
//   /block_NNN/step_SSSSS/output         float32 (B, T, C)   the fake-quantized block's output
//   /block_NNN/step_SSSSS/<linear>/input        float32 (B, T, in)   the linear's input
//   /block_NNN/step_SSSSS/<linear>/output       float32 (B, T, out)  input x Ŵ^T (+ bias)
//   /block_NNN/step_SSSSS/<linear>/weight_grad  float32 (out, in)    dL/dW (when W trains)
//   /block_NNN/step_SSSSS/<linear>/scales_grad  float32 (out, groups) dL/ds (when s trains)
//   /block_NNN/step_SSSSS/<linear>/zeros_grad   float32 (out, groups) dL/dz (when z trains)
//   attributes on each step group: block, step (int), loss (double), bits, group_size (int)
// <linear> is q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj.
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

public struct DumpSelection: Sendable {
    public var path: String
    public var blocks: Set<Int>
    public var steps: Set<Int>
    public init(path: String, blocks: Set<Int>, steps: Set<Int>) { self.path = path; self.blocks = blocks; self.steps = steps }
}

final class BlockAPDumper {
    let file: HDF5File
    let selection: DumpSelection

    init(_ selection: DumpSelection) throws {
        self.selection = selection
        file = try HDF5File.create(path: selection.path)
    }

    func wants(block: Int, step: Int) -> Bool { selection.blocks.contains(block) && selection.steps.contains(step) }

    func dump(block i: Int, step: Int, model: LlamaModel, input: Tensor, target: Tensor, output: Tensor, loss: Float, rope: RopeTable) throws {
        let b = model.blocks[i]
        let g = "/block_" + pad(i, 3) + "/step_" + pad(step, 5)
        try file.createGroup(g)
        try file.write(input, at: g + "/input")
        try file.write(target, at: g + "/target")
        try file.write(output, at: g + "/output")
        let acts = try Calibration.activations(block: b, input: input, rope: rope)
        let inputs: [(Linear, Tensor)] = [(b.q, acts.attentionIn), (b.k, acts.attentionIn), (b.v, acts.attentionIn), (b.o, acts.attentionOut),
                                          (b.gate, acts.mlpIn), (b.up, acts.mlpIn), (b.down, acts.mlpHidden)]
        for (l, x) in inputs {
            let lg = g + "/" + l.name
            try file.createGroup(lg)
            try file.write(x, at: lg + "/input")
            try file.write(try noGrad { try l.forward(Var(x)).value }, at: lg + "/output")
            if let gw = l.weight.grad { try file.write(gw, at: lg + "/weight_grad") }
            if let fq = l.quantizer as? FakeQuantizer {
                if let gs = fq.scales.grad { try file.write(gs, at: lg + "/scales_grad") }
                if let gz = fq.zeros.grad { try file.write(gz, at: lg + "/zeros_grad") }
                try file.setAttribute("bits", .int(Int64(fq.spec.bits)), on: lg)
                try file.setAttribute("group_size", .int(Int64(fq.spec.groupSize)), on: lg)
            }
        }
        try file.setAttribute("block", .int(Int64(i)), on: g)
        try file.setAttribute("step", .int(Int64(step)), on: g)
        try file.setAttribute("loss", .double(Double(loss)), on: g)
    }

    func close() throws { try file.close() }

    private func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
