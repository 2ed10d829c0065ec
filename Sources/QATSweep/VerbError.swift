// VerbError: an error of a verb's own, as a plain message. Its lowest users are the sweep
// mechanics (grids, manifests, runners, the Slurm backend), so it lives here; QATToolkit's verbs
// see it through their import of QATSweep. The interpreter's dispatcher prints any Error's
// description with the verb's name and position in front.
/// An error of a verb's own (the dispatcher prefixes the verb's name and the position).
public struct VerbError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
