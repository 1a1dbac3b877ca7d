import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Keep-alive HTTP/1.1 connections to providers, one pool per event loop.
///
/// Connections are opened on the pool's own loop, so a call, its client connection and its
/// upstream connection share a thread: no locks, no hops. Idle connections are reused most
/// recent first, evicted after `idleTimeout`, and capped per endpoint; calls beyond the cap
/// wait in order for a connection to come back.
final class UpstreamPool {
    /// Settings for connecting and pooling.
    struct Configuration: Sendable {
        var connectTimeout: TimeAmount = .seconds(10)
        var idleTimeout: TimeAmount = .seconds(50)
        var maxConnectionsPerEndpoint = 1024
    }

    /// Pool key: where to connect and with which TLS context.
    struct Key: Hashable {
        var endpoint: UpstreamEndpoint
        var tls: NIOSSLContext?

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.endpoint == rhs.endpoint && lhs.tls === rhs.tls
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(endpoint)
            if let tls { hasher.combine(ObjectIdentifier(tls)) }
        }
    }

    typealias LeaseCallback = (Result<UpstreamConnection, any Error>) -> Void

    let eventLoop: any EventLoop
    private let configuration: Configuration
    private var idle: [Key: [UpstreamConnection]] = [:]
    private var openCount: [Key: Int] = [:]
    private var waiters: [Key: [LeaseCallback]] = [:]
    private var sweeper: Scheduled<Void>?
    private var isShutDown = false

    init(eventLoop: any EventLoop, configuration: Configuration = Configuration()) {
        self.eventLoop = eventLoop
        self.configuration = configuration
    }

    /// Starts the idle sweeper; call on the loop.
    func start() {
        let interval = TimeAmount.nanoseconds(max(configuration.idleTimeout.nanoseconds / 5, 1_000_000_000))
        sweeper = eventLoop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, !self.isShutDown else { return }
            self.evictIdle()
            self.start()
        }
    }

    /// Closes every idle connection and stops the sweeper; call on the loop.
    func shutdown() {
        isShutDown = true
        sweeper?.cancel()
        for (_, connections) in idle {
            for connection in connections { connection.close() }
        }
        idle.removeAll()
    }

    /// Number of idle connections to all endpoints (for tests and metrics).
    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }

    /// Hands over an idle connection, a new one, or queues the caller until one is free.
    /// `fresh` skips idle connections.
    @discardableResult
    func lease(_ key: Key, fresh: Bool, deadline: NIODeadline, _ callback: @escaping LeaseCallback) -> PoolLease {
        let ticket = PoolLease()
        if !fresh, let connection = popIdle(key) {
            callback(.success(connection))
            return ticket
        }
        if openCount[key, default: 0] < configuration.maxConnectionsPerEndpoint {
            connect(key, callback)
        } else {
            waiters[key, default: []].append(callback)
        }
        return ticket
    }

    /// Takes a connection back after a response ended.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        guard reusable, connection.isActive, !isShutDown else {
            connection.close()
            forget(connection)
            return
        }
        if var queue = waiters[connection.key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[connection.key] = queue
            next(.success(connection))
            return
        }
        connection.parkedAtNanos = NIODeadline.now().uptimeNanoseconds
        idle[connection.key, default: []].append(connection)
    }

    /// Drops a closed connection from the books and lets a waiter open a new one.
    func forget(_ connection: UpstreamConnection) {
        guard connection.onClose != nil else { return }
        connection.onClose = nil
        let key = connection.key
        openCount[key, default: 1] -= 1
        if var list = idle[key], let index = list.firstIndex(where: { $0 === connection }) {
            list.remove(at: index)
            idle[key] = list
        }
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue
            connect(key, next)
        }
    }

    private func popIdle(_ key: Key) -> UpstreamConnection? {
        guard var list = idle[key] else { return nil }
        while let connection = list.popLast() {
            if connection.isActive {
                idle[key] = list
                return connection
            }
            forget(connection)
        }
        idle[key] = list
        return nil
    }

    private func connect(_ key: Key, _ callback: @escaping LeaseCallback) {
        openCount[key, default: 0] += 1
        let endpoint = key.endpoint
        let tls = key.tls
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let sni = endpoint.host.isIPAddress ? nil : endpoint.host
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
                    }
                    try sync.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try sync.addHandler(UpstreamConnectionHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        // IP literals skip the resolver, which would run getaddrinfo on another thread.
        let connecting: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            connecting = bootstrap.connect(to: address)
        } else {
            connecting = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        }
        connecting.assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let channel):
                let connection = UpstreamConnection(channel: channel, key: key)
                guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self) else {
                    channel.close(promise: nil)
                    self.openCount[key, default: 1] -= 1
                    callback(.failure(ChannelError.ioOnClosedChannel))
                    return
                }
                handler.bind(connection)
                connection.onClose = { [weak self] closed in self?.forget(closed) }
                if !channel.isActive { connection.didBecomeInactive() }
                callback(.success(connection))
            case .failure(let error):
                self.openCount[key, default: 1] -= 1
                callback(.failure(error))
            }
        }
    }

    private func evictIdle() {
        let now = NIODeadline.now().uptimeNanoseconds
        let limit = UInt64(configuration.idleTimeout.nanoseconds)
        for (key, list) in idle {
            let (stale, fresh) = list.reduce(into: ([UpstreamConnection](), [UpstreamConnection]())) { parts, connection in
                if now - connection.parkedAtNanos > limit || !connection.isActive { parts.0.append(connection) } else { parts.1.append(connection) }
            }
            guard !stale.isEmpty else { continue }
            idle[key] = fresh
            for connection in stale {
                connection.close()
                forget(connection)
            }
        }
    }
}

/// A ticket for one lease request.
final class PoolLease {
    private(set) var isCancelled = false
    /// Withdraws the request.
    func cancel() { isCancelled = true }
}

extension String {
    /// Whether the string is an IPv4 or IPv6 literal (no SNI is sent for those).
    var isIPAddress: Bool {
        if contains(":") { return true }
        let parts = split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}
