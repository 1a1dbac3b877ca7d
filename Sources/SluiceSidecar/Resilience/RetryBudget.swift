/// Caps retries to one provider at a share of its recent calls (plus a small floor), so
/// retries can never multiply an outage: with a 20 % budget a provider that fails every
/// call sees at most 1.2× its normal load, not `attempts`×.
///
/// A value type on a caller-supplied monotonic clock (milliseconds): calls and retries
/// are counted in ten buckets over a 10-second sliding window (the window Envoy and
/// linkerd use for the same job).
public struct RetryBudget: Sendable, Equatable {
    private var buckets: [Bucket]
    private static let bucketCount = 10
    private static let bucketWidth: UInt64 = 1_000

    private struct Bucket: Sendable, Equatable {
        var start: UInt64 = .max
        var calls = 0
        var retries = 0
    }

    public init() {
        buckets = Array(repeating: Bucket(), count: Self.bucketCount)
    }

    /// A first attempt went to the provider.
    public mutating func recordCall(now: UInt64) {
        buckets[slot(now: now)].calls += 1
    }

    /// Takes one retry from the budget when `percent` of recent calls plus `floor` allows
    /// it; returns whether it did.
    public mutating func tryRetry(now: UInt64, percent: Double, floor: Int) -> Bool {
        let (calls, retries) = totals(now: now)
        let allowed = Double(floor) + percent * Double(calls) / 100
        guard Double(retries) + 1 <= allowed else { return false }
        buckets[slot(now: now)].retries += 1
        return true
    }

    /// Calls and retries in the window ending `now`.
    public func totals(now: UInt64) -> (calls: Int, retries: Int) {
        let span = Self.bucketWidth * UInt64(Self.bucketCount)
        var calls = 0
        var retries = 0
        for bucket in buckets where bucket.start <= now && now - bucket.start < span {
            calls += bucket.calls
            retries += bucket.retries
        }
        return (calls, retries)
    }

    private mutating func slot(now: UInt64) -> Int {
        let start = now - now % Self.bucketWidth
        let index = Int((now / Self.bucketWidth) % UInt64(Self.bucketCount))
        if buckets[index].start != start { buckets[index] = Bucket(start: start) }
        return index
    }
}
