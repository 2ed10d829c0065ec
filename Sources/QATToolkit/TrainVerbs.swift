// Verbs that train: make-tiny (the embedded tiny model's recipe).
import QATTrain

enum TrainVerbs {
    static let rows: [Verb] = [
        Verb(name: "make-tiny", synopsis: "make-tiny [out=Data/tiny] [steps=1500] [seed=1] [text=fortunes]", keys: ["out", "steps", "seed", "text"],
             help: "Train the embedded tiny model (4 blocks, hidden 128, byte tokenizer) on a text and save it as a Hugging Face directory. The recipe is documented in Sources/QATTrain/TinyModel.swift.") { args, out in
            var recipe = TinyRecipe()
            recipe.steps = try args.int("steps", default: recipe.steps, range: 1...1_000_000)
            recipe.seed = UInt64(try args.int("seed", default: Int(recipe.seed), range: 0...Int(Int32.max)))
            recipe.text = args.options["text"] ?? recipe.text
            let dir = args.options["out"] ?? "Data/tiny"
            let model = try recipe.train(log: out)
            try TinyRecipe.save(model, to: dir)
            out("saved the tiny model to \(dir)")
        },
    ]
}
