import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Gives freed heap back to the operating system after a burst of buffering, off the
/// event loops: glibc keeps freed memory in its arenas (RSS stays high after 100 large
/// requests finish) until `malloc_trim(0)` returns the free pages.
///
/// A dedicated thread sleeps on a condition variable until ``requestTrim()`` is called,
/// so an idle process never wakes for it; it trims at most once per `minimumInterval`
/// (a request arriving sooner is served when the interval has passed), and only when
/// asked. Wire-up: `MemoryBudget(onBurstDrained: { reclaimer.requestTrim() })`, created
/// at sidecar start; `stop()` at shutdown.
public final class MemoryReclaimer: Sendable {
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var requested = false
        var stopped = false
        var trims = 0
    }

    private let state: State
    private let minimumInterval: TimeInterval
    private let trim: @Sendable () -> Void
    private let thread: JoinableThread?

    /// - Parameters:
    ///   - minimumInterval: the shortest time between two trims (default 5 s).
    ///   - trim: what returns memory (default: `malloc_trim(0)` on glibc, nothing elsewhere).
    public init(minimumInterval: TimeInterval = 5, trim: (@Sendable () -> Void)? = nil) {
        self.minimumInterval = minimumInterval
        let trim = trim ?? MemoryReclaimer.systemTrim
        self.trim = trim
        let state = State()
        self.state = state
        self.thread = JoinableThread(name: "sluice-reclaim") {
            MemoryReclaimer.run(state: state, minimumInterval: minimumInterval, trim: trim)
        }
    }

    /// Asks for one trim soon, from any thread; cheap (a lock and a signal). Requests
    /// made while one is pending are merged.
    public func requestTrim() {
        state.condition.lock()
        defer { state.condition.unlock() }
        guard !state.stopped, !state.requested else { return }
        state.requested = true
        state.condition.signal()
    }

    /// How many trims have run (for a metric and for tests).
    public var trims: Int {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.trims
    }

    /// Stops the thread and waits for it to exit; a pending request is dropped.
    public func stop() {
        state.condition.lock()
        state.stopped = true
        state.condition.broadcast()
        state.condition.unlock()
        thread?.join()
    }

    /// Returns free heap pages to the system where the C library can.
    public static let systemTrim: @Sendable () -> Void = {
        #if canImport(Glibc)
        GlibcExtras.mallocTrim(0)
        #endif
    }

    private static func run(state: State, minimumInterval: TimeInterval, trim: @Sendable () -> Void) {
        state.condition.lock()
        while true {
            while !state.requested && !state.stopped { state.condition.wait() }
            if state.stopped { break }
            state.requested = false
            state.condition.unlock()
            trim()
            state.condition.lock()
            state.trims += 1
            state.condition.broadcast()
            // Rate limit: wait out the interval (a stop ends the wait early); a request
            // made meanwhile stays pending and is served after.
            let until = Date(timeIntervalSinceNow: minimumInterval)
            while !state.stopped && state.condition.wait(until: until) {}
            if state.stopped { break }
        }
        state.condition.unlock()
    }
}
