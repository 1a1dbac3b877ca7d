import Dispatch
import NIOConcurrencyHelpers
import Testing
@testable import SluiceSidecar

@Suite struct MemoryBudgetTests {
    @Test func reservesUpToTheLimitAndNotOneByteMore() {
        let budget = MemoryBudget(limit: 100)
        #expect(budget.tryReserve(60))
        #expect(budget.tryReserve(39))
        #expect(budget.current == 99)
        #expect(budget.tryReserve(1))
        #expect(budget.current == 100)
        #expect(!budget.tryReserve(1))
        #expect(budget.current == 100)
        budget.release(1)
        #expect(!budget.tryReserve(2))
        #expect(budget.tryReserve(1))
    }

    @Test func aRefusedReservationTakesNothing() {
        let budget = MemoryBudget(limit: 100)
        #expect(budget.tryReserve(90))
        #expect(!budget.tryReserve(11))
        #expect(budget.current == 90)
        #expect(budget.tryReserve(10))
    }

    @Test func zeroAndNegativeAmounts() {
        let budget = MemoryBudget(limit: 10)
        #expect(budget.tryReserve(10))
        #expect(budget.tryReserve(0))
        #expect(!budget.tryReserve(-5))
        budget.release(0)
        budget.release(-3)
        #expect(budget.current == 10)
    }

    @Test func hugeRequestDoesNotOverflow() {
        let budget = MemoryBudget(limit: 100)
        #expect(budget.tryReserve(50))
        #expect(!budget.tryReserve(Int.max))
        #expect(budget.current == 50)
    }

    @Test func zeroLimitRefusesEverythingButZero() {
        let budget = MemoryBudget(limit: 0)
        #expect(!budget.tryReserve(1))
        #expect(budget.tryReserve(0))
    }

    @Test func peakFollowsTheHighestUsageAndResets() {
        let budget = MemoryBudget(limit: 1000)
        _ = budget.tryReserve(300)
        _ = budget.tryReserve(400)
        budget.release(600)
        _ = budget.tryReserve(100)
        #expect(budget.current == 200)
        #expect(budget.peak == 700)
        #expect(budget.resetPeak() == 700)
        #expect(budget.peak == 200)
    }

    @Test func defaultLimitIs256MiB() {
        #expect(MemoryBudget().limit == 256 * 1024 * 1024)
    }

    @Test func concurrentReservationsNeverExceedTheLimit() {
        // 8 threads race for 1-byte slots of a 1000-byte budget: exactly 1000 win.
        let budget = MemoryBudget(limit: 1000)
        let wins = NIOLockedValueBox(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine = 0
            for _ in 0..<500 where budget.tryReserve(1) { mine += 1 }
            wins.withLockedValue { $0 += mine }
        }
        #expect(wins.withLockedValue { $0 } == 1000)
        #expect(budget.current == 1000)
        #expect(budget.peak == 1000)
    }

    @Test func concurrentReserveAndReleaseBalanceToZero() {
        let budget = MemoryBudget(limit: 10_000)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<20_000 {
                let size = 1 + (round * 7 + thread * 13) % 1500
                if budget.tryReserve(size) { budget.release(size) }
            }
        }
        #expect(budget.current == 0)
        #expect(budget.peak <= 10_000)
        #expect(budget.peak >= 1500)
    }

    @Test func burstDrainedIsReportedOncePerBurst() {
        let drained = NIOLockedValueBox(0)
        let budget = MemoryBudget(limit: 100, burstAbove: 50, drainedBelow: 5) {
            drained.withLockedValue { $0 += 1 }
        }
        // Small usage that goes to zero is not a burst.
        _ = budget.tryReserve(40)
        budget.release(40)
        #expect(drained.withLockedValue { $0 } == 0)
        // A burst: reaches 60, comes back down past 5 only at the end.
        _ = budget.tryReserve(60)
        budget.release(30)
        #expect(drained.withLockedValue { $0 } == 0)
        budget.release(25)
        #expect(drained.withLockedValue { $0 } == 1)
        budget.release(5)
        #expect(drained.withLockedValue { $0 } == 1)
        // The next burst is reported again.
        _ = budget.tryReserve(50)
        budget.release(50)
        #expect(drained.withLockedValue { $0 } == 2)
    }

    @Test func concurrentBurstsLeaveTheDrainSignalConsistent() {
        let drained = NIOLockedValueBox(0)
        let budget = MemoryBudget(limit: 1 << 20, burstAbove: 1 << 10, drainedBelow: 0) {
            drained.withLockedValue { $0 += 1 }
        }
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<1000 where budget.tryReserve(2048) { budget.release(2048) }
        }
        #expect(budget.current == 0)
        #expect(drained.withLockedValue { $0 } >= 1)
        // Whatever the interleaving left behind, the next burst is reported exactly once.
        let before = drained.withLockedValue { $0 }
        _ = budget.tryReserve(4096)
        budget.release(4096)
        #expect(drained.withLockedValue { $0 } == before + 1)
    }
}
