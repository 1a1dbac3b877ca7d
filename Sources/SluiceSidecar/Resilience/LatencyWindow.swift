/// The recent response-head latencies of one target, for degradation rules: the last
/// `capacity` samples younger than `maxAge`, with the 95th percentile computed at most once
/// per `refreshEvery` (a sort of ≤ 128 numbers, off the per-call path most of the time).
public struct LatencyWindow: Sendable, Equatable {
    private var samples: [(at: UInt64, milliseconds: UInt32)] = []
    private var next = 0
    private var cachedP95: UInt32?
    private var computedAt: UInt64 = 0
    private var computed = false
    public let capacity: Int
    public let maxAgeMilliseconds: UInt64
    public let refreshEveryMilliseconds: UInt64
    /// Fewer samples than this give no percentile (nil): too little to judge by.
    public let minimumSamples: Int

    public init(capacity: Int = 128, maxAgeMilliseconds: UInt64 = 60_000, refreshEveryMilliseconds: UInt64 = 1_000, minimumSamples: Int = 5) {
        self.capacity = max(1, capacity)
        self.maxAgeMilliseconds = maxAgeMilliseconds
        self.refreshEveryMilliseconds = refreshEveryMilliseconds
        self.minimumSamples = minimumSamples
        samples.reserveCapacity(self.capacity)
    }

    public static func == (lhs: LatencyWindow, rhs: LatencyWindow) -> Bool {
        lhs.samples.map(\.milliseconds) == rhs.samples.map(\.milliseconds) && lhs.samples.map(\.at) == rhs.samples.map(\.at)
    }

    public mutating func record(milliseconds: UInt64, now: UInt64) {
        let sample = (at: now, milliseconds: UInt32(min(milliseconds, UInt64(UInt32.max))))
        if samples.count < capacity {
            samples.append(sample)
        } else {
            samples[next] = sample
            next = (next + 1) % capacity
        }
    }

    /// The 95th percentile of the recent samples, or nil with too few.
    public mutating func p95(now: UInt64) -> UInt64? {
        if !computed || now &- computedAt >= refreshEveryMilliseconds {
            var recent = samples.compactMap { now &- $0.at <= maxAgeMilliseconds ? $0.milliseconds : nil }
            if recent.count < minimumSamples {
                cachedP95 = nil
            } else {
                recent.sort()
                let rank = Int((Double(recent.count) * 0.95).rounded(.up)) - 1
                cachedP95 = recent[min(max(rank, 0), recent.count - 1)]
            }
            computedAt = now
            computed = true
        }
        return cachedP95.map(UInt64.init)
    }
}
