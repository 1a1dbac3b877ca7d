import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import SluiceSidecar

#if canImport(Glibc)
import Glibc
#endif

@Suite struct MemoryReclaimerTests {
    /// Polls until `condition` holds or 10 s pass; returns whether it held.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline {
            if condition() { return true }
            usleep(2_000)
        }
        return condition()
    }

    @Test func trimsOnceWhenAsked() {
        let calls = NIOLockedValueBox(0)
        let reclaimer = MemoryReclaimer(minimumInterval: 0) { calls.withLockedValue { $0 += 1 } }
        reclaimer.requestTrim()
        #expect(eventually { reclaimer.trims == 1 })
        reclaimer.stop()
        #expect(calls.withLockedValue { $0 } == 1)
    }

    @Test func neverTrimsUnasked() {
        let calls = NIOLockedValueBox(0)
        let reclaimer = MemoryReclaimer(minimumInterval: 0) { calls.withLockedValue { $0 += 1 } }
        // Stopping joins the thread: after it, no trim can still be on its way.
        reclaimer.stop()
        #expect(calls.withLockedValue { $0 } == 0)
        #expect(reclaimer.trims == 0)
    }

    @Test func requestsWithinTheIntervalMergeIntoOneLaterTrim() {
        let reclaimer = MemoryReclaimer(minimumInterval: 0.3) {}
        reclaimer.requestTrim()
        #expect(eventually { reclaimer.trims == 1 })
        let firstDone = Date()
        for _ in 0..<5 { reclaimer.requestTrim() }
        #expect(eventually { reclaimer.trims == 2 })
        let secondDone = Date()
        reclaimer.stop()
        #expect(reclaimer.trims == 2)
        // The merged request waited out the interval (minus this test's own latency).
        #expect(secondDone.timeIntervalSince(firstDone) >= 0.25)
    }

    @Test func stopEndsTheIntervalWaitAtOnce() {
        let reclaimer = MemoryReclaimer(minimumInterval: 3600) {}
        reclaimer.requestTrim()
        #expect(eventually { reclaimer.trims == 1 })
        reclaimer.requestTrim()
        let start = Date()
        reclaimer.stop()
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(reclaimer.trims == 1)
    }

    @Test func requestAfterStopIsIgnored() {
        let reclaimer = MemoryReclaimer(minimumInterval: 0) {}
        reclaimer.stop()
        reclaimer.requestTrim()
        #expect(reclaimer.trims == 0)
    }

    @Test func budgetBurstDrivesTheReclaimer() {
        let reclaimer = MemoryReclaimer(minimumInterval: 0) {}
        let budget = MemoryBudget(limit: 1000, burstAbove: 500, drainedBelow: 10) { reclaimer.requestTrim() }
        #expect(budget.tryReserve(600))
        budget.release(600)
        #expect(eventually { reclaimer.trims == 1 })
        reclaimer.stop()
    }

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return -1 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return -1 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The measurement behind MemoryReclaimer: 100 × 9 MiB ByteBuffers built from 4
    /// threads (event loops) by appending 64 KiB chunks, as a body collector does, after
    /// one earlier such buffer was freed (which raises glibc's dynamic mmap threshold to
    /// its 16 MiB capacity, as the first large request does in a running sidecar); each
    /// followed by a small allocation that outlives it (connection and call state in the
    /// real process), then all large buffers freed. RSS at idle, at the peak, after
    /// freeing, and after `malloc_trim(0)`. Allocates ~1.6 GB, so it runs only when asked:
    /// `SLUICE_MEASURE_TRIM=1 swift test --skip-build --filter measureMallocTrim`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_MEASURE_TRIM"] == "1"))
    func measureMallocTrim() {
        #if canImport(Glibc)
        let mib = 1 << 20
        let chunk = ByteBuffer(repeating: 7, count: 64 << 10)
        @Sendable func grown() -> ByteBuffer {
            var buffer = ByteBuffer()
            while buffer.readableBytes < 9 * mib { buffer.writeImmutableBuffer(chunk) }
            return buffer
        }
        do { _ = grown() }
        let idle = Self.residentBytes()
        let held = NIOLockedValueBox<[ByteBuffer]>([])
        let survivors = NIOLockedValueBox<[ByteBuffer]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var mine: [ByteBuffer] = []
            var small: [ByteBuffer] = []
            for _ in 0..<25 {
                mine.append(grown())
                small.append(ByteBuffer(repeating: 1, count: 4096))
            }
            held.withLockedValue { $0.append(contentsOf: mine) }
            survivors.withLockedValue { $0.append(contentsOf: small) }
        }
        let peak = Self.residentBytes()
        held.withLockedValue { $0.removeAll() }
        let freed = Self.residentBytes()
        GlibcExtras.mallocTrim(0)
        let trimmed = Self.residentBytes()
        print("malloc_trim measurement (MiB): idle \(idle / mib), 100 x 9 MiB held \(peak / mib), freed without trim \(freed / mib), after malloc_trim(0) \(trimmed / mib)")
        #expect(peak - idle >= 800 * mib)
        #expect(trimmed <= freed)
        survivors.withLockedValue { $0.removeAll() }
        #else
        print("malloc_trim measurement: glibc only")
        #endif
    }
}
