import NIOCore
import NIOHTTP1

/// Receives one upstream response, part by part, on the call's event loop.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamDidReceiveHead(_ head: HTTPResponseHead)
    func upstreamDidReceiveBody(_ buffer: ByteBuffer)
    func upstreamDidFinish()
    func upstreamDidFail(_ failure: UpstreamFailure)
}

/// Why an upstream call failed, and whether the response had already begun.
struct UpstreamFailure: Error, CustomStringConvertible {
    enum Kind: String {
        case connect
        case timeout
        case closed
        case protocolError = "protocol"
    }

    var kind: Kind
    var detail: String
    var responseStarted: Bool

    var description: String { "\(kind.rawValue): \(detail)" }
}

/// A request ready to write upstream.
struct UpstreamRequest {
    var head: HTTPRequestHead
    var body: ByteBuffer
}

/// One request/response exchange over a pooled upstream connection.
///
/// Owns its connection from the moment the pool hands one over until the response ends
/// (the connection goes back to the pool) or fails or is cancelled (it is closed). A
/// request that fails on a reused keep-alive connection before any response byte arrived
/// is tried once more on a fresh connection: the server closed an idle socket, which is
/// not the provider failing.
final class UpstreamExchange {
    private let pool: UpstreamPool
    private let key: UpstreamPool.Key
    private let request: UpstreamRequest
    private let headTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var idleTimer: Scheduled<Void>?
    private var lastActivityNanos: UInt64 = 0
    private weak var receiver: (any UpstreamResponseReceiver)?
    private var connection: UpstreamConnection?
    private var headTimer: Scheduled<Void>?
    private var state: State = .waitingForConnection
    private var retriedOnFreshConnection = false
    private var responseKeepAlive = true

    private enum State {
        case waitingForConnection
        case awaitingHead
        case receivingBody
        case done
    }

    init(pool: UpstreamPool, key: UpstreamPool.Key, request: UpstreamRequest, headTimeout: TimeAmount, idleTimeout: TimeAmount, receiver: any UpstreamResponseReceiver) {
        self.pool = pool
        self.key = key
        self.request = request
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        self.receiver = receiver
    }

    func start() {
        headTimer = pool.eventLoop.assumeIsolated().scheduleTask(in: headTimeout) { [weak self] in
            self?.timedOut()
        }
        lease(fresh: false)
    }

    private func lease(fresh: Bool) {
        pool.lease(key, fresh: fresh, deadline: .now() + headTimeout) { [weak self] result in
            guard let self else {
                if case .success(let connection) = result { connection.close() }
                return
            }
            guard case .waitingForConnection = self.state else {
                if case .success(let connection) = result { self.pool.release(connection, reusable: true) }
                return
            }
            switch result {
            case .success(let connection):
                self.send(on: connection)
            case .failure(let error):
                self.fail(UpstreamFailure(kind: .connect, detail: "\(self.key.endpoint): \(error)", responseStarted: false))
            }
        }
    }

    private func send(on connection: UpstreamConnection) {
        self.connection = connection
        state = .awaitingHead
        connection.attach(self)
        connection.write(request)
    }

    /// Stops reading from upstream while the client cannot keep up.
    func pauseReading() { connection?.setAutoRead(false) }

    /// Resumes reading from upstream.
    func resumeReading() { connection?.setAutoRead(true) }

    /// Abandons the exchange (the client went away): closes the connection, tells no one.
    func cancel() {
        guard !isDone else { return }
        state = .done
        headTimer?.cancel()
        idleTimer?.cancel()
        receiver = nil
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

    // MARK: Events from the connection

    func connectionDidReceive(_ part: HTTPClientResponsePart) {
        switch (state, part) {
        case (.awaitingHead, .head(let head)):
            if head.status.code < 200 { return } // 1xx: wait for the final head
            responseKeepAlive = head.isKeepAlive
            state = .receivingBody
            lastActivityNanos = NIODeadline.now().uptimeNanoseconds
            if head.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true {
                // Streams can run for minutes: watch the gaps between events.
                headTimer?.cancel()
                headTimer = nil
                armIdleTimer(in: idleTimeout)
            }
            // JSON bodies follow their head at once; the head timer, left running, then
            // acts as the idle check (one timer per call instead of two).
            receiver?.upstreamDidReceiveHead(head)
        case (.receivingBody, .body(let buffer)):
            lastActivityNanos = NIODeadline.now().uptimeNanoseconds
            receiver?.upstreamDidReceiveBody(buffer)
        case (.receivingBody, .end):
            state = .done
            idleTimer?.cancel()
            headTimer?.cancel()
            if let connection {
                connection.detach()
                pool.release(connection, reusable: responseKeepAlive)
            }
            connection = nil
            receiver?.upstreamDidFinish()
        default:
            connectionDidFail(UpstreamFailure(kind: .protocolError, detail: "unexpected response part", responseStarted: isResponseStarted))
        }
    }

    func connectionDidFail(_ failure: UpstreamFailure) {
        guard !isDone else { return }
        let wasReused = (connection?.requestsStarted ?? 0) > 1
        if let connection {
            connection.detach()
            connection.close()
            pool.forget(connection)
        }
        connection = nil
        if case .awaitingHead = state, wasReused, !retriedOnFreshConnection {
            retriedOnFreshConnection = true
            state = .waitingForConnection
            lease(fresh: true)
            return
        }
        var failure = failure
        failure.responseStarted = isResponseStarted
        fail(failure)
    }

    private var isResponseStarted: Bool {
        if case .receivingBody = state { return true }
        return false
    }

    /// One timer per exchange, re-armed only when it fires early: body parts just stamp
    /// the time, so a long stream costs no timer work per event.
    private func armIdleTimer(in delay: TimeAmount) {
        idleTimer = pool.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            self?.checkIdle()
        }
    }

    /// Fails the exchange when the body has stalled for `idleTimeout`; otherwise re-arms
    /// the idle timer for the time left.
    private func checkIdle() {
        guard case .receivingBody = state else { return }
        let idle = NIODeadline.now().uptimeNanoseconds &- lastActivityNanos
        let limit = UInt64(idleTimeout.nanoseconds)
        if idle >= limit {
            fail(UpstreamFailure(kind: .timeout, detail: "\(key.endpoint) sent nothing for \(limit / 1_000_000_000) s", responseStarted: true))
        } else {
            armIdleTimer(in: .nanoseconds(Int64(limit - idle)))
        }
    }

    private func timedOut() {
        guard !isDone else { return }
        if case .receivingBody = state {
            // The head came in time; this timer now guards against a body that stalls.
            headTimer = nil
            checkIdle()
            return
        }
        fail(UpstreamFailure(kind: .timeout, detail: "no response head from \(key.endpoint) within \(headTimeout.nanoseconds / 1_000_000) ms", responseStarted: false))
    }

    private func fail(_ failure: UpstreamFailure) {
        guard !isDone else { return }
        state = .done
        headTimer?.cancel()
        idleTimer?.cancel()
        if let connection {
            connection.detach()
            connection.close()
            pool.forget(connection)
        }
        connection = nil
        receiver?.upstreamDidFail(failure)
    }
}
