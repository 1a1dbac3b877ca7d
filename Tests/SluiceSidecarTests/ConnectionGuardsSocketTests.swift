import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import SluiceSidecar

#if canImport(Glibc)
import Glibc

/// The connection guards over real sockets, wired as the sidecar will wire them (a bare
/// NIO server: detector, watchers, limiter, a responder): head 1 s, body 3 s,
/// keep-alive 5 s, so each timer is told apart by when it fires.
@Suite(.serialized) struct ConnectionGuardsSocketTests {
    static let limits = HTTP1TimeoutStateMachine.Configuration(requestHead: .seconds(1), requestBody: .seconds(3), keepAlive: .seconds(5))

    /// Answers every request `200` with an empty body at its end.
    final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    final class Server: Sendable {
        let group: MultiThreadedEventLoopGroup
        let channel: any Channel
        let open: OpenConnections
        /// "accepted" / "closed", in the order the server saw them.
        let events = NIOLockedValueBox<[String]>([])

        init(maxConnections: Int) async throws {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let open = OpenConnections(limit: maxConnections)
            let events = self.events
            self.group = group
            self.open = open
            self.channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 16)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ConnectionLimiter(connections: open))
                    }
                }
                .childChannelInitializer { channel in
                    let accepted = channel.eventLoop.now
                    events.withLockedValue { $0.append("accepted") }
                    channel.closeFuture.whenComplete { _ in events.withLockedValue { $0.append("closed") } }
                    return channel.eventLoop.makeCompletedFuture {
                        let detector = HTTPVersionDetector(
                            decisionTimeout: ConnectionGuardsSocketTests.limits.requestHead,
                            http1: { sync in
                                let timeouts = HTTPRequestTimeouts(configuration: ConnectionGuardsSocketTests.limits, eventLoop: channel.eventLoop)
                                try sync.addHandler(RequestBytesWatcher(timeouts: timeouts, acceptedAt: accepted))
                                try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                                try sync.addHandler(RequestPhaseWatcher(timeouts: timeouts, closesStream: false))
                                try sync.addHandler(Responder())
                            },
                            http2: { _ in throw ChannelError.operationUnsupported }
                        )
                        try channel.pipeline.syncOperations.addHandler(detector)
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
        }

        var port: Int { channel.localAddress?.port ?? 0 }

        func stop() async throws {
            try await channel.close()
            try await group.shutdownGracefully()
        }
    }

    /// A blocking client socket with a 10 s receive timeout.
    struct Client {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw ChannelError.connectPending }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// Sends text; false once the server has closed.
        @discardableResult
        func send(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }

        /// Reads until `marker` has arrived (true) or the connection ends (false).
        func read(until marker: String, into text: inout String) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !text.contains(marker) {
                let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got <= 0 { return false }
                text += String(decoding: chunk[0..<got], as: UTF8.self)
            }
            return true
        }

        /// Reads everything until the server closes (or 10 s pass).
        func readToEnd() -> String {
            var text = ""
            _ = read(until: "\u{0}never\u{0}", into: &text)
            return text
        }

        func close() { _ = Glibc.close(fd) }
    }

    @Test func slowlorisIsAnswered408AndClosedAtTheHeadTimeout() async throws {
        let server = try await Server(maxConnections: 10)
        let client = try Client(port: server.port)
        let start = Date()
        // A byte every 200 ms, from another thread, until the server closes.
        let trickled = DispatchSemaphore(value: 0)
        let trickler = Thread {
            defer { trickled.signal() }
            for byte in "GET /v1/models HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                guard client.send(String(byte)) else { return }
                usleep(200_000)
            }
        }
        trickler.start()
        let answer = client.readToEnd()
        let elapsed = Date().timeIntervalSince(start)
        // The descriptor may be closed (and its number reused) only once nobody sends on it.
        trickled.wait()
        client.close()
        try await server.stop()
        #expect(answer == HTTPRequestTimeouts.raw408)
        // Head limit 1 s; the body (3 s) and keep-alive (5 s) limits would be later.
        #expect(elapsed >= 0.9)
        #expect(elapsed < 2.9)
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() async throws {
        let server = try await Server(maxConnections: 10)
        let client = try Client(port: server.port)
        #expect(client.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
        var response = ""
        #expect(client.read(until: "\r\n\r\n", into: &response))
        let answered = Date()
        let rest = client.readToEnd()
        let idle = Date().timeIntervalSince(answered)
        client.close()
        try await server.stop()
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(rest == "")
        #expect(idle >= 4.9)
        #expect(idle < 9)
    }

    @Test func connectionPastTheCapWaitsForASlot() async throws {
        let server = try await Server(maxConnections: 2)
        let first = try Client(port: server.port)
        let second = try Client(port: server.port)
        for client in [first, second] {
            var response = ""
            #expect(client.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
            #expect(client.read(until: "\r\n\r\n", into: &response))
        }
        #expect(server.open.current == 2)
        // The kernel completes the third handshake; the server does not accept it yet.
        let third = try Client(port: server.port)
        #expect(third.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
        first.close()
        var response = ""
        #expect(third.read(until: "\r\n\r\n", into: &response))
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        let events = server.events.withLockedValue { $0 }
        // The third connection was accepted only after the first one closed.
        #expect(events.prefix(4) == ["accepted", "accepted", "closed", "accepted"])
        #expect(server.open.current == 2)
        second.close()
        third.close()
        try await server.stop()
    }

    @Test func undecidedFirstBytesAreClosedAtTheHeadTimeout() async throws {
        let server = try await Server(maxConnections: 10)
        let client = try Client(port: server.port)
        let start = Date()
        #expect(client.send("PRI * HTTP/2.0\r\n"))
        let answer = client.readToEnd()
        let elapsed = Date().timeIntervalSince(start)
        client.close()
        try await server.stop()
        #expect(answer == "")
        #expect(elapsed >= 0.9)
        #expect(elapsed < 2.9)
    }
}
#endif
