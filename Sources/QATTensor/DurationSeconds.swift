// Wall times as the logs and summaries report them: a Duration in seconds as a Double. One
// definition for every phase that times itself (training, quantization, evaluation, benches).

extension Duration {
    /// The duration in seconds (the attosecond part included).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
