import NIOCore

/// The upstream pool's bookkeeping as a value: per endpoint, the idle connections, the ones
/// leased, the connects in flight and the queue of waiting leases; events in, actions out.
///
/// Generic over opaque ids (endpoint key, connection, lease) so it runs without sockets;
/// ``UpstreamPool`` is the shell that performs the actions. Rules:
/// - a lease takes the most recently parked idle connection (LIFO) unless it asks for a
///   fresh one; otherwise it gets a connect of its own while the endpoint is under its cap
///   (idle, leased and connecting connections all count), or waits in a bounded FIFO queue;
/// - a connect hands its connection to the lease it was opened for; if that lease is gone
///   (cancelled, timed out) to the first waiter, else the connection is parked. A failed
///   connect fails the lease it was opened for, and the freed slot goes to the next waiter
///   as a new connect;
/// - every pending lease (queued or connecting) fails at its deadline; idle connections
///   are closed `idleTimeout` after they were parked. One timer serves both: the machine
///   asks for it only when a deadline earlier than the one scheduled appears, and a timer
///   that fires early (its lease was served meanwhile) just asks for the next one;
/// - waiters exist only while an endpoint has no idle connection (a fresh lease at the cap
///   closes the oldest idle one to make room), so a released connection never parks while
///   someone waits.
struct UpstreamPoolStateMachine<Key: Hashable, Connection: Hashable, Lease: Hashable> {
    /// Caps and the idle timeout.
    struct Configuration {
        var maxConnectionsPerEndpoint: Int
        var maxWaitersPerEndpoint: Int
        var idleTimeout: TimeAmount
    }

    /// Identifies one connect attempt; handed back with its outcome.
    struct ConnectID: Hashable, CustomStringConvertible {
        let value: UInt64
        var description: String { "connect#\(value)" }
    }

    /// Why a lease failed (a connect failure carries no error here: the shell has it).
    enum Failure: Equatable {
        case waitQueueFull
        case waitTimedOut
        case shutDown
        case connectFailed
    }

    /// What to do for the callers holding leases.
    enum LeaseAction: Equatable {
        case none
        case handOver(Lease, Connection)
        case fail(Lease, Failure)
        case failMany([Lease], Failure)
    }

    /// What to do with sockets.
    enum ConnectionAction: Equatable {
        case none
        case connect(Key, ConnectID)
        case close(Connection)
        /// Close one connection and open another in its slot (same endpoint).
        case closeAndConnect(Connection, Key, ConnectID)
        case closeMany([Connection])
    }

    /// The answer to one event; the shell performs the timer, then the connection, then
    /// the lease part (callbacks last, so a callback re-entering the pool sees it settled).
    struct Action: Equatable {
        var lease: LeaseAction = .none
        var connection: ConnectionAction = .none
        /// Schedule the pool's one timer at this deadline, replacing any scheduled one.
        var scheduleTimer: NIODeadline?

        static var none: Action { Action() }
    }

    private struct Waiter {
        var lease: Lease
        var fresh: Bool
        var deadline: NIODeadline
    }

    private struct Attempt {
        var key: Key
        /// The lease the connect was opened for, nil once it was cancelled or timed out.
        var lease: Lease?
        var deadline: NIODeadline
    }

    private struct Parked {
        var connection: Connection
        var since: NIODeadline
    }

    private struct Endpoint {
        /// Oldest first; leases take from the back.
        var idle: [Parked] = []
        var leased = 0
        var connecting = 0
        var waiters = CircularBuffer<Waiter>(initialCapacity: 4)
        /// This endpoint's own connection cap (a provider's `max_connections`), if any.
        var cap: Int?

        var open: Int { idle.count + leased + connecting }
        var isUnused: Bool { open == 0 && waiters.isEmpty }
    }

    private struct Entry {
        var key: Key
        var isIdle: Bool
    }

    let configuration: Configuration
    private var endpoints: [Key: Endpoint] = [:]
    private var connections: [Connection: Entry] = [:]
    private var attempts: [ConnectID: Attempt] = [:]
    private var nextConnectID: UInt64 = 0
    private var timerDeadline: NIODeadline?
    private(set) var isShutDown = false
    /// Connects that succeeded, ever (`sluice_upstream_connections_opened_total`).
    private(set) var connectionsOpened = 0
    /// Connects started, ever.
    private(set) var connectsStarted = 0

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Events

    /// A caller wants a connection to `key` by `deadline`.
    mutating func leaseRequested(_ lease: Lease, key: Key, fresh: Bool, deadline: NIODeadline, now: NIODeadline, cap: Int? = nil) -> Action {
        guard !isShutDown else { return Action(lease: .fail(lease, .shutDown)) }
        var endpoint = endpoints.removeValue(forKey: key) ?? Endpoint()
        endpoint.cap = cap.map { max(1, min($0, configuration.maxConnectionsPerEndpoint)) }
        defer { store(endpoint, for: key) }
        if !fresh, let parked = endpoint.idle.popLast() {
            endpoint.leased += 1
            connections[parked.connection]?.isIdle = false
            return Action(lease: .handOver(lease, parked.connection))
        }
        guard deadline > now else { return Action(lease: .fail(lease, .waitTimedOut)) }
        if endpoint.open < (endpoint.cap ?? configuration.maxConnectionsPerEndpoint) {
            let id = startAttempt(&endpoint, key: key, lease: lease, deadline: deadline)
            return Action(connection: .connect(key, id), scheduleTimer: timer(for: deadline))
        }
        if !endpoint.idle.isEmpty {
            // Only a fresh lease gets here: the oldest idle connection makes room.
            let oldest = endpoint.idle.removeFirst()
            connections[oldest.connection] = nil
            let id = startAttempt(&endpoint, key: key, lease: lease, deadline: deadline)
            return Action(connection: .closeAndConnect(oldest.connection, key, id), scheduleTimer: timer(for: deadline))
        }
        guard endpoint.waiters.count < configuration.maxWaitersPerEndpoint else {
            return Action(lease: .fail(lease, .waitQueueFull))
        }
        endpoint.waiters.append(Waiter(lease: lease, fresh: fresh, deadline: deadline))
        return Action(scheduleTimer: timer(for: deadline))
    }

    /// A connect succeeded.
    mutating func connectSucceeded(_ id: ConnectID, _ connection: Connection, now: NIODeadline) -> Action {
        guard let attempt = attempts.removeValue(forKey: id) else { return Action(connection: .close(connection)) }
        connectionsOpened += 1
        var endpoint = endpoints.removeValue(forKey: attempt.key) ?? Endpoint()
        defer { store(endpoint, for: attempt.key) }
        endpoint.connecting -= 1
        guard !isShutDown else { return Action(connection: .close(connection)) }
        // A new connection suits any waiter, fresh or not.
        var lease = attempt.lease
        if lease == nil { lease = endpoint.waiters.popFirst()?.lease }
        guard let lease else {
            return park(connection, key: attempt.key, in: &endpoint, now: now)
        }
        endpoint.leased += 1
        connections[connection] = Entry(key: attempt.key, isIdle: false)
        return Action(lease: .handOver(lease, connection))
    }

    /// A connect failed; its lease, if still waiting, gets the error.
    mutating func connectFailed(_ id: ConnectID) -> Action {
        guard let attempt = attempts.removeValue(forKey: id) else { return .none }
        var endpoint = endpoints.removeValue(forKey: attempt.key) ?? Endpoint()
        defer { store(endpoint, for: attempt.key) }
        endpoint.connecting -= 1
        var action = Action()
        if let lease = attempt.lease { action.lease = .fail(lease, .connectFailed) }
        if let id = connectForNextWaiter(&endpoint, key: attempt.key) { action.connection = .connect(attempt.key, id) }
        return action
    }

    /// A leased connection came back; `reusable` when its response ended cleanly with
    /// keep-alive and the socket is still open.
    mutating func released(_ connection: Connection, reusable: Bool, now: NIODeadline) -> Action {
        guard let entry = connections[connection], !entry.isIdle else { return .none }
        var endpoint = endpoints.removeValue(forKey: entry.key) ?? Endpoint()
        defer { store(endpoint, for: entry.key) }
        endpoint.leased -= 1
        guard reusable, !isShutDown else {
            connections[connection] = nil
            if let id = connectForNextWaiter(&endpoint, key: entry.key) {
                return Action(connection: .closeAndConnect(connection, entry.key, id))
            }
            return Action(connection: .close(connection))
        }
        guard let waiter = endpoint.waiters.popFirst() else {
            return park(connection, key: entry.key, in: &endpoint, now: now)
        }
        if waiter.fresh {
            connections[connection] = nil
            let id = startAttempt(&endpoint, key: entry.key, lease: waiter.lease, deadline: waiter.deadline)
            return Action(connection: .closeAndConnect(connection, entry.key, id))
        }
        endpoint.leased += 1
        return Action(lease: .handOver(waiter.lease, connection))
    }

    /// A connection closed (by the peer, an error, or whoever held it). Unknown or already
    /// forgotten connections are ignored, so reporting twice is harmless.
    mutating func closed(_ connection: Connection) -> Action {
        guard let entry = connections.removeValue(forKey: connection) else { return .none }
        var endpoint = endpoints.removeValue(forKey: entry.key) ?? Endpoint()
        defer { store(endpoint, for: entry.key) }
        if entry.isIdle {
            endpoint.idle.removeAll { $0.connection == connection }
        } else {
            endpoint.leased -= 1
        }
        guard let id = connectForNextWaiter(&endpoint, key: entry.key) else { return .none }
        return Action(connection: .connect(entry.key, id))
    }

    /// The caller withdrew its lease: a queued waiter leaves the queue; a connect opened for
    /// it goes on, and its connection will serve the next waiter or park. Nothing to do
    /// for a lease already served or failed.
    mutating func cancelled(_ lease: Lease, key: Key) {
        if var endpoint = endpoints.removeValue(forKey: key) {
            defer { store(endpoint, for: key) }
            if let index = endpoint.waiters.firstIndex(where: { $0.lease == lease }) {
                endpoint.waiters.remove(at: index)
                return
            }
        }
        if let id = attempts.first(where: { $0.value.lease == lease })?.key {
            attempts[id]?.lease = nil
        }
    }

    /// The pool timer fired: fails the leases whose deadline passed, closes connections idle
    /// for `idleTimeout`, and asks for the next timer.
    mutating func timerFired(now: NIODeadline) -> Action {
        timerDeadline = nil
        var expired: [Lease] = []
        var evicted: [Connection] = []
        var next: NIODeadline?
        func consider(_ deadline: NIODeadline) {
            if next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        for (id, attempt) in attempts {
            guard let lease = attempt.lease else { continue }
            if attempt.deadline <= now {
                expired.append(lease)
                attempts[id]?.lease = nil
            } else {
                consider(attempt.deadline)
            }
        }
        for key in Array(endpoints.keys) {
            guard var endpoint = endpoints.removeValue(forKey: key) else { continue }
            var kept = CircularBuffer<Waiter>(initialCapacity: endpoint.waiters.count)
            while let waiter = endpoint.waiters.popFirst() {
                if waiter.deadline <= now {
                    expired.append(waiter.lease)
                } else {
                    kept.append(waiter)
                    consider(waiter.deadline)
                }
            }
            endpoint.waiters = kept
            let stale = endpoint.idle.prefix { $0.since + configuration.idleTimeout <= now }.count
            for parked in endpoint.idle.prefix(stale) {
                evicted.append(parked.connection)
                connections[parked.connection] = nil
            }
            endpoint.idle.removeFirst(stale)
            if let oldest = endpoint.idle.first { consider(oldest.since + configuration.idleTimeout) }
            store(endpoint, for: key)
        }
        var action = Action()
        if !expired.isEmpty { action.lease = .failMany(expired, .waitTimedOut) }
        if !evicted.isEmpty { action.connection = .closeMany(evicted) }
        if let next {
            timerDeadline = next
            action.scheduleTimer = next
        }
        return action
    }

    /// The pool shuts down: every pending lease fails, idle connections close; connects in
    /// flight close when they land and leased connections when they come back.
    mutating func shutdown() -> Action {
        guard !isShutDown else { return .none }
        isShutDown = true
        timerDeadline = nil
        var failed: [Lease] = []
        var closing: [Connection] = []
        for (id, attempt) in attempts {
            if let lease = attempt.lease { failed.append(lease) }
            attempts[id]?.lease = nil
        }
        for key in Array(endpoints.keys) {
            guard var endpoint = endpoints.removeValue(forKey: key) else { continue }
            while let waiter = endpoint.waiters.popFirst() { failed.append(waiter.lease) }
            for parked in endpoint.idle {
                closing.append(parked.connection)
                connections[parked.connection] = nil
            }
            endpoint.idle.removeAll()
            store(endpoint, for: key)
        }
        var action = Action()
        if !failed.isEmpty { action.lease = .failMany(failed, .shutDown) }
        if !closing.isEmpty { action.connection = .closeMany(closing) }
        return action
    }

    // MARK: Inspection (tests and metrics)

    /// Counts for one endpoint.
    struct Counts: Equatable {
        var idle = 0
        var leased = 0
        var connecting = 0
        var waiting = 0
    }

    func counts(for key: Key) -> Counts {
        guard let endpoint = endpoints[key] else { return Counts() }
        return Counts(idle: endpoint.idle.count, leased: endpoint.leased, connecting: endpoint.connecting, waiting: endpoint.waiters.count)
    }

    /// Idle connections, all endpoints.
    var idleCount: Int { endpoints.values.reduce(0) { $0 + $1.idle.count } }
    /// Established connections (idle or leased), all endpoints.
    var connectionCount: Int { connections.count }
    /// Leases waiting in a queue or on a connect, all endpoints.
    var pendingLeaseCount: Int {
        endpoints.values.reduce(0) { $0 + $1.waiters.count } + attempts.values.reduce(0) { $0 + ($1.lease == nil ? 0 : 1) }
    }
    /// The deadline of the timer the machine last asked for, if it is still wanted.
    var scheduledTimer: NIODeadline? { timerDeadline }

    // MARK: Helpers

    private mutating func store(_ endpoint: Endpoint, for key: Key) {
        if !endpoint.isUnused { endpoints[key] = endpoint }
    }

    private mutating func startAttempt(_ endpoint: inout Endpoint, key: Key, lease: Lease?, deadline: NIODeadline) -> ConnectID {
        nextConnectID += 1
        connectsStarted += 1
        let id = ConnectID(value: nextConnectID)
        attempts[id] = Attempt(key: key, lease: lease, deadline: deadline)
        endpoint.connecting += 1
        return id
    }

    /// When a slot freed up and someone waits, the first waiter gets a connect of its own.
    private mutating func connectForNextWaiter(_ endpoint: inout Endpoint, key: Key) -> ConnectID? {
        guard !isShutDown, endpoint.open < (endpoint.cap ?? configuration.maxConnectionsPerEndpoint), let waiter = endpoint.waiters.popFirst() else { return nil }
        return startAttempt(&endpoint, key: key, lease: waiter.lease, deadline: waiter.deadline)
    }

    private mutating func park(_ connection: Connection, key: Key, in endpoint: inout Endpoint, now: NIODeadline) -> Action {
        endpoint.idle.append(Parked(connection: connection, since: now))
        connections[connection] = Entry(key: key, isIdle: true)
        return Action(scheduleTimer: timer(for: now + configuration.idleTimeout))
    }

    /// Asks for the timer at `deadline` only when nothing earlier is scheduled.
    private mutating func timer(for deadline: NIODeadline) -> NIODeadline? {
        if let scheduled = timerDeadline, scheduled <= deadline { return nil }
        timerDeadline = deadline
        return deadline
    }
}
