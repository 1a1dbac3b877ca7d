import Testing

@testable import SluiceSidecar

/// The head-latency window on a manual clock: minimum samples, nearest-rank p95, ageing,
/// the capacity ring and the refresh cache.
@Suite struct LatencyWindowTests {
    /// A window that recomputes on every read, unless a test is about the cache.
    func window(capacity: Int = 128, maxAge: UInt64 = 60_000, refreshEvery: UInt64 = 0, minimum: Int = 5) -> LatencyWindow {
        LatencyWindow(capacity: capacity, maxAgeMilliseconds: maxAge, refreshEveryMilliseconds: refreshEvery, minimumSamples: minimum)
    }

    @Test func noPercentileBelowTheMinimumSamples() {
        var latency = window(minimum: 5)
        let p951 = latency.p95(now: 0)
        #expect(p951 == nil)
        for value in UInt64(1)...4 {
            latency.record(milliseconds: value * 100, now: value)
            let p952 = latency.p95(now: value)
            #expect(p952 == nil, "\(value) samples")
        }
        latency.record(milliseconds: 500, now: 5)
        let p953 = latency.p95(now: 5)
        #expect(p953 == 500)
    }

    @Test func nearestRankOnKnownData() {
        // 1…20: rank ⌈0.95 × 20⌉ = 19 → 19. 1…100 → 95. 1…10 → 10 (⌈9.5⌉). 1…5 → 5.
        for (count, expected) in [(20, UInt64(19)), (100, 95), (10, 10), (5, 5), (21, 20), (40, 38)] {
            var latency = window()
            var values = Array(UInt64(1)...UInt64(count))
            var random = SplitMix64(seed: UInt64(count))
            values.shuffle(using: &random)
            for value in values { latency.record(milliseconds: value, now: 1_000) }
            let p951 = latency.p95(now: 1_000)
            #expect(p951 == expected, "1…\(count)")
        }
    }

    @Test func nearestRankForEveryCountUpToCapacity() {
        for count in 5...128 {
            var latency = window()
            // Values 10, 20, … in descending order, so the sort matters.
            for index in stride(from: count, through: 1, by: -1) { latency.record(milliseconds: UInt64(index * 10), now: 7) }
            let rank = (95 * count + 99) / 100 // ⌈0.95 n⌉ in whole numbers
            let p951 = latency.p95(now: 7)
            #expect(p951 == UInt64(rank * 10), "\(count) samples")
        }
    }

    @Test func oneSlowOutlierInTwentyIsNotTheP95ButTwoAre() {
        var latency = window()
        for _ in 0..<19 { latency.record(milliseconds: 100, now: 0) }
        latency.record(milliseconds: 9_000, now: 0)
        let p951 = latency.p95(now: 0)
        #expect(p951 == 100)
        latency.record(milliseconds: 9_000, now: 0) // 21 samples: rank 20
        let p952 = latency.p95(now: 0)
        #expect(p952 == 9_000)
    }

    @Test func oldSamplesAgeOut() {
        var latency = window(maxAge: 1_000)
        for _ in 0..<5 { latency.record(milliseconds: 800, now: 0) }
        let p951 = latency.p95(now: 1_000)
        #expect(p951 == 800, "exactly max-age old: still counted")
        let p952 = latency.p95(now: 1_001)
        #expect(p952 == nil, "older: gone, and five are needed")
        // Fresh fast samples after slow old ones: only the fresh ones count.
        for _ in 0..<5 { latency.record(milliseconds: 30, now: 900) }
        let p953 = latency.p95(now: 1_000)
        #expect(p953 == 800, "both sets within max age")
        let p954 = latency.p95(now: 1_500)
        #expect(p954 == 30)
        let p955 = latency.p95(now: 1_901)
        #expect(p955 == nil)
    }

    @Test func theRingOverwritesTheOldestFirst() {
        var latency = window(capacity: 5, minimum: 5)
        for _ in 0..<5 { latency.record(milliseconds: 1_000, now: 0) }
        let p951 = latency.p95(now: 0)
        #expect(p951 == 1_000)
        latency.record(milliseconds: 1, now: 1)
        latency.record(milliseconds: 2, now: 2)
        latency.record(milliseconds: 3, now: 3)
        latency.record(milliseconds: 4, now: 4)
        let p952 = latency.p95(now: 4)
        #expect(p952 == 1_000, "one slow sample left")
        latency.record(milliseconds: 5, now: 5)
        let p953 = latency.p95(now: 5)
        #expect(p953 == 5, "every slow sample overwritten")
        // Round again, oldest first: with the oldest the slowest, each new sample lowers the top.
        for value in UInt64(1)...5 { latency.record(milliseconds: (6 - value) * 10, now: 5 + value) } // 50, 40, 30, 20, 10
        let p954 = latency.p95(now: 10)
        #expect(p954 == 50)
        latency.record(milliseconds: 1, now: 11)
        let p955 = latency.p95(now: 11)
        #expect(p955 == 40, "50, the oldest, went first")
        latency.record(milliseconds: 1, now: 12)
        let p956 = latency.p95(now: 12)
        #expect(p956 == 30)
        #expect(latency.capacity == 5)
    }

    @Test func aCapacityBelowOneIsOne() {
        var latency = window(capacity: 0, minimum: 1)
        latency.record(milliseconds: 9, now: 0)
        latency.record(milliseconds: 4, now: 0)
        #expect(latency.capacity == 1)
        let p951 = latency.p95(now: 0)
        #expect(p951 == 4)
    }

    @Test func thePercentileIsRecomputedOnlyAfterRefreshEvery() {
        var latency = window(refreshEvery: 1_000)
        for _ in 0..<5 { latency.record(milliseconds: 10, now: 0) }
        let p951 = latency.p95(now: 0)
        #expect(p951 == 10)
        for _ in 0..<5 { latency.record(milliseconds: 2_000, now: 10) }
        let p952 = latency.p95(now: 10)
        #expect(p952 == 10, "cached")
        let p953 = latency.p95(now: 999)
        #expect(p953 == 10, "cached until a full refresh period passed")
        let p954 = latency.p95(now: 1_000)
        #expect(p954 == 2_000, "recomputed: ten samples, rank 10")
        // The next refresh period counts from that computation.
        for _ in 0..<20 { latency.record(milliseconds: 1, now: 1_100) }
        let p955 = latency.p95(now: 1_999)
        #expect(p955 == 2_000)
        let p956 = latency.p95(now: 2_000)
        #expect(p956 == 2_000, "30 samples: rank 29 is still a slow one")
        for _ in 0..<70 { latency.record(milliseconds: 1, now: 2_100) }
        let p957 = latency.p95(now: 2_500)
        #expect(p957 == 2_000)
        let p958 = latency.p95(now: 3_000)
        #expect(p958 == 10, "100 samples (90 × 1, 5 × 10, 5 × 2 000): rank 95 is the last 10")
    }

    @Test func tooFewSamplesIsCachedToo() {
        var latency = window(refreshEvery: 1_000)
        let p951 = latency.p95(now: 0)
        #expect(p951 == nil)
        for _ in 0..<5 { latency.record(milliseconds: 70, now: 10) }
        let p952 = latency.p95(now: 999)
        #expect(p952 == nil)
        let p953 = latency.p95(now: 1_000)
        #expect(p953 == 70)
    }

    @Test func hugeLatenciesAreClamped() {
        var latency = window(minimum: 1)
        latency.record(milliseconds: .max, now: 0)
        let p951 = latency.p95(now: 0)
        #expect(p951 == UInt64(UInt32.max))
    }
}
