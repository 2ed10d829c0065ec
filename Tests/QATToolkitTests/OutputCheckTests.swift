// The writability probe every writing verb runs first, on paths whose directories do not exist yet.
import Foundation
import Testing
@testable import QATToolkit

@Suite struct OutputCheckTests {
    @Test func nearestExistingDirectoryOfNewPaths() throws {
        let tmp = FileManager.default.temporaryDirectory.path + "/qat-outputcheck-\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        #expect(OutputCheck.nearestExistingDirectory(for: tmp + "/a/b/c.h5") == tmp)
        #expect(OutputCheck.nearestExistingDirectory(for: tmp + "/") == tmp)
        // relative, one-character first component: used to trap inside Foundation (`dump out=q/y.h5`)
        let missing = "q-\(getpid())"
        #expect(OutputCheck.nearestExistingDirectory(for: "\(missing)/y.h5") == ".")
        #expect(OutputCheck.nearestExistingDirectory(for: "q/y.h5") == (FileManager.default.fileExists(atPath: "q") ? "q" : "."))
        #expect(OutputCheck.nearestExistingDirectory(for: "t") == ".")
        try OutputCheck.requireWritable(tmp + "/new/dir/out.h5", key: "out")
    }
}
