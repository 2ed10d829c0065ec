// Multiple-choice items, as lm-evaluation-harness builds them for a `multiple_choice` task, from
// JSONL files and quiz files.
//
// An item is one request per choice: (context, continuation). The usual item shares one context
// and each continuation is " " + choice (lm-eval's target delimiter); WinoGrande's partial
// scoring does the reverse: one context per option ("...sentence up to the blank" + option), the
// same continuation (the rest of the sentence). The few-shot text of an item is its gold request,
// context + continuation.
//
// JSONL (one object per line); the field names decide the dataset:
//   generic     {"context": str, "choices": [str], "gold": int}
//   PIQA        {"goal", "sol1", "sol2", "label"}              "Question: {goal}\nAnswer:"
//   HellaSwag   {"ctx", "endings": [str], "label"[, "activity_label"]}  "{activity_label}: {ctx}"
//   ARC         {"question", "choices": {"text": [..], "label": [..]}, "answerKey"}  "Question: {question}\nAnswer:"
//   WinoGrande  {"sentence" with one "_", "option1", "option2", "answer": "1"|"2"}
// Quiz files (bsdgames): see Quiz.swift; `quizItems` turns facts into items with a prompt template.
import Foundation
import QATIO

public struct MultipleChoiceItem: Sendable, Equatable {
    /// One (context, continuation) per choice.
    public var requests: [(context: String, continuation: String)]
    public var gold: Int

    public init(requests: [(context: String, continuation: String)], gold: Int) {
        self.requests = requests; self.gold = gold
    }

    /// The usual form: one context, continuations " " + choice.
    public init(context: String, choices: [String], gold: Int) {
        self.init(requests: choices.map { (context, " " + $0) }, gold: gold)
    }

    /// The text of this item as a solved few-shot example.
    public var solved: String { requests[gold].context + requests[gold].continuation }

    public static func == (a: Self, b: Self) -> Bool {
        a.gold == b.gold && a.requests.count == b.requests.count
            && zip(a.requests, b.requests).allSatisfy { $0.context == $1.context && $0.continuation == $1.continuation }
    }
}

/// A named set of items, all scored, and where their few-shot examples come from
/// (MultipleChoiceTasks.swift describes the draw).
public struct MultipleChoiceTask: Sendable {
    public var name: String
    public var items: [MultipleChoiceItem]
    /// The task's own train/validation split, never scored. Empty: item i's examples come from
    /// the other items.
    public var fewShotSplit: [MultipleChoiceItem]
    /// The file `fewShotSplit` was read from (nil without one).
    public var fewShotSource: String?

    public init(name: String, items: [MultipleChoiceItem], fewShotSplit: [MultipleChoiceItem] = [], fewShotSource: String? = nil) {
        self.name = name; self.items = items; self.fewShotSplit = fewShotSplit; self.fewShotSource = fewShotSource
    }
}

public enum MultipleChoiceData {
    /// Items from a JSONL file (any of the layouts in the header).
    public static func jsonl(path: String) throws -> [MultipleChoiceItem] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(file: path, "cannot read the JSONL file")
        }
        var items: [MultipleChoiceItem] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw FormatError(file: path, "line \(i + 1): not a JSON object; each line must be one item object")
            }
            do { items.append(try item(object)) } catch let e as ItemError {
                throw FormatError(file: path, "line \(i + 1): \(e.message)")
            }
        }
        guard !items.isEmpty else { throw FormatError(file: path, "no items; expected one JSON object per line") }
        return items
    }

    struct ItemError: Error { let message: String }

    static func item(_ o: [String: Any]) throws -> MultipleChoiceItem {
        if o["sentence"] != nil { return try winogrande(o) }
        if o["goal"] != nil { return try piqa(o) }
        if o["endings"] != nil { return try hellaswag(o) }
        if o["answerKey"] != nil { return try arc(o) }
        let context = try string(o, "context"), choices = try strings(o, "choices")
        return MultipleChoiceItem(context: context, choices: choices, gold: try index(o, "gold", count: choices.count))
    }

    static func piqa(_ o: [String: Any]) throws -> MultipleChoiceItem {
        let choices = [try string(o, "sol1"), try string(o, "sol2")]
        return MultipleChoiceItem(context: "Question: \(try string(o, "goal"))\nAnswer:", choices: choices,
                                  gold: try index(o, "label", count: 2))
    }

    static func hellaswag(_ o: [String: Any]) throws -> MultipleChoiceItem {
        var ctx = try string(o, "ctx")
        if let label = o["activity_label"] as? String { ctx = label + ": " + ctx }
        let endings = try strings(o, "endings").map(hellaswagClean)
        return MultipleChoiceItem(context: hellaswagClean(ctx), choices: endings, gold: try index(o, "label", count: endings.count))
    }

    /// lm-eval's HellaSwag preprocessing: " [title]" becomes ". ", other [bracketed] tags go, double spaces collapse.
    static func hellaswagClean(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " [title]", with: ". ")
        t = t.replacingOccurrences(of: "\\[.*?\\]", with: "", options: .regularExpression)
        return t.replacingOccurrences(of: "  ", with: " ")
    }

    static func arc(_ o: [String: Any]) throws -> MultipleChoiceItem {
        guard let c = o["choices"] as? [String: Any], let text = c["text"] as? [String], let labels = c["label"] as? [String],
              text.count == labels.count, !text.isEmpty else {
            throw ItemError(message: "ARC item: expected \"choices\": {\"text\": [...], \"label\": [...]} of equal length")
        }
        let key = try string(o, "answerKey")
        guard let gold = labels.firstIndex(of: key) else {
            throw ItemError(message: "ARC item: answerKey \"\(key)\" is not one of the labels \(labels)")
        }
        return MultipleChoiceItem(context: "Question: \(try string(o, "question"))\nAnswer:", choices: text, gold: gold)
    }

    /// Partial scoring: contexts differ by option, the continuation after the blank is shared.
    static func winogrande(_ o: [String: Any]) throws -> MultipleChoiceItem {
        let sentence = try string(o, "sentence")
        guard let blank = sentence.firstIndex(of: "_") else {
            throw ItemError(message: "WinoGrande item: the sentence has no \"_\" blank")
        }
        let before = String(sentence[..<blank])
        let after = " " + sentence[sentence.index(after: blank)...].trimmingCharacters(in: .whitespaces)
        let options = [try string(o, "option1"), try string(o, "option2")]
        let answer = (o["answer"] as? String).flatMap(Int.init) ?? (o["answer"] as? Int) ?? 0
        guard answer == 1 || answer == 2 else { throw ItemError(message: "WinoGrande item: answer must be \"1\" or \"2\"") }
        return MultipleChoiceItem(requests: options.map { (before + $0, after) }, gold: answer - 1)
    }

    static func string(_ o: [String: Any], _ key: String) throws -> String {
        guard let s = o[key] as? String else { throw ItemError(message: "expected a string field \"\(key)\"") }
        return s
    }

    static func strings(_ o: [String: Any], _ key: String) throws -> [String] {
        guard let s = o[key] as? [String], s.count >= 2 else {
            throw ItemError(message: "expected a field \"\(key)\" holding a list of at least two strings")
        }
        return s
    }

    static func index(_ o: [String: Any], _ key: String, count: Int) throws -> Int {
        let v = (o[key] as? Int) ?? (o[key] as? String).flatMap(Int.init)
        guard let v, (0..<count).contains(v) else {
            throw ItemError(message: "expected \"\(key)\" to be an index in 0..<\(count), got \(o[key].map { "\($0)" } ?? "nothing")")
        }
        return v
    }
}
