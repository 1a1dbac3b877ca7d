import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import SluiceSidecar

/// The pool shell over real loopback sockets: reads restored on release, waiter deadlines,
/// connect failures with waiters queued, cancellation, shutdown and the opened counter.
@Suite struct UpstreamPoolTests {
    static let okResponse = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    @Test func aConnectionReleasedWithReadsPausedServesTheNextCallAtOnce() async throws {
        try await withPool(reply: { _ in .respond(Self.okResponse) }) { t in
            let outcome: String = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let connection) = result else { return promise.fail(Unexpected("first lease: \(result)")) }
                    let first = Recorder()
                    first.onPart = { part in
                        guard case .end = part else { return }
                        // A slow client paused reads; the response's end was already read.
                        connection.setAutoRead(false)
                        connection.detach()
                        pool.release(connection, reusable: true)
                        pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                            guard case .success(let again) = result else { return promise.fail(Unexpected("second lease: \(result)")) }
                            let second = Recorder()
                            second.onPart = { part in
                                if case .end = part { promise.succeed("second call served, reused: \(again === connection)") }
                                _ = second
                            }
                            again.attach(second)
                            again.write(Self.request())
                            _ = first // keep the first recorder alive until now
                        }
                    }
                    connection.attach(first)
                    connection.write(Self.request())
                }
            }
            #expect(outcome == "second call served, reused: true")
            #expect(t.server.connections == 1)
            #expect(t.server.requests == 2)
        }
    }

    @Test func aWaiterFailsAtItsDeadline() async throws {
        try await withPool(maxConnections: 1, reply: { _ in .silent }) { t in
            let outcome: String = try await t.onLoop(within: .seconds(10)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(10)) { result in
                    guard case .success(let held) = result else { return promise.fail(Unexpected("first lease: \(result)")) }
                    let start = NIODeadline.now()
                    pool.lease(key, fresh: false, deadline: start + .milliseconds(300)) { result in
                        let waited = (NIODeadline.now() - start).nanoseconds / 1_000_000
                        promise.succeed("\(result.failure.map { "\($0)" } ?? "served"), waited at least 300 ms: \(waited >= 300)")
                        _ = held
                    }
                }
            }
            #expect(outcome == "\(UpstreamPoolError.waitTimedOut), waited at least 300 ms: true")
            #expect(try await t.read { $0.pendingLeaseCount } == 0)
        }
    }

    @Test func aFailedConnectFailsItsWaiterAndTheNextWaiterGetsItsOwnAttempt() async throws {
        let port = try await closedPort()
        try await withPool(maxConnections: 1, port: port) { t in
            let outcome: [String] = try await t.onLoop(within: .seconds(8)) { pool, key, promise in
                var outcomes: [String] = []
                for _ in 0..<2 {
                    pool.lease(key, fresh: false, deadline: .now() + .seconds(8)) { result in
                        switch result {
                        case .success: outcomes.append("served")
                        case .failure(let error as UpstreamPoolError): outcomes.append("pool: \(error)")
                        case .failure: outcomes.append("connect error")
                        }
                        if outcomes.count == 2 { promise.succeed(outcomes) }
                    }
                }
            }
            #expect(outcome == ["connect error", "connect error"])
            #expect(try await t.read { $0.connectsStarted } == 2)
        }
    }

    @Test func beyondTheWaitQueueALeaseFailsAtOnce() async throws {
        try await withPool(maxConnections: 1, maxWaiters: 1, reply: { _ in .silent }) { t in
            let outcome: String = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let held) = result else { return promise.fail(Unexpected("first lease: \(result)")) }
                    let waiting = pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { _ in promise.fail(Unexpected("the waiter was answered")) }
                    pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                        promise.succeed("\(result.failure.map { "\($0)" } ?? "served"), waiter still pending: \(waiting.isPending)")
                        waiting.cancel()
                        _ = held
                    }
                }
            }
            #expect(outcome == "\(UpstreamPoolError.waitQueueFull), waiter still pending: true")
        }
    }

    @Test func shutdownFailsTheWaiters() async throws {
        try await withPool(maxConnections: 1, reply: { _ in .silent }) { t in
            let outcome: String = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let held) = result else { return promise.fail(Unexpected("first lease: \(result)")) }
                    pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                        promise.succeed(result.failure.map { "\($0)" } ?? "served")
                        _ = held
                    }
                    pool.shutdown()
                }
            }
            #expect(outcome == "\(UpstreamPoolError.shutDown)")
        }
    }

    @Test func aCancelledLeaseParksTheConnectionOpenedForIt() async throws {
        try await withPool(reply: { _ in .respond(Self.okResponse) }) { t in
            let pending: Bool = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                let lease = pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { _ in
                    promise.fail(Unexpected("a cancelled lease was answered"))
                }
                lease.cancel()
                promise.succeed(lease.isPending)
            }
            #expect(!pending)
            // The connect lands later and parks; poll to a deadline.
            let deadline = NIODeadline.now() + .seconds(5)
            var idle = 0
            while NIODeadline.now() < deadline {
                idle = try await t.read { $0.idleCount }
                if idle == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(idle == 1)
            #expect(t.server.connections == 1)
        }
    }

    @Test func sequentialCallsOpenOneConnection() async throws {
        try await withPool(reply: { _ in .respond(Self.okResponse) }) { t in
            let served: Int = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                var served = 0
                func next() {
                    pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                        guard case .success(let connection) = result else { return promise.fail(Unexpected("lease: \(result)")) }
                        let recorder = Recorder()
                        recorder.onPart = { part in
                            guard case .end = part else { return }
                            connection.detach()
                            pool.release(connection, reusable: true)
                            served += 1
                            _ = recorder
                            if served == 3 { promise.succeed(served) } else { next() }
                        }
                        connection.attach(recorder)
                        connection.write(Self.request())
                    }
                }
                next()
            }
            #expect(served == 3)
            let counts = try await t.read { [$0.connectionsOpened, $0.openCount, $0.idleCount] }
            #expect(counts == [1, 1, 1])
            #expect(t.server.connections == 1)
        }
    }

    @Test func anIdleConnectionTheProviderClosesLeavesThePool() async throws {
        // Keep-alive response, then the provider closes the idle socket (its idle timeout).
        try await withPool(reply: { _ in .sendThenClose(Self.okResponse) }) { t in
            let served: Bool = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let connection) = result else { return promise.fail(Unexpected("lease: \(result)")) }
                    let recorder = Recorder()
                    recorder.onPart = { part in
                        guard case .end = part else { return }
                        connection.detach()
                        pool.release(connection, reusable: true)
                        promise.succeed(true)
                        _ = recorder
                    }
                    connection.attach(recorder)
                    connection.write(Self.request())
                }
            }
            #expect(served)
            // The parked connection reads, sees the close and is dropped; poll to a deadline.
            let deadline = NIODeadline.now() + .seconds(5)
            var counts = [-1, -1]
            while NIODeadline.now() < deadline {
                counts = try await t.read { [$0.openCount, $0.idleCount] }
                if counts == [0, 0] { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(counts == [0, 0])
        }
    }

    @Test func aRequestWrittenAndThenMetWithACloseIsReportedAsWritten() async throws {
        try await withPool(reply: { _ in .close }) { t in
            let loss: String = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let connection) = result else { return promise.fail(Unexpected("lease: \(result)")) }
                    let recorder = Recorder()
                    recorder.onLoss = { loss in
                        promise.succeed("write: \(loss.requestWrite), response: \(loss.responseStarted), reused: \(loss.wasReused), writes seen: \(recorder.writes)")
                    }
                    connection.attach(recorder)
                    connection.write(Self.request())
                }
            }
            #expect(loss == "write: written, response: false, reused: false, writes seen: 1")
        }
    }

    @Test func openedConnectionsAreCountedInTheMetrics() async throws {
        let metrics = SidecarMetrics()
        try await withPool(metrics: metrics.upstreamPoolMetrics(), reply: { _ in .respond(Self.okResponse) }) { t in
            let done: Bool = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                var leased = 0
                for _ in 0..<2 {
                    pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                        guard case .success = result else { return promise.fail(Unexpected("lease: \(result)")) }
                        leased += 1
                        if leased == 2 { promise.succeed(true) }
                    }
                }
            }
            #expect(done)
            let scrape = metrics.exposition(now: 0)
            #expect(scrape.contains("sluice_upstream_connections_opened_total 2"))
            #expect(scrape.contains("sluice_upstream_connections_open 2"))
            #expect(try await t.read { $0.connectionsOpened } == 2)
        }
    }

    // MARK: Helpers

    static func request() -> UpstreamRequest {
        UpstreamRequest(
            head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/models", headers: ["host": "127.0.0.1", "content-length": "0"]),
            body: ByteBuffer()
        )
    }
}

/// A test failure with a message.
struct Unexpected: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Records what a connection tells its holder.
final class Recorder: UpstreamConnectionDelegate {
    var onPart: (HTTPClientResponsePart) -> Void = { _ in }
    var parts: [HTTPClientResponsePart] = []
    var writes = 0
    var losses: [UpstreamConnectionLoss] = []
    var onLoss: (UpstreamConnectionLoss) -> Void = { _ in }

    func connectionDidReceive(_ part: HTTPClientResponsePart) {
        parts.append(part)
        onPart(part)
    }

    func connectionDidWriteRequest() { writes += 1 }

    func connectionDidClose(_ loss: UpstreamConnectionLoss) {
        losses.append(loss)
        onLoss(loss)
    }
}

/// A pool on a one-thread loop, the key it is tested with, and a scripted server.
struct PoolUnderTest: Sendable {
    let pool: NIOLoopBound<UpstreamPool>
    let key: UpstreamPool.Key
    let server: ScriptedServer

    /// Runs `body` on the pool's loop with the pool, the key and a promise; fails when the
    /// promise is not completed within `within`.
    func onLoop<T: Sendable>(
        within: TimeAmount,
        _ body: @escaping @Sendable (UpstreamPool, UpstreamPool.Key, EventLoopPromise<T>) -> Void
    ) async throws -> T {
        let loop = pool.eventLoop
        let (pool, key) = (self.pool, self.key)
        return try await loop.flatSubmit {
            let promise = loop.makePromise(of: T.self)
            loop.scheduleTask(in: within) { promise.fail(Unexpected("not done within \(within)")) }
            body(pool.value, key, promise)
            return promise.futureResult
        }.get()
    }

    /// Reads something from the pool on its loop.
    func read<T: Sendable>(_ body: @escaping @Sendable (UpstreamPool) -> T) async throws -> T {
        let pool = self.pool
        return try await pool.eventLoop.submit { body(pool.value) }.get()
    }
}

/// Runs `body` with a pool on its own one-thread loop, pointed at a scripted server (or at
/// `port`), and shuts both down after.
func withPool(
    maxConnections: Int = 8, maxWaiters: Int = 8, port: Int? = nil, metrics: UpstreamPoolMetrics? = nil,
    reply: @escaping @Sendable (Int) -> ScriptedServer.Reply = { _ in .silent },
    _ body: (PoolUnderTest) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    do {
        let server = try await ScriptedServer.start(group: group, reply)
        let configuration = UpstreamPool.Configuration(connectTimeout: .seconds(5), idleTimeout: .seconds(60), maxConnectionsPerEndpoint: maxConnections, maxWaitersPerEndpoint: maxWaiters)
        let pool = try await loop.submit {
            NIOLoopBound(UpstreamPool(eventLoop: loop, configuration: configuration, metrics: metrics), eventLoop: loop)
        }.get()
        let key = UpstreamPool.Key(endpoint: UpstreamEndpoint(useTLS: false, host: "127.0.0.1", port: port ?? server.port), tls: nil)
        try await body(PoolUnderTest(pool: pool, key: key, server: server))
        try await loop.submit { pool.value.shutdown() }.get()
        try await server.stop()
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
func closedPort() async throws -> Int {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 0
    try await channel.close()
    try await group.shutdownGracefully()
    return port
}

/// A loopback HTTP/1.1 server that answers each request (heads ending in a blank line, no
/// bodies) as a script says, numbering requests from 1, and counts connections.
final class ScriptedServer: Sendable {
    /// What to do with one request.
    enum Reply: Sendable {
        /// Send these bytes (a whole response).
        case respond(String)
        /// Send these bytes after a pause.
        case respondAfter(String, TimeAmount)
        /// Send these bytes, then close.
        case sendThenClose(String)
        /// Close without answering.
        case close
        /// Never answer.
        case silent
    }

    private let channel: any Channel
    private let counts: NIOLockedValueBox<(connections: Int, requests: Int)>
    let port: Int

    var connections: Int { counts.withLockedValue { $0.connections } }
    var requests: Int { counts.withLockedValue { $0.requests } }

    private init(channel: any Channel, counts: NIOLockedValueBox<(connections: Int, requests: Int)>) {
        self.channel = channel
        self.counts = counts
        self.port = channel.localAddress?.port ?? 0
    }

    static func start(group: any EventLoopGroup, _ reply: @escaping @Sendable (Int) -> Reply) async throws -> ScriptedServer {
        let counts = NIOLockedValueBox((connections: 0, requests: 0))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counts.withLockedValue { $0.connections += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(counts: counts, reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedServer(channel: channel, counts: counts)
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// One server-side connection of ``ScriptedServer``.
private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counts: NIOLockedValueBox<(connections: Int, requests: Int)>
    private let reply: @Sendable (Int) -> ScriptedServer.Reply
    private var pending = ""

    init(counts: NIOLockedValueBox<(connections: Int, requests: Int)>, reply: @escaping @Sendable (Int) -> ScriptedServer.Reply) {
        self.counts = counts
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let end = pending.range(of: "\r\n\r\n") {
            pending = String(pending[end.upperBound...])
            let number = counts.withLockedValue { counts -> Int in
                counts.requests += 1
                return counts.requests
            }
            switch reply(number) {
            case .respond(let text):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            case .respondAfter(let text, let pause):
                let context = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.value.eventLoop.scheduleTask(in: pause) {
                    context.value.writeAndFlush(NIOAny(ByteBuffer(string: text)), promise: nil)
                }
            case .sendThenClose(let text):
                let written = context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)))
                let context = NIOLoopBound(context, eventLoop: context.eventLoop)
                written.whenComplete { _ in context.value.close(promise: nil) }
            case .close:
                context.close(promise: nil)
            case .silent:
                break
            }
        }
    }
}
