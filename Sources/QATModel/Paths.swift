// Where QATLab looks for its own files (models, data) without being told.
#if canImport(Glibc)
import Glibc
#endif

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
}

/// The checkout this binary was built from: the directory holding Package.swift above the
/// executable (.build/<config>/qat) or above this source file.
public func checkoutRoot() -> String? {
    var candidates: [String] = []
    if let exe = try? readLink("/proc/self/exe") { candidates.append(exe) }
    candidates.append(#filePath)
    for start in candidates {
        var dir = start
        for _ in 0..<8 {
            guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { break }
            dir = String(dir[..<slash])
            if fileExists(dir + "/Package.swift") && fileExists(dir + "/Sources/QATModel") { return dir }
        }
    }
    return nil
}

func readLink(_ path: String) throws -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buf, buf.count - 1)
    guard n > 0 else { return path }
    return buf[0..<n].withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
}

/// $QAT_MODEL_DIR / $QAT_DATA_DIR (for Models / Data), ./<sub>, and <checkout>/<sub>.
func searchDirectories(sub: String) -> [String] {
    var dirs: [String] = []
    if let env = environment(sub == "Models" ? "QAT_MODEL_DIR" : "QAT_DATA_DIR") { dirs.append(env) }
    dirs.append(sub)
    if let root = checkoutRoot() { dirs.append(root + "/" + sub) }
    return dirs
}

/// Python site-packages directories of python3 on PATH (pip's user and system locations).
func sitePackages() -> [String] {
    var found: [String] = []
    for base in ["/usr/lib/python3/dist-packages", "/usr/local/lib"] where isDirectory(base) { found.append(base) }
    if let home = environment("HOME") {
        for root in [home + "/.local/lib", home + "/.pyenv/versions"] where isDirectory(root) {
            found += globPythonDirs(root)
        }
    }
    return found
}

private func globPythonDirs(_ root: String) -> [String] {
    var g = glob_t()
    defer { globfree(&g) }
    var out: [String] = []
    for pattern in [root + "/python3*/site-packages", root + "/*/lib/python3*/site-packages"] {
        if glob(pattern, 0, nil, &g) == 0 {
            for i in 0..<Int(g.gl_pathc) { if let p = g.gl_pathv[i] { out.append(String(cString: p)) } }
        }
    }
    return out
}
