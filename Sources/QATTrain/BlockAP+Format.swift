// Block-AP in one of llama.cpp's block formats (blockap format=F, issue 28 item 2): each block
// linear gets a GGMLTrainQuantizer (QATQuant/GGMLTrainQuantizer.swift) started from llama.cpp's
// RTN in F (or in F's fallback where the input size is not whole blocks, as GGMLQuantization.plan
// chooses), its scales and mins train at the quant lr and W through the straight-through
// estimator at the weight lr, exactly as Block-AP trains s and z; finishing a block encodes its
// trained blocks into ggml bytes and installs a GGMLQuantizer, so the model holds what a GGUF
// file of it stores. With epochs=0 the result is llama.cpp's RTN in F bit for bit.
import QATAutograd
import QATModel
import QATQuant
import QATTensor

enum BlockAPFormat {
    /// Installs trainable format quantizers on block `index`'s linears; returns the parameters
    /// to train (W at the weight lr, scales and mins at the quant lr).
    static func install(_ format: GGMLFormat, model: LlamaModel, index: Int, options o: BlockAPOptions) throws -> (weights: [Var], quant: [Var]) {
        let prefix = "blocks.\(index)."
        var weights: [Var] = [], quant: [Var] = []
        for (name, linear, f) in try GGMLQuantization.plan(model, format: format) where name.hasPrefix(prefix) {
            let q = try GGMLTrainables.make(weight: linear.weight.value, format: f)
            linear.quantizer = q
            linear.weight.requiresGrad = o.trainWeights
            if o.trainWeights { weights.append(linear.weight) }
            q.scales.requiresGrad = o.trainScales
            if o.trainScales { quant.append(q.scales) }
            if q.parameters.count > 1 {
                q.mins.requiresGrad = o.trainZeros
                if o.trainZeros { quant.append(q.mins) }
            }
        }
        return (weights, quant)
    }

    /// Replaces the block's trainable format quantizers by the ggml blocks they round to.
    static func finalize(_ block: DecoderBlock) throws {
        for l in block.linears {
            guard let q = l.quantizer as? any GGMLTrainableQuantizer else { continue }
            l.quantizer = try q.harden(weight: l.weight.value)
            l.weight.requiresGrad = false
        }
    }
}

extension BlockAPFormat {
    /// A format run keeps no per-block checkpoint (its blocks are ggml bytes, not a QATLab
    /// checkpoint's codes, scales and zeros) and dumps no s/z gradients: refused before any work.
    static func check(_ o: BlockAPOptions, model: LlamaModel) throws {
        guard let format = o.format else { return }
        guard o.checkpointDir == nil, !o.resume else {
            throw TrainingError("blockap format=\(format) keeps no checkpoint (a format-quantized model is not a QATLab checkpoint); drop out= and resume=")
        }
        guard o.dump == nil else { throw TrainingError("blockap format=\(format) does not dump; drop dump=") }
        // a linear llama.cpp stores in a fallback type that does not train (q6_k -> q8_0) is
        // refused here, not when its block comes up
        for (name, linear, f) in try GGMLQuantization.plan(model, format: format) where !GGMLTrainables.formats.contains(f.name) {
            throw TrainingError("blockap format=\(format): \(name) has \(linear.inFeatures) inputs, not whole \(format) blocks, so llama.cpp stores it as \(f), which does not train (the trainable formats are \(GGMLTrainables.formats.joined(separator: ", "))); use quantize format=\(format) for round to nearest, or a format whose blocks fit")
        }
    }
}
