import ArgumentParser
import Foundation
import Logging
import NIOPosix

/// A `HOST:PORT` listen address (`[::1]:4100` for IPv6; port 0 picks a free port).
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Options every long-running subcommand shares.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: "After binding, write the bound ports as JSON to this file (for tests and scripts).")
    var portsFile: String?

    func bootstrapLogging() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    func writePorts(_ ports: [String: Int]) throws {
        guard let portsFile else { return }
        let body = "{" + ports.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}\n"
        let temporary = portsFile + ".tmp"
        try body.write(toFile: temporary, atomically: false, encoding: .utf8)
        _ = rename(temporary, portsFile)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options of the sidecar's own behaviour, shared by `sidecar` and `dev`.
struct SidecarOptions: ParsableArguments {
    @Option(name: .long, help: "Egress listener for the app (HTTP/1.1 and h2c).")
    var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 4100)

    @Option(name: .long, help: "Admin listener: /live, /ready, /metrics.")
    var admin: ListenAddress = ListenAddress(host: "127.0.0.1", port: 4191)

    @Option(name: .long, help: "Largest request body accepted, in bytes (413 beyond).")
    var maxBodyBytes: Int = 10 * 1024 * 1024

    @Option(name: .long, help: "Largest non-stream answer held in memory so its cost can go in a header, in bytes; larger answers are relayed as they arrive.")
    var maxBufferedResponseBytes: Int = 8 * 1024 * 1024

    @Option(name: .long, help: "Bytes of request bodies and held answers in memory across all calls; a call that would go over gets 503 overloaded.")
    var maxBufferedBytes: Int = 256 * 1024 * 1024

    @Option(name: .long, help: "Seconds a client has to send a request head (and a new connection its first bytes).")
    var requestHeadTimeout: Int = 10

    @Option(name: .long, help: "Seconds a request body may go without a byte.")
    var requestBodyTimeout: Int = 30

    @Option(name: .long, help: "Seconds an idle keep-alive connection (HTTP/1.1 or HTTP/2) stays open.")
    var keepaliveTimeout: Int = 120

    @Option(name: .long, help: "Client connections open at once; beyond it new connections wait in the kernel's backlog.")
    var maxConnections: Int = 4096

    @Option(name: .long, help: "Concurrent streams per HTTP/2 connection.")
    var maxConcurrentStreams: Int = 100

    @Option(name: .long, help: "Seconds to wait for the provider's response head.")
    var upstreamTimeout: Int = 600

    @Option(name: .long, help: "Seconds a response under way may go without a byte from upstream (streams then end with an error event).")
    var upstreamIdleTimeout: Int = 300

    @Option(name: .long, help: "Access log: stdout, off, or a file path.")
    var accessLog: String = "stdout"

    @Option(name: .long, help: "On SIGTERM, seconds calls and streams in flight may run on before exit.")
    var drainSeconds: Int = 30

    @Option(name: .long, help: "Event-loop threads serving calls (0: one per core). Match the pod's CPU limit.")
    var threads: Int = 0

    /// The event loops: NIO's shared group sized to the cores, or a group of `--threads`.
    func eventLoopGroup() throws -> MultiThreadedEventLoopGroup {
        guard threads >= 0 else { throw ValidationError("--threads must not be negative") }
        return threads == 0 ? MultiThreadedEventLoopGroup.singleton : MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }
}
