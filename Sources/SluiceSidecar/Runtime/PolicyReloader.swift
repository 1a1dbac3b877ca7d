import Foundation
import Logging
import NIOCore
import SluicePolicy

/// The policy file's watch: inotify on its directory (a plain edit, a write-and-rename, a
/// Kubernetes ConfigMap's `..data` symlink swap) plus a slow safety poll. Stopped at shutdown.
struct PolicyFileWatch {
    let watcher: FileChangeWatcher?
    let poll: RepeatedTask

    func stop() {
        poll.cancel()
        watcher?.stop()
    }
}

/// The credential files' watch: inotify on their directories plus a slow safety poll, or
/// the poll alone where inotify is missing.
struct CredentialWatch {
    /// Where the sidecar keeps its watch; `closed` once shutdown began.
    struct Slot {
        var watch: CredentialWatch?
        var closed = false
    }

    let files: Set<String>
    let watcher: FileChangeWatcher?
    let refresh: RepeatedTask

    static func start(files: Set<String>, group: any EventLoopGroup, pollInterval: Duration, safetyPollInterval: Duration, refresh: @escaping @Sendable () -> Void) -> CredentialWatch {
        let watcher = FileChangeWatcher.start(paths: files.sorted(), onChange: refresh)
        let interval = TimeAmount(watcher == nil ? pollInterval : safetyPollInterval)
        let task = group.next().scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in refresh() }
        return CredentialWatch(files: files, watcher: watcher, refresh: task)
    }

    func stop() {
        refresh.cancel()
        watcher?.stop()
    }
}

extension Sidecar {
    /// Swaps in a new policy: compiles it (off the event loops: it may read CA files),
    /// re-reads credentials for its providers, then pushes both to every loop. Calls in
    /// flight keep the snapshot they started with; breakers and budgets carry over.
    /// Throws ``RuntimeSnapshot/CompileError`` and keeps the policy in force when it
    /// cannot be compiled. The entry point for a control plane; the policy-file watch
    /// and SIGHUP use it too. Call it off the event loops: it returns once every loop has
    /// switched.
    public func reload(policy: Policy, version: String) throws {
        try reloadLock.withLock {
            let snapshot = try RuntimeSnapshot(policy: policy, version: version, health: health)
            let previous = live.withLockedValue { current in
                defer { current = (policy, version) }
                return current.version
            }
            let (fresh, problems) = CredentialSet.load(
                for: policy, environment: configuration.environment, readFile: Sidecar.readSecretFile,
                previous: credentials.withLockedValue { $0 }
            )
            for problem in problems {
                logger.warning("provider credential unusable; calls to it go out without one until it is fixed", metadata: ["problem": "\(problem)"])
            }
            lastCredentialProblems.withLockedValue { $0 = problems.map(\.description) }
            credentials.withLockedValue { $0 = fresh }
            // Every loop has switched when reload returns: a call that starts after it
            // (on any loop) sees the new policy, and "policy reloaded" means exactly that.
            let switched = loops.all.map { context in
                context.eventLoop.submit { context.apply(snapshot: snapshot, credentials: fresh) }
            }
            for future in switched { try? future.wait() }
            reloadState.withLockedValue { $0.loaded(version) }
            metrics.policyLoaded(version: version, at: Date().timeIntervalSince1970)
            logger.info("policy reloaded", metadata: [
                "from": "\(previous)", "to": "\(version)",
                "providers": "\(policy.providers.count)", "models": "\(policy.models.count)", "routes": "\(policy.routes.count)",
            ])
        }
        // Outside the reload lock: stopping a watch waits for its thread, which may be
        // waiting for that lock to refresh credentials.
        watchCredentialFiles()
    }

    /// Checks the policy file (`configuration.policyFile`) on the reload queue: a changed,
    /// valid text is swapped in; a bad one is logged and counted, and the policy in force
    /// stays. `forced` (SIGHUP) re-checks a text already rejected.
    public func reloadPolicyFile(forced: Bool = false) {
        guard let path = configuration.policyFile else { return }
        reloadQueue.async { [weak self] in self?.checkPolicyFile(path, forced: forced) }
    }

    /// Starts watching the policy file, when there is one.
    func watchPolicyFile() -> PolicyFileWatch? {
        guard let path = configuration.policyFile else { return nil }
        // The directory as given (where a ConfigMap swaps `..data`) and, for a symlink
        // elsewhere, the directory of the file it points at.
        var paths = [path]
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if resolved != path { paths.append(resolved) }
        let watcher = FileChangeWatcher.start(paths: paths, name: "sluice-policy", settleMicroseconds: 100_000) { [weak self] in
            self?.reloadPolicyFile()
        }
        let interval = TimeAmount(watcher == nil ? configuration.credentialRefreshInterval : configuration.policySafetyPollInterval)
        let poll = eventLoopGroup.next().scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.reloadPolicyFile()
        }
        return PolicyFileWatch(watcher: watcher, poll: poll)
    }

    /// Reads, checks and (when changed and valid) applies the policy file. Runs on the reload queue.
    func checkPolicyFile(_ path: String, forced: Bool) {
        // Draining: the policy in force serves out the calls in flight.
        guard ready.withLockedValue({ $0 }) else { return }
        let bytes = FileManager.default.contents(atPath: path)
        let version = bytes.map(PolicyFingerprint.of) ?? "unreadable"
        switch reloadState.withLockedValue({ $0.decide(version: version, forced: forced) }) {
        case .unchanged:
            if forced { logger.info("policy unchanged", metadata: ["file": "\(path)", "version": "\(version)"]) }
            return
        case .alreadyRejected:
            return
        case .load:
            break
        }
        guard let bytes else {
            rejectPolicy(version: version, problems: [PolicyDiagnostic(file: path, line: 1, column: 1, field: "", message: "cannot read the file").description])
            return
        }
        let policy: Policy
        do {
            policy = try PolicyLoader.load(yaml: String(decoding: bytes, as: UTF8.self), file: path)
        } catch {
            rejectPolicy(version: version, problems: error.diagnostics.map(\.description))
            return
        }
        do {
            try reload(policy: policy, version: version)
        } catch {
            rejectPolicy(version: version, problems: ["\(path): \(error)"])
        }
    }

    private func rejectPolicy(version: String, problems: [String]) {
        reloadState.withLockedValue { $0.failed(version) }
        metrics.policyReloadErrors().increment()
        let current = policyVersion
        for problem in problems {
            logger.warning("policy edit rejected; the policy in force stays: \(problem)", metadata: ["version": "\(version)", "in_force": "\(current)"])
        }
    }
}
