// E2E-QP in a llama.cpp format (issue 28 item 2): on a GGMLQuantizer the codes and the integer
// sub-block scales and mins stay as they are, and what trains is what the format stores as
// floats, per block:
//   q4_0 q5_0 q8_0   d              q4_1 q5_1   d and m
//   q2_k q4_k q5_k   d and dmin     q3_k q6_k   d
// The trained values are fp32 masters, (rows, blocks per row) each, started from the stored fp16
// fields. Every forward writes fp16(master) into each block's fields (clamped to the largest
// finite fp16) and runs ggml's decoder on the bytes, so the weight trained with is exactly the
// one the bytes store and `export format=gguf` stays bit-exact. The gradient is straight through
// the fp16 rounding: with W = d * A + m * B per block (A, B what the block decodes to with
// d = 1, m = 0 and with d = 0, m = 1: q*sc, q - 8, -mn, 1, ...), dL/dd = sum(g * A) and
// dL/dm = sum(g * B) over the block's elements.
//
// Where the fp16 fields sit in a block (byte offsets; layouts in QATIO/GGUFTypes.swift):
//   q4_0 q5_0 q8_0 d 0      q4_1 q5_1 d 0, m 2      q4_k q5_k d 0, dmin 2
//   q2_k d 80, dmin 82      q3_k d 108              q6_k d 208
import QATAutograd
import QATTensor

/// The fp32 masters of a GGMLQuantizer's per-block fp16 fields while E2E-QP trains them.
final class GGMLStepSizes {
    /// (rows, blocks per row): d of every block.
    let d: Var
    /// (rows, blocks per row): m (legacy _1) or dmin (k-quants); nil when the format has none.
    let m: Var?
    let dOffset: Int, mOffset: Int?, blockBytes: Int
    let mName: String

    /// Byte offsets of d and of the second fp16 field in one block of `format`.
    static func fieldOffsets(_ format: GGMLFormat) -> (d: Int, m: Int?) {
        switch format.name {
        case "q4_1", "q5_1", "q4_k", "q5_k": (0, 2)
        case "q2_k": (80, 82)
        case "q3_k": (108, nil)
        case "q6_k": (208, nil)
        default: (0, nil)
        }
    }

    init(bytes: [UInt8], format: GGMLFormat, rows: Int, cols: Int) throws {
        let (dOff, mOff) = Self.fieldOffsets(format)
        dOffset = dOff; mOffset = mOff; blockBytes = format.type.bytesPerBlock
        let mName = format.blockSize == 256 ? "dmin" : "m"
        self.mName = mName
        let shape = [rows, cols / format.blockSize], n = rows * shape[1], size = blockBytes
        let field = { (offset: Int) throws -> Tensor in
            try Tensor(shape: shape, (0..<n).map { k in
                HalfFloat.float(fromHalf: UInt16(bytes[k * size + offset]) | UInt16(bytes[k * size + offset + 1]) << 8)
            })
        }
        d = Var(try field(dOff), requiresGrad: true, name: "d")
        m = try mOff.map { Var(try field($0), requiresGrad: false, name: mName) }
    }

    var parameters: [(String, Var)] { [("d", d)] + (m.map { [(mName, $0)] } ?? []) }

    /// The fp16 bits a master is stored as: nearest, clamped to the largest finite fp16 (a NaN
    /// stays NaN, and the loss check stops the run).
    static func stored(_ v: Float) -> UInt16 { HalfFloat.half(from: v.isNaN ? v : min(65504, max(-65504, v))) }

    /// `bytes` with every block's fp16 fields set by `dBits(k)` and `mBits(k)` for block k.
    func patched(_ bytes: [UInt8], dBits: (Int) -> UInt16, mBits: (Int) -> UInt16) -> [UInt8] {
        var out = bytes
        for k in 0..<(bytes.count / blockBytes) {
            let base = k * blockBytes, h = dBits(k)
            out[base + dOffset] = UInt8(truncatingIfNeeded: h); out[base + dOffset + 1] = UInt8(truncatingIfNeeded: h >> 8)
            if let mOffset {
                let hm = mBits(k)
                out[base + mOffset] = UInt8(truncatingIfNeeded: hm); out[base + mOffset + 1] = UInt8(truncatingIfNeeded: hm >> 8)
            }
        }
        return out
    }

    /// `bytes` with the current masters stored in their fields.
    func stored(in bytes: [UInt8]) -> [UInt8] {
        let dv = d.value.data, mv = m?.value.data
        return patched(bytes, dBits: { Self.stored(dv[$0]) }, mBits: { k in mv.map { Self.stored($0[k]) } ?? 0 })
    }
}

extension GGMLQuantizer: StepSizeTrainable {
    public func beginStepSizeTraining(scales: Bool, offsets: Bool) throws -> [(String, Var)] {
        let t = try stepSizes ?? GGMLStepSizes(bytes: bytes, format: format, rows: rows, cols: cols)
        stepSizes = t
        t.d.requiresGrad = scales
        t.m?.requiresGrad = offsets
        return t.parameters.filter { $0.1.requiresGrad }
    }

    public func finishStepSizeTraining() throws {
        guard let t = stepSizes else { return }
        bytes = t.stored(in: bytes)
        weight = try Tensor(shape: [rows, cols], try format.decode(bytes))
        stepSizes = nil
    }

    /// Bits per code: 2 for q2_k ... 8 for q8_0.
    public var codeBits: Int { (format.maxCode + 1).trailingZeroBitCount }

    public func trainedValueCount(offsets: Bool) -> Int {
        let blocks = rows * (cols / format.blockSize)
        return blocks * (offsets && GGMLStepSizes.fieldOffsets(format).m != nil ? 2 : 1)
    }

    /// The forward while training: the masters stored into the bytes, decoded by ggml's decoder.
    func trainingWeight(_ t: GGMLStepSizes) throws -> Var {
        bytes = t.stored(in: bytes)
        weight = try Tensor(shape: [rows, cols], try format.decode(bytes))
        let snapshot = bytes
        return Var.custom(weight, name: "ggml_step_sizes", parents: [t.d] + (t.m.map { [$0] } ?? [])) { [self] g in
            stepSizeBackward(t, bytes: snapshot, grad: g)
        }
    }

    /// dL/dd = sum(g * A), dL/dm = sum(g * B) per block (see the header).
    func stepSizeBackward(_ t: GGMLStepSizes, bytes: [UInt8], grad: Tensor) {
        let one = HalfFloat.half(from: 1)
        if t.d.requiresGrad {
            let a = decodeWhole(t.patched(bytes, dBits: { _ in one }, mBits: { _ in 0 }))
            accumulate(grad, times: a, into: t.d.gradBuffer())
        }
        if let m = t.m, m.requiresGrad {
            let b = decodeWhole(t.patched(bytes, dBits: { _ in 0 }, mBits: { _ in one }))
            accumulate(grad, times: b, into: m.gradBuffer())
        }
    }

    /// ggml's decoder on this linear's rows * cols / blockSize blocks (`patched` keeps the length).
    func decodeWhole(_ bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        let blocks = min(bytes.count / format.type.bytesPerBlock, out.count / format.blockSize)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { format.type.decode(s, d, blocks) }
            }
        }
        return out
    }

    /// out[k] += sum over block k's elements of g * c (blocks in parallel, each summed in order).
    func accumulate(_ grad: Tensor, times c: [Float], into out: Tensor) {
        let g = grad.data, o = out.data, size = format.blockSize
        c.withUnsafeBufferPointer { cp in
            guard let c = cp.baseAddress else { return }
            parallelFor(out.count, costPerItem: 2 * size) { range in
                for k in range {
                    var s: Float = 0
                    for e in (k * size)..<((k + 1) * size) { s += g[e] * c[e] }
                    o[k] += s
                }
            }
        }
    }
}
