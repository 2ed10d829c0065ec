// Which items `mc` scores and where their few-shot examples come from (lm-evaluation-harness's
// convention, MultipleChoiceTasks.swift): every item is scored; shots come from the task's
// train/validation split when it has one, else from the other items, never the item itself.
// The accuracies are compared with Tests/Oracles/mc_oracle.py, which reads the same JSONL file
// and decides on its own which items are scored and which are shots.
import Foundation
import QATModel
import QATTensor
import Testing
@testable import QATEval

/// Runs Tests/Oracles/mc_oracle.py on the tiny model; nil (with a recorded issue naming
/// setup.sh) when python3 or numpy is missing or the oracle fails.
enum MCOracle {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func run(_ arguments: [String]) throws -> Any? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("Tests/Oracles/mc_oracle.py").path, root.appendingPathComponent("Data/tiny").path] + arguments
        // numpy's threaded BLAS only contends with the test runner on matrices this small
        p.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { _, one in one }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) else {
            Issue.record("mc_oracle.py failed (status \(p.terminationStatus)); it needs python3 with numpy: run `bash setup.sh`. \(errors)")
            return nil
        }
        return json
    }
}

/// A scratch directory of JSONL task files, removed at deinit.
final class TaskDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "qat-mc-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `count` generic items ("A plus B is" with 2 or 3 numeric choices) as `name`; the
    /// last item repeats item 3 word for word, as real datasets sometimes do.
    @discardableResult
    func write(_ name: String, count: Int, salt: Int = 0) throws -> String {
        var lines: [String] = []
        for n in 0..<(count - 1) {
            let a = (n * 7 + salt) % 10, b = (n * 3 + 2 * salt) % 9, sum = a + b
            let choices = n % 3 == 0 ? ["\(sum)", "\(sum + 1)"] : ["\(sum + 2)", "\(sum)", "\(sum + 1)"]
            lines.append(#"{"context": "\#(a) plus \#(b) is", "choices": ["\#(choices.joined(separator: "\", \""))"], "gold": \#(n % 3 == 0 ? 0 : 1)}"#)
        }
        lines.append(lines[3])
        let file = path + "/" + name
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

@Suite struct MultipleChoiceTaskTests {
    @Test func everyItemOfA103ItemFileIsScoredAtZeroShotsAsTheOracleScoresIt() throws {
        let dir = try TaskDir()
        let file = try dir.write("arith.jsonl", count: 103)
        let loaded = try tiny()
        let task = try MultipleChoiceTasks.load(file, seed: 1)
        #expect(task.items.count == 103 && task.fewShotSplit.isEmpty)
        let r = try MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer).score(task, shots: 0, seed: 1)
        #expect(r.items == 103)
        guard let oracle = try MCOracle.run(["--task", file, "--shots", "0", "--seed", "1"]) as? [String: Any] else { return }
        expectAgreement(r, oracle)
    }

    @Test func noItemIsAmongItsOwnShots() throws {
        let dir = try TaskDir()
        let task = try MultipleChoiceTasks.load(try dir.write("arith.jsonl", count: 40), seed: 1)
        try #require(task.items.count == 40)
        #expect(task.items[39] == task.items[3], "the file repeats item 3 as its last item")
        for i in task.items.indices {
            let shots = try MultipleChoiceTasks.shotIndices(for: i, in: task, shots: 5, seed: 9)
            #expect(shots.count == 5 && Set(shots).count == 5)
            #expect(!shots.contains(i) && !shots.contains { task.items[$0] == task.items[i] }, "item \(i): shots \(shots)")
            let prompt = try MultipleChoiceTasks.prompt(task, index: i, shots: 5, seed: 9)
            #expect(!prompt.requests[0].context.contains(task.items[i].solved + "\n\n"), "item \(i) is solved in its own prompt")
        }
        // capitals has no split of its own either
        if FileManager.default.fileExists(atPath: Quiz.directory + "/europe") {
            let capitals = try MultipleChoiceTasks.load("capitals", seed: 1)
            for i in capitals.items.indices {
                #expect(!(try MultipleChoiceTasks.shotIndices(for: i, in: capitals, shots: 5, seed: 1)).contains(i))
            }
        }
    }

    @Test func theTrainSplitSuppliesTheShotsWhenTheTaskHasOne() throws {
        let dir = try TaskDir()
        let test = try dir.write("arith_test.jsonl", count: 30), train = try dir.write("arith_train.jsonl", count: 12, salt: 5)
        try dir.write("arith_validation.jsonl", count: 8, salt: 3)
        let task = try MultipleChoiceTasks.load(test, seed: 1)
        #expect(task.fewShotSource == train && task.fewShotSplit.count == 12 && task.items.count == 30)
        let trainText = Set(task.fewShotSplit.map(\.solved))
        for i in task.items.indices {
            let shots = try MultipleChoiceTasks.shotIndices(for: i, in: task, shots: 3, seed: 4)
            #expect(shots.allSatisfy { (0..<12).contains($0) })
            let ctx = try MultipleChoiceTasks.prompt(task, index: i, shots: 3, seed: 4).requests[0].context
            let examples = ctx.components(separatedBy: "\n\n").dropLast()
            #expect(examples.count == 3 && examples.allSatisfy { trainText.contains($0) }, "item \(i): \(ctx)")
        }
        // without a train file a test file's validation split is next; a validation file then
        // draws from its own other items (never from the test split); no split name: none
        try FileManager.default.removeItem(atPath: train)
        #expect(try MultipleChoiceTasks.load(test, seed: 1).fewShotSource == dir.path + "/arith_validation.jsonl")
        #expect(MultipleChoiceTasks.fewShotSplitPath(of: dir.path + "/arith_validation.jsonl") == nil)
        #expect(MultipleChoiceTasks.fewShotSplitPath(of: dir.path + "/arith.jsonl") == nil)
    }

    @Test func theSameSeedDrawsTheSameShots() throws {
        let dir = try TaskDir()
        let file = try dir.write("arith.jsonl", count: 50)
        let a = try MultipleChoiceTasks.load(file, seed: 1), b = try MultipleChoiceTasks.load(file, seed: 1)
        let draw = { (t: MultipleChoiceTask, seed: UInt64) in try t.items.indices.map { try MultipleChoiceTasks.shotIndices(for: $0, in: t, shots: 4, seed: seed) } }
        #expect(try draw(a, 7) == draw(b, 7))
        #expect(try draw(a, 7) != draw(a, 8))
    }

    /// k-shot accuracies, shot for shot, from the other items and from a train split.
    @Test(arguments: [false, true])
    func kShotAccuraciesEqualTheOracle(trainSplit: Bool) throws {
        let dir = try TaskDir()
        let file = try dir.write(trainSplit ? "arith_test.jsonl" : "arith.jsonl", count: 103)
        if trainSplit { try dir.write("arith_train.jsonl", count: 20, salt: 5) }
        let loaded = try tiny()
        let task = try MultipleChoiceTasks.load(file, seed: 3)
        #expect(task.fewShotSplit.count == (trainSplit ? 20 : 0))
        let r = try MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer).score(task, shots: 2, seed: 3, limit: 24)
        #expect(r.items == 24)
        guard let oracle = try MCOracle.run(["--task", file, "--shots", "2", "--seed", "3", "--limit", "24"]) as? [String: Any] else { return }
        let ours = try (0..<24).map { try MultipleChoiceTasks.shotIndices(for: $0, in: task, shots: 2, seed: 3) }
        #expect(oracle["shots"] as? [[Int]] == ours, "the oracle drew other shots")
        #expect(oracle["shots_from"] as? String == task.fewShotSource)
        expectAgreement(r, oracle)
    }

    /// Counts are compared, not the printed means: Foundation's JSON reader may not give back the
    /// same Double for a 17-digit decimal.
    func expectAgreement(_ r: MultipleChoiceResult, _ oracle: [String: Any]) {
        let n = oracle["n"] as? Int ?? -1, correct = oracle["correct"] as? Int ?? -1, correctNorm = oracle["correct_norm"] as? Int ?? -1
        #expect(n == r.items)
        #expect(Double(correct) / Double(n) == r.acc && Double(correctNorm) / Double(n) == r.accNorm,
                "acc \(r.acc) / \(r.accNorm) vs oracle \(correct) / \(correctNorm) of \(n)")
        #expect(abs(((oracle["acc_stderr"] as? NSNumber)?.doubleValue ?? -1) - r.accStderr) < 1e-12)
        let theirs = oracle["loglik"] as? [[Double]] ?? []
        #expect(theirs.count == r.logLikelihoods.count)
        for (a, b) in zip(r.logLikelihoods.joined(), theirs.joined()) { #expect(abs(a - b) < 1e-3 * max(1, abs(b)), "\(a) vs numpy \(b)") }
    }
}
