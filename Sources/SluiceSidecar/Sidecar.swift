import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import SluicePolicy

/// Everything a sidecar needs to start, read once at the edge (CLI flags, environment).
public struct SidecarConfiguration: Sendable {
    public var listenHost: String
    public var listenPort: Int
    public var adminHost: String
    public var adminPort: Int
    public var egress: EgressSettings
    /// Attribution used when the app sends no `x-sluice-*` header.
    public var defaults: Attribution
    public var accessLog: AccessLogSink.Destination
    /// How often credential files are checked for changes.
    public var credentialRefreshInterval: Duration
    /// The environment credentials are read from.
    public var environment: [String: String]

    public init(
        listenHost: String = "127.0.0.1", listenPort: Int = 4100,
        adminHost: String = "127.0.0.1", adminPort: Int = 4191,
        egress: EgressSettings = EgressSettings(),
        defaults: Attribution = Attribution(),
        accessLog: AccessLogSink.Destination = .standardOutput,
        credentialRefreshInterval: Duration = .seconds(2),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.adminHost = adminHost
        self.adminPort = adminPort
        self.egress = egress
        self.defaults = defaults
        self.accessLog = accessLog
        self.credentialRefreshInterval = credentialRefreshInterval
        self.environment = environment
    }

    /// Default attribution from the pod's environment: `SLUICE_TENANT` or the namespace
    /// (`POD_NAMESPACE`) for tenant, `SLUICE_FEATURE` or the `app` label (`POD_APP`) for feature.
    public static func defaultAttribution(from environment: [String: String]) -> Attribution {
        Attribution(
            tenant: environment["SLUICE_TENANT"] ?? environment["POD_NAMESPACE"] ?? "default",
            feature: environment["SLUICE_FEATURE"] ?? environment["POD_APP"] ?? "default"
        )
    }
}

/// A running sidecar: egress listener, admin listener, per-loop state and the pipeline.
///
/// `Sidecar.start` binds both listeners (port 0 works; read the bound ports back) and
/// returns; `run()` is the ``Service`` body that keeps credentials fresh until graceful
/// shutdown, then stops accepting and closes.
public final class Sidecar: Service, Sendable {
    public let egressPort: Int
    public let adminPort: Int
    public let policyVersion: String
    private let egress: EgressServer
    private let admin: AdminServer
    private let loops: LoopContexts
    private let accessLog: AccessLogSink
    private let configuration: SidecarConfiguration
    private let policy: Policy
    private let credentials: NIOLockedValueBox<CredentialSet>
    private let ready = NIOLockedValueBox(false)
    private let logger: Logger

    private init(egress: EgressServer, admin: AdminServer, loops: LoopContexts, accessLog: AccessLogSink, configuration: SidecarConfiguration, policy: Policy, version: String, credentials: CredentialSet, logger: Logger) {
        self.egress = egress
        self.admin = admin
        self.loops = loops
        self.accessLog = accessLog
        self.configuration = configuration
        self.policy = policy
        self.policyVersion = version
        self.credentials = NIOLockedValueBox(credentials)
        self.egressPort = egress.port
        self.adminPort = admin.port
        self.logger = logger
    }

    /// Compiles the policy, binds the listeners and starts serving.
    public static func start(
        policy: Policy, version: String, configuration: SidecarConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> Sidecar {
        let snapshot = try RuntimeSnapshot(policy: policy, version: version)
        let credentials = CredentialSet.load(for: policy, environment: configuration.environment, readFile: Sidecar.readSecretFile)
        for (name, provider) in policy.providers.sorted(by: { $0.key < $1.key }) where provider.credential != nil && credentials.secrets[name] == nil {
            logger.warning("provider has no credential yet; calls to it go out unauthenticated", metadata: ["provider": "\(name)", "source": "\(provider.credential.map(Sidecar.describe) ?? "")"])
        }
        var contexts: [LoopContext] = []
        for loop in group.makeIterator() {
            let context = try await loop.submit {
                let pool = UpstreamPool(eventLoop: loop)
                pool.start()
                return LoopContext(eventLoop: loop, snapshot: snapshot, credentials: credentials, pool: pool)
            }.get()
            contexts.append(context)
        }
        let loops = LoopContexts(contexts)
        let accessLog = try AccessLogSink(destination: configuration.accessLog)
        let pipeline = Pipeline.standard(defaults: configuration.defaults, accessLog: accessLog)
        let egress = try await EgressServer.start(
            host: configuration.listenHost, port: configuration.listenPort, group: group,
            loops: loops, settings: configuration.egress, pipeline: pipeline
        )
        let readyBox = NIOLockedValueBox(true)
        let admin = try await AdminServer.start(host: configuration.adminHost, port: configuration.adminPort, group: group) { path in
            switch path {
            case "/live": return (.ok, "text/plain", "live\n")
            case "/ready":
                return readyBox.withLockedValue { $0 } ? (.ok, "text/plain", "ready\n") : (.serviceUnavailable, "text/plain", "draining\n")
            default: return nil
            }
        }
        let sidecar = Sidecar(egress: egress, admin: admin, loops: loops, accessLog: accessLog, configuration: configuration, policy: policy, version: version, credentials: credentials, logger: logger)
        sidecar.ready.withLockedValue { $0 = true }
        logger.info("egress listening", metadata: ["address": "http://\(configuration.listenHost):\(egress.port)", "protocols": "http/1.1, h2c"])
        logger.info("admin listening", metadata: ["address": "http://\(configuration.adminHost):\(admin.port)"])
        return sidecar
    }

    /// Keeps credential files fresh until graceful shutdown, then stops.
    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: configuration.credentialRefreshInterval)
                refreshCredentials()
            }
        } onGracefulShutdown: {
            self.logger.info("shutting down")
        }
        await shutdown()
    }

    /// Stops accepting, closes listeners and pools, flushes the access log.
    public func shutdown() async {
        await egress.stopAccepting()
        await admin.close()
        for context in loops.all {
            try? await context.eventLoop.submit { context.pool.shutdown() }.get()
        }
        accessLog.close()
    }

    /// Re-reads credentials; pushes a new set to every loop when one changed.
    func refreshCredentials() {
        let fresh = CredentialSet.load(for: policy, environment: configuration.environment, readFile: Sidecar.readSecretFile)
        let changed = credentials.withLockedValue { current -> Bool in
            guard current != fresh else { return false }
            current = fresh
            return true
        }
        guard changed else { return }
        logger.info("provider credentials changed; new calls use them", metadata: ["providers": "\(fresh.secrets.keys.sorted())"])
        for context in loops.all { context.update(credentials: fresh) }
    }

    static func readSecretFile(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func describe(_ source: CredentialSource) -> String {
        switch source {
        case .environment(let name): return "env \(name)"
        case .file(let path): return "file \(path)"
        }
    }
}
