import Foundation
import NIOConcurrencyHelpers

/// Where access-log lines go: buffered in memory (bounded) and written by a background
/// thread, so event loops never block on a slow stdout.
///
/// `write(_:)` takes a short lock and copies the line; it makes no system call except to
/// wake a sleeping writer. After writing a batch the writer lingers for `lingerInterval`
/// (20 ms) and writes whatever came meanwhile: under load lines are written in batches,
/// 50 times a second at most, and no event loop pays for a wake-up per line (a futex call
/// and a context switch each). A linger that finds nothing puts the writer to sleep on the
/// condition variable until the next line, so an idle sidecar is not woken at all. When the
/// buffer holds `bufferLimit` bytes, new lines are dropped and counted
/// (``droppedLines``, the `sluice_access_log_dropped_lines_total` counter); the first drop
/// is reported once through `warn`. `close()` writes every accepted line, then stops and
/// joins the writer thread.
public final class AccessLogSink: Sendable {
    /// Where to write.
    public enum Destination: Sendable, Equatable {
        case standardOutput
        case file(String)
        case discard
    }

    /// The default bound on lines waiting to be written: 8 MiB.
    public static let defaultBufferLimit = 8 << 20

    /// The queue shared with the writer thread, guarded by `condition`.
    private final class Queue: @unchecked Sendable {
        let condition = NSCondition()
        var pending: [UInt8] = []
        /// Bytes taken by the writer and not yet written (for `flush`).
        var inFlight = false
        var closed = false
        var finished = false
        var dropped = 0
        var warnedAboutDrop = false
        var wakeups = 0
        /// The writer is waiting out its linger: producers need not signal it.
        var lingering = false
    }

    private let queue = Queue()
    private let fd: Int32
    private let ownsFD: Bool
    private let bufferLimit: Int
    private let warn: @Sendable (String) -> Void
    private let thread = NIOLockedValueBox<JoinableThread?>(nil)
    /// How long the writer lets lines gather after a write.
    private let lingerInterval: TimeInterval = 0.02

    /// - Parameters:
    ///   - destination: where lines go.
    ///   - bufferLimit: the most bytes held waiting for the writer; lines past it are dropped.
    ///   - warn: told once, from the writer thread, when lines start being dropped
    ///     (default: a line on standard error).
    public convenience init(
        destination: Destination, bufferLimit: Int = AccessLogSink.defaultBufferLimit,
        warn: (@Sendable (String) -> Void)? = nil
    ) throws {
        switch destination {
        case .standardOutput:
            self.init(fileDescriptor: 1, ownsDescriptor: false, bufferLimit: bufferLimit, warn: warn)
        case .discard:
            self.init(fileDescriptor: -1, ownsDescriptor: false, bufferLimit: bufferLimit, warn: warn)
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
            self.init(fileDescriptor: opened, ownsDescriptor: true, bufferLimit: bufferLimit, warn: warn)
        }
    }

    /// Writes to an open descriptor (negative: discard); closes it on `close()` when owned.
    init(fileDescriptor: Int32, ownsDescriptor: Bool, bufferLimit: Int, warn: (@Sendable (String) -> Void)?) {
        self.fd = fileDescriptor
        self.ownsFD = ownsDescriptor
        self.bufferLimit = max(1, bufferLimit)
        self.warn = warn ?? { message in
            let line = Array((message + "\n").utf8)
            line.withUnsafeBytes { raw in _ = raw.baseAddress.map { Foundation.write(2, $0, raw.count) } }
        }
        if fileDescriptor >= 0 { startWriter() }
    }

    /// Whether lines are written anywhere.
    public var isEnabled: Bool { fd >= 0 }

    /// Lines dropped because the buffer was full (`sluice_access_log_dropped_lines_total`).
    public var droppedLines: Int {
        queue.condition.lock()
        defer { queue.condition.unlock() }
        return queue.dropped
    }

    /// How many times the writer thread woke to write (for tests).
    var writerWakeups: Int {
        queue.condition.lock()
        defer { queue.condition.unlock() }
        return queue.wakeups
    }

    /// The writer thread's kernel id (for tests; 0 when there is none).
    var writerThreadID: Int32 { thread.withLockedValue { $0?.kernelThreadID ?? 0 } }

    /// Queues one line (a newline is added); drops it when the buffer is full or the sink
    /// is closed.
    public func write(_ line: String) {
        var line = line
        line.withUTF8 { write(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Queues one line given as UTF-8 bytes (a newline is added).
    public func write(bytes: UnsafeRawBufferPointer) {
        guard fd >= 0 else { return }
        let queue = self.queue
        queue.condition.lock()
        defer { queue.condition.unlock() }
        guard !queue.closed else { return }
        guard queue.pending.count + bytes.count + 1 <= bufferLimit else {
            queue.dropped += 1
            return
        }
        let wasEmpty = queue.pending.isEmpty
        queue.pending.append(contentsOf: bytes)
        queue.pending.append(UInt8(ascii: "\n"))
        if wasEmpty && !queue.lingering { queue.condition.signal() }
    }

    /// Waits until every line queued so far is written.
    public func flush() {
        guard fd >= 0 else { return }
        queue.condition.lock()
        while (!queue.pending.isEmpty || queue.inFlight) && !queue.finished {
            queue.condition.wait()
        }
        queue.condition.unlock()
    }

    /// Writes every accepted line, stops the writer thread and waits for it to exit, then
    /// closes an owned file. Later `write`s are ignored. Safe to call more than once.
    public func close() {
        guard fd >= 0 else { return }
        queue.condition.lock()
        let first = !queue.closed
        queue.closed = true
        queue.condition.broadcast()
        queue.condition.unlock()
        guard first else { return }
        thread.withLockedValue { $0 }?.join()
        if ownsFD { _ = Foundation.close(fd) }
    }

    private func startWriter() {
        let started = JoinableThread(name: "sluice-log") { [self] in self.drainLoop() }
        if let started {
            thread.withLockedValue { $0 = started }
        } else {
            // No thread: finish at once so flush and close never wait.
            queue.condition.lock()
            queue.finished = true
            queue.condition.unlock()
        }
    }

    private func drainLoop() {
        let queue = self.queue
        var batch: [UInt8] = []
        queue.condition.lock()
        var linger = false
        while true {
            if linger, !queue.closed {
                // Let lines gather for one interval before the next write.
                queue.lingering = true
                _ = queue.condition.wait(until: Date(timeIntervalSinceNow: lingerInterval))
                queue.lingering = false
            }
            while queue.pending.isEmpty && !queue.closed {
                linger = false
                queue.condition.wait()
            }
            if queue.pending.isEmpty && queue.closed { break }
            linger = true
            queue.wakeups += 1
            swap(&batch, &queue.pending)
            queue.inFlight = true
            let warnNow = queue.dropped > 0 && !queue.warnedAboutDrop
            if warnNow { queue.warnedAboutDrop = true }
            queue.condition.unlock()

            if warnNow {
                warn("access log: writer is behind and its \(bufferLimit >> 20) MiB buffer is full; dropping lines (counted in sluice_access_log_dropped_lines_total)")
            }
            writeAll(batch)
            // Keep a small buffer for the next batch; give a burst's memory back.
            if batch.capacity > 64 << 10 { batch = [] } else { batch.removeAll(keepingCapacity: true) }

            queue.condition.lock()
            queue.inFlight = false
            queue.condition.broadcast()
        }
        queue.finished = true
        queue.condition.broadcast()
        queue.condition.unlock()
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, base + offset, raw.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
