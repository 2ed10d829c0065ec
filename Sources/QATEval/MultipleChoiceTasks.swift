// Multiple-choice tasks by name: the built-in `capitals`, any quiz file (`quiz:PATH`), or a JSONL
// file. Every task is split once, with its seed, into a few-shot pool (1 item in 5, at least 5)
// and the scored items, so 0-shot and k-shot runs score the same items.
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
            return split(name: spec, try quizItems(q, seed: seed), seed: seed)
        }
        if spec.hasPrefix("quiz:") {
            var q = QuizTaskSpec(files: [String(spec.dropFirst(5))])
            if let template { q.template = template }
            if let columns { (q.questionColumn, q.answerColumn) = columns }
            return split(name: spec, try quizItems(q, seed: seed), seed: seed)
        }
        guard FileManager.default.fileExists(atPath: spec) else {
            throw FormatError(file: spec, "no such task; a task is one of \(builtins.joined(separator: ", ")), quiz:PATH (a bsdgames quiz file), or a .jsonl file of items")
        }
        return split(name: spec, try MultipleChoiceData.jsonl(path: spec), seed: seed)
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

    /// One item in five (at least 5, at most half) goes to the few-shot pool, chosen with the seed.
    public static func split(name: String, _ items: [MultipleChoiceItem], seed: UInt64) -> MultipleChoiceTask {
        var order = Array(items.indices)
        var rng = SeededRandom(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        shuffle(&order, &rng)
        let poolSize = min(max(5, items.count / 5), items.count / 2)
        let pool = Set(order.prefix(poolSize))
        return MultipleChoiceTask(name: name, items: items.indices.filter { !pool.contains($0) }.map { items[$0] },
                                  fewShotPool: items.indices.filter { pool.contains($0) }.map { items[$0] })
    }

    /// Fisher-Yates with our seeded generator (the standard library's shuffle may change between releases).
    static func shuffle<T>(_ a: inout [T], _ rng: inout SeededRandom) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
    }

    /// The k-shot prompt of item `index`: k solved examples from the pool (drawn with the seed and
    /// the item's index), each followed by a blank line, then the item's own requests.
    public static func withShots(_ item: MultipleChoiceItem, index: Int, pool: [MultipleChoiceItem], shots: Int, seed: UInt64) -> MultipleChoiceItem {
        guard shots > 0, !pool.isEmpty else { return item }
        var order = Array(pool.indices)
        var rng = SeededRandom(seed: seed &+ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        shuffle(&order, &rng)
        let prefix = order.prefix(shots).map { pool[$0].solved }.joined(separator: "\n\n") + "\n\n"
        return MultipleChoiceItem(requests: item.requests.map { (prefix + $0.context, $0.continuation) }, gold: item.gold)
    }
}
