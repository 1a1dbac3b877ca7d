import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// Keep-alive HTTP/1.1 connections to providers, one pool per event loop.
///
/// Connections are opened on the pool's own loop, so a call, its client connection and its
/// upstream connection share a thread: no locks, no hops. The bookkeeping (LIFO reuse, idle
/// eviction, per-endpoint caps, the bounded waiter queue, deadlines, cancellation) lives in
/// ``UpstreamPoolStateMachine``; this class performs its actions: connects, closes, one
/// timer, and the lease callbacks. Everything here runs on `eventLoop`.
final class UpstreamPool {
    /// Settings for connecting and pooling.
    struct Configuration: Sendable {
        var connectTimeout: TimeAmount = .seconds(10)
        var idleTimeout: TimeAmount = .seconds(50)
        var maxConnectionsPerEndpoint = 1024
        /// Leases that may wait for a connection per endpoint; beyond it a lease fails at
        /// once with ``UpstreamPoolError/waitQueueFull``.
        var maxWaitersPerEndpoint = 1024
        /// Event loops sharing a provider's `max_connections` (each pool gets its share).
        var loopCount = 1
    }

    /// Pool key: where to connect and with which TLS context.
    struct Key: Hashable, Sendable {
        var endpoint: UpstreamEndpoint
        var tls: NIOSSLContext?
        /// The provider's connection cap across all loops (not part of the key's identity).
        var cap: Int?

        init(endpoint: UpstreamEndpoint, tls: NIOSSLContext?, cap: Int? = nil) {
            self.endpoint = endpoint
            self.tls = tls
            self.cap = cap
        }

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.endpoint == rhs.endpoint && lhs.tls === rhs.tls
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(endpoint)
            if let tls { hasher.combine(ObjectIdentifier(tls)) }
        }
    }

    /// Called once per lease, on the loop, unless the lease was cancelled first. Errors are
    /// ``UpstreamPoolError`` or the connect's own error.
    typealias LeaseCallback = (Result<UpstreamConnection, any Error>) -> Void
    typealias StateMachine = UpstreamPoolStateMachine<Key, UpstreamConnection, PoolLease>

    let eventLoop: any EventLoop
    private let configuration: Configuration
    private let metrics: UpstreamPoolMetrics?
    private var state: StateMachine
    private var timer: Scheduled<Void>?

    init(eventLoop: any EventLoop, configuration: Configuration = Configuration(), metrics: UpstreamPoolMetrics? = nil) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.metrics = metrics
        self.state = StateMachine(configuration: .init(
            maxConnectionsPerEndpoint: configuration.maxConnectionsPerEndpoint,
            maxWaitersPerEndpoint: configuration.maxWaitersPerEndpoint,
            idleTimeout: configuration.idleTimeout
        ))
    }

    /// Fails every waiting lease with ``UpstreamPoolError/shutDown``, closes idle
    /// connections and stops the timer; connections in use close when released.
    func shutdown() {
        timer?.cancel()
        timer = nil
        perform(state.shutdown())
    }

    // MARK: Counts (tests and metrics)

    /// Idle connections to all endpoints.
    var idleCount: Int { state.idleCount }
    /// Established connections (idle or in use) to all endpoints.
    var openCount: Int { state.connectionCount }
    /// Connections this pool opened since it started.
    var connectionsOpened: Int { state.connectionsOpened }
    /// Connect attempts this pool started since it started (successful or not).
    var connectsStarted: Int { state.connectsStarted }
    /// Leases waiting for a connection (queued or on a connect).
    var pendingLeaseCount: Int { state.pendingLeaseCount }

    // MARK: Leasing

    /// Hands over an idle connection (most recent first), opens a new one, or queues the
    /// caller until one is free; `fresh` skips idle connections. The callback runs exactly
    /// once, possibly before this returns, unless the lease is cancelled first; a lease
    /// still waiting at `deadline` fails with ``UpstreamPoolError/waitTimedOut``.
    @discardableResult
    func lease(_ key: Key, fresh: Bool, deadline: NIODeadline, cap: Int? = nil, _ callback: @escaping LeaseCallback) -> PoolLease {
        let lease = PoolLease(pool: self, key: key, callback: callback)
        // A provider's cap is shared out between the loops' pools, rounding up.
        let share = cap.map { ($0 + configuration.loopCount - 1) / max(1, configuration.loopCount) }
        perform(state.leaseRequested(lease, key: key, fresh: fresh, deadline: deadline, now: .now(), cap: share))
        return lease
    }

    /// Takes a connection back after its response ended. It is parked (or handed to the
    /// next waiter) when `reusable` and still open, with reads switched back on (a paused
    /// exchange must not leave an idle connection deaf); otherwise it is closed.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        connection.detach()
        let keep = reusable && connection.isActive
        if keep { connection.setAutoRead(true) }
        perform(state.released(connection, reusable: keep, now: .now()))
    }

    /// Drops a closed connection from the books; a waiter may get a connect in its slot.
    /// Harmless for a connection already forgotten.
    func forget(_ connection: UpstreamConnection) {
        perform(state.closed(connection))
    }

    fileprivate func cancel(_ lease: PoolLease) {
        state.cancelled(lease, key: lease.key)
    }

    // MARK: Performing actions

    private func perform(_ action: StateMachine.Action, connectError: (any Error)? = nil) {
        if let deadline = action.scheduleTimer { scheduleTimer(at: deadline) }
        switch action.connection {
        case .none:
            break
        case .connect(let key, let id):
            connect(key, id)
        case .close(let connection):
            connection.close()
        case .closeAndConnect(let connection, let key, let id):
            connection.close()
            connect(key, id)
        case .closeMany(let connections):
            for connection in connections { connection.close() }
        }
        switch action.lease {
        case .none:
            break
        case .handOver(let lease, let connection):
            lease.complete(.success(connection))
        case .fail(let lease, let failure):
            lease.complete(.failure(error(for: failure, connectError: connectError)))
        case .failMany(let leases, let failure):
            let reason = error(for: failure, connectError: connectError)
            for lease in leases { lease.complete(.failure(reason)) }
        }
    }

    private func error(for failure: StateMachine.Failure, connectError: (any Error)?) -> any Error {
        switch failure {
        case .waitQueueFull: return UpstreamPoolError.waitQueueFull
        case .waitTimedOut: return UpstreamPoolError.waitTimedOut
        case .shutDown: return UpstreamPoolError.shutDown
        case .connectFailed: return connectError ?? ChannelError.ioOnClosedChannel
        }
    }

    private func scheduleTimer(at deadline: NIODeadline) {
        timer?.cancel()
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.perform(self.state.timerFired(now: .now()))
        }
    }

    private func connect(_ key: Key, _ id: StateMachine.ConnectID) {
        let endpoint = key.endpoint
        let tls = key.tls
        // With TLS a connection is ready (and a failure is a connect failure, the
        // operator's side: CA, proxy, egress policy) only once the handshake is done.
        let handshake: EventLoopPromise<Void>? = tls == nil ? nil : eventLoop.makePromise()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let sni = endpoint.host.isIPAddress ? nil : endpoint.host
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
                        if let handshake { try sync.addHandler(TLSHandshakeWatcher(promise: handshake)) }
                    }
                    try sync.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try sync.addHandler(UpstreamConnectionHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        // IP literals skip the resolver, which would run getaddrinfo on another thread.
        var connecting: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            connecting = bootstrap.connect(to: address)
        } else {
            connecting = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        }
        if let handshake {
            connecting.whenFailure { handshake.fail($0) }
            connecting = connecting.flatMap { channel in
                handshake.futureResult.map { channel }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
        }
        connecting.assumeIsolated().whenComplete { [weak self] result in
            guard let self else {
                if case .success(let channel) = result { channel.close(promise: nil) }
                return
            }
            switch result {
            case .success(let channel):
                guard channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self) else {
                    channel.close(promise: nil)
                    self.perform(self.state.connectFailed(id), connectError: ChannelError.ioOnClosedChannel)
                    return
                }
                let connection = UpstreamConnection(channel: channel, key: key)
                handler.bind(connection)
                self.metrics?.connectionOpened()
                connection.onClose = { [weak self] closed in
                    self?.metrics?.connectionClosed()
                    self?.forget(closed)
                }
                self.perform(self.state.connectSucceeded(id, connection, now: .now()))
            case .failure(let error):
                self.perform(self.state.connectFailed(id), connectError: error)
            }
        }
    }
}

/// Why the pool could not hand over a connection (connect errors pass through as they are).
enum UpstreamPoolError: Error, Equatable, CustomStringConvertible {
    /// The endpoint's wait queue is at `maxWaitersPerEndpoint`.
    case waitQueueFull
    /// No connection came free before the lease's deadline.
    case waitTimedOut
    /// The pool shut down while the lease waited.
    case shutDown

    var description: String {
        switch self {
        case .waitQueueFull: "too many calls waiting for a connection"
        case .waitTimedOut: "no connection came free in time"
        case .shutDown: "upstream pool shut down"
        }
    }
}

/// A ticket for one lease request; `cancel()` withdraws a queued waiter, or, if a connection
/// is being opened for it, parks that connection when it arrives instead of handing it over.
/// After `cancel()` the callback never runs; cancelling a lease already served does nothing.
final class PoolLease: Hashable {
    fileprivate let key: UpstreamPool.Key
    private weak var pool: UpstreamPool?
    private var callback: UpstreamPool.LeaseCallback?

    fileprivate init(pool: UpstreamPool, key: UpstreamPool.Key, callback: @escaping UpstreamPool.LeaseCallback) {
        self.pool = pool
        self.key = key
        self.callback = callback
    }

    /// Whether the callback has neither run nor been cancelled.
    var isPending: Bool { callback != nil }

    /// Withdraws the request; call on the pool's loop.
    func cancel() {
        guard callback != nil else { return }
        callback = nil
        pool?.cancel(self)
    }

    fileprivate func complete(_ result: Result<UpstreamConnection, any Error>) {
        guard let callback else {
            // Cannot happen (the pool forgets cancelled leases); never strand a connection.
            if case .success(let connection) = result { pool?.release(connection, reusable: true) }
            pool = nil
            return
        }
        self.callback = nil
        pool = nil
        callback(result)
    }

    static func == (lhs: PoolLease, rhs: PoolLease) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

extension String {
    /// Whether the string is an IPv4 or IPv6 literal (no SNI is sent for those).
    var isIPAddress: Bool {
        if contains(":") { return true }
        let parts = split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// Completes its promise when the TLS handshake of a new upstream connection is done, or
/// fails it with the handshake's error (untrusted certificate, wrong name, no TLS there).
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private var promise: EventLoopPromise<Void>?

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            promise?.succeed()
            promise = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
        context.fireChannelInactive()
    }
}
