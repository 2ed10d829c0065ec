// The reference model's logits per window, kept between `kl` / `eval` calls.
//
// A notebook evaluates a dozen quantized models against one full-precision reference on the same
// windows, and the reference's forward gives the same logits every time (about a third of an
// `eval` on SmolLM2: 16 of its 32 window forwards). This cache keeps them, keyed by
//   - the reference's fingerprint: fnv1a64w (QATIO/Checksum.swift) of the (sum, count) list of
//     its parameters' own fnv1a64w sums, in `parameters` order, so a changed weight is a miss.
//     It is computed once per `measure` call (~0.1 s for SmolLM2's 135M parameters);
//   - the window's tokens (the key holds them, so a hash collision between windows cannot hit).
// A model with a quantizer or an adapter on any linear is never cached: its output depends on
// more than its parameters.
//
// Memory: one (ctx, V) Float tensor per window (ctx 512, V 49,152: 100 MB). At most
// `capacityBytes` are held (QAT_REF_CACHE_MB, default 2048; 0 turns the cache off). When full, a
// new reference's window pushes out other references' windows, oldest first, but never the same
// reference's: a scan longer than the cache then keeps hitting its first windows. A cached tensor
// is the one the forward returned and is only read, so results are bit-identical with and
// without the cache.
import Foundation
import QATIO
import QATModel
import QATTensor

public final class ReferenceLogitsCache: @unchecked Sendable {
    struct Key: Hashable { var fingerprint: UInt64; var tokens: [Int32] }

    /// The process's cache, used by `Divergence.measure` unless told otherwise.
    public static let shared = ReferenceLogitsCache(capacityBytes: defaultCapacity())

    public let capacityBytes: Int
    private let lock = NSLock()
    private var entries: [Key: Tensor] = [:]
    private var order: [Key] = []        // insertion order, oldest first
    private var heldBytes = 0
    private var hitCount = 0, missCount = 0

    public init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    /// QAT_REF_CACHE_MB (MiB) or 2048; an unreadable value falls back to the default.
    static func defaultCapacity() -> Int {
        let mb = ProcessInfo.processInfo.environment["QAT_REF_CACHE_MB"].flatMap { Int($0) }.map { max(0, $0) } ?? 2048
        return mb << 20
    }

    public var bytes: Int { lock.withLock { heldBytes } }
    public var windows: Int { lock.withLock { entries.count } }
    /// Windows served from the cache / computed, since the cache was made.
    public var hits: Int { lock.withLock { hitCount } }
    public var misses: Int { lock.withLock { missCount } }

    /// The key part naming `model`, or nil when its logits are not kept: the cache is off, or
    /// a linear has a quantizer or an adapter (its output depends on more than its parameters).
    public func fingerprint(_ model: LlamaModel) -> UInt64? {
        guard capacityBytes > 0 else { return nil }
        return Self.fingerprint(model)
    }

    /// The fingerprint of a plain model (nil with a quantizer or adapter set), whatever the capacity.
    public static func fingerprint(_ model: LlamaModel) -> UInt64? {
        for block in model.blocks {
            for l in block.linears where l.quantizer != nil || l.adapter != nil { return nil }
        }
        var sums: [UInt64] = []
        for (_, p) in model.parameters {
            let t = p.value
            sums += [fnv1a64w(UnsafeRawBufferPointer(start: t.data, count: byteCount(t))), UInt64(t.count)]
        }
        return sums.withUnsafeBytes { fnv1a64w($0) }
    }

    static func byteCount(_ t: Tensor) -> Int { t.count * MemoryLayout<Float>.stride }

    /// The logits of `window` under the model with `fingerprint` (from `fingerprint(_:)`): cached,
    /// or computed by `compute` and kept. A nil fingerprint always computes.
    func logits(fingerprint: UInt64?, window: [Int32], compute: () throws -> Tensor) throws -> Tensor {
        guard let fingerprint else { return try compute() }
        let key = Key(fingerprint: fingerprint, tokens: window)
        let held: Tensor? = lock.withLock {
            let t = entries[key]
            if t != nil { hitCount += 1 }
            return t
        }
        if let held { return held }
        let t = try compute()
        lock.withLock {
            missCount += 1
            insert(t, key)
        }
        return t
    }

    /// Under the lock: keeps `t` if there is room, making room by dropping windows of other
    /// references (oldest first). Windows of the same reference are never dropped for it: an
    /// evaluation scans its windows in the same order every call, and dropping the oldest would
    /// make every window of a scan longer than the cache miss (keeping the first ones hits those).
    private func insert(_ t: Tensor, _ key: Key) {
        let size = Self.byteCount(t)
        guard entries[key] == nil else { return }   // another thread computed it meanwhile
        while heldBytes + size > capacityBytes {
            guard let i = order.firstIndex(where: { $0.fingerprint != key.fingerprint }) else { return }
            if let old = entries.removeValue(forKey: order.remove(at: i)) { heldBytes -= Self.byteCount(old) }
        }
        entries[key] = t; order.append(key); heldBytes += size
    }
}
