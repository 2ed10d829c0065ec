// Fuzz target `mcdata`: the multiple-choice readers of QATEval over one input split in two parts:
// part 1 as a bsdgames quiz file (Quiz.load, then a quiz task with its distractor draw), part 2 as
// a JSONL task file (every layout: generic, PIQA, HellaSwag, ARC, WinoGrande).
// Seeds: the installed capitals quiz files (when bsdgames is there) paired with one JSONL line of
// each layout.
import QATEval
import QATIO

func fuzzOne(_ data: [UInt8]) {
    let parts = splitParts(data, count: 2)
    let quiz = scratchDir + "/fuzz.quiz", jsonl = scratchDir + "/fuzz.jsonl"
    writePart(quiz, parts[0])
    writePart(jsonl, parts[1])
    _ = try? Quiz.load(path: quiz)
    _ = try? MultipleChoiceTasks.load("quiz:" + quiz, seed: 1)
    _ = try? MultipleChoiceTasks.load(jsonl, seed: 1)
}

func makeSeeds(into dir: String) {
    let lines = [
        #"{"context": "2+2 =", "choices": ["4", "5"], "gold": 0}"#,
        #"{"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat the lid", "label": 0}"#,
        #"{"ctx": "A man sits", "endings": ["down", "up", "left", "right"], "label": "0", "activity_label": "Sitting"}"#,
        #"{"question": "Sky colour?", "choices": {"text": ["blue", "green"], "label": ["A", "B"]}, "answerKey": "A"}"#,
        #"{"sentence": "The cup fell because _ was slippery.", "option1": "the cup", "option2": "the table", "answer": "1"}"#,
    ]
    let fallback = Array("Austria:Vienna|Wien\nCentral Africa{n Rep{ublic}}:Bangui\nR['^He|e^H'|e]union:Saint-Denis\n".utf8)
    for (i, name) in ["europe", "africa", "asia", "america", "state"].enumerated() {
        var quiz = readFile(Quiz.directory + "/" + name)
        if quiz.isEmpty { quiz = fallback }
        // The first 16 lines: whole files (up to 9 KB of Foundation string work per execution
        // under ASan) ran at ~40 executions/s; the syntax is all there in a few lines.
        quiz = Array(quiz.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix(16)
            .joined(separator: [UInt8(ascii: "\n")]))
        writeFile("\(dir)/seed\(i)", joinParts([quiz, Array((lines[i] + "\n").utf8)]))
    }
}
