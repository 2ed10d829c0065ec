// PathName.parent against NSString.deletingLastPathComponent's documented results, written out
// by hand (Foundation itself traps on the one-character cases on this toolchain).
import Testing
@testable import QATIO

@Suite struct PathNameTests {
    @Test(arguments: [
        ("a", ""), ("a/", ""), (".", ""), ("a.h5", ""), ("", ""),
        ("/", "/"), ("//", "/"), ("/a", "/"), ("/a/", "/"), ("//a", "/"),
        ("a/b", "a"), ("a/b/", "a"), ("a//b", "a"), ("./a", "."), ("q/y.h5", "q"),
        ("/tmp/thr/a.h5", "/tmp/thr"), ("/tmp/thr", "/tmp"), ("Notebooks/results/x.h5", "Notebooks/results"),
        ("dür/ö.h5", "dür"),
    ])
    func parentOfPath(path: String, parent: String) {
        #expect(PathName.parent(path) == parent, "parent of \"\(path)\"")
    }

    @Test func walkingUpARelativePathEndsAtTheEmptyName() {
        // what OutputCheck does: it must reach "" without trapping on the one-character step
        var p = "x/y/z.h5", seen: [String] = []
        while !p.isEmpty { seen.append(p); p = PathName.parent(p) }
        #expect(seen == ["x/y/z.h5", "x/y", "x"])
    }
}
