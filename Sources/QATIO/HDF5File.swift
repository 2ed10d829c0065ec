// HDF5File: a thin, checked Swift layer over libhdf5 1.10 (module CHDF5) for dumps and tables.
//
// Layout conventions of the files QATLab writes (h5py and h5dump read them as they are):
//   1. Paths are absolute, "/"-separated ("/model/layers/0/wq"); a relative path is taken from
//      the root. Parent groups are created on demand.
//   2. A Tensor is a float32 dataset (H5T_IEEE_F32LE), row-major, dataset shape = tensor shape;
//      shape [] is an HDF5 scalar dataspace. Integers (token ids, quantized codes) are int32
//      datasets (H5T_STD_I32LE).
//   3. Chunked storage is opt-in (`chunked:`) and implied by `compress:` 1...9 (shuffle + deflate).
//      Chunks are the dataset shape with the largest dimension halved until a chunk is <= 1 MiB.
//   4. Attributes (HDF5Attribute) are scalars or 1-d arrays: int -> int64, double -> float64,
//      ints/doubles -> 1-d int64/float64, string -> variable-length UTF-8 (h5py reads it as str).
//      Setting an attribute that exists replaces it.
//   5. `create` writes to "<path>.tmp-<pid>"; `close()` flushes, fsyncs and renames it to <path>,
//      so a crash or a forgotten close never leaves a half-written file under the final name (the
//      abandoned temporary is deleted by deinit). `open(writable: true)` edits in place.
//   6. Every dataset written here carries the string attribute `qatlab_fnv1a64w`: the checksum of
//      its values as stored (QATIO/Checksum.swift). readTensor / readInt32 check it when present
//      (a float32 / int32 dataset) and name the file and the dataset on a mismatch; datasets
//      without it (older files, other tools) are read unchecked.
// Every libhdf5 call goes through one process-wide lock, so QATLab threads never interleave calls.
// Reads check rank (<= 32), element-count overflow and an allocation bound relative to the stored
// size, so a crafted file gives a FormatError, not a crash or a huge allocation.
import CHDF5
import Foundation
import QATTensor

#if canImport(Glibc)
import Glibc
#endif

/// An attribute value as QATLab writes and reads it.
public enum HDF5Attribute: Equatable, Sendable {
    case int(Int64)
    case double(Double)
    /// Variable-length UTF-8 (h5py returns `str`).
    case string(String)
    case doubles([Double])
    case ints([Int64])
}

/// All libhdf5 calls run under this lock (calls from several threads must not interleave).
let hdf5Lock = NSRecursiveLock()

/// One open HDF5 file. Create with `create(path:)` (atomic) or `open(path:writable:)`; every
/// failure is a FormatError naming the file and the object path.
public final class HDF5File {
    /// The final path of the file.
    public let path: String
    /// Where the file is being written before close() renames it (create only).
    private let pendingPath: String?
    private var fid: hid_t
    public let writable: Bool

    private init(path: String, pending: String?, fid: hid_t, writable: Bool) {
        self.path = path
        self.pendingPath = pending
        self.fid = fid
        self.writable = writable
    }

    /// A new empty file, written atomically: it appears at `path` only when close() succeeds.
    public static func create(path: String) throws -> HDF5File {
        try locked {
            InterruptedWrites.reclaim(path)
            let tmp = "\(path).tmp-\(getpid())"
            let fid = H5Fcreate(tmp, qat_h5f_acc_trunc(), qat_h5p_default(), qat_h5p_default())
            guard fid >= 0 else {
                throw FormatError(file: path, "cannot create the HDF5 file (temporary \(tmp)); check that the directory exists and is writable")
            }
            return HDF5File(path: path, pending: tmp, fid: fid, writable: true)
        }
    }

    /// An existing HDF5 file, read-only unless `writable`.
    public static func open(path: String, writable: Bool = false) throws -> HDF5File {
        try locked {
            guard FileManager.default.fileExists(atPath: path) else {
                throw FormatError(file: path, "no such file; check the path")
            }
            guard H5Fis_hdf5(path) > 0 else { throw FormatError(file: path, "is not an HDF5 file (no HDF5 signature)") }
            let fid = H5Fopen(path, writable ? qat_h5f_acc_rdwr() : qat_h5f_acc_rdonly(), qat_h5p_default())
            guard fid >= 0 else { throw FormatError(file: path, "cannot open the HDF5 file\(writable ? " for writing (is it read-only or open elsewhere?)" : "")") }
            return HDF5File(path: path, pending: nil, fid: fid, writable: writable)
        }
    }

    /// Closes the file; a created file is synced and renamed into place. Safe to call twice.
    public func close() throws {
        try Self.locked {
            guard fid >= 0 else { return }
            let status = H5Fclose(fid)
            fid = -1
            guard let tmp = pendingPath else {
                guard status >= 0 else { throw FormatError(file: path, "closing the file failed; it may be incomplete") }
                return
            }
            guard status >= 0 else { unlink(tmp); throw FormatError(file: path, "closing the new file failed (is the disk full?); nothing was written, an earlier file of this name is intact") }
            // a full disk can surface only at fsync: then the file must not replace the old one
            let fd = Glibc.open(tmp, O_RDONLY)
            let synced = fd >= 0 && fsync(fd) == 0
            let code = errno
            if fd >= 0 { Glibc.close(fd) }
            guard synced else {
                unlink(tmp)
                throw FormatError(file: path, "syncing the new file failed (\(String(cString: strerror(code)))); nothing was written, an earlier file of this name is intact")
            }
            guard rename(tmp, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(tmp)
                throw FormatError(file: path, "cannot rename \(tmp) into place (\(reason))")
            }
        }
    }

    deinit {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        guard fid >= 0 else { return }
        qat_h5_quiet()
        H5Fclose(fid)
        if let tmp = pendingPath { unlink(tmp) }   // never closed: abandon, leave nothing behind
    }

    // MARK: Groups and links

    /// Creates a group and any missing parents; an existing group is fine.
    public func createGroup(_ group: String) throws {
        try locked {
            let p = try normalized(group)
            if p == "/" || linkExists(p) {
                guard try objectType(p) == H5I_GROUP else { throw fail(p, "exists and is not a group") }
                return
            }
            let lcpl = try intermediateGroupsPlist(p)
            defer { H5Pclose(lcpl) }
            let g = H5Gcreate2(fid, p, lcpl, qat_h5p_default(), qat_h5p_default())
            guard g >= 0 else { throw fail(p, "cannot create the group\(writable ? "" : " (the file is read-only)")") }
            H5Gclose(g)
        }
    }

    /// Whether an object exists at the path (every parent must exist too).
    public func exists(_ objectPath: String) -> Bool {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        qat_h5_quiet()
        guard fid >= 0, let p = try? normalized(objectPath) else { return false }
        return p == "/" || linkExists(p)
    }

    /// Names (not paths) of a group's members, in name order.
    public func children(of group: String) throws -> [String] {
        try locked {
            let p = try normalized(group)
            let gid = H5Gopen2(fid, p, qat_h5p_default())
            guard gid >= 0 else { throw fail(p, "is not a group (or does not exist)") }
            defer { H5Gclose(gid) }
            final class Names { var list: [String] = [] }
            let names = Names()
            let status = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, data in
                guard let name, let data else { return -1 }
                Unmanaged<Names>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
            guard status >= 0 else { throw fail(p, "cannot list the group's members") }
            return names.list
        }
    }

    // MARK: Datasets

    /// Writes a float32 dataset with the tensor's shape (scalar for shape []). `compress` 1...9 is
    /// the deflate level (with shuffle) and implies chunking. The path must not exist yet.
    public func write(_ t: Tensor, at datasetPath: String, chunked: Bool = false, compress: Int = 0) throws {
        try locked {
            try writeDataset(datasetPath, shape: t.shape, fileType: qat_h5t_ieee_f32le(), memType: qat_h5t_native_float(),
                             elementSize: 4, chunked: chunked, compress: compress, data: UnsafeRawPointer(t.data))
        }
    }

    /// Writes an int32 dataset; `v.count` must equal the product of `shape`.
    public func writeInt32(_ v: [Int32], shape: [Int], at datasetPath: String) throws {
        try locked {
            let n = try elementCount(shape, at: datasetPath)
            guard n == v.count else { throw fail(datasetPath, "shape \(shape) holds \(n) elements but \(v.count) values were given") }
            try v.withUnsafeBytes { b in
                try writeDataset(datasetPath, shape: shape, fileType: qat_h5t_native_int32(), memType: qat_h5t_native_int32(),
                                 elementSize: 4, chunked: false, compress: 0, data: b.baseAddress)
            }
        }
    }

    /// Reads a float or integer dataset as Float32 (HDF5 converts the values).
    public func readTensor(_ datasetPath: String) throws -> Tensor {
        try locked {
            let (p, dset) = try openDataset(datasetPath)
            defer { H5Dclose(dset) }
            let cls = try typeClass(of: dset, p)
            guard cls == H5T_FLOAT || cls == H5T_INTEGER else {
                throw fail(p, "holds \(className(cls)) data, not numbers; only float and integer datasets convert to a Tensor")
            }
            let shape = try datasetShape(dset, p, elementSize: 4)
            let t = Tensor(uninitialized: shape)
            guard t.count > 0 else { return t }
            guard H5Dread(dset, qat_h5t_native_float(), qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), t.data) >= 0 else {
                throw fail(p, "reading the data failed (corrupt chunk or unavailable filter)")
            }
            try verifyChecksum(dset, p, storedClass: H5T_FLOAT, UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
            return t
        }
    }

    /// Reads an integer dataset whose values fit Int32, with its shape.
    public func readInt32(_ datasetPath: String) throws -> ([Int32], [Int]) {
        try locked {
            let (p, dset) = try openDataset(datasetPath)
            defer { H5Dclose(dset) }
            guard try typeClass(of: dset, p) == H5T_INTEGER else { throw fail(p, "is not an integer dataset; use readTensor for floats") }
            let shape = try datasetShape(dset, p, elementSize: 8)
            let n = shape.reduce(1, *)
            var wide = [Int64](repeating: 0, count: n)
            if n > 0 {
                let status = wide.withUnsafeMutableBytes { H5Dread(dset, qat_h5t_native_int64(), qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), $0.baseAddress) }
                guard status >= 0 else { throw fail(p, "reading the data failed (corrupt chunk or unavailable filter)") }
            }
            var out = [Int32](repeating: 0, count: n)
            for i in 0..<n {
                guard let v = Int32(exactly: wide[i]) else { throw fail(p, "value \(wide[i]) at flat index \(i) does not fit Int32") }
                out[i] = v
            }
            try out.withUnsafeBytes { try verifyChecksum(dset, p, storedClass: H5T_INTEGER, $0) }
            return (out, shape)
        }
    }

    // MARK: Internals shared with HDF5Attributes.swift

    /// Before the library's first use: no atexit cleanup. After a write fails (a full disk, a
    /// file-size limit) H5Fclose fails and leaves the file half-closed in libhdf5's tables, and
    /// the atexit handler then crashed closing it again (SIGSEGV in H5F__close_cb at exit, after
    /// the error had been reported). Every file is closed by close() or deinit, so the handler
    /// has nothing else to do.
    private static let noAtexit: Void = { _ = H5dont_atexit() }()

    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        _ = noAtexit
        // Debian's libhdf5 is the thread-safe build, whose automatic error printing is set per
        // thread: silence it on whichever thread this is (cheap) so libhdf5 never prints itself.
        qat_h5_quiet()
        return try body()
    }

    func locked<T>(_ body: () throws -> T) throws -> T {
        try Self.locked {
            guard fid >= 0 else { throw FormatError(file: path, "the file is already closed") }
            return try body()
        }
    }

    var fileId: hid_t { fid }

    func fail(_ objectPath: String, _ message: String) -> FormatError {
        FormatError(file: path, "\(objectPath): \(message)")
    }

    /// "/a/b" from "a/b", "/a//b/" and the like; rejects "." and ".." components.
    func normalized(_ p: String) throws -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { throw fail(p, "'.' and '..' are not allowed in HDF5 paths") }
        return "/" + parts.joined(separator: "/")
    }

    /// Every link along the path exists (H5Lexists fails when a parent is missing).
    func linkExists(_ p: String) -> Bool {
        var prefix = ""
        for part in p.split(separator: "/") {
            prefix += "/" + part
            guard H5Lexists(fid, prefix, qat_h5p_default()) > 0 else { return false }
        }
        return true
    }

    func objectType(_ p: String) throws -> H5I_type_t {
        let o = H5Oopen(fid, p, qat_h5p_default())
        guard o >= 0 else { throw fail(p, "cannot open the object") }
        defer { H5Oclose(o) }
        return H5Iget_type(o)
    }

    private func intermediateGroupsPlist(_ p: String) throws -> hid_t {
        let lcpl = H5Pcreate(qat_h5p_link_create())
        guard lcpl >= 0, H5Pset_create_intermediate_group(lcpl, 1) >= 0 else { throw fail(p, "cannot create a link property list") }
        return lcpl
    }

    private func elementCount(_ shape: [Int], at p: String) throws -> Int {
        do { return try Shape.validate(shape, op: "HDF5 dataset") } catch { throw fail(p, "shape \(shape) is invalid: \(error)") }
    }

    private func writeDataset(_ datasetPath: String, shape: [Int], fileType: hid_t, memType: hid_t, elementSize: Int,
                              chunked: Bool, compress: Int, data: UnsafeRawPointer?) throws {
        let p = try normalized(datasetPath)
        guard p != "/" else { throw fail(p, "the root is a group; give a dataset name") }
        guard !linkExists(p) else { throw fail(p, "already exists; HDF5 cannot replace a dataset in place, write to a new path or a new file") }
        guard (0...9).contains(compress) else { throw fail(p, "compress = \(compress) must be 0 (none) or a deflate level 1...9") }
        let n = try elementCount(shape, at: p)
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil)
        guard space >= 0 else { throw fail(p, "cannot create a dataspace of shape \(shape)") }
        defer { H5Sclose(space) }
        let dcpl = try datasetCreatePlist(p, shape: shape, count: n, elementSize: elementSize, chunked: chunked, compress: compress)
        defer { H5Pclose(dcpl) }
        let lcpl = try intermediateGroupsPlist(p)
        defer { H5Pclose(lcpl) }
        let dset = H5Dcreate2(fid, p, fileType, space, lcpl, dcpl, qat_h5p_default())
        guard dset >= 0 else { throw fail(p, "cannot create the dataset\(writable ? " (is a parent a dataset?)" : " (the file is read-only)")") }
        defer { H5Dclose(dset) }
        if n > 0 {
            guard H5Dwrite(dset, memType, qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), data) >= 0 else {
                throw fail(p, "writing the data failed: is the disk full or the file-size limit (ulimit -f) reached?\(pendingPath == nil ? "" : " The file under its final name is unchanged")")
            }
        }
        let sum = fnv1a64w(UnsafeRawBufferPointer(start: n > 0 ? data : nil, count: n > 0 ? n * elementSize : 0))
        try writeStringAttribute(dset, Checksums.hdf5Attribute, "\(p) attribute '\(Checksums.hdf5Attribute)'", Checksums.hex(sum))
    }

    /// Compares `values` (as read) with the dataset's stored checksum, when it has one and its
    /// stored type is a 4-byte number of `storedClass` (what writeDataset writes).
    private func verifyChecksum(_ dset: hid_t, _ p: String, storedClass: H5T_class_t, _ values: UnsafeRawBufferPointer) throws {
        let name = Checksums.hdf5Attribute
        guard H5Aexists(dset, name) > 0 else { return }
        let t = H5Dget_type(dset)
        guard t >= 0 else { throw fail(p, "cannot read the datatype") }
        let fourBytes = H5Tget_class(t) == storedClass && H5Tget_size(t) == 4
        H5Tclose(t)
        guard fourBytes else { return }
        let attr = H5Aopen(dset, name, qat_h5p_default())
        guard attr >= 0 else { throw fail(p, "cannot open the attribute '\(name)'") }
        defer { H5Aclose(attr) }
        guard try typeClass(of: attr, p, attribute: true) == H5T_STRING else {
            throw fail(p, "attribute '\(name)' is not a string; the file is corrupt")
        }
        let text = try readStringAttribute(attr, "\(p) attribute '\(name)'")
        guard text.utf8.count == 16, let stored = UInt64(text, radix: 16) else {
            throw fail(p, "attribute '\(name)' is '\(text)', expected 16 hex digits; the file is corrupt")
        }
        let computed = fnv1a64w(values)
        guard computed == stored else {
            throw FormatError(file: path, "dataset '\(p)': checksum mismatch (stored \(Checksums.hex(stored)), computed \(Checksums.hex(computed))); the file is corrupt (a flipped byte or a partial copy): restore it from a good copy or re-create it")
        }
    }

    private func datasetCreatePlist(_ p: String, shape: [Int], count: Int, elementSize: Int, chunked: Bool, compress: Int) throws -> hid_t {
        let dcpl = H5Pcreate(qat_h5p_dataset_create())
        guard dcpl >= 0 else { throw fail(p, "cannot create a dataset property list") }
        // Scalars and empty datasets cannot be chunked; they are stored contiguously.
        guard chunked || compress > 0, !shape.isEmpty, count > 0 else { return dcpl }
        let chunk = Self.chunkShape(shape, elementSize: elementSize)
        guard H5Pset_chunk(dcpl, Int32(chunk.count), chunk.map { hsize_t($0) }) >= 0 else {
            H5Pclose(dcpl)
            throw fail(p, "cannot set chunk shape \(chunk)")
        }
        if compress > 0 {
            guard H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0, H5Pset_shuffle(dcpl) >= 0, H5Pset_deflate(dcpl, UInt32(compress)) >= 0 else {
                H5Pclose(dcpl)
                throw fail(p, "the deflate filter is not available in this libhdf5; write with compress: 0")
            }
        }
        return dcpl
    }

    /// The dataset shape with its largest dimension halved until a chunk holds <= 1 MiB.
    static func chunkShape(_ shape: [Int], elementSize: Int) -> [Int] {
        var c = shape.map { max($0, 1) }
        while c.reduce(elementSize, *) > 1 << 20, let i = c.indices.max(by: { c[$0] < c[$1] }), c[i] > 1 {
            c[i] = (c[i] + 1) / 2
        }
        return c
    }

    private func openDataset(_ datasetPath: String) throws -> (String, hid_t) {
        let p = try normalized(datasetPath)
        guard p != "/", linkExists(p) else { throw fail(p, "no such dataset") }
        guard try objectType(p) == H5I_DATASET else { throw fail(p, "is a group, not a dataset") }
        let d = H5Dopen2(fid, p, qat_h5p_default())
        guard d >= 0 else { throw fail(p, "cannot open the dataset") }
        return (p, d)
    }

    func typeClass(of object: hid_t, _ p: String, attribute: Bool = false) throws -> H5T_class_t {
        let t = attribute ? H5Aget_type(object) : H5Dget_type(object)
        guard t >= 0 else { throw fail(p, "cannot read the datatype") }
        defer { H5Tclose(t) }
        return H5Tget_class(t)
    }

    func className(_ c: H5T_class_t) -> String {
        switch c {
        case H5T_STRING: return "string"
        case H5T_COMPOUND: return "compound"
        case H5T_ENUM: return "enum"
        case H5T_VLEN: return "variable-length"
        case H5T_ARRAY: return "array"
        case H5T_OPAQUE: return "opaque"
        case H5T_REFERENCE: return "reference"
        case H5T_BITFIELD: return "bitfield"
        default: return "class \(c.rawValue)"
        }
    }

    /// The dataset's shape after checking rank, overflow and that reading it needs an allocation
    /// the stored bytes can justify (deflate expands at most ~1032x; 2048x plus 64 MiB is allowed).
    private func datasetShape(_ dset: hid_t, _ p: String, elementSize: Int) throws -> [Int] {
        let space = H5Dget_space(dset)
        guard space >= 0 else { throw fail(p, "cannot read the dataspace") }
        defer { H5Sclose(space) }
        let shape = try simpleShape(space, p)
        let n = try elementCount(shape, at: p)
        let (bytes, o) = n.multipliedReportingOverflow(by: elementSize)
        let stored = Int(clamping: H5Dget_storage_size(dset))
        let limit = stored > (Int.max - (64 << 20)) / 2048 ? Int.max : stored * 2048 + (64 << 20)
        guard !o, bytes <= limit else {
            throw fail(p, "shape \(shape) needs \(n) elements but only \(stored) bytes are stored; the file is corrupt or the dataset is absurdly large")
        }
        return shape
    }

    /// Dims of a scalar ([]) or simple dataspace, rank <= 32.
    func simpleShape(_ space: hid_t, _ p: String) throws -> [Int] {
        let kind = H5Sget_simple_extent_type(space)
        if kind == H5S_SCALAR { return [] }
        guard kind == H5S_SIMPLE else { throw fail(p, "has an empty (null) dataspace") }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0...32).contains(rank) else { throw fail(p, "rank \(rank) is outside 0...32") }
        var dims = [hsize_t](repeating: 0, count: rank)
        guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else { throw fail(p, "cannot read the dimensions") }
        guard dims.allSatisfy({ $0 <= hsize_t(Int.max) }) else { throw fail(p, "dimensions \(dims) are absurd") }
        return dims.map { Int($0) }
    }
}
