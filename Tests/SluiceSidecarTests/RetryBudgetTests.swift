import Testing

@testable import SluiceSidecar

/// The retry budget on a manual clock: floor, percentage of recent calls, the 10 s
/// sliding window, and its exact bounds.
@Suite struct RetryBudgetTests {
    /// How many retries the budget grants at `now` before the first refusal (at most 10 000).
    func grants(_ budget: inout RetryBudget, now: UInt64, percent: Double, floor: Int) -> Int {
        var granted = 0
        while granted < 10_000, budget.tryRetry(now: now, percent: percent, floor: floor) { granted += 1 }
        return granted
    }

    func budget(calls: Int, at now: UInt64) -> RetryBudget {
        var budget = RetryBudget()
        for _ in 0..<calls { budget.recordCall(now: now) }
        return budget
    }

    @Test func theFloorAllowsRetriesWithNoCalls() {
        var budget = RetryBudget()
        let answers = (UInt64(0)...3).map { budget.tryRetry(now: $0, percent: 20, floor: 3) }
        #expect(answers == [true, true, true, false])
        #expect(budget.totals(now: 3) == (calls: 0, retries: 3))
    }

    @Test func aZeroFloorAndNoCallsAllowsNothing() {
        var budget = RetryBudget()
        let granted1 = budget.tryRetry(now: 0, percent: 100, floor: 0)
        #expect(!granted1)
        #expect(budget.totals(now: 0) == (calls: 0, retries: 0))
    }

    @Test func aDeniedRetryIsNotCounted() {
        var budget = RetryBudget()
        let granted1 = budget.tryRetry(now: 0, percent: 0, floor: 1)
        #expect(granted1)
        for time in UInt64(1)...20 {
            let granted2 = budget.tryRetry(now: time, percent: 0, floor: 1)
            #expect(!granted2)
        }
        #expect(budget.totals(now: 20) == (calls: 0, retries: 1))
        // Ten calls at 10 %: room for exactly one more, denied attempts having taken none.
        for _ in 0..<10 { budget.recordCall(now: 21) }
        let granted3 = budget.tryRetry(now: 22, percent: 10, floor: 1)
        #expect(granted3)
        let granted4 = budget.tryRetry(now: 22, percent: 10, floor: 1)
        #expect(!granted4)
        #expect(budget.totals(now: 22) == (calls: 10, retries: 2))
    }

    @Test func percentOfRecentCallsJustBelowAtAndAbove() {
        // 20 % of 4 calls is 0.8: no retry. Of 5: exactly one. Of 9: still one. Of 10: two.
        for (calls, expected) in [(4, 0), (5, 1), (9, 1), (10, 2), (14, 2), (15, 3), (100, 20)] {
            var budget = budget(calls: calls, at: 500)
            #expect(grants(&budget, now: 600, percent: 20, floor: 0) == expected, "\(calls) calls")
            #expect(budget.totals(now: 600) == (calls: calls, retries: expected))
        }
    }

    @Test func floorAndPercentAdd() {
        var budget = budget(calls: 10, at: 0)
        #expect(grants(&budget, now: 0, percent: 20, floor: 3) == 5)
    }

    @Test func callsAndRetriesLeaveTheWindowAfterTenSeconds() {
        // Ten calls in the bucket begun at 0 (at 0.5 s); 10 %: one retry, taken at once.
        var budget = budget(calls: 10, at: 500)
        let granted1 = budget.tryRetry(now: 500, percent: 10, floor: 0)
        #expect(granted1)
        let granted2 = budget.tryRetry(now: 9_999, percent: 10, floor: 0)
        #expect(!granted2)
        #expect(budget.totals(now: 9_999) == (calls: 10, retries: 1))
        // Ten seconds after the bucket began: calls and retry are both gone.
        #expect(budget.totals(now: 10_000) == (calls: 0, retries: 0))
        let granted3 = budget.tryRetry(now: 10_000, percent: 10, floor: 0)
        #expect(!granted3, "no calls left to earn a retry")
        let granted4 = budget.tryRetry(now: 10_000, percent: 10, floor: 1)
        #expect(granted4, "and the old retry no longer counts against the floor")
    }

    @Test func theWindowSlidesBucketByBucket() {
        var budget = RetryBudget()
        // One call each second from 0 to 14 s.
        for second in UInt64(0)..<15 { budget.recordCall(now: second * 1_000 + 1) }
        #expect(budget.totals(now: 14_500).calls == 10) // buckets begun at 5 … 14 s
        #expect(budget.totals(now: 15_000).calls == 9)
        #expect(budget.totals(now: 23_999).calls == 1)
        #expect(budget.totals(now: 24_000).calls == 0)
        // A bucket index reused long after: never the old counts.
        budget.recordCall(now: 1_000_000)
        #expect(budget.totals(now: 1_000_000) == (calls: 1, retries: 0))
    }

    @Test func retriesTakenEarlierInTheWindowStillCount() {
        var budget = budget(calls: 20, at: 0) // 20 % → 4
        #expect(grants(&budget, now: 1_000, percent: 20, floor: 0) == 4)
        budget.recordCall(now: 5_000)
        budget.recordCall(now: 5_000)
        budget.recordCall(now: 5_000)
        budget.recordCall(now: 5_000)
        budget.recordCall(now: 5_000) // 25 calls → 5
        #expect(grants(&budget, now: 5_000, percent: 20, floor: 0) == 1)
        #expect(budget.totals(now: 5_000) == (calls: 25, retries: 5))
    }

    /// Whole percentages of whole call counts have an exact answer:
    /// floor + ⌊percent × calls / 100⌋ retries. The budget must grant exactly that.
    @Test func wholePercentagesGiveExactCounts() {
        var wrong: [String] = []
        for percent in 1...100 {
            for calls in [50, 100, 300] {
                var budget = budget(calls: calls, at: 0)
                let expected = 2 + percent * calls / 100
                let granted = grants(&budget, now: 0, percent: Double(percent), floor: 2)
                if granted != expected { wrong.append("\(percent) % of \(calls): \(granted), expected \(expected)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong: \(wrong.prefix(6))")
    }

    @Test func twentyNinePercentOfOneHundredCallsIsTwentyNine() {
        var budget = budget(calls: 100, at: 0)
        #expect(grants(&budget, now: 0, percent: 29, floor: 0) == 29)
    }
}
