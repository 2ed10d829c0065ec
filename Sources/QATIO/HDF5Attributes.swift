// HDF5File attributes: scalars, 1-d arrays and UTF-8 strings on groups and datasets.
//
// Stored types (see HDF5File.swift, convention 4):
//   1. .int(v)      scalar H5T_STD_I64LE          5. .string(s)  scalar variable-length UTF-8 string
//   2. .double(v)   scalar H5T_IEEE_F64LE            (h5py reads str; fixed-length strings, as
//   3. .ints(v)     1-d H5T_STD_I64LE                 other tools write them, are read too, with
//   4. .doubles(v)  1-d H5T_IEEE_F64LE                trailing NULs/spaces removed)
// Reading maps any integer class to .int (one element, scalar dataspace) or .ints (otherwise),
// any float class to .double / .doubles; anything else is a FormatError naming the attribute.
import CHDF5
import QATTensor

extension HDF5File {
    /// Attributes larger than this many elements are refused when read (HDF5 attributes are small).
    static let maxAttributeElements = 1 << 24

    /// Sets (or replaces) an attribute on the group or dataset at `objectPath` ("/" is the root).
    public func setAttribute(_ name: String, _ value: HDF5Attribute, on objectPath: String) throws {
        try locked {
            let (p, obj) = try openObject(objectPath)
            defer { H5Oclose(obj) }
            let where_ = "\(p) attribute '\(name)'"
            guard !name.isEmpty, !name.utf8.contains(0) else { throw fail(where_, "the name must be non-empty and contain no NUL") }
            if H5Aexists(obj, name) > 0, H5Adelete(obj, name) < 0 {
                throw fail(where_, "cannot replace the existing attribute\(writable ? "" : " (the file is read-only)")")
            }
            switch value {
            case let .int(v): try writeAttribute(obj, name, where_, type: qat_h5t_native_int64(), shape: nil, [v])
            case let .double(v): try writeAttribute(obj, name, where_, type: qat_h5t_native_double(), shape: nil, [v])
            case let .ints(v): try writeAttribute(obj, name, where_, type: qat_h5t_native_int64(), shape: v.count, v)
            case let .doubles(v): try writeAttribute(obj, name, where_, type: qat_h5t_native_double(), shape: v.count, v)
            case let .string(s): try writeStringAttribute(obj, name, where_, s)
            }
        }
    }

    /// The attribute, or nil when the object has none of that name.
    public func attribute(_ name: String, on objectPath: String) throws -> HDF5Attribute? {
        try locked {
            let (p, obj) = try openObject(objectPath)
            defer { H5Oclose(obj) }
            let where_ = "\(p) attribute '\(name)'"
            guard H5Aexists(obj, name) > 0 else { return nil }
            let attr = H5Aopen(obj, name, qat_h5p_default())
            guard attr >= 0 else { throw fail(where_, "cannot open the attribute") }
            defer { H5Aclose(attr) }
            let space = H5Aget_space(attr)
            guard space >= 0 else { throw fail(where_, "cannot read the dataspace") }
            defer { H5Sclose(space) }
            let shape = try simpleShape(space, where_)
            let n = shape.contains(0) ? 0 : shape.reduce(1) { n, d in n > Self.maxAttributeElements || d > Self.maxAttributeElements ? Int.max : n * d }
            guard n <= Self.maxAttributeElements else {
                throw fail(where_, "shape \(shape) is absurd for an attribute")
            }
            let cls = try typeClass(of: attr, where_, attribute: true)
            switch cls {
            case H5T_INTEGER:
                let v: [Int64] = try readAttribute(attr, where_, type: qat_h5t_native_int64(), count: n)
                return shape.isEmpty && n == 1 ? .int(v[0]) : .ints(v)
            case H5T_FLOAT:
                let v: [Double] = try readAttribute(attr, where_, type: qat_h5t_native_double(), count: n)
                return shape.isEmpty && n == 1 ? .double(v[0]) : .doubles(v)
            case H5T_STRING:
                guard n == 1 else { throw fail(where_, "is an array of \(n) strings; only single strings are supported") }
                return .string(try readStringAttribute(attr, where_))
            default:
                throw fail(where_, "has \(className(cls)) type; supported are integers, floats and strings")
            }
        }
    }

    // MARK: Internals

    private func openObject(_ objectPath: String) throws -> (String, hid_t) {
        let p = try normalized(objectPath)
        guard p == "/" || linkExists(p) else { throw fail(p, "no such group or dataset") }
        let o = H5Oopen(fileId, p, qat_h5p_default())
        guard o >= 0 else { throw fail(p, "cannot open the object") }
        return (p, o)
    }

    private func writeAttribute<T>(_ obj: hid_t, _ name: String, _ where_: String, type: hid_t, shape: Int?, _ values: [T]) throws {
        let space = shape.map { H5Screate_simple(1, [hsize_t($0)], nil) } ?? H5Screate(H5S_SCALAR)
        guard space >= 0 else { throw fail(where_, "cannot create a dataspace") }
        defer { H5Sclose(space) }
        let attr = H5Acreate2(obj, name, type, space, qat_h5p_default(), qat_h5p_default())
        guard attr >= 0 else { throw fail(where_, "cannot create the attribute\(writable ? "" : " (the file is read-only)")") }
        defer { H5Aclose(attr) }
        let status = values.withUnsafeBytes { H5Awrite(attr, type, $0.baseAddress) }
        guard status >= 0 || values.isEmpty else { throw fail(where_, "writing the attribute failed") }
    }

    func writeStringAttribute(_ obj: hid_t, _ name: String, _ where_: String, _ s: String) throws {
        guard !s.utf8.contains(0) else { throw fail(where_, "the string contains a NUL byte, which HDF5 strings cannot hold") }
        let type = H5Tcopy(qat_h5t_c_s1())
        guard type >= 0, H5Tset_size(type, qat_h5t_variable()) >= 0, H5Tset_cset(type, H5T_CSET_UTF8) >= 0 else {
            throw fail(where_, "cannot create a variable-length string type")
        }
        defer { H5Tclose(type) }
        let space = H5Screate(H5S_SCALAR)
        guard space >= 0 else { throw fail(where_, "cannot create a dataspace") }
        defer { H5Sclose(space) }
        let attr = H5Acreate2(obj, name, type, space, qat_h5p_default(), qat_h5p_default())
        guard attr >= 0 else { throw fail(where_, "cannot create the attribute\(writable ? "" : " (the file is read-only)")") }
        defer { H5Aclose(attr) }
        let status = s.withCString { cs -> herr_t in
            var ptr: UnsafePointer<CChar>? = cs
            return H5Awrite(attr, type, &ptr)
        }
        guard status >= 0 else { throw fail(where_, "writing the string failed") }
    }

    private func readAttribute<T: Numeric>(_ attr: hid_t, _ where_: String, type: hid_t, count: Int) throws -> [T] {
        var v = [T](repeating: 0, count: count)
        guard count > 0 else { return v }
        let status = v.withUnsafeMutableBytes { H5Aread(attr, type, $0.baseAddress) }
        guard status >= 0 else { throw fail(where_, "reading the attribute failed") }
        return v
    }

    /// A variable-length or fixed-length string, read in its own file type (no charset conversion).
    func readStringAttribute(_ attr: hid_t, _ where_: String) throws -> String {
        let type = H5Aget_type(attr)
        guard type >= 0 else { throw fail(where_, "cannot read the datatype") }
        defer { H5Tclose(type) }
        if H5Tis_variable_str(type) > 0 {
            var ptr: UnsafeMutablePointer<CChar>? = nil
            guard H5Aread(attr, type, &ptr) >= 0 else { throw fail(where_, "reading the string failed") }
            defer {
                let space = H5Aget_space(attr)
                if space >= 0 { H5Dvlen_reclaim(type, space, qat_h5p_default(), &ptr); H5Sclose(space) }
            }
            return ptr.map { String(cString: $0) } ?? ""
        }
        let size = H5Tget_size(type)
        guard size > 0, size <= Self.maxAttributeElements else { throw fail(where_, "string size \(size) is absurd") }
        var bytes = [UInt8](repeating: 0, count: size)
        guard bytes.withUnsafeMutableBytes({ H5Aread(attr, type, $0.baseAddress) }) >= 0 else { throw fail(where_, "reading the string failed") }
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
