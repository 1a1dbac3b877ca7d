import Atomics

/// The process-wide budget for bytes held in memory on behalf of calls (request bodies,
/// buffered answers): `--max-buffered-bytes`. Lock-free; any thread may reserve and
/// release. A call that cannot reserve what it needs is answered 503 `overloaded`.
///
/// Wire-up: one instance per sidecar, created at start and passed to whatever buffers
/// (the request-body collector and the answer buffer): `tryReserve(n)` before holding `n`
/// more bytes, `release(n)` when they are let go (also on failure and cancellation paths:
/// every successful reservation must be released exactly once). `current` and `peak`
/// feed gauges. `onBurstDrained` (optional) is called, on the releasing thread, once each
/// time usage falls to `drainedBelow` after having reached `burstAbove`: hand it to a
/// ``MemoryReclaimer`` to give the freed heap back to the system.
public final class MemoryBudget: Sendable {
    /// `--max-buffered-bytes`.
    public let limit: Int
    /// Usage at or above this marks a burst.
    public let burstAbove: Int
    /// Usage at or below this after a burst counts as drained.
    public let drainedBelow: Int
    private let used = ManagedAtomic<Int>(0)
    private let peakUsed = ManagedAtomic<Int>(0)
    private let inBurst = ManagedAtomic<Bool>(false)
    private let onBurstDrained: (@Sendable () -> Void)?

    /// - Parameters:
    ///   - limit: the most bytes reserved at once (default 256 MiB).
    ///   - burstAbove: usage that marks a burst (default: a quarter of `limit`, at least 1).
    ///   - drainedBelow: usage that ends one (default: 1/64 of `limit`).
    ///   - onBurstDrained: called once per burst when usage has come back down.
    public init(
        limit: Int = 256 << 20, burstAbove: Int? = nil, drainedBelow: Int? = nil,
        onBurstDrained: (@Sendable () -> Void)? = nil
    ) {
        self.limit = max(0, limit)
        self.burstAbove = max(1, burstAbove ?? self.limit / 4)
        self.drainedBelow = max(0, drainedBelow ?? self.limit / 64)
        self.onBurstDrained = onBurstDrained
    }

    /// Bytes reserved now.
    public var current: Int { used.load(ordering: .relaxed) }

    /// The most bytes reserved at once since start (or since the last `resetPeak`).
    public var peak: Int { peakUsed.load(ordering: .relaxed) }

    /// Reserves `bytes` if that keeps usage within the limit; false (and nothing reserved)
    /// otherwise, or when `bytes` is negative. Reserving 0 always succeeds.
    public func tryReserve(_ bytes: Int) -> Bool {
        guard bytes >= 0 else { return false }
        var current = used.load(ordering: .relaxed)
        while true {
            // Overflow-safe: `bytes <= limit - current` with both sides non-negative.
            guard bytes <= limit - current else { return false }
            let desired = current + bytes
            let (exchanged, original) = used.weakCompareExchange(
                expected: current, desired: desired, ordering: .acquiringAndReleasing
            )
            if exchanged {
                raisePeak(to: desired)
                if desired >= burstAbove, onBurstDrained != nil, !inBurst.load(ordering: .relaxed) {
                    inBurst.store(true, ordering: .relaxed)
                }
                return true
            }
            current = original
        }
    }

    /// Gives back `bytes` reserved earlier. Releasing more than is reserved is a bug:
    /// it traps in debug builds and clamps usage at zero in release builds.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        var current = used.load(ordering: .relaxed)
        while true {
            assert(bytes <= current, "released \(bytes) bytes with only \(current) reserved")
            let desired = max(0, current - bytes)
            let (exchanged, original) = used.weakCompareExchange(
                expected: current, desired: desired, ordering: .acquiringAndReleasing
            )
            if exchanged {
                if desired <= drainedBelow, let onBurstDrained,
                    inBurst.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged {
                    onBurstDrained()
                }
                return
            }
            current = original
        }
    }

    /// Sets the peak to the current usage and returns the old peak (for a per-scrape peak).
    @discardableResult
    public func resetPeak() -> Int {
        peakUsed.exchange(used.load(ordering: .relaxed), ordering: .relaxed)
    }

    private func raisePeak(to value: Int) {
        var peak = peakUsed.load(ordering: .relaxed)
        while value > peak {
            let (exchanged, original) = peakUsed.weakCompareExchange(expected: peak, desired: value, ordering: .relaxed)
            if exchanged { return }
            peak = original
        }
    }
}
