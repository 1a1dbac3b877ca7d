import NIOCore
import NIOHTTP1
import SluicePolicy

/// How long an upstream exchange may wait at each step.
public struct UpstreamTimeouts: Sendable, Equatable {
    /// To get a connection: open one (TCP and TLS) or wait for a pooled one.
    public var connect: TimeAmount
    /// From the start of the attempt (pool wait and connect included) to the response head.
    public var head: TimeAmount
    /// Longest gap between body bytes once the response has begun. Time the client spends
    /// not reading (backpressure) does not count: that is the client's pace, not the provider's.
    public var idle: TimeAmount

    public init(connect: TimeAmount = .seconds(10), head: TimeAmount = .seconds(600), idle: TimeAmount = .seconds(300)) {
        self.connect = connect
        self.head = head
        self.idle = idle
    }

    /// These defaults with the policy's timeouts (milliseconds) laid over them. (A stream's
    /// `first_token` and the call's `total` belong to the attempt loop, not to one exchange.)
    func overridden(by policy: Timeouts) -> UpstreamTimeouts {
        UpstreamTimeouts(
            connect: policy.connect.map { .milliseconds(Int64($0)) } ?? connect,
            head: policy.head.map { .milliseconds(Int64($0)) } ?? head,
            idle: policy.idle.map { .milliseconds(Int64($0)) } ?? idle
        )
    }
}

/// One request/response exchange with a provider over a pooled connection: the
/// ``ResponseSource`` of an upstream attempt.
///
/// Owns its connection from the moment the pool hands one over until the response ends
/// (the connection goes back to the pool) or fails or is cancelled (it is closed). A
/// request is sent again on a fresh connection only when the provider cannot have seen it:
/// a reused keep-alive connection turned out closed before the request was fully handed to
/// the socket (RFC 9110 §9.2.2). Once the request is written, a failure is the attempt's
/// failure; retrying it is the resilience stage's decision, under its budget.
final class UpstreamExchange: ResponseSource, UpstreamConnectionDelegate {
    private let pool: UpstreamPool
    private let key: UpstreamPool.Key
    private let request: UpstreamRequest
    private let timeouts: UpstreamTimeouts
    private let call: Call
    private let attemptIndex: Int
    private weak var sink: (any ResponseSink)?
    private var connection: UpstreamConnection?
    private var lease: PoolLease?
    private var timer: Scheduled<Void>?
    private var headDeadline = NIODeadline.uptimeNanoseconds(0)
    private var lastActivityNanos: UInt64 = 0
    private var state: State = .idle
    private let freshConnection: Bool
    private var responseKeepAlive = true
    private var demand = true

    private enum State {
        case idle
        case waitingForConnection
        case awaitingHead
        case receivingBody
        case done
    }

    init(pool: UpstreamPool, key: UpstreamPool.Key, request: UpstreamRequest, timeouts: UpstreamTimeouts, call: Call, attemptIndex: Int, freshConnection: Bool = false) {
        self.freshConnection = freshConnection
        self.pool = pool
        self.key = key
        self.request = request
        self.timeouts = timeouts
        self.call = call
        self.attemptIndex = attemptIndex
    }

    func start(sink: any ResponseSink) {
        guard case .idle = state else { return }
        self.sink = sink
        state = .waitingForConnection
        let now = NIODeadline.now()
        headDeadline = now + timeouts.head
        if let callDeadline = call.deadlineNanos { headDeadline = min(headDeadline, .uptimeNanoseconds(callDeadline)) }
        // One timer for the whole exchange, at the earlier of the head deadline and the
        // idle timeout; when it fires early it re-arms for what is left (most calls end
        // before it ever fires, so a call costs one schedule and one cancel).
        armTimer(in: min(headDeadline - now, timeouts.idle))
        requestConnection(fresh: freshConnection, deadline: min(now + timeouts.connect, headDeadline))
    }

    private func requestConnection(fresh: Bool, deadline: NIODeadline) {
        lease = pool.lease(key, fresh: fresh, deadline: deadline, cap: key.cap) { [weak self] result in
            guard let self else {
                if case .success(let connection) = result { connection.close() }
                return
            }
            self.lease = nil
            guard case .waitingForConnection = self.state else {
                if case .success(let connection) = result { self.pool.release(connection, reusable: true) }
                return
            }
            switch result {
            case .success(let connection):
                self.send(on: connection)
            case .failure(UpstreamPoolError.waitTimedOut):
                self.fail(ResponseFailure(kind: .connect, detail: "no connection to \(self.key.endpoint) within \(self.timeouts.connect.nanoseconds / 1_000_000) ms"))
            case .failure(UpstreamPoolError.waitQueueFull):
                var failure = ResponseFailure(kind: .connect, detail: "too many calls are waiting for a connection to \(self.key.endpoint)")
                failure.code = .overloaded
                self.fail(failure)
            case .failure(let error):
                self.fail(ResponseFailure(kind: .connect, detail: "\(self.key.endpoint): \(error)"))
            }
        }
    }

    private func send(on connection: UpstreamConnection) {
        self.connection = connection
        state = .awaitingHead
        connection.attach(self)
        connection.write(request)
    }

    func setDemand(_ wanted: Bool) {
        guard wanted != demand else { return }
        demand = wanted
        if wanted {
            // The client caught up: the provider's silence is measured from now.
            lastActivityNanos = NIODeadline.now().uptimeNanoseconds
        }
        connection?.setAutoRead(wanted)
    }

    /// Abandons the exchange (the client went away): a connection still waited for is
    /// parked when it comes; one carrying the request is closed (which also tells the
    /// provider to stop generating).
    func cancel() {
        guard !isDone else { return }
        state = .done
        sink = nil
        stopTimers()
        lease?.cancel()
        lease = nil
        if let connection {
            connection.detach()
            connection.close()
            pool.forget(connection)
        }
        connection = nil
    }

    private var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    private var isResponseStarted: Bool {
        if case .receivingBody = state { return true }
        return false
    }

    // MARK: Events from the connection

    /// The request's last byte was handed to the socket. Nothing to do: whether it was
    /// written comes with the loss report (``UpstreamConnectionLoss/requestUnprocessed``).
    func connectionDidWriteRequest() {}

    func connectionDidReceive(_ part: HTTPClientResponsePart) {
        switch (state, part) {
        case (.awaitingHead, .head(let head)):
            if head.status.code < 200 { return } // 1xx: wait for the final head
            responseKeepAlive = head.isKeepAlive
            state = .receivingBody
            lastActivityNanos = NIODeadline.now().uptimeNanoseconds
            call.attempts[attemptIndex].status = Int(head.status.code)
            // From here the provider's silence is measured between body bytes, for event
            // streams and JSON bodies alike (the running timer checks it when it fires).
            // Hop-by-hop and framing headers stay here; so does anything posing as Sluice's own.
            sink?.sourceDidEmitHead(HTTPResponseHead(version: head.version, status: head.status, headers: HeaderPolicy.relayedResponseHeaders(head.headers)))
        case (.receivingBody, .body(let buffer)):
            lastActivityNanos = NIODeadline.now().uptimeNanoseconds
            sink?.sourceDidEmitBody(buffer)
        case (.receivingBody, .end):
            state = .done
            stopTimers()
            if let connection {
                connection.detach()
                pool.release(connection, reusable: responseKeepAlive)
            }
            connection = nil
            sink?.sourceDidEnd()
        case (.done, _):
            break
        default:
            fail(ResponseFailure(kind: .protocolError, detail: "unexpected response part"))
        }
    }

    func connectionDidClose(_ loss: UpstreamConnectionLoss) {
        guard !isDone else { return }
        if let connection {
            connection.detach()
            connection.close()
            pool.forget(connection)
        }
        connection = nil
        if case .awaitingHead = state, loss.wasReused, loss.requestUnprocessed {
            // A stale keep-alive connection: the provider cannot have seen the request.
            // Sending it again is the attempt loop's decision (it counts as an attempt).
            fail(ResponseFailure(kind: .closed, detail: "a pooled connection to \(key.endpoint) was stale: \(loss.detail)", requestUnprocessed: true))
            return
        }
        fail(ResponseFailure(kind: loss.responseStarted && !isResponseStarted ? .protocolError : .closed, detail: loss.detail))
    }

    private func armTimer(in delay: TimeAmount) {
        timer = pool.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            self?.timerFired()
        }
    }

    /// Fails the exchange when its head is late, or when its body has stalled for the idle
    /// timeout while the client was reading; otherwise re-arms for the time left. Body
    /// parts only stamp the time, so a long stream costs no timer work per event.
    private func timerFired() {
        timer = nil
        let now = NIODeadline.now()
        switch state {
        case .idle, .done:
            return
        case .waitingForConnection, .awaitingHead:
            if now >= headDeadline {
                fail(ResponseFailure(kind: .timeout, detail: "no response head from \(key.endpoint) within \(timeouts.head.nanoseconds / 1_000_000) ms"))
            } else {
                armTimer(in: min(headDeadline - now, timeouts.idle))
            }
        case .receivingBody:
            guard demand else {
                // Paused by the client: not the provider's silence.
                armTimer(in: timeouts.idle)
                return
            }
            let limit = UInt64(timeouts.idle.nanoseconds)
            let idle = now.uptimeNanoseconds &- lastActivityNanos
            if idle >= limit {
                fail(ResponseFailure(kind: .timeout, detail: "\(key.endpoint) sent nothing for \(limit / 1_000_000) ms"))
            } else {
                armTimer(in: .nanoseconds(Int64(limit - idle)))
            }
        }
    }

    private func stopTimers() {
        timer?.cancel()
        timer = nil
    }

    private func fail(_ failure: ResponseFailure) {
        guard !isDone else { return }
        let started = isResponseStarted
        state = .done
        stopTimers()
        lease?.cancel()
        lease = nil
        if let connection {
            connection.detach()
            connection.close()
            pool.forget(connection)
        }
        connection = nil
        var failure = failure
        if started, failure.kind != .timeout { failure.kind = .brokenStream }
        call.attempts[attemptIndex].failure = failure.kind
        sink?.sourceDidFail(failure)
    }
}

/// Where a call's answer comes from when no stage produced another.
public protocol CallTerminal: Sendable {
    /// A source for the call's current target.
    func source(for call: Call) -> any ResponseSource
}

/// The terminal step of the pipeline: an upstream attempt to the call's `target`, recorded
/// on the call, over the loop's pool.
public struct UpstreamCall: CallTerminal {
    public var timeouts: UpstreamTimeouts

    public init(timeouts: UpstreamTimeouts = UpstreamTimeouts()) {
        self.timeouts = timeouts
    }

    public func source(for call: Call) -> any ResponseSource {
        guard let target = call.target, let pool = call.upstreamPool else {
            return LocalReplySource(.error(.internalError, "no upstream target was chosen", family: call.family))
        }
        let translated = target.provider.family != call.family
        let request: UpstreamRequest
        if translated {
            do {
                request = try UpstreamRequest.translated(for: call, target: target)
            } catch {
                return LocalReplySource(LocalReply(status: error.status, body: String(decoding: error.body(for: call.family), as: UTF8.self), errorCode: .invalidRequest))
            }
        } else {
            request = UpstreamRequest(for: call, target: target)
        }
        call.attempts.append(Attempt(target: target, startNanos: NIODeadline.now().uptimeNanoseconds, hideInjectedUsage: request.hideInjectedUsage, translated: translated))
        var effective = timeouts.overridden(by: target.provider.timeouts)
        if let route = call.route { effective = effective.overridden(by: route.timeouts) }
        let exchange = UpstreamExchange(
            pool: pool, key: UpstreamPool.Key(endpoint: target.provider.endpoint, tls: target.provider.tlsContext, cap: target.provider.maxConnections),
            request: request, timeouts: effective, call: call, attemptIndex: call.attempts.count - 1,
            freshConnection: call.wantsFreshConnection
        )
        return translated ? TranslatingSource(inner: exchange, upstream: target.provider.family, client: call.family) : exchange
    }
}
