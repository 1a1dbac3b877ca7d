import SluicePolicy
import Testing

@testable import SluiceSidecar

/// The attempt planner's decisions as plain values: candidates, retries with full-jitter
/// backoff, `Retry-After`, the budget, stale-connection resends and the deadline.
@Suite struct AttemptPlannerTests {
    typealias Step = AttemptPlanner.Step

    func planner(attempts: Int = 3, base: Int = 100, max: Int = 1_000, candidates: Int = 2, deadline: UInt64? = nil) -> AttemptPlanner {
        AttemptPlanner(retry: RetrySettings(attempts: attempts, backoffMilliseconds: base, maxBackoffMilliseconds: max), candidateCount: candidates, deadline: deadline)
    }

    let retryable = AttemptPlanner.Failure(retrySameTarget: true)
    let final = AttemptPlanner.Failure(retrySameTarget: false)
    var always: (Int) -> Bool { { _ in true } }
    var never: (Int) -> Bool { { _ in false } }

    /// `retryable` with a provider's wait.
    func retryAfter(_ milliseconds: UInt64) -> AttemptPlanner.Failure {
        AttemptPlanner.Failure(retrySameTarget: true, retryAfterMilliseconds: milliseconds)
    }

    // MARK: First attempt

    @Test func firstTakesTheFirstCandidateTheBreakerAdmits() {
        var plan = planner(candidates: 4)
        var asked: [Int] = []
        let step1 = plan.first(now: 0, admit: { asked.append($0); return $0 == 2 })
        #expect(step1 == .attempt(candidate: 2))
        #expect(asked == [0, 1, 2], "candidate 3 is not asked")
        #expect(plan.skipped == [0, 1])
        #expect(plan.candidate == 2)
        #expect(plan.attemptsOnCandidate == 1)
    }

    @Test func firstWithEveryBreakerOpenIsExhausted() {
        var plan = planner(candidates: 3)
        let step1 = plan.first(now: 0, admit: never)
        #expect(step1 == .exhausted)
        #expect(plan.skipped == [0, 1, 2])
        var none = planner(candidates: 0)
        let step2 = none.first(now: 0, admit: always)
        #expect(step2 == .exhausted)
        #expect(none.skipped.isEmpty)
    }

    // MARK: Retries on the same target

    @Test func retriesTheSameTargetUpToAttemptsWithDoublingCeilings() {
        var plan = planner(attempts: 3, base: 100, max: 1_000, candidates: 1)
        var budgetAsked = 0
        let budget: (Int) -> Bool = { _ in budgetAsked += 1; return true }
        let step1 = plan.first(now: 0, admit: always)
        #expect(step1 == .attempt(candidate: 0))
        // `random` equal to the ceiling gives the ceiling itself: 100, then 200.
        let step2 = plan.after(retryable, now: 10, random: 100, admit: always, budget: budget)
        #expect(step2 == .wait(milliseconds: 100, candidate: 0))
        #expect(plan.attemptsOnCandidate == 2)
        let step3 = plan.after(retryable, now: 20, random: 200, admit: always, budget: budget)
        #expect(step3 == .wait(milliseconds: 200, candidate: 0))
        #expect(plan.attemptsOnCandidate == 3)
        let step4 = plan.after(retryable, now: 30, random: 400, admit: always, budget: budget)
        #expect(step4 == .exhausted, "three attempts made")
        #expect(budgetAsked == 2)
    }

    @Test func backoffStaysWithinFullJitterBounds() {
        let plan = planner(base: 100, max: 5_000)
        var random = SplitMix64(seed: 7)
        for retry in 1...12 {
            let ceiling = UInt64(Swift.min(5_000, 100 << (retry - 1)))
            var low = UInt64.max
            var high = UInt64(0)
            for _ in 0..<4_000 {
                let wait = plan.backoff(retry: retry, random: random.next())
                #expect(wait <= ceiling, "retry \(retry): \(wait) over \(ceiling)")
                low = Swift.min(low, wait)
                high = Swift.max(high, wait)
            }
            // Full jitter: the whole range is used, from near nothing to near the ceiling.
            #expect(low <= ceiling / 20, "retry \(retry): lowest \(low)")
            #expect(high >= ceiling - ceiling / 20, "retry \(retry): highest \(high)")
            #expect(plan.backoff(retry: retry, random: 0) == 0)
            #expect(plan.backoff(retry: retry, random: ceiling) == ceiling)
            #expect(plan.backoff(retry: retry, random: ceiling + 1) == 0)
        }
        #expect(plan.backoff(retry: 1_000, random: .max) <= 5_000, "a huge retry number stays capped")
        #expect(planner(base: 0).backoff(retry: 1, random: 12_345) == 0)
        #expect(planner(base: 100, max: 0).backoff(retry: 3, random: 12_345) == 0)
    }

    @Test func waitsPlannedThroughAfterStayWithinBounds() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<500 {
            var plan = planner(attempts: 6, base: 50, max: 700, candidates: 1)
            _ = plan.first(now: 0, admit: always)
            for retry in 1...5 {
                let ceiling = UInt64(Swift.min(700, 50 << (retry - 1)))
                switch plan.after(retryable, now: 0, random: random.next(), admit: always, budget: always) {
                case .wait(let milliseconds, let candidate):
                    #expect(milliseconds >= 1 && milliseconds <= ceiling)
                    #expect(candidate == 0)
                case .attempt(let candidate):
                    #expect(candidate == 0, "a zero wait is an immediate retry")
                case .exhausted:
                    Issue.record("retry \(retry) of 6 attempts refused")
                }
            }
            let step1 = plan.after(retryable, now: 0, random: random.next(), admit: always, budget: always)
            #expect(step1 == .exhausted)
        }
    }

    @Test func aZeroWaitRetriesAtOnce() {
        var plan = planner(candidates: 1)
        _ = plan.first(now: 0, admit: always)
        let step1 = plan.after(retryable, now: 0, random: 0, admit: always, budget: always)
        #expect(step1 == .attempt(candidate: 0))
        #expect(plan.attemptsOnCandidate == 2)
    }

    @Test func aBackoffPastTheDeadlineFailsOver() {
        var fits = planner(base: 100, deadline: 1_050)
        _ = fits.first(now: 0, admit: always)
        let step1 = fits.after(retryable, now: 1_000, random: 49, admit: always, budget: always)
        #expect(step1 == .wait(milliseconds: 49, candidate: 0))
        var over = planner(base: 100, deadline: 1_050)
        _ = over.first(now: 0, admit: always)
        let step2 = over.after(retryable, now: 1_000, random: 50, admit: always, budget: always)
        #expect(step2 == .attempt(candidate: 1), "ends at the deadline: does not fit")
    }

    // MARK: Retry-After

    @Test func retryAfterIsHonouredWhenItFitsTheDeadline() {
        var plan = planner(max: 1_000, deadline: 10_000)
        _ = plan.first(now: 0, admit: always)
        // Longer than max_backoff, but inside the deadline: honoured as asked.
        let step1 = plan.after(retryAfter(8_999), now: 1_000, random: 0, admit: always, budget: always)
        #expect(step1 == .wait(milliseconds: 8_999, candidate: 0))
        var late = planner(max: 1_000, deadline: 10_000)
        _ = late.first(now: 0, admit: always)
        let step2 = late.after(retryAfter(9_000), now: 1_000, random: 0, admit: always, budget: always)
        #expect(step2 == .attempt(candidate: 1))
        #expect(late.attemptsOnCandidate == 1, "the fallback starts its own count")
        var zero = planner(deadline: 10_000)
        _ = zero.first(now: 0, admit: always)
        let step3 = zero.after(retryAfter(0), now: 1_000, random: 999, admit: always, budget: always)
        #expect(step3 == .attempt(candidate: 0))
    }

    @Test func withoutADeadlineRetryAfterOverMaxBackoffFailsOver() {
        var at = planner(max: 1_000)
        _ = at.first(now: 0, admit: always)
        let step1 = at.after(retryAfter(1_000), now: 5, random: 0, admit: always, budget: always)
        #expect(step1 == .wait(milliseconds: 1_000, candidate: 0))
        var over = planner(max: 1_000)
        _ = over.first(now: 0, admit: always)
        let step2 = over.after(retryAfter(1_001), now: 5, random: 0, admit: always, budget: always)
        #expect(step2 == .attempt(candidate: 1))
        var alone = planner(max: 1_000, candidates: 1)
        _ = alone.first(now: 0, admit: always)
        let step3 = alone.after(retryAfter(60_000), now: 5, random: 0, admit: always, budget: always)
        #expect(step3 == .exhausted)
    }

    // MARK: Failover

    @Test func aBudgetRefusalFailsOver() {
        var plan = planner(attempts: 3, candidates: 2)
        _ = plan.first(now: 0, admit: always)
        let step1 = plan.after(retryable, now: 1, random: 100, admit: always, budget: never)
        #expect(step1 == .attempt(candidate: 1))
        #expect(plan.candidate == 1)
        #expect(plan.attemptsOnCandidate == 1)
        var alone = planner(attempts: 3, candidates: 1)
        _ = alone.first(now: 0, admit: always)
        let step2 = alone.after(retryable, now: 1, random: 100, admit: always, budget: never)
        #expect(step2 == .exhausted)
    }

    @Test func aBreakerThatOpenedMeanwhileFailsOverWithoutTakingBudget() {
        var plan = planner(attempts: 3, candidates: 2)
        _ = plan.first(now: 0, admit: always)
        var budgetAsked = 0
        let step1 = plan.after(retryable, now: 1, random: 100, admit: { $0 != 0 }, budget: { _ in budgetAsked += 1; return true })
        #expect(step1 == .attempt(candidate: 1))
        #expect(budgetAsked == 0)
    }

    @Test func aNonRetryableFailureFailsOverAtOnce() {
        var plan = planner(attempts: 5, candidates: 3)
        _ = plan.first(now: 0, admit: always)
        var budgetAsked = 0
        let budget: (Int) -> Bool = { _ in budgetAsked += 1; return true }
        let step1 = plan.after(final, now: 1, random: 100, admit: always, budget: budget)
        #expect(step1 == .attempt(candidate: 1))
        let step2 = plan.after(final, now: 2, random: 100, admit: always, budget: budget)
        #expect(step2 == .attempt(candidate: 2))
        let step3 = plan.after(final, now: 3, random: 100, admit: always, budget: budget)
        #expect(step3 == .exhausted)
        #expect(budgetAsked == 0)
        #expect(plan.skipped.isEmpty)
    }

    @Test func failoverPassesOverFallbacksTheBreakerRefuses() {
        var plan = planner(candidates: 4)
        _ = plan.first(now: 0, admit: always)
        let step1 = plan.after(final, now: 1, random: 0, admit: { $0 == 3 }, budget: always)
        #expect(step1 == .attempt(candidate: 3))
        #expect(plan.skipped == [1, 2])
    }

    @Test func eachFallbackGetsItsOwnAttemptsAndBackoff() {
        var plan = planner(attempts: 2, base: 100, max: 1_000, candidates: 2)
        let step1 = plan.first(now: 0, admit: always)
        #expect(step1 == .attempt(candidate: 0))
        let step2 = plan.after(retryable, now: 1, random: 150, admit: always, budget: always)
        #expect(step2 == .wait(milliseconds: 49, candidate: 0)) // 150 mod 101
        let step3 = plan.after(retryable, now: 2, random: 150, admit: always, budget: always)
        #expect(step3 == .attempt(candidate: 1))
        // The fallback's first retry is retry number one again: ceiling 100, not 200.
        let step4 = plan.after(retryable, now: 3, random: 150, admit: always, budget: always)
        #expect(step4 == .wait(milliseconds: 49, candidate: 1))
        let step5 = plan.after(retryable, now: 4, random: 150, admit: always, budget: always)
        #expect(step5 == .exhausted)
    }

    // MARK: Stale connections

    @Test func anUnprocessedRequestIsResentOnceAtOnceRegardlessOfAttempts() {
        var plan = planner(attempts: 1, candidates: 2)
        _ = plan.first(now: 0, admit: always)
        let stale = AttemptPlanner.Failure(retrySameTarget: false, unprocessed: true)
        var budgetAsked = 0
        let budget: (Int) -> Bool = { _ in budgetAsked += 1; return true }
        let step1 = plan.after(stale, now: 1, random: 500, admit: always, budget: budget)
        #expect(step1 == .attempt(candidate: 0))
        #expect(plan.staleResends == 1)
        #expect(plan.attemptsOnCandidate == 1, "a resend is not one of the target's attempts")
        #expect(budgetAsked == 1)
        // Only once per call: the next stale loss fails over, and on the fallback gives up.
        let step2 = plan.after(stale, now: 2, random: 500, admit: always, budget: budget)
        #expect(step2 == .attempt(candidate: 1))
        let step3 = plan.after(stale, now: 3, random: 500, admit: always, budget: budget)
        #expect(step3 == .exhausted)
        #expect(plan.staleResends == 1)
    }

    @Test func anUnprocessedRetryableFailureIsResentWithoutWaiting() {
        var plan = planner(attempts: 3, candidates: 1)
        _ = plan.first(now: 0, admit: always)
        let stale = AttemptPlanner.Failure(retrySameTarget: true, retryAfterMilliseconds: 800, unprocessed: true)
        let step1 = plan.after(stale, now: 1, random: 500, admit: always, budget: always)
        #expect(step1 == .attempt(candidate: 0))
        #expect(plan.attemptsOnCandidate == 1)
        // The second stale loss is an ordinary retry: it waits and counts.
        let step2 = plan.after(stale, now: 2, random: 500, admit: always, budget: always)
        #expect(step2 == .wait(milliseconds: 800, candidate: 0))
        #expect(plan.attemptsOnCandidate == 2)
    }

    @Test func anUnprocessedRequestIsNotResentWhenTheBudgetRefuses() {
        var plan = planner(attempts: 1, candidates: 2)
        _ = plan.first(now: 0, admit: always)
        let stale = AttemptPlanner.Failure(retrySameTarget: false, unprocessed: true)
        let step1 = plan.after(stale, now: 1, random: 0, admit: always, budget: never)
        #expect(step1 == .attempt(candidate: 1))
        #expect(plan.staleResends == 0)
    }

    // MARK: Deadline

    @Test func nothingIsTriedOnceTheDeadlinePassed() {
        var passed = planner(attempts: 3, candidates: 3, deadline: 5_000)
        _ = passed.first(now: 0, admit: always)
        var asked = 0
        let counting: (Int) -> Bool = { _ in asked += 1; return true }
        let step1 = passed.after(retryable, now: 5_000, random: 0, admit: counting, budget: counting)
        #expect(step1 == .exhausted)
        let step2 = passed.after(AttemptPlanner.Failure(retrySameTarget: false, unprocessed: true), now: 6_000, random: 0, admit: counting, budget: counting)
        #expect(step2 == .exhausted)
        #expect(asked == 0)
        var before = planner(attempts: 3, candidates: 3, deadline: 5_000)
        _ = before.first(now: 0, admit: always)
        let step3 = before.after(final, now: 4_999, random: 0, admit: always, budget: always)
        #expect(step3 == .attempt(candidate: 1))
    }
}
