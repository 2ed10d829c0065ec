// Fuzz target `config`: ModelConfig.fromHuggingFace (config.json) and validate().
// Seeds: Data/tiny/config.json and the golden llama / mistral / qwen2 configs.
import QATIO

func fuzzOne(_ data: [UInt8]) {
    let path = scratchDir + "/config.json"
    writeFile(path, data)
    guard let c = try? ModelConfig.fromHuggingFace(path: path) else { return }
    try? c.validate()
}

func makeSeeds(into dir: String) {
    writeFile(dir + "/tiny.json", readFile(repoRoot + "/Data/tiny/config.json"))
    for n in ["llama", "mistral", "qwen2"] {
        writeFile("\(dir)/\(n).json", readFile("\(repoRoot)/Tests/QATIOTests/Golden/st_config_\(n).json"))
    }
}
