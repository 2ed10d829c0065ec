// The multiple-choice scorer against plain full forwards (in Swift and in numpy), the JSONL
// layouts, and the accuracy statistics.
import Foundation
import QATIO
import QATModel
import QATTensor
import Testing
@testable import QATEval

/// The embedded tiny model (1.25 MB: loading it per test is cheap).
func tiny() throws -> LoadedModel { try ModelLoader.load("tiny") }

/// Sum of log p(continuation token | before) from one full forward of context + continuation[:-1].
func fullForwardLogLikelihood(_ model: LlamaModel, context: [Int32], continuation: [Int32]) throws -> Double {
    let ids = context + continuation.dropLast()
    let logits = try model.logits(ids)
    let v = model.vocabSize
    return withExtendedLifetime(logits) {
        continuation.enumerated().reduce(0.0) { total, e in
            let row = logits.data + (context.count - 1 + e.offset) * v
            var m = -Double.infinity
            for j in 0..<v { m = max(m, Double(row[j])) }
            var s = 0.0
            for j in 0..<v { s += Foundation.exp(Double(row[j]) - m) }
            return total + Double(row[Int(e.element)]) - m - Foundation.log(s)
        }
    }
}

@Suite struct CachedForwardTests {
    @Test func cachedForwardEqualsFullForward() throws {
        let m = try tiny().model
        let ids: [Int32] = Array("The capital of Austria is Vienna.".utf8).map { Int32($0) }
        let full = try m.logits(ids)
        for split in [1, 7, ids.count - 1] {
            let (_, cache) = try m.forwardCached(Array(ids[..<split]), after: .empty)
            let (hidden, _) = try m.forwardCached(Array(ids[split...]), after: cache)
            let logits = try m.head(hidden).value
            let v = m.vocabSize
            var worst: Float = 0
            for i in 0..<(ids.count - split) * v { worst = max(worst, abs(logits.data[i] - full.data[split * v + i])) }
            #expect(worst < 1e-4, "split \(split): max |diff| \(worst)")
        }
    }
}

@Suite struct MultipleChoiceScorerTests {
    @Test func choiceLogLikelihoodsEqualFullForwardSums() throws {
        let loaded = try tiny()
        let scorer = MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer)
        let items = [
            MultipleChoiceItem(context: "The capital of Austria is", choices: ["Vienna", "Paris", "Oslo", "Kabul"], gold: 0),
            MultipleChoiceItem(requests: [("The trophy doesn't fit in the suitcase because the trophy", " is too big."),
                                          ("The trophy doesn't fit in the suitcase because the suitcase", " is too big.")], gold: 0),
            MultipleChoiceItem(context: "Q: 2+2?\nA: ", choices: ["4", "five"], gold: 0),   // trailing space moves
        ]
        for item in items {
            let ll = try scorer.logLikelihoods(item)
            for (i, r) in item.requests.enumerated() {
                let (ctx, cont) = scorer.encodePair(context: r.context, continuation: r.continuation)
                let expected = try fullForwardLogLikelihood(loaded.model, context: ctx, continuation: cont)
                #expect(abs(ll[i] - expected) < 1e-4, "\(r): \(ll[i]) vs \(expected)")
            }
        }
    }

    @Test func encodePairMovesTrailingSpaces() throws {
        let loaded = try tiny()
        let scorer = MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer)
        let (ctx, cont) = scorer.encodePair(context: "A: ", continuation: "4")
        #expect(ctx == [65, 58] && cont == [32, 52])
    }

    @Test func accuracyAndStandardErrors() throws {
        // a task where the gold answer is the model's own favourite: acc 1; with gold moved: acc 0
        let loaded = try tiny()
        let scorer = MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer)
        var items: [MultipleChoiceItem] = []
        for word in ["the", "a", "of", "and", "to", "is"] {
            let item = MultipleChoiceItem(context: "It is \(word)", choices: [" the", "zzqx", "\u{1}\u{2}"], gold: 0)
            let ll = try scorer.logLikelihoods(item)
            items.append(MultipleChoiceItem(context: "It is \(word)", choices: [" the", "zzqx", "\u{1}\u{2}"], gold: scorer.argmax(ll)))
        }
        let task = MultipleChoiceTask(name: "t", items: items)
        let r = try scorer.score(task, shots: 0, seed: 1)
        #expect(r.acc == 1 && r.items == 6 && r.accStderr == 0)
        #expect(abs(MultipleChoiceResult.stderr(0.5, 101) - 0.05) < 1e-12)
    }

    @Test func fewShotPromptsJoinSolvedExamplesWithBlankLines() throws {
        let task = MultipleChoiceTask(name: "t", items: [MultipleChoiceItem(context: "Q3", choices: ["x", "y"], gold: 0),
                                                         MultipleChoiceItem(context: "Q1", choices: ["a1", "b1"], gold: 1),
                                                         MultipleChoiceItem(context: "Q2", choices: ["a2", "b2"], gold: 0)])
        let two = try MultipleChoiceTasks.prompt(task, index: 0, shots: 2, seed: 5)
        let ctx = two.requests[0].context
        #expect(ctx == "Q1 b1\n\nQ2 a2\n\nQ3" || ctx == "Q2 a2\n\nQ1 b1\n\nQ3")
        #expect(two.requests.map(\.continuation) == [" x", " y"])
        #expect(try MultipleChoiceTasks.prompt(task, index: 0, shots: 2, seed: 5) == two)
        #expect(try MultipleChoiceTasks.prompt(task, index: 0, shots: 0, seed: 5) == task.items[0])
        // two other items: a third shot does not exist, and the error says how many do
        let e = #expect(throws: TensorError.self) { try MultipleChoiceTasks.prompt(task, index: 0, shots: 3, seed: 5) }
        #expect("\(e.map { "\($0)" } ?? "")".contains("only 2 are available"))
    }

    /// An independent numpy forward (Tests/Oracles/mc_oracle.py) of the same safetensors agrees
    /// with QATLab's per-choice log-likelihoods on 20 capitals items.
    @Test func numpyOracleAgreesOnCapitalsItems() throws {
        guard FileManager.default.fileExists(atPath: Quiz.directory + "/europe") else {
            Issue.record("bsdgames is not installed: run `bash setup.sh`"); return
        }
        let loaded = try tiny()
        let scorer = MultipleChoiceScorer(model: loaded.model, tokenizer: loaded.tokenizer)
        let task = try MultipleChoiceTasks.load("capitals", seed: 3)
        var requests: [[String: [Int32]]] = [], ours: [Double] = []
        for item in task.items.prefix(20) {
            ours += try scorer.logLikelihoods(item)
            for r in item.requests {
                let (c, k) = scorer.encodePair(context: r.context, continuation: r.continuation)
                requests.append(["context": c, "continuation": k])
            }
        }
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("qat-mc-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: json) }
        try JSONSerialization.data(withJSONObject: requests).write(to: json)
        guard let theirs = try MCOracle.run([json.path]) as? [Double] else { return }
        #expect(theirs.count == ours.count && ours.count == 80)
        for (a, b) in zip(ours, theirs) { #expect(abs(a - b) < 1e-3 * max(1, abs(b)), "\(a) vs numpy \(b)") }
    }
}

@Suite struct MultipleChoiceDataTests {
    func write(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qat-mc-\(getpid())-\(lines.count).jsonl").path
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func everyLayoutReads() throws {
        let path = try write([
            #"{"context": "2+2 =", "choices": ["4", "5"], "gold": 0}"#,
            #"{"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat the lid", "label": 0}"#,
            #"{"activity_label": "Cooking", "ctx": "A man [header] cracks an egg", "endings": ["into a bowl.", "into a  shoe."], "label": "0"}"#,
            #"{"question": "Sky colour?", "choices": {"text": ["green", "blue"], "label": ["A", "B"]}, "answerKey": "B"}"#,
            #"{"sentence": "The cup fell off the table because _ was round.", "option1": "the cup", "option2": "the table", "answer": "1"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let items = try MultipleChoiceData.jsonl(path: path)
        #expect(items[0] == MultipleChoiceItem(context: "2+2 =", choices: ["4", "5"], gold: 0))
        #expect(items[1] == MultipleChoiceItem(context: "Question: Open a jar\nAnswer:", choices: ["twist the lid", "eat the lid"], gold: 0))
        #expect(items[2] == MultipleChoiceItem(context: "Cooking: A man cracks an egg", choices: ["into a bowl.", "into a shoe."], gold: 0))
        #expect(items[3] == MultipleChoiceItem(context: "Question: Sky colour?\nAnswer:", choices: ["green", "blue"], gold: 1))
        #expect(items[4].requests.map(\.context) == ["The cup fell off the table because the cup", "The cup fell off the table because the table"])
        #expect(items[4].requests.map(\.continuation) == [" was round.", " was round."])
    }

    @Test func badLinesNameFileAndLine() throws {
        for bad in [#"{"context": "x", "choices": ["a", "b"], "gold": 2}"#, "not json", #"{"context": "x", "choices": "ab", "gold": 0}"#,
                    #"{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "C"}"#] {
            let path = try write([#"{"context": "ok", "choices": ["a", "b"], "gold": 0}"#, bad])
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try MultipleChoiceData.jsonl(path: path)
                Issue.record("accepted: \(bad)")
            } catch let e as FormatError {
                #expect(e.description.contains(path) && e.description.contains("line 2"), "\(e)")
            }
        }
    }
}

@Suite struct SegmentForwardTests {
    /// Two continuations run as segments of one forward equal each run on its own after the prefix.
    @Test func segmentsEqualSeparateForwards() throws {
        let m = try tiny().model
        let ids = { (s: String) in Array(s.utf8).map { Int32($0) } }
        let (_, cache) = try m.forwardCached(ids("The capital of"), after: .empty)
        let a = ids(" Austria is"), b = ids(" France, they say,")
        let both = try m.forwardCached(segments: [a, b], after: cache).hidden.value
        let alone = [try m.forwardCached(a, after: cache).hidden.value, try m.forwardCached(b, after: cache).hidden.value]
        let c = m.config.hiddenSize
        var worst: Float = 0
        for i in 0..<(a.count * c) { worst = max(worst, abs(both.data[i] - alone[0].data[i])) }
        for i in 0..<(b.count * c) { worst = max(worst, abs(both.data[a.count * c + i] - alone[1].data[i])) }
        #expect(worst < 1e-4, "max |diff| \(worst)")
    }
}
