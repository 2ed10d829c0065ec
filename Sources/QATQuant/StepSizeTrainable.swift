// What E2E-QP trains (QATTrain/E2EQP.swift): a quantizer whose codes stay fixed and whose float
// step sizes (and offsets) follow the loss end to end. Two kinds exist:
//   HardQuantizer  QATLab's integer grid: the scales s (and the zero points z) per group
//   GGMLQuantizer  a llama.cpp block format: the floats the format stores, fp16 d (and m / dmin)
//                  per block (GGMLQuantizer+E2E.swift); the integer sub-block scales stay fixed
// E2E-QP asks every linear for this protocol and trains what it hands over, so the loop has no
// case per kind.
import QATAutograd
import QATModel

public protocol StepSizeTrainable: LinearQuantizer {
    /// Marks the step sizes (`scales`) and offsets (`offsets`) trainable or frozen and returns the
    /// trainable ones, named by what they are ("scales", "zeros"; "d", "m", "dmin").
    func beginStepSizeTraining(scales: Bool, offsets: Bool) throws -> [(String, Var)]
    /// Freezes the trained values into what the quantizer stores.
    func finishStepSizeTraining() throws
    /// Bits per code (the default learning rate depends on it).
    var codeBits: Int { get }
    /// How many values training trains (for the memory estimate).
    func trainedValueCount(offsets: Bool) -> Int
}

extension HardQuantizer: StepSizeTrainable {
    public func beginStepSizeTraining(scales trainScales: Bool, offsets trainZeros: Bool) throws -> [(String, Var)] {
        scales.requiresGrad = trainScales
        zeros.requiresGrad = trainZeros
        // a trained zero is a real number (the paper's fp16 zero); rounded, it would never move
        if trainZeros { fractionalZeros = true }
        return (trainScales ? [("scales", scales)] : []) + (trainZeros ? [("zeros", zeros)] : [])
    }

    public func finishStepSizeTraining() throws {
        scales.requiresGrad = false; zeros.requiresGrad = false
    }

    public var codeBits: Int { spec.bits }

    public func trainedValueCount(offsets: Bool) -> Int { scales.value.count * (offsets ? 2 : 1) }
}
