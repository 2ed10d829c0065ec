// Fuzz target `blockap`: the resume readers of the training runs over one safetensors input:
// BlockAPCheckpoint.restoreBlock (a finished block: codes, scales, zeros, spec metadata, norm
// gains) and E2EQPCheckpoint.restore (parameters, AdamW moments, step and fingerprint metadata),
// both into the tiny quantized model of TinyCheckpoint.swift.
// Seeds: a block file laid out as BlockAPCheckpoint.save writes it and an E2E-QP state file as
// E2EQPCheckpoint.save writes it, both for that model.
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
@testable import QATTrain

let fingerprint = "fuzz"

func fuzzOne(_ data: [UInt8]) {
    let dir = scratchDir + "/run"
    makeDirectory(dir)
    makeDirectory(dir + "/blockap")
    makeDirectory(dir + "/e2eqp")
    writeFile(BlockAPCheckpoint.blockFile(dir, 0), data)
    writeFile(dir + "/e2eqp/state.safetensors", data)
    guard let model = try? tinyQuantizedModel() else { return }
    try? BlockAPCheckpoint.restoreBlock(0, model: model, dir: dir)
    let params = namedParameters(model)
    let opt = AdamW(groups: [ParameterGroup(name: "all", parameters: params.map(\.1), lr: 1e-3)])
    var report = E2EQPReport()
    _ = try? E2EQPCheckpoint.restore(dir: dir, params: params, optimizer: opt, fingerprint: fingerprint, report: &report)
}

func namedParameters(_ model: LlamaModel) -> [(String, Var)] {
    guard let b = model.blocks.first else { return [] }
    return [("blocks.0.attn_norm", b.attnNorm), ("blocks.0.ffn_norm", b.ffnNorm)]
        + b.linears.map { ("blocks.0.\($0.name).weight", $0.weight) }
}

func makeSeeds(into dir: String) {
    guard let model = try? tinyQuantizedModel(), let b = model.blocks.first else { return }
    var w = SafetensorsWriter()
    for l in b.linears {
        guard let hq = l.quantizer as? HardQuantizer, let qw = try? hq.quantized else { continue }
        try? w.addUInt8("\(l.name).codes", shape: [qw.rows, qw.cols], qw.codes)
        try? w.add("\(l.name).scales", Tensor(shape: [qw.rows, qw.groupCount], qw.scales))
        try? w.add("\(l.name).zeros", Tensor(shape: [qw.rows, qw.groupCount], qw.zeros))
        w.metadata["\(l.name).spec"] = "\(qw.spec)"
    }
    try? w.add("attn_norm", b.attnNorm.value)
    try? w.add("ffn_norm", b.ffnNorm.value)
    try? w.write(to: dir + "/block_000.safetensors")

    var e = SafetensorsWriter()
    for (name, p) in namedParameters(model).prefix(3) {
        try? e.add(name, p.value)
        try? e.add(name + ".m", Tensor(zeros: p.value.shape))
        try? e.add(name + ".v", Tensor(zeros: p.value.shape))
    }
    e.metadata = ["step": "3", "fingerprint": fingerprint]
    try? e.write(to: dir + "/e2eqp_state.safetensors")
}
