// Multiple-choice tasks by name: the built-in `capitals`, any quiz file (`quiz:PATH`), or a JSONL
// file. Every item of a task is scored, 0-shot or k-shot, as lm-evaluation-harness does.
//
// Few-shot examples (lm-eval's convention):
//   1. A task with its own train/validation split takes its examples from that split, which is
//      never scored. A JSONL file DIR/P<sep><split>.jsonl (<sep> one of `_`, `-`, `.`; <split>
//      one of test, validation, valid, val, dev) has one when DIR/P<sep>train.jsonl exists, else,
//      for a test file, the first of DIR/P<sep>validation|valid|val|dev.jsonl. (A validation file
//      without a train file draws from its own other items, as lm-eval does.) `capitals` and quiz
//      files have none.
//   2. Otherwise item i's examples come from the other items of the task: every item except i
//      and items equal to it (lm-eval drops the document itself from its draw).
//   3. The draw: the candidates (1 or 2) in order, item i's generator SeededRandom (xoshiro256**
//      seeded through splitmix64, QATTensor) with seed (seed + i * 0x2545F4914F6CDD1D) mod 2^64,
//      and a partial Fisher-Yates: for j in 0..<k, swap candidate j with candidate
//      j + next() % (n - j); the first k candidates are the examples, in that order. So the
//      same seed gives the same examples, and `limit=` does not change an item's examples.
//   4. The prompt: each example's solved text (its gold request, context + continuation),
//      each followed by a blank line, then the item's own requests.
//
// A quiz fact becomes an item: context = the template with {q} (the question column's text),
// {qtitle} and {atitle} (the columns' titles from the index) filled in; the choices are the
// answer column's text and three distractors drawn with the seed from the other answers of the
// same file (distinct texts), in a seeded order.
import Foundation
import QATIO
import QATTensor

public struct QuizTaskSpec: Sendable {
    public var files: [String]
    public var questionColumn = 0, answerColumn = 1
    public var template = "{qtitle}: {q}\n{atitle}:"
    public var distractors = 3

    public init(files: [String], questionColumn: Int = 0, answerColumn: Int = 1,
                template: String = "{qtitle}: {q}\n{atitle}:", distractors: Int = 3) {
        self.files = files; self.questionColumn = questionColumn; self.answerColumn = answerColumn
        self.template = template; self.distractors = distractors
    }
}

public enum MultipleChoiceTasks {
    public static let builtins = ["capitals"]
    /// `capitals`: the four continents' country -> capital files of bsdgames.
    public static let capitalsTemplate = "The capital of {q} is"

    /// TASK = `capitals` | `quiz:PATH` | a .jsonl path. `template` overrides a quiz task's prompt;
    /// `columns` its (question, answer) columns.
    public static func load(_ spec: String, seed: UInt64, template: String? = nil, columns: (Int, Int)? = nil) throws -> MultipleChoiceTask {
        if spec == "capitals" {
            var q = QuizTaskSpec(files: ["africa", "america", "asia", "europe"].map { "\(Quiz.directory)/\($0)" }, template: capitalsTemplate)
            if let template { q.template = template }
            if let columns { (q.questionColumn, q.answerColumn) = columns }
            return MultipleChoiceTask(name: spec, items: try quizItems(q, seed: seed))
        }
        if spec.hasPrefix("quiz:") {
            var q = QuizTaskSpec(files: [String(spec.dropFirst(5))])
            if let template { q.template = template }
            if let columns { (q.questionColumn, q.answerColumn) = columns }
            return MultipleChoiceTask(name: spec, items: try quizItems(q, seed: seed))
        }
        guard FileManager.default.fileExists(atPath: spec) else {
            throw FormatError(file: spec, "no such task; a task is one of \(builtins.joined(separator: ", ")), quiz:PATH (a bsdgames quiz file), or a .jsonl file of items")
        }
        let items = try MultipleChoiceData.jsonl(path: spec)
        guard let splitPath = fewShotSplitPath(of: spec) else { return MultipleChoiceTask(name: spec, items: items) }
        return MultipleChoiceTask(name: spec, items: items, fewShotSplit: try MultipleChoiceData.jsonl(path: splitPath), fewShotSource: splitPath)
    }

    static let evaluationSplits = ["test", "validation", "valid", "val", "dev"]

    /// The JSONL file holding the few-shot split of the task file `path` (header, item 1), if any.
    public static func fewShotSplitPath(of path: String) -> String? {
        let dir = PathName.parent(path), file = path.split(separator: "/").last.map(String.init) ?? path
        let lead = dir.isEmpty || dir.hasSuffix("/") ? dir : dir + "/"
        guard file.hasSuffix(".jsonl") else { return nil }
        let base = String(file.dropLast(6))
        for split in evaluationSplits {
            for sep in ["_", "-", "."] where base.hasSuffix(sep + split) {
                let prefix = String(base.dropLast(split.count))
                for candidate in ["train"] + (split == "test" ? evaluationSplits.dropFirst() : []) {
                    let p = lead + prefix + candidate + ".jsonl"
                    if FileManager.default.fileExists(atPath: p) { return p }
                }
                return nil
            }
        }
        return nil
    }

    /// Items from quiz files, each file's distractors drawn from its own answers.
    public static func quizItems(_ spec: QuizTaskSpec, seed: UInt64) throws -> [MultipleChoiceItem] {
        var items: [MultipleChoiceItem] = []
        var rng = SeededRandom(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        for file in spec.files {
            let quiz = try Quiz.load(path: file)
            let (qc, ac) = (spec.questionColumn, spec.answerColumn)
            guard qc != ac, qc >= 0, ac >= 0, qc < quiz.titles.count, ac < quiz.titles.count else {
                throw FormatError(file: file, "cols=\(qc),\(ac): the file has columns 0..<\(quiz.titles.count) (\(quiz.titles.joined(separator: ", "))); give two different ones")
            }
            let facts = quiz.facts.filter { $0.count > max(qc, ac) && !$0[qc].isEmpty && !$0[ac].isEmpty }
            var answers: [String] = []
            for f in facts where !answers.contains(f[ac]) { answers.append(f[ac]) }
            guard answers.count > spec.distractors else {
                throw FormatError(file: file, "only \(answers.count) distinct answers in column \(ac); \(spec.distractors + 1) are needed for \(spec.distractors) distractors")
            }
            for fact in facts {
                let context = spec.template.replacingOccurrences(of: "{q}", with: fact[qc])
                    .replacingOccurrences(of: "{qtitle}", with: quiz.titles[qc]).replacingOccurrences(of: "{atitle}", with: quiz.titles[ac])
                var choices = [fact[ac]]
                while choices.count < spec.distractors + 1 {
                    let pick = answers[Int(rng.next() % UInt64(answers.count))]
                    if !choices.contains(pick) { choices.append(pick) }
                }
                shuffle(&choices, &rng)
                items.append(MultipleChoiceItem(context: context, choices: choices, gold: choices.firstIndex(of: fact[ac]) ?? 0))
            }
        }
        return items
    }

    /// Fisher-Yates with our seeded generator (the standard library's shuffle may change between releases).
    static func shuffle<T>(_ a: inout [T], _ rng: inout SeededRandom) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
    }

    /// Item `index`'s few-shot examples (header, items 1-3): indices into `task.fewShotSplit` when
    /// the task has one, else into `task.items`. Throws when fewer than `shots` candidates exist.
    public static func shotIndices(for index: Int, in task: MultipleChoiceTask, shots: Int, seed: UInt64) throws -> [Int] {
        guard shots > 0 else { return [] }
        var candidates: [Int]
        if !task.fewShotSplit.isEmpty {
            candidates = Array(task.fewShotSplit.indices)
        } else {
            let item = task.items[index]
            candidates = task.items.indices.filter { $0 != index && task.items[$0] != item }
        }
        guard candidates.count >= shots else {
            let source = task.fewShotSource.map { "its few-shot split \($0)" } ?? "the task's other items"
            throw TensorError.invalidArgument(op: "few-shot draw", message: "shots=\(shots) needs \(shots) examples for item \(index) of \(task.name), but only \(candidates.count) are available from \(source); use shots=\(candidates.count) or fewer")
        }
        var rng = SeededRandom(seed: seed &+ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        for j in 0..<shots {
            candidates.swapAt(j, j + Int(rng.next() % UInt64(candidates.count - j)))
        }
        return Array(candidates.prefix(shots))
    }

    /// Item `index` of `task` with its k-shot prompt (header, item 4); the item itself at 0 shots.
    public static func prompt(_ task: MultipleChoiceTask, index: Int, shots: Int, seed: UInt64) throws -> MultipleChoiceItem {
        let item = task.items[index]
        let pool = task.fewShotSplit.isEmpty ? task.items : task.fewShotSplit
        let examples = try shotIndices(for: index, in: task, shots: shots, seed: seed).map { pool[$0] }
        return withExamples(item, examples)
    }

    /// `examples`' solved texts, each followed by a blank line, before each of the item's contexts.
    public static func withExamples(_ item: MultipleChoiceItem, _ examples: [MultipleChoiceItem]) -> MultipleChoiceItem {
        guard !examples.isEmpty else { return item }
        let prefix = examples.map(\.solved).joined(separator: "\n\n") + "\n\n"
        return MultipleChoiceItem(requests: item.requests.map { (prefix + $0.context, $0.continuation) }, gold: item.gold)
    }
}
