// Path names as strings, without Foundation's NSString path methods: on this toolchain
// (Swift 6.3.1, Linux) `("a" as NSString).deletingLastPathComponent` traps for any one-character
// relative path ("a", "a/", "."), so `dump out=x/y.h5`, `table t out=t` or a nested new output
// directory crashed the REPL. Every parent-directory computation goes through here.

public enum PathName {
    /// The directory part of `path`, as NSString.deletingLastPathComponent documents it:
    /// "" for a bare name ("a", "a.h5"), "/" for a child of the root, trailing slashes ignored
    /// ("a/b/" -> "a"), repeated slashes before the last component dropped ("a//b" -> "a").
    public static func parent(_ path: String) -> String {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == slash { bytes.removeLast() }
        if bytes == [slash] { return "/" }
        guard let last = bytes.lastIndex(of: slash) else { return "" }
        var end = last
        while end > 0, bytes[end - 1] == slash { end -= 1 }
        if end == 0 { return "/" }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    private static let slash = UInt8(ascii: "/")
}
