// rotate: an orthogonal rotation of a model's residual stream folded into its weights
// (QATQuant/Rotation.swift has the math and the fold's layout).
import Foundation
import QATInterp
import QATModel
import QATQuant
import QATTensor

enum RotateVerbs {
    static var rows: [VerbSpec] { [rotate] }

    static var rotate: VerbSpec {
        VerbSpec(name: "rotate", summary: "Rotate a model's residual stream by an orthogonal matrix folded into the weights (returns the model).",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp + " (full precision; an object is not changed)"),
                    .key("kind", .choice(RotationKind.allCases.map(\.rawValue)), default: .string("hadamard"), help: """
                        hadamard: Q_m (x) H_{2^k}/sqrt(2^k) for hidden = 2^k * m, m odd, Q_m seeded \
                        random orthogonal; random: a seeded Haar-random orthogonal matrix
                        """),
                    seedKey(0, "rotation"),
                 ],
                 help: """
                     QuaRot/SpinQuant's offline rotation: every RMSNorm gain is folded into the \
                     linears that read it (gains become 1), then the embedding and the readers of \
                     the stream (q/k/v, gate/up, LM head) become W Q and its writers (o, down) Q^T W. \
                     The full-precision function is unchanged (same logits up to float rounding); \
                     the weights' outliers are spread, which helps quantizers that follow \
                     (quantize, blockap, e2eqp, qfa and export take the result as any model). The \
                     LM head is always untied afterwards (tie_word_embeddings false). Prints \
                     `rotate kind=... seed=... hidden=... head=untied max_abs_weight_before=... \
                     max_abs_weight_after=... seconds=...`, the largest |w| over the block linears \
                     before and after.
                     """,
                 examples: ["r = rotate m kind=hadamard seed=0", "q = quantize (rotate tiny kind=random seed=3) method=rtn bits=3 group=64",
                            "export (rotate smollm2) format=fp out=Models/smollm2-rot"]) { call in
            let m = try call.model("MODEL")
            guard !m.isQuantized else {
                throw InterpError.verb("rotate needs a full-precision model; \(m.loaded.name) (\(m.method)) has quantized linears",
                                       hint: "rotate the full-precision model first, then quantize the result")
            }
            let kindName = try call.string("kind")
            guard let kind = RotationKind(rawValue: kindName) else {
                throw InterpError.verb("kind=\(kindName) is not a rotation", hint: "use kind=hadamard or kind=random")
            }
            let seedValue = try seed(call)
            let clock = ContinuousClock(), start = clock.now
            let hidden = m.model.config.hiddenSize
            let q = try Rotation.matrix(kind: kind, size: hidden, seed: seedValue)
            let rotated = try Rotation.rotated(m.model, by: q)
            let secs = (clock.now - start).inSeconds
            let before = Rotation.maxAbsBlockLinearWeight(m.model), after = Rotation.maxAbsBlockLinearWeight(rotated)
            call.out("rotate kind=\(kind.rawValue) seed=\(seedValue) hidden=\(rotated.config.hiddenSize) head=\(rotated.lmHead == nil ? "tied" : "untied") "
                     + "max_abs_weight_before=\(fmt(Double(before), digits: 4)) max_abs_weight_after=\(fmt(Double(after), digits: 4)) seconds=\(fmt(secs))")
            let loaded = LoadedModel(model: rotated, tokenizer: m.loaded.tokenizer, name: m.loaded.name)
            return .object(ModelObject(loaded, reloadSpec: nil, origin: m.origin, method: "rotate \(kind.rawValue) seed=\(seedValue)"))
        }
    }
}
