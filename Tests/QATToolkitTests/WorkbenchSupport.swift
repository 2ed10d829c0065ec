// Shared by the workbench tests: an interpreter with every QATLab verb whose printed lines are
// collected, and scratch directories under the system temporary directory.
import Foundation
import QATInterp
import QATToolkit

/// A session of the command language with QATLab's verbs; `lines` holds what it printed.
final class Session {
    let interp: Interpreter
    var lines: [String] = []

    init() {
        let box = LineBox()
        interp = Interpreter(output: { box.lines.append($0) })
        interp.register(Verbs.rows)
        self.box = box
    }

    private let box: LineBox
    final class LineBox { var lines: [String] = [] }

    /// Runs text; returns the value of its last statement.
    @discardableResult
    func run(_ text: String) throws -> Value {
        defer { lines = box.lines }
        return try interp.run(text, file: "<test>")
    }

    var output: String { box.lines.joined(separator: "\n") }

    /// The error a text raises (nil when it runs).
    func error(_ text: String) -> InterpError? {
        do { try run(text); return nil } catch let e as InterpError { return e } catch { return InterpError(.runtime, at: nil, "\(error)") }
    }

    func tensor(_ name: String) -> [Float]? {
        if case .tensor(let t)? = interp.variables[name] { return t.toArray() }
        return nil
    }
}

/// A fresh directory, removed when the value goes away.
final class ScratchDir {
    let path: String
    init(_ tag: String) throws {
        path = NSTemporaryDirectory() + "qat-\(tag)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { path + "/" + name }
}
