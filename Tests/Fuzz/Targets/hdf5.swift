// Fuzz target `hdf5`: the reading layer above libhdf5 (HDF5File.readTensor, readInt32,
// attribute, children) over files whose shapes, datatypes and attributes the input chooses.
// libhdf5's own parsing of raw bytes is not the target (its bugs are upstream's): the input is a
// small program that builds a well-formed file with raw libhdf5 calls, including everything
// QATLab never writes: other integer and float widths, fixed and variable-length strings, null
// and scalar dataspaces, rank up to 40, huge chunked dimensions with no stored data, attributes of
// absurd shapes, unwritten datasets, and a fuzzed `qatlab_fnv1a64w` checksum attribute.
// Program (a cursor over the input; a missing byte reads as 0):
//   repeat up to 12 times: op byte % 5 ->
//     0 dataset  (type, rank, dims, chunked flag, data bytes)   1 attribute on / or the last dataset
//     2 group                                                   3 dataset with a null dataspace
//     4 checksum attribute (16 fuzzed characters) on the last dataset
// Seeds: programs written out by makeSeeds, and Tests/QATIOTests/Golden/st_golden.h5's
// shapes replayed as a program.
import CHDF5
import QATIO
#if canImport(Glibc)
import Glibc
#endif

struct Cursor {
    let data: [UInt8]
    var i = 0
    mutating func byte() -> UInt8 { defer { i += 1 }; return i < data.count ? data[i] : 0 }
    var done: Bool { i >= data.count }
}

/// The file type for a type byte; `size` is the element size in memory (0: variable-length string).
func fileType(_ b: UInt8, _ c: inout Cursor) -> (hid_t, Int, Bool) {
    switch b % 10 {
    case 0: return (H5Tcopy(qat_h5t_native_float()), 4, false)
    case 1: return (H5Tcopy(qat_h5t_native_double()), 8, false)
    case 2: return (H5Tcopy(qat_h5t_native_int32()), 4, false)
    case 3: return (H5Tcopy(qat_h5t_native_int64()), 8, false)
    case 4: return (H5Tcopy(qat_h5t_native_uint8()), 1, false)
    case 5: return (H5Tcopy(qat_h5t_native_int8()), 1, false)
    case 6: return (H5Tcopy(qat_h5t_native_uint16()), 2, false)
    case 7:
        let n = Int(c.byte() % 40) + 1
        let t = H5Tcopy(qat_h5t_c_s1()); H5Tset_size(t, n); return (t, n, false)
    case 8:
        let t = H5Tcopy(qat_h5t_c_s1()); H5Tset_size(t, qat_h5t_variable()); H5Tset_cset(t, H5T_CSET_UTF8); return (t, 0, true)
    default: return (H5Tcopy(qat_h5t_ieee_f32le()), 4, false)
    }
}

/// A dataspace: rank byte % 41 (0 = scalar), dims from bytes; 255 means 2^40.
func dataspace(_ c: inout Cursor, maxRank: Int) -> (hid_t, Int) {
    let rank = Int(c.byte()) % (maxRank + 1)
    if rank == 0 { return (H5Screate(H5S_SCALAR), 1) }
    var dims: [hsize_t] = []
    var count = 1
    for _ in 0..<rank {
        let b = c.byte()
        let d: hsize_t = b == 255 ? 1 << 40 : hsize_t(b % 8)
        dims.append(d)
        count = count > (1 << 20) || d > (1 << 20) ? Int.max / 2 : count * Int(d)
    }
    return (H5Screate_simple(Int32(rank), dims, nil), count)
}

func fill(_ n: Int, _ c: inout Cursor) -> [UInt8] { (0..<n).map { _ in c.byte() } }

func build(_ path: String, _ c: inout Cursor) -> [String] {
    let fid = H5Fcreate(path, qat_h5f_acc_trunc(), qat_h5p_default(), qat_h5p_default())
    guard fid >= 0 else { return [] }
    defer { H5Fclose(fid) }
    var datasets: [String] = []
    var last: hid_t = -1
    for k in 0..<12 where !c.done {
        let op = c.byte() % 5
        switch op {
        case 0, 3:
            let (t, size, vlen) = fileType(c.byte(), &c)
            let (space, count) = op == 3 ? (H5Screate(H5S_NULL), 0) : dataspace(&c, maxRank: 40)
            let dcpl = H5Pcreate(qat_h5p_dataset_create())
            let rank = Int(H5Sget_simple_extent_ndims(space))
            if c.byte() & 1 == 1, rank > 0 { H5Pset_chunk(dcpl, Int32(rank), [hsize_t](repeating: 1, count: rank)) }
            let name = "/d\(k)"
            let d = H5Dcreate2(fid, name, t, space, qat_h5p_default(), dcpl, qat_h5p_default())
            if d >= 0 {
                datasets.append(name)
                if !vlen, count > 0, count <= 4096 {
                    let bytes = fill(count * size, &c)
                    _ = bytes.withUnsafeBytes { H5Dwrite(d, t, qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), $0.baseAddress) }
                }
                if last >= 0 { H5Dclose(last) }
                last = d
            }
            H5Pclose(dcpl); H5Sclose(space); H5Tclose(t)
        case 1, 4:
            let checksum = op == 4
            let target = last >= 0 && (checksum || c.byte() & 1 == 1) ? last : fid
            let name = checksum ? Checksums.hdf5Attribute : ["shape", "bits", "command", "x"][Int(c.byte() % 4)]
            let (t, size, vlen) = checksum ? fileType(7, &c) : fileType(c.byte(), &c)
            let (space, count) = checksum ? (H5Screate(H5S_SCALAR), 1) : dataspace(&c, maxRank: 3)
            if H5Aexists(target, name) > 0 { H5Adelete(target, name) }
            let a = H5Acreate2(target, name, t, space, qat_h5p_default(), qat_h5p_default())
            if a >= 0 {
                if vlen, count == 1 {
                    let s = fill(Int(c.byte() % 16), &c).map { $0 == 0 ? 65 : $0 } + [0]
                    s.withUnsafeBytes { raw in
                        var p: UnsafeRawPointer? = raw.baseAddress
                        _ = H5Awrite(a, t, &p)
                    }
                } else if !vlen, count > 0, count <= 4096 {
                    let bytes = fill(count * size, &c)
                    _ = bytes.withUnsafeBytes { H5Awrite(a, t, $0.baseAddress) }
                }
                H5Aclose(a)
            }
            H5Sclose(space); H5Tclose(t)
        default:
            let g = H5Gcreate2(fid, "/g\(k)", qat_h5p_default(), qat_h5p_default(), qat_h5p_default())
            if g >= 0 { H5Gclose(g) }
        }
    }
    if last >= 0 { H5Dclose(last) }
    return datasets
}

/// libhdf5 keeps freed blocks on free lists of at most 64 KB each by default; the metadata cache
/// of every open file (H5C_t, ~600 KB) is larger, so each H5Fcreate/H5Fopen got a fresh mmap
/// from ASan's allocator and faulted in and zeroed its pages: 2/3 of the time, ~300 executions/s.
/// Raised limits let libhdf5 recycle it; what it reads is unchanged.
let freeListsRaised: Void = { _ = H5set_free_list_limits(64 << 20, 16 << 20, 64 << 20, 16 << 20, 64 << 20, 16 << 20) }()

func fuzzOne(_ data: [UInt8]) {
    qat_h5_quiet()
    _ = freeListsRaised
    let path = scratchDir + "/in.h5"
    var c = Cursor(data: data)
    _ = build(path, &c)
    guard let f = try? HDF5File.open(path: path) else { return }
    for name in (try? f.children(of: "/")) ?? [] {
        let p = "/" + name
        _ = try? f.readTensor(p)
        _ = try? f.readInt32(p)
        for a in ["shape", "bits", "command", "x", Checksums.hdf5Attribute] { _ = try? f.attribute(a, on: p) }
        _ = try? f.children(of: p)
    }
    for a in ["shape", "bits", "command", "x"] { _ = try? f.attribute(a, on: "/") }
    try? f.close()
}

func makeSeeds(into dir: String) {
    let programs: [[UInt8]] = [
        [0, 0, 2, 3, 4, 0] + [UInt8](repeating: 0x3f, count: 48),     // float32 3x4, contiguous
        [0, 2, 1, 5, 1] + [UInt8](repeating: 7, count: 20),            // int32 [5], chunked
        [0, 3, 0, 0] + [UInt8](repeating: 1, count: 8) + [1, 1, 8, 0, 5, 104, 101, 108, 108, 111],  // int64 scalar + vlen string attr
        [0, 0, 3, 255, 1, 1, 1],                                        // huge chunked float32, nothing stored
        [3, 0, 0],                                                      // null dataspace
        [0, 0, 1, 4, 0] + [UInt8](repeating: 0, count: 16) + [4] + Array("0123456789abcdef".utf8),  // checksum attr
        [2, 0, 7, 1, 3] + Array("abcabcabc".utf8),                     // group, fixed strings
    ]
    for (i, p) in programs.enumerated() { writeFile("\(dir)/program\(i)", p) }
}
