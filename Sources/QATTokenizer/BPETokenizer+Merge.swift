// BPE merging of one pre-token, and the per-call cache of merged words.
//
// Both algorithms apply, until no adjacent pair has a merge, the merge of lowest rank among all
// adjacent pairs, the leftmost one on ties: what llama.cpp's llm_tokenizer_bpe_session does with a
// priority queue ordered by (rank, left index). mergeLinear keeps one rank per adjacent pair in
// an array (O(n^2) scans, fastest for the short words of normal text, and the reference);
// mergeHeap uses a linked list and a binary heap (O(n log n)) for long pre-tokens (long runs of
// punctuation, spaces or CJK). Tests check that they agree.

extension BPETokenizer {
    /// Pre-tokens longer than this many bytes are merged with the heap.
    static let heapThreshold = 64

    /// (rank << 32 | merged id) of the merge of a and b, UInt64.max when there is none.
    @inline(__always)
    func mergeOf(_ a: Int32, _ b: Int32) -> UInt64 {
        guard a >= 0, b >= 0 else { return .max }
        return merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] ?? .max
    }

    /// BPE-merges one pre-token given as raw bytes (no pre-tokenization, no special tokens).
    /// `useHeap` forces the algorithm (nil: by length); both give the same ids. Bytes whose
    /// one-character token is missing from the vocabulary are dropped, as llama.cpp drops them.
    public func mergeWord(_ bytes: [UInt8], useHeap: Bool? = nil) -> [Int32] {
        bytes.withUnsafeBufferPointer { w in
            let heap = useHeap ?? (w.count > Self.heapThreshold)
            return (heap ? mergeHeap(w) : mergeLinear(w)).filter { $0 >= 0 }
        }
    }

    func encodeWord(_ w: UnsafeBufferPointer<UInt8>, cache: inout WordCache, into out: inout [Int32]) {
        if w.count == 1 {
            let id = byteToId[Int(w[0])]
            if id >= 0 { out.append(id) }
            return
        }
        if preTokenizer.ignoresMerges, let id = vocab[ByteLevel.mappedString(w)] {
            out.append(id)
            return
        }
        if let hit = cache.lookup(w) { out.append(contentsOf: hit); return }
        let ids = (w.count > Self.heapThreshold ? mergeHeap(w) : mergeLinear(w)).filter { $0 >= 0 }
        cache.store(w, ids)
        out.append(contentsOf: ids)
    }

    /// Reference merge: one pending merge per adjacent pair, the minimum applied each round.
    func mergeLinear(_ w: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var ids = w.map { byteToId[Int($0)] }
        guard ids.count > 1 else { return ids }
        var pending = (0..<ids.count - 1).map { mergeOf(ids[$0], ids[$0 + 1]) }
        while true {
            // rank sits in the high bits, so the smallest value is the lowest rank; `<` keeps the leftmost
            var best = -1, bestValue = UInt64.max
            for i in pending.indices where pending[i] < bestValue { best = i; bestValue = pending[i] }
            if best < 0 { break }
            ids[best] = Int32(truncatingIfNeeded: bestValue & 0xFFFF_FFFF)
            ids.remove(at: best + 1)
            pending.remove(at: best)
            if best > 0 { pending[best - 1] = mergeOf(ids[best - 1], ids[best]) }
            if best < pending.count { pending[best] = mergeOf(ids[best], ids[best + 1]) }
        }
        return ids
    }

    /// Heap merge for long pre-tokens (same result as mergeLinear).
    func mergeHeap(_ w: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var state = HeapMerge(ids: w.map { byteToId[Int($0)] })
        for i in 0..<max(0, state.ids.count - 1) { state.push(i, self) }
        while let e = state.heap.pop() {
            let l = Int(e.key & 0xFFFF_FFFF), r = Int(e.right)
            // skip pairs that an earlier merge changed
            guard state.next[l] == e.right, state.ids[l] == e.leftId, state.ids[r] == e.rightId else { continue }
            state.ids[l] = e.merged
            state.ids[r] = -2
            state.next[l] = state.next[r]
            if state.next[r] >= 0 { state.prev[Int(state.next[r])] = Int32(l) }
            if state.prev[l] >= 0 { state.push(Int(state.prev[l]), self) }
            state.push(l, self)
        }
        var out: [Int32] = []
        var i = 0
        while i >= 0 && i < state.ids.count { out.append(state.ids[i]); i = Int(state.next[i]) }
        return out
    }
}

/// Linked symbols and the heap of candidate merges of mergeHeap. A merged-away symbol has id -2
/// (never a valid left or right id), so stale heap entries fail the id check.
struct HeapMerge {
    struct Entry {
        let key: UInt64   // rank << 32 | left index: the heap order
        let right: Int32
        let leftId: Int32
        let rightId: Int32
        let merged: Int32
    }

    var ids: [Int32]
    var prev: [Int32]
    var next: [Int32]
    var heap = MinHeap()

    init(ids: [Int32]) {
        self.ids = ids
        let n = ids.count
        prev = (0..<n).map { Int32($0 - 1) }
        next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
    }

    mutating func push(_ l: Int, _ tok: BPETokenizer) {
        let r = next[l]
        guard r >= 0 else { return }
        let m = tok.mergeOf(ids[l], ids[Int(r)])
        guard m != .max else { return }
        heap.push(Entry(key: (m >> 32) << 32 | UInt64(l), right: r, leftId: ids[l],
                        rightId: ids[Int(r)], merged: Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)))
    }
}

/// Binary min-heap of HeapMerge entries by key.
struct MinHeap {
    private var items: [HeapMerge.Entry] = []

    mutating func push(_ e: HeapMerge.Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].key <= items[i].key { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> HeapMerge.Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return top }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].key < items[m].key { m = l }
            if r < items.count && items[r].key < items[m].key { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// Merged ids of short words seen earlier in the same encode call (natural text repeats words).
struct WordCache {
    static let maxWordBytes = 32
    static let maxEntries = 1 << 16
    private var map: [[UInt8]: [Int32]] = [:]

    func lookup(_ w: UnsafeBufferPointer<UInt8>) -> [Int32]? {
        guard w.count <= Self.maxWordBytes, !map.isEmpty else { return nil }
        return map[Array(w)]
    }

    mutating func store(_ w: UnsafeBufferPointer<UInt8>, _ ids: [Int32]) {
        guard w.count <= Self.maxWordBytes else { return }
        if map.count >= Self.maxEntries { map.removeAll(keepingCapacity: true) }
        map[Array(w)] = ids
    }
}
