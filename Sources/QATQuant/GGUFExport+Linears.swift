// One block linear of the GGUF export: its ggml type and bytes (GGUFLinearEncoding.swift's table,
// a GGMLBlockProvider's own blocks, or convert=), and the measured difference between the decoded
// bytes and the weight QATLab multiplies by, so the export's summary reports what was written.
import QATAutograd
import QATIO
import QATModel
import QATTensor

enum GGUFLinearExport {
    struct Encoded {
        let type: GGMLType
        let bytes: [UInt8]
        /// "exact", "float", "provider", "convert=f16", "nearest"
        let how: String
        var maxAbsDiff: Float = 0
        var sqDiff = 0.0, sqWeight = 0.0
    }

    /// The encoding of linear `l` (`module` names it in errors, "blocks.3.q_proj").
    static func encode(_ l: Linear, module: String, floatType: GGMLType, convert: GGUFConvert, path: String) throws -> Encoded {
        guard l.adapter == nil else {
            throw FormatError(file: path, "\(module) carries an adapter (a QFA supernet); GGUF holds plain weights: pick a subnet and merge it first (qfa export), then export that model")
        }
        let reference = try noGrad { try l.effectiveWeight().value }
        var enc = try choose(l, module: module, reference: reference, floatType: floatType, convert: convert, path: path)
        try measure(&enc, against: reference, module: module, path: path)
        return enc
    }

    static func choose(_ l: Linear, module: String, reference: Tensor, floatType: GGMLType, convert: GGUFConvert,
                       path: String) throws -> Encoded {
        if let provider = l.quantizer as? GGMLBlockProvider {
            let (type, bytes) = try provider.ggmlBlocks()
            return Encoded(type: type, bytes: bytes, how: "provider")
        }
        guard let q = l.quantizer else { return try floats(reference, floatType, how: "float") }
        guard let qw = try quantizedWeight(l, q) else {
            if convert == .f16 { return try floats(reference, .f16, how: "convert=f16") }
            throw FormatError(file: path, "\(module) has a '\(q.summary)' quantizer, which no ggml type represents; pass convert=f16 to store the weight it computes as F16")
        }
        if let row = GGUFLinearEncodings.exactRow(for: qw) {
            return Encoded(type: row.type, bytes: row.encode(qw), how: "exact")
        }
        switch convert {
        case .f16: return try floats(reference, .f16, how: "convert=f16")
        case .nearest:
            guard let near = GGUFNearest.encode(qw) else {
                throw FormatError(file: path, "\(module) is \(qw.spec) with \(qw.cols) input columns: convert=nearest has no k-quant encoder for it yet (\(GGUFNearest.coverage)); pass convert=f16 (exact, 16 bits per weight)")
            }
            return Encoded(type: near.type, bytes: near.bytes, how: near.how)
        case .kquant:
            guard let k = try GGUFNearest.kquant(qw, reference: reference) else {
                throw FormatError(file: path, "\(module) is \(qw.spec) with \(qw.cols) input columns: convert=kquant has no k-quant for it (\(GGUFNearest.coverage)); pass convert=f16 (exact, 16 bits per weight)")
            }
            return Encoded(type: k.type, bytes: k.bytes, how: k.how)
        case .none:
            throw FormatError(file: path, "\(module) is \(qw.spec): \(whyNotExact(qw)). Pass convert=f16 (exact up to fp16 rounding, 16 bits per weight), convert=nearest or convert=kquant (\(GGUFNearest.coverage))")
        }
    }

    /// The integer weight behind a QATLab quantizer, nil for a quantizer of another kind.
    static func quantizedWeight(_ l: Linear, _ q: any LinearQuantizer) throws -> QuantizedWeight? {
        if let merged = q as? MergedZeroQuantizer { return merged.stored }
        if let hard = q as? HardQuantizer { return try hard.quantized }
        if let fake = q as? FakeQuantizer { return try fake.harden(weight: l.weight.value) }
        return nil
    }

    /// Why no row of the table holds `qw` (the first reason that applies).
    static func whyNotExact(_ qw: QuantizedWeight) -> String {
        let exactBits = Set(GGUFLinearEncodings.exactRows.map(\.bits)).sorted()
        if !exactBits.contains(qw.spec.bits) {
            return "no ggml type holds \(qw.spec.bits)-bit codes exactly (exact: \(GGUFLinearEncodings.exactRows.map(\.type.name).joined(separator: "/")) for \(exactBits.map(String.init).joined(separator: "/"))-bit)"
        }
        if !GGUFLinearEncodings.blocksStayInGroups(qw) {
            return "ggml blocks hold 32 columns with one scale, but its groups of \(qw.spec.effectiveGroupSize(inFeatures: qw.cols)) columns (of \(qw.cols)\(qw.groupIndex == nil ? "" : ", act-order")) split those blocks; quantize with group= a multiple of 32"
        }
        return "8-bit weights are exact only as Q8_0, which needs every zero at 128 (symmetric); these zeros are asymmetric"
    }

    static func floats(_ t: Tensor, _ type: GGMLType, how: String) throws -> Encoded {
        Encoded(type: type, bytes: try GGUFWriter.encode(t.toArray(), as: type), how: how)
    }

    /// Decodes `enc` and compares it with `reference` (max |diff|, sums of squares).
    static func measure(_ enc: inout Encoded, against reference: Tensor, module: String, path: String) throws {
        let n = reference.count
        guard enc.type.byteCount(elements: n) == enc.bytes.count, reference.rank == 2, reference.shape[1] % enc.type.blockSize == 0 else {
            throw FormatError(file: path, "\(module): \(enc.bytes.count) bytes of \(enc.type.name) do not encode its \(reference.shape) weight")
        }
        var decoded = [Float](repeating: 0, count: n)
        enc.bytes.withUnsafeBytes { src in
            decoded.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { enc.type.decode(s, d, n / enc.type.blockSize) }
            }
        }
        var worst: Float = 0, sq = 0.0, ref = 0.0
        for i in 0..<n {
            let r = reference.data[i], diff = abs(decoded[i] - r)
            worst = max(worst, diff.isNaN ? .infinity : diff)
            sq += Double(diff) * Double(diff); ref += Double(r) * Double(r)
        }
        enc.maxAbsDiff = worst; enc.sqDiff = sq; enc.sqWeight = ref
    }
}
