// Checksum: the per-tensor integrity check of every file QATLab writes (checkpoints and dumps).
//
// Algorithm "fnv1a64w": FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) applied to
// the stored bytes taken as 8-byte little-endian words, then the 0...7 tail bytes one at a time,
// then the byte count folded in as a final word (so trailing zero bytes change the sum).
// Word-wise FNV runs ~8x faster than byte-wise (the multiply chain is the bottleneck) and still
// changes on any single flipped bit, which is what a checkpoint check needs: it is not a
// cryptographic hash. Stored as 16 lowercase hex digits.
//
// Where the sums live:
//   safetensors: `__metadata__["qatlab.checksum.NAME"]` = hex, one per tensor NAME, and
//                `__metadata__["qatlab.format"]` = the format version (Checksums.formatVersion);
//                written by SafetensorsWriter, checked by SafetensorsFile when a tensor is read.
//   HDF5:        attribute `qatlab_fnv1a64w` (string) on each dataset HDF5File writes, checked
//                by readTensor / readInt32 over the values as stored.
// Files without sums (written before checksums, or by other tools) are read with no check.

/// FNV-1a 64 over words (see the header).
public func fnv1a64w(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let prime: UInt64 = 0x0000_0100_0000_01b3
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    let n = bytes.count
    let words = n / 8
    if let base = bytes.baseAddress {
        for i in 0..<words {
            h = (h ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) &* prime
        }
        for i in (8 * words)..<n { h = (h ^ UInt64(base.load(fromByteOffset: i, as: UInt8.self))) &* prime }
    }
    return (h ^ UInt64(n)) &* prime
}

public enum Checksums {
    /// The version of QATLab's checksum metadata; a file with a larger one is refused.
    public static let formatVersion = 1
    public static let metadataPrefix = "qatlab.checksum."
    public static let formatKey = "qatlab.format"
    public static let hdf5Attribute = "qatlab_fnv1a64w"

    public static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// The metadata key holding tensor `name`'s sum.
    public static func key(_ name: String) -> String { metadataPrefix + name }

    /// The error for a mismatch: names the file and the tensor, and what to do.
    public static func mismatch(file: String, tensor: String, stored: UInt64, computed: UInt64) -> FormatError {
        FormatError(file: file, "tensor '\(tensor)': checksum mismatch (stored \(hex(stored)), computed \(hex(computed))); the file is corrupt (a flipped byte or a partial copy): restore it from a good copy or re-create it")
    }

    /// Refuses a format version newer than this QATLab reads, naming both.
    public static func checkVersion(_ text: String?, file: String) throws {
        guard let text else { return }
        guard let v = Int(text), v >= 1 else {
            throw FormatError(file: file, "\(formatKey) is '\(text)', expected a positive whole number; the file is corrupt")
        }
        guard v <= formatVersion else {
            throw FormatError(file: file, "was written with QATLab format version \(v); this QATLab reads versions up to \(formatVersion): update QATLab to read it")
        }
    }
}
