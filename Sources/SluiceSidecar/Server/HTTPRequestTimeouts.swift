import NIOCore
import NIOHTTP1

/// One connection's (or HTTP/2 stream's) request timeouts: the ``HTTP1TimeoutStateMachine``
/// and the single timer it drives, shared by ``RequestBytesWatcher`` and
/// ``RequestPhaseWatcher``. Lives on the channel's event loop; not thread-safe.
///
/// One scheduled task per connection, re-armed lazily: events that only move the deadline
/// later (a body chunk) just stamp the time; the timer fires at the old deadline, asks
/// the machine, and re-arms for what is left. Only a deadline moving *earlier* (keep-alive
/// → head) cancels and reschedules.
final class HTTPRequestTimeouts {
    /// How a timeout closes the connection: with a `408` written as raw HTTP/1.1 bytes
    /// (before the codec), as response parts (HTTP/2 stream), or by closing only.
    enum Closer {
        case rawBytes(ChannelHandlerContext)
        case responseParts(ChannelHandlerContext)
    }

    private var machine: HTTP1TimeoutStateMachine
    private let eventLoop: any EventLoop
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    var closer: Closer?
    /// Called once when a timeout closes the connection (for a log line or a metric).
    var onTimeout: ((HTTP1TimeoutStateMachine.CloseReason) -> Void)?

    /// - Parameters:
    ///   - configuration: the limits (`keepAlive: nil` on HTTP/2 streams).
    ///   - eventLoop: the channel's event loop; its `now` is the clock.
    init(configuration: HTTP1TimeoutStateMachine.Configuration, eventLoop: any EventLoop) {
        self.machine = HTTP1TimeoutStateMachine(configuration: configuration)
        self.eventLoop = eventLoop
    }

    var now: NIODeadline { eventLoop.now }

    /// When the armed timer will fire, if one is armed (for tests).
    var armedDeadline: NIODeadline? { timerDeadline }

    func connectionStarted(at time: NIODeadline) { apply(machine.connectionStarted(now: time)) }
    func bytesReceived() { apply(machine.bytesReceived(now: now)) }
    func requestHeadReceived() { apply(machine.requestHeadReceived(now: now)) }
    func requestBodyReceived() { apply(machine.requestBodyReceived(now: now)) }
    func requestEnded() { apply(machine.requestEnded(now: now)) }
    func responseHeadSent() { apply(machine.responseHeadSent()) }
    func responseEnded() { apply(machine.responseEnded(now: now)) }
    func readCompleted() { apply(machine.readCompleted()) }
    func readRequested() { apply(machine.readRequested(now: now)) }

    /// The channel went away: cancel the timer and drop the context references.
    func stop() {
        machine.connectionClosed()
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        closer = nil
        onTimeout = nil
    }

    private func apply(_ action: HTTP1TimeoutStateMachine.Action) {
        switch action {
        case .none:
            return
        case .arm(let deadline):
            if let current = timerDeadline, current <= deadline { return }
            timer?.cancel()
            timerDeadline = deadline
            timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
                self?.timerFired()
            }
        case .close(let reason, let send408):
            timer?.cancel()
            timer = nil
            timerDeadline = nil
            let closer = self.closer
            let onTimeout = self.onTimeout
            stop()
            onTimeout?(reason)
            close(with: closer, send408: send408)
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        apply(machine.timerFired(now: now))
    }

    private func close(with closer: Closer?, send408: Bool) {
        switch closer {
        case .rawBytes(let context)?:
            if send408 {
                context.write(NIOAny(ByteBuffer(string: HTTPRequestTimeouts.raw408)), promise: nil)
            }
            context.flush()
            context.close(promise: nil)
        case .responseParts(let context)?:
            if send408 {
                let head = HTTPResponseHead(version: .http1_1, status: .requestTimeout, headers: ["content-length": "0"])
                context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                context.write(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            }
            context.flush()
            context.close(promise: nil)
        case nil:
            break
        }
    }

    /// The whole `408` answer, written below the HTTP/1 encoder (no request is in the
    /// server pipeline handler's view when a head times out, so it must not go through it).
    static let raw408 = "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
}
