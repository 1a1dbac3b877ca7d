import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SluicePolicy
import SluiceSidecar

/// `sluice sidecar`: the data plane, one per application pod.
struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecar",
        abstract: "Run the sidecar data plane on a policy file."
    )

    @Option(name: .long, help: "Policy file (YAML).")
    var policy: String = "config/policy.yaml"

    @OptionGroup var sidecar: SidecarOptions
    @OptionGroup var runtime: RuntimeOptions

    func run() async throws {
        runtime.bootstrapLogging()
        let logger = Logger(label: "sluice.sidecar")
        let loaded = try PolicySource.load(policy, logger: logger)
        let environment = ProcessInfo.processInfo.environment
        var configuration = try sidecar.configuration(environment: environment)
        // The policy file is watched and a valid edit applied live; SIGHUP forces a check.
        configuration.policyFile = policy
        let running = try await Sidecar.start(
            policy: loaded.policy, version: loaded.version, configuration: configuration,
            group: try sidecar.eventLoopGroup(), logger: logger
        )
        let hangup = HangupSignal.install { running.reloadPolicyFile(forced: true) }
        defer { hangup.cancel() }
        try runtime.writePorts(["egress": running.egressPort, "admin": running.adminPort])
        let group = ServiceGroup(configuration: .init(
            services: [running], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }
}

/// SIGHUP, caught (not the default exit) and turned into a call: how an operator asks the
/// sidecar to re-read its policy file.
enum HangupSignal {
    static func install(_ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }
}

/// A policy read from disk with its version (a hash of the file's bytes).
struct PolicySource {
    var policy: Policy
    var version: String

    static func load(_ path: String, logger: Logger) throws -> PolicySource {
        let policy: Policy
        do {
            policy = try PolicyLoader.load(contentsOf: path)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
        let bytes = FileManager.default.contents(atPath: path) ?? Data()
        let digest = PolicySource.fingerprint(bytes)
        logger.info("policy loaded", metadata: [
            "file": "\(path)", "version": "\(digest)",
            "providers": "\(policy.providers.count)", "models": "\(policy.models.count)", "routes": "\(policy.routes.count)",
        ])
        return PolicySource(policy: policy, version: digest)
    }

    /// A short, stable fingerprint of the policy text (FNV-1a, 64 bits, hex).
    static func fingerprint(_ bytes: Data) -> String {
        PolicyFingerprint.of(bytes)
    }
}

extension SidecarOptions {
    func configuration(environment: [String: String]) throws -> SidecarConfiguration {
        let destination: AccessLogSink.Destination
        switch accessLog {
        case "stdout", "-": destination = .standardOutput
        case "off", "none": destination = .discard
        default: destination = .file(accessLog)
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        guard upstreamTimeout > 0 else { throw ValidationError("--upstream-timeout must be positive") }
        guard upstreamIdleTimeout > 0 else { throw ValidationError("--upstream-idle-timeout must be positive") }
        guard drainSeconds >= 0 else { throw ValidationError("--drain-seconds must not be negative") }
        guard maxBufferedResponseBytes > 0 else { throw ValidationError("--max-buffered-response-bytes must be positive") }
        guard maxBufferedBytes > 0 else { throw ValidationError("--max-buffered-bytes must be positive") }
        guard requestHeadTimeout > 0 else { throw ValidationError("--request-head-timeout must be positive") }
        guard requestBodyTimeout > 0 else { throw ValidationError("--request-body-timeout must be positive") }
        guard keepaliveTimeout > 0 else { throw ValidationError("--keepalive-timeout must be positive") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard (1...Int(Int32.max)).contains(maxConcurrentStreams) else { throw ValidationError("--max-concurrent-streams must be positive") }
        return SidecarConfiguration(
            listenHost: listen.host, listenPort: listen.port,
            adminHost: admin.host, adminPort: admin.port,
            egress: EgressSettings(
                maxRequestBodyBytes: maxBodyBytes,
                maxBufferedResponseBytes: maxBufferedResponseBytes,
                upstreamTimeouts: UpstreamTimeouts(head: .seconds(Int64(upstreamTimeout)), idle: .seconds(Int64(upstreamIdleTimeout))),
                limits: ClientLimits(
                    requestHeadTimeout: .seconds(Int64(requestHeadTimeout)),
                    requestBodyTimeout: .seconds(Int64(requestBodyTimeout)),
                    keepAliveTimeout: .seconds(Int64(keepaliveTimeout)),
                    maxConnections: maxConnections,
                    maxConcurrentStreams: maxConcurrentStreams,
                    maxBufferedBytes: maxBufferedBytes
                )
            ),
            defaults: SidecarConfiguration.defaultAttribution(from: environment),
            accessLog: destination,
            environment: environment,
            drainGracePeriod: .seconds(drainSeconds)
        )
    }
}
