import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
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
    /// How often credential files are checked for changes where inotify is missing.
    public var credentialRefreshInterval: Duration
    /// How often they are checked anyway when inotify watches them (a safety net).
    public var credentialSafetyPollInterval: Duration = .seconds(60)
    /// The environment credentials are read from.
    public var environment: [String: String]
    /// How long in-flight calls and streams may run on after SIGTERM before the sidecar exits.
    public var drainGracePeriod: Duration
    /// The policy file to watch and reload live (nil: the policy only changes through
    /// ``Sidecar/reload(policy:version:)``).
    public var policyFile: String?
    /// How often the policy file is checked anyway when inotify watches it (a safety net;
    /// `credentialRefreshInterval` where inotify is missing).
    public var policySafetyPollInterval: Duration = .seconds(30)

    public init(
        listenHost: String = "127.0.0.1", listenPort: Int = 4100,
        adminHost: String = "127.0.0.1", adminPort: Int = 4191,
        egress: EgressSettings = EgressSettings(),
        defaults: Attribution = Attribution(),
        accessLog: AccessLogSink.Destination = .standardOutput,
        credentialRefreshInterval: Duration = .seconds(2),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        drainGracePeriod: Duration = .seconds(30)
    ) {
        self.drainGracePeriod = drainGracePeriod
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
/// shutdown (SIGTERM), then drains: `/ready` fails, the listener stops accepting, idle
/// connections close, HTTP/2 clients get GOAWAY, and calls and streams in flight run to
/// their end for up to `drainGracePeriod` before the sidecar exits.
public final class Sidecar: Service, Sendable {
    public let egressPort: Int
    public let adminPort: Int
    /// The version of the policy in force.
    public var policyVersion: String { live.withLockedValue { $0.version } }
    private let egress: EgressServer
    private let admin: AdminServer
    let loops: LoopContexts
    private let accessLog: AccessLogSink
    let configuration: SidecarConfiguration
    /// The policy in force and its version.
    let live: NIOLockedValueBox<(policy: Policy, version: String)>
    let health: HealthRegistry
    let credentials: NIOLockedValueBox<CredentialSet>
    /// Held while a policy is swapped in or credentials are re-read, so the two never interleave.
    let reloadLock = NIOLock()
    let reloadState: NIOLockedValueBox<PolicyReloadState>
    /// Where policy-file checks run, one at a time, off the event loops.
    let reloadQueue = DispatchQueue(label: "sluice-policy-reload")
    let ready: NIOLockedValueBox<Bool>
    private let quiescing: ServerQuiescingHelper
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let reclaimer: MemoryReclaimer
    let lastCredentialProblems = NIOLockedValueBox<[String]>([])
    let credentialWatch = NIOLockedValueBox(CredentialWatch.Slot())
    /// Bytes held for request bodies and held answers, across all calls.
    public let memory: MemoryBudget
    /// The sidecar's metrics registry, served at the admin listener's `/metrics`.
    public let metrics: SidecarMetrics

    private init(egress: EgressServer, admin: AdminServer, loops: LoopContexts, accessLog: AccessLogSink, configuration: SidecarConfiguration, policy: Policy, version: String, health: HealthRegistry, credentials: CredentialSet, logger: Logger, ready: NIOLockedValueBox<Bool>, quiescing: ServerQuiescingHelper, group: any EventLoopGroup, metrics: SidecarMetrics, memory: MemoryBudget, reclaimer: MemoryReclaimer) {
        self.memory = memory
        self.reclaimer = reclaimer
        self.ready = ready
        self.quiescing = quiescing
        self.eventLoopGroup = group
        self.metrics = metrics
        self.egress = egress
        self.admin = admin
        self.loops = loops
        self.accessLog = accessLog
        self.configuration = configuration
        self.live = NIOLockedValueBox((policy: policy, version: version))
        self.health = health
        self.reloadState = NIOLockedValueBox(PolicyReloadState(current: version))
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
        let health = HealthRegistry()
        let snapshot = try RuntimeSnapshot(policy: policy, version: version, health: health)
        let (credentials, problems) = CredentialSet.load(for: policy, environment: configuration.environment, readFile: Sidecar.readSecretFile, previous: nil)
        for problem in problems {
            logger.warning("provider credential unusable; calls to it go out without one until it is fixed", metadata: ["problem": "\(problem)"])
        }
        // Request bodies and held answers share one budget; after a burst drains, the
        // freed heap goes back to the system (off the event loops).
        let reclaimer = MemoryReclaimer()
        let memory = MemoryBudget(limit: configuration.egress.limits.maxBufferedBytes, onBurstDrained: { reclaimer.requestTrim() })
        let metrics = SidecarMetrics()
        let poolMetrics = metrics.upstreamPoolMetrics()
        var contexts: [LoopContext] = []
        let loopCount = Array(group.makeIterator()).count
        for loop in group.makeIterator() {
            let context = try await loop.submit {
                var poolConfiguration = UpstreamPool.Configuration()
                poolConfiguration.loopCount = loopCount
                poolConfiguration.connectTimeout = configuration.egress.upstreamTimeouts.connect
                let pool = UpstreamPool(eventLoop: loop, configuration: poolConfiguration, metrics: poolMetrics)
                return LoopContext(eventLoop: loop, snapshot: snapshot, credentials: credentials, pool: pool, memory: memory)
            }.get()
            contexts.append(context)
        }
        let loops = LoopContexts(contexts)
        let accessLog = try AccessLogSink(destination: configuration.accessLog, warn: { [logger] in logger.warning("\($0)") })
        let connections = OpenConnections(limit: configuration.egress.limits.maxConnections)
        metrics.exportLimits(connections: connections, memory: memory, reclaimer: reclaimer, accessLog: accessLog)
        metrics.policyLoaded(version: version, at: Date().timeIntervalSince1970)
        metrics.exportHealth(health)
        let pipeline = Pipeline.standard(defaults: configuration.defaults, metrics: metrics, accessLog: accessLog, upstream: UpstreamCall(timeouts: configuration.egress.upstreamTimeouts))
        let quiescing = ServerQuiescingHelper(group: group)
        let egress = try await EgressServer.start(
            host: configuration.listenHost, port: configuration.listenPort, group: group,
            loops: loops, settings: configuration.egress, pipeline: pipeline,
            quiescing: quiescing, drainGracePeriod: TimeAmount(configuration.drainGracePeriod),
            connections: connections
        )
        let readyBox = NIOLockedValueBox(false)
        let admin = try await AdminServer.start(host: configuration.adminHost, port: configuration.adminPort, group: group) { path in
            switch path {
            case "/live": return (.ok, "text/plain", "live\n")
            case "/ready":
                return readyBox.withLockedValue { $0 } ? (.ok, "text/plain", "ready\n") : (.serviceUnavailable, "text/plain", "not ready\n")
            case "/metrics":
                return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition(now: Date().timeIntervalSince1970))
            case "/debug/upstreams":
                return (.ok, "application/json", UpstreamsReport.render(health, now: monotonicMilliseconds()))
            default: return nil
            }
        }
        let sidecar = Sidecar(
            egress: egress, admin: admin, loops: loops, accessLog: accessLog, configuration: configuration,
            policy: policy, version: version, health: health, credentials: credentials, logger: logger,
            ready: readyBox, quiescing: quiescing, group: group, metrics: metrics, memory: memory, reclaimer: reclaimer
        )
        readyBox.withLockedValue { $0 = true }
        logger.info("egress listening", metadata: ["address": "http://\(configuration.listenHost):\(egress.port)", "protocols": "http/1.1, h2c"])
        logger.info("admin listening", metadata: ["address": "http://\(configuration.adminHost):\(admin.port)"])
        return sidecar
    }

    /// Keeps credential files fresh until graceful shutdown, then drains and stops.
    public func run() async throws {
        // Secret files are watched with inotify (no wakeups at idle); a slow poll stays as
        // a safety net, and is the only mechanism where inotify is missing. A NIO timer,
        // not a `Task.sleep` loop: a pending `Task.sleep` keeps a dispatch timer waking
        // the process every second. Reading a Secret file is a few microseconds of
        // blocking I/O, done on one event loop.
        // A reload that changes which files hold credentials re-arms the watch.
        watchCredentialFiles()
        let policyWatch = watchPolicyFile()
        try? await gracefulShutdown()
        stopWatchingCredentialFiles()
        policyWatch?.stop()
        // A check already queued sees the sidecar not ready and does nothing.
        ready.withLockedValue { $0 = false }
        await drain()
    }

    /// Fails readiness, stops accepting, lets calls in flight finish within the grace
    /// period, then closes everything.
    public func drain() async {
        ready.withLockedValue { $0 = false }
        let grace = configuration.drainGracePeriod
        logger.info("draining: not ready, no new connections; calls in flight may finish", metadata: ["grace_period": "\(grace)"])
        let loop = eventLoopGroup.any()
        let drained = loop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: drained)
        // Whichever comes first: every connection closed, or the grace period over.
        let outcome = loop.makePromise(of: Bool.self)
        let timer = loop.scheduleTask(in: TimeAmount(grace)) { outcome.succeed(false) }
        drained.futureResult.hop(to: loop).whenComplete { _ in
            timer.cancel()
            outcome.succeed(true)
        }
        let finished = (try? await outcome.futureResult.get()) ?? false
        if finished {
            logger.info("drained: every connection closed")
        } else {
            logger.warning("grace period over; closing the connections still open")
            // Their calls end as client_closed, with what they cost so far, and are logged
            // now — before the access log closes.
            for context in loops.all {
                try? await context.eventLoop.submit { context.closeClientChannels() }.get()
            }
        }
        await shutdown()
    }

    /// Closes listeners and pools and flushes the access log (no draining).
    public func shutdown() async {
        ready.withLockedValue { $0 = false }
        stopWatchingCredentialFiles()
        await egress.stopAccepting()
        await admin.close()
        for context in loops.all {
            try? await context.eventLoop.submit { context.pool.shutdown() }.get()
        }
        // Calls ended by the closes above log on their loops; a turn of each loop later
        // every line is in the sink, and close() writes them all.
        for context in loops.all {
            try? await context.eventLoop.submit {}.get()
        }
        accessLog.close()
        reclaimer.stop()
    }

    /// Re-reads credentials; pushes a new set to every loop when one changed. A source that
    /// is briefly empty or unreadable (a Secret being rewritten) keeps its last good value;
    /// problems are logged once each time they change.
    func refreshCredentials() {
        reloadLock.withLock { refreshCredentialsLocked() }
    }

    private func refreshCredentialsLocked() {
        let policy = live.withLockedValue { $0.policy }
        let previous = credentials.withLockedValue { $0 }
        let (fresh, problems) = CredentialSet.load(for: policy, environment: configuration.environment, readFile: Sidecar.readSecretFile, previous: previous)
        let descriptions = problems.map(\.description)
        if lastCredentialProblems.withLockedValue({ last in defer { last = descriptions }; return last != descriptions }) {
            for problem in problems { logger.warning("provider credential problem", metadata: ["problem": "\(problem)"]) }
        }
        let changed = credentials.withLockedValue { current -> Bool in
            guard current != fresh else { return false }
            current = fresh
            return true
        }
        guard changed else { return }
        logger.info("provider credentials changed; new calls use them", metadata: ["providers": "\(fresh.secrets.keys.sorted())"])
        for context in loops.all { context.update(credentials: fresh) }
    }

    /// Watches the credential files of the policy in force, replacing the watch when the
    /// set of files changed (a reload added or dropped one). Not after shutdown began.
    func watchCredentialFiles() {
        let files = Set(live.withLockedValue { $0.policy }.providers.values.compactMap { provider -> String? in
            if case .file(let path)? = provider.credential { return path }
            return nil
        })
        credentialWatch.withLockedValue { slot in
            guard !slot.closed, slot.watch?.files ?? [] != files else { return }
            slot.watch?.stop()
            slot.watch = files.isEmpty ? nil : CredentialWatch.start(
                files: files, group: eventLoopGroup,
                pollInterval: configuration.credentialRefreshInterval, safetyPollInterval: configuration.credentialSafetyPollInterval
            ) { [weak self] in self?.refreshCredentials() }
        }
    }

    func stopWatchingCredentialFiles() {
        credentialWatch.withLockedValue { slot in
            slot.closed = true
            slot.watch?.stop()
            slot.watch = nil
        }
    }

    static func readSecretFile(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
