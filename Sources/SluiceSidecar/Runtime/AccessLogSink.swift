import Foundation
import NIOConcurrencyHelpers

/// Where access-log lines go: buffered in memory and written by a background thread, so
/// event loops never block on a slow stdout.
public final class AccessLogSink: Sendable {
    /// Where to write.
    public enum Destination: Sendable, Equatable {
        case standardOutput
        case file(String)
        case discard
    }

    private let buffer = NIOLockedValueBox([UInt8]())
    private let fd: Int32
    private let ownsFD: Bool
    private let stopped = NIOLockedValueBox(false)
    private let flushInterval: TimeInterval

    public init(destination: Destination, flushInterval: TimeInterval = 0.02) throws {
        self.flushInterval = flushInterval
        switch destination {
        case .standardOutput:
            fd = 1
            ownsFD = false
        case .discard:
            fd = -1
            ownsFD = false
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
            fd = opened
            ownsFD = true
        }
        if fd >= 0 {
            let thread = Thread { [self] in self.drainLoop() }
            thread.name = "sluice-access-log"
            thread.start()
        }
    }

    /// Whether lines are written anywhere.
    public var isEnabled: Bool { fd >= 0 }

    /// Queues one line (a newline is added).
    public func write(_ line: String) {
        guard fd >= 0 else { return }
        buffer.withLockedValue { bytes in
            bytes.append(contentsOf: line.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
    }

    /// Writes everything queued so far.
    public func flush() {
        let pending = buffer.withLockedValue { bytes -> [UInt8] in
            defer { bytes.removeAll(keepingCapacity: true) }
            return bytes
        }
        guard !pending.isEmpty else { return }
        pending.withUnsafeBytes { raw in
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

    /// Flushes and stops the writer thread.
    public func close() {
        stopped.withLockedValue { $0 = true }
        flush()
        if ownsFD { _ = Foundation.close(fd) }
    }

    private func drainLoop() {
        while !stopped.withLockedValue({ $0 }) {
            Thread.sleep(forTimeInterval: flushInterval)
            flush()
        }
    }
}
