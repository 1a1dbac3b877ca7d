import NIOCore
import NIOEmbedded
import Testing
@testable import SluiceSidecar

/// The connection cap on a stand-in server channel: children are `EmbeddedChannel`s
/// passed in as accepted connections; reads that reach the socket are counted.
@Suite struct ConnectionLimiterTests {
    /// Counts `read()` calls that get past the limiter (that would read the listen socket).
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Never
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    func server(limit: Int) throws -> (EmbeddedChannel, ConnectionLimiter, ReadCounter, OpenConnections) {
        let open = OpenConnections(limit: limit)
        let limiter = ConnectionLimiter(connections: open)
        let counter = ReadCounter()
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandler(counter)
        try server.pipeline.syncOperations.addHandler(limiter)
        return (server, limiter, counter, open)
    }

    func accept(_ server: EmbeddedChannel) throws -> EmbeddedChannel {
        let child = EmbeddedChannel()
        try child.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try server.writeInbound(child as any Channel)
        return child
    }

    @Test func countsOpenConnectionsUntilTheyClose() throws {
        let (server, _, _, open) = try server(limit: 10)
        let first = try accept(server)
        let second = try accept(server)
        #expect(open.current == 2)
        try first.close().wait()
        first.embeddedEventLoop.run()
        #expect(open.current == 1)
        try second.close().wait()
        second.embeddedEventLoop.run()
        #expect(open.current == 0)
        #expect(open.rejected == 0)
    }

    @Test func readsPassBelowTheCapAndAreHeldAtIt() throws {
        let (server, limiter, counter, open) = try server(limit: 2)
        server.read()
        #expect(counter.reads == 1)
        let first = try accept(server)
        server.read()
        #expect(counter.reads == 2)
        let second = try accept(server)
        #expect(open.current == 2)
        server.read()
        #expect(counter.reads == 2)
        #expect(limiter.isPaused)
        // A slot frees: the held read goes out.
        try first.close().wait()
        first.embeddedEventLoop.run()
        server.embeddedEventLoop.run()
        #expect(counter.reads == 3)
        #expect(!limiter.isPaused)
        #expect(open.current == 1)
        _ = second
    }

    @Test func connectionsPastTheCapInTheSameReadAreClosedAtOnce() throws {
        let (server, _, _, open) = try server(limit: 2)
        let kept = [try accept(server), try accept(server)]
        let extra = try accept(server)
        #expect(open.current == 2)
        #expect(open.rejected == 1)
        // The acceptor still gets it (so it registers), then it is closed on its loop.
        let forwarded = try server.readInbound(as: (any Channel).self)
        #expect(forwarded != nil)
        extra.embeddedEventLoop.run()
        #expect(!extra.isActive)
        #expect(kept.allSatisfy { $0.isActive })
        #expect(open.current == 2)
    }

    @Test func slotFreedBeforeTheNextReadDoesNotPause() throws {
        let (server, limiter, counter, _) = try server(limit: 1)
        let only = try accept(server)
        try only.close().wait()
        only.embeddedEventLoop.run()
        server.read()
        #expect(counter.reads == 1)
        #expect(!limiter.isPaused)
    }

    @Test func limitIsSharedAcrossListeners() throws {
        let open = OpenConnections(limit: 2)
        let servers = try (0..<2).map { _ -> EmbeddedChannel in
            let server = EmbeddedChannel()
            try server.pipeline.syncOperations.addHandler(ConnectionLimiter(connections: open))
            return server
        }
        _ = try accept(servers[0])
        _ = try accept(servers[1])
        let third = try accept(servers[1])
        third.embeddedEventLoop.run()
        #expect(open.current == 2)
        #expect(!third.isActive)
    }
}
