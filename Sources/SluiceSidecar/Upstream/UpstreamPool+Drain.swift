import NIOCore
import NIOHTTP1

extension UpstreamPool {
    /// Takes back a connection whose call was abandoned mid-exchange (the client left or
    /// reset its stream) without closing it at once: the rest of the response is read and
    /// dropped, and the connection is parked if that response ends with keep-alive within
    /// `maxBytes` of body and by `deadline`; otherwise it is closed.
    ///
    /// Closing costs the next call a new connection (TCP and TLS handshakes), and a client
    /// that resets streams as fast as it opens them (HTTP/2 rapid reset) would then churn
    /// upstream connections faster than calls complete. Draining keeps the connection busy
    /// until the provider's answer is done, so connections opened stay within calls
    /// completed plus the concurrency. Streams are better closed (the provider stops
    /// generating, which saves cost): pass `maxBytes: 0` or call `release(_:reusable: false)`.
    ///
    /// - Parameters:
    ///   - responseKeepAlive: the response head's keep-alive when the head already came,
    ///     nil when it is still to come.
    func releaseAfterDraining(_ connection: UpstreamConnection, responseKeepAlive: Bool?, maxBytes: Int, deadline: NIODeadline) {
        connection.detach()
        guard connection.isActive else {
            release(connection, reusable: false)
            return
        }
        let drain = UpstreamResponseDrain(pool: self, connection: connection, keepAlive: responseKeepAlive, maxBytes: maxBytes)
        connection.attach(drain)
        connection.setAutoRead(true)
        drain.start(deadline: deadline)
    }
}

/// Reads and drops the rest of an abandoned response, then hands the connection back.
final class UpstreamResponseDrain: UpstreamConnectionDelegate {
    private weak var pool: UpstreamPool?
    private let connection: UpstreamConnection
    private var keepAlive: Bool?
    private var budget: Int
    private var timer: Scheduled<Void>?
    private var done = false

    init(pool: UpstreamPool, connection: UpstreamConnection, keepAlive: Bool?, maxBytes: Int) {
        self.pool = pool
        self.connection = connection
        self.keepAlive = keepAlive
        self.budget = maxBytes
    }

    /// Arms the deadline; the scheduled task keeps the drain alive until it ends.
    func start(deadline: NIODeadline) {
        timer = connection.channel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.finish(reusable: false)
        }
    }

    func connectionDidReceive(_ part: HTTPClientResponsePart) {
        switch part {
        case .head(let head):
            if head.status.code >= 200 { keepAlive = head.isKeepAlive }
        case .body(let buffer):
            budget -= buffer.readableBytes
            if budget < 0 { finish(reusable: false) }
        case .end:
            finish(reusable: keepAlive ?? false)
        }
    }

    func connectionDidWriteRequest() {}

    func connectionDidClose(_ loss: UpstreamConnectionLoss) {
        // The pool forgets the closed connection on its own.
        done = true
        timer?.cancel()
        timer = nil
    }

    private func finish(reusable: Bool) {
        guard !done else { return }
        done = true
        timer?.cancel()
        timer = nil
        connection.detach()
        if let pool {
            pool.release(connection, reusable: reusable)
        } else {
            connection.close()
        }
    }
}
