// The keys and values of every block for one sequence being decoded (batch 1, inference only).
//
// Layout, per block: keys and values are each one (capacity, Hkv, D) Float32 buffer, position
// major, holding K after RoPE and V exactly as the block's attention reads them; rows
// 0 ..< count are filled. A step writes its new rows into every block (store), then advances
// count once (commit), so all blocks always hold the same positions. The cache is sized once
// for the whole generation (prompt + new tokens) and never grows.
import QATTensor

public final class KVCache {
    public let capacity: Int, kvHeads: Int, headDim: Int
    /// Positions filled in every block.
    public private(set) var count = 0
    // per block: (capacity, Hkv, D)
    let keys: [Tensor], values: [Tensor]

    public init(blocks: Int, capacity: Int, kvHeads: Int, headDim: Int) throws {
        guard blocks > 0, capacity > 0, kvHeads > 0, headDim > 0 else {
            throw TensorError.invalidArgument(op: "kv cache",
                message: "blocks=\(blocks) capacity=\(capacity) kvHeads=\(kvHeads) headDim=\(headDim): all must be positive")
        }
        self.capacity = capacity; self.kvHeads = kvHeads; self.headDim = headDim
        keys = (0..<blocks).map { _ in Tensor(zeros: [capacity, kvHeads, headDim]) }
        values = (0..<blocks).map { _ in Tensor(zeros: [capacity, kvHeads, headDim]) }
    }

    /// A cache for `model` holding `capacity` positions.
    public convenience init(model: LlamaModel, capacity: Int) throws {
        try self.init(blocks: model.blocks.count, capacity: capacity, kvHeads: model.blockShape.kvHeads,
                      headDim: model.blockShape.headDim)
    }

    public var blocks: Int { keys.count }
    var rowWidth: Int { kvHeads * headDim }

    /// Copies `rows` new positions of k and v ((rows, Hkv*D) each, after RoPE) into block
    /// `block` at positions count ..< count+rows.
    func store(block: Int, k: Tensor, v: Tensor, rows: Int) throws {
        guard keys.indices.contains(block) else {
            throw TensorError.invalidArgument(op: "kv cache", message: "block \(block) is outside 0..<\(keys.count)")
        }
        guard count + rows <= capacity else {
            throw TensorError.invalidArgument(op: "kv cache",
                message: "\(count) cached + \(rows) new positions exceed the capacity of \(capacity)")
        }
        guard k.count == rows * rowWidth, v.count == rows * rowWidth else {
            throw TensorError.shapeMismatch(op: "kv cache", lhs: k.shape, rhs: [rows, kvHeads, headDim], hint: "k and v must hold rows x Hkv x D values")
        }
        (keys[block].data + count * rowWidth).update(from: k.data, count: rows * rowWidth)
        (values[block].data + count * rowWidth).update(from: v.data, count: rows * rowWidth)
    }

    /// Marks `rows` positions stored in every block as filled.
    func commit(rows: Int) { count += rows }
}
