import NIOCore
import Testing

@testable import SluiceSidecar

/// The pool's bookkeeping without sockets: keys are strings, connections and leases ints.
@Suite struct UpstreamPoolStateMachineTests {
    typealias Machine = UpstreamPoolStateMachine<String, Int, Int>
    typealias Action = Machine.Action

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// The deadline `seconds` after the test's start.
    func at(_ seconds: Int64) -> NIODeadline { Self.start + .seconds(seconds) }

    func machine(max: Int = 2, waiters: Int = 3, idle: TimeAmount = .seconds(50)) -> Machine {
        Machine(configuration: .init(maxConnectionsPerEndpoint: max, maxWaitersPerEndpoint: waiters, idleTimeout: idle))
    }

    /// The connect the action starts, failing the test when it starts none.
    func connectID(_ action: Action, sourceLocation: SourceLocation = #_sourceLocation) throws -> Machine.ConnectID {
        switch action.connection {
        case .connect(_, let id), .closeAndConnect(_, _, let id): return id
        default:
            Issue.record("expected a connect, got \(action)", sourceLocation: sourceLocation)
            throw Unexpected("no connect")
        }
    }

    /// Leases `lease` on `key` and completes its connect with `connection`; returns nothing
    /// but checks the hand-over.
    func open(_ m: inout Machine, lease: Int, connection: Int, key: String = "a", now: Int64 = 0) throws {
        let id = try connectID(m.leaseRequested(lease, key: key, fresh: false, deadline: at(now + 30), now: at(now)))
        #expect(m.connectSucceeded(id, connection, now: at(now)) == Action(lease: .handOver(lease, connection)))
    }

    // MARK: Reuse and eviction

    @Test func idleConnectionsAreReusedMostRecentFirst() throws {
        var m = machine()
        try open(&m, lease: 1, connection: 10)
        try open(&m, lease: 2, connection: 20)
        // Parking asks for no timer: the one for the leases' deadline (30 s) comes first.
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        #expect(m.released(20, reusable: true, now: at(2)) == Action())
        #expect(m.counts(for: "a") == .init(idle: 2))
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(40), now: at(3)) == Action(lease: .handOver(3, 20)))
        #expect(m.leaseRequested(4, key: "a", fresh: false, deadline: at(40), now: at(3)) == Action(lease: .handOver(4, 10)))
        #expect(m.counts(for: "a") == .init(leased: 2))
        #expect(m.connectionsOpened == 2)
        #expect(m.connectsStarted == 2)
    }

    @Test func idleConnectionsAreClosedAfterTheIdleTimeoutOldestFirst() throws {
        var m = machine()
        try open(&m, lease: 1, connection: 10)
        try open(&m, lease: 2, connection: 20)
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        #expect(m.released(20, reusable: true, now: at(5)) == Action())
        // The leases' timer finds them served and asks for the oldest idle deadline.
        #expect(m.timerFired(now: at(30)) == Action(scheduleTimer: at(51)))
        #expect(m.timerFired(now: at(51)) == Action(connection: .closeMany([10]), scheduleTimer: at(55)))
        #expect(m.counts(for: "a") == .init(idle: 1))
        #expect(m.timerFired(now: at(55)) == Action(connection: .closeMany([20])))
        #expect(m.counts(for: "a") == .init())
        #expect(m.connectionCount == 0)
        #expect(m.scheduledTimer == nil)
    }

    @Test func aTimerForAConnectionReusedMeanwhileDoesNothing() throws {
        var m = machine()
        try open(&m, lease: 1, connection: 10)
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        #expect(m.timerFired(now: at(30)) == Action(scheduleTimer: at(51)))
        #expect(m.leaseRequested(2, key: "a", fresh: false, deadline: at(40), now: at(2)) == Action(lease: .handOver(2, 10)))
        #expect(m.timerFired(now: at(51)) == Action())
        // Parked again later: a new timer is asked for, for its new idle deadline.
        #expect(m.released(10, reusable: true, now: at(60)) == Action(scheduleTimer: at(110)))
    }

    @Test func aFreshLeaseSkipsIdleConnectionsAndAtTheCapClosesTheOldest() throws {
        var m = machine(max: 2)
        try open(&m, lease: 1, connection: 10)
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        // Under the cap: a new connect, the idle one stays.
        let first = m.leaseRequested(2, key: "a", fresh: true, deadline: at(30), now: at(2))
        #expect(first.connection == .connect("a", try connectID(first)))
        #expect(first.lease == .none)
        #expect(m.counts(for: "a") == .init(idle: 1, connecting: 1))
        // At the cap (one idle, one connecting): the idle one makes room.
        let second = m.leaseRequested(3, key: "a", fresh: true, deadline: at(30), now: at(2))
        #expect(second.connection == .closeAndConnect(10, "a", try connectID(second)))
        #expect(m.counts(for: "a") == .init(connecting: 2))
        #expect(m.connectionCount == 0)
    }

    // MARK: Caps and waiters

    @Test func theCapIsPerEndpointAndCountsConnectsInFlight() throws {
        var m = machine(max: 2)
        _ = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        _ = try connectID(m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0)))
        // At the cap: the third waits (the timer for deadline 30 is already asked for).
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(30), now: at(0)) == Action())
        #expect(m.counts(for: "a") == .init(connecting: 2, waiting: 1))
        // Another endpoint has its own cap.
        _ = try connectID(m.leaseRequested(4, key: "b", fresh: false, deadline: at(30), now: at(0)))
        #expect(m.counts(for: "b") == .init(connecting: 1))
    }

    @Test func aProvidersOwnCapIsBelowThePoolsAndNeverAbove() throws {
        var m = machine(max: 3)
        _ = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0), cap: 1))
        // max_connections 1: the second lease waits although the pool would allow 3.
        #expect(m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0), cap: 1) == Action())
        #expect(m.counts(for: "a") == .init(connecting: 1, waiting: 1))
        // A cap above the pool's is held to the pool's.
        for lease in 3...5 { _ = m.leaseRequested(lease, key: "b", fresh: false, deadline: at(30), now: at(0), cap: 100) }
        #expect(m.counts(for: "b") == .init(connecting: 3, waiting: 0) || m.counts(for: "b") == .init(connecting: 3))
        #expect(m.leaseRequested(6, key: "b", fresh: false, deadline: at(30), now: at(0), cap: 100) == Action())
    }

    @Test func theWaitQueueIsBoundedPerEndpoint() throws {
        var m = machine(max: 1, waiters: 2)
        _ = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        #expect(m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0)) == Action())
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(30), now: at(0)) == Action())
        #expect(m.leaseRequested(4, key: "a", fresh: false, deadline: at(30), now: at(0)) == Action(lease: .fail(4, .waitQueueFull)))
        #expect(m.counts(for: "a") == .init(connecting: 1, waiting: 2))
        // Another endpoint's queue is separate.
        var other = machine(max: 0, waiters: 1)
        #expect(other.leaseRequested(1, key: "b", fresh: false, deadline: at(30), now: at(0)) == Action(scheduleTimer: at(30)))
        #expect(other.leaseRequested(2, key: "b", fresh: false, deadline: at(30), now: at(0)) == Action(lease: .fail(2, .waitQueueFull)))
    }

    @Test func waitersAreServedInOrder() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        for lease in 2...4 {
            _ = m.leaseRequested(lease, key: "a", fresh: false, deadline: at(30), now: at(0))
        }
        #expect(m.released(10, reusable: true, now: at(1)) == Action(lease: .handOver(2, 10)))
        #expect(m.released(10, reusable: true, now: at(2)) == Action(lease: .handOver(3, 10)))
        #expect(m.released(10, reusable: true, now: at(3)) == Action(lease: .handOver(4, 10)))
        #expect(m.released(10, reusable: true, now: at(4)) == Action()) // parks; the 30 s timer comes first
        #expect(m.counts(for: "a") == .init(idle: 1))
    }

    @Test func waitersFailAtTheirDeadlineWithOneTimerForTheEarliest() throws {
        var m = machine(max: 1, waiters: 10)
        let id = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(20), now: at(0)))
        #expect(m.scheduledTimer == at(20))
        #expect(m.connectSucceeded(id, 10, now: at(0)) == Action(lease: .handOver(1, 10)))
        #expect(m.leaseRequested(2, key: "a", fresh: false, deadline: at(5), now: at(0)) == Action(scheduleTimer: at(5)))
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(3), now: at(0)) == Action(scheduleTimer: at(3)))
        #expect(m.leaseRequested(4, key: "a", fresh: false, deadline: at(10), now: at(0)) == Action())
        #expect(m.timerFired(now: at(3)) == Action(lease: .failMany([3], .waitTimedOut), scheduleTimer: at(5)))
        #expect(m.timerFired(now: at(5)) == Action(lease: .failMany([2], .waitTimedOut), scheduleTimer: at(10)))
        #expect(m.counts(for: "a") == .init(leased: 1, waiting: 1))
        #expect(m.released(10, reusable: true, now: at(6)) == Action(lease: .handOver(4, 10)))
        // Lease 4 was served: its timer finds nothing to do and asks for no other.
        #expect(m.timerFired(now: at(10)) == Action())
        #expect(m.scheduledTimer == nil)
    }

    @Test func aLeaseWaitingOnItsConnectFailsAtItsDeadlineAndTheConnectionIsParked() throws {
        var m = machine(max: 1, idle: .seconds(50))
        let id = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(2), now: at(0)))
        #expect(m.timerFired(now: at(2)) == Action(lease: .failMany([1], .waitTimedOut)))
        #expect(m.pendingLeaseCount == 0)
        #expect(m.connectSucceeded(id, 10, now: at(3)) == Action(scheduleTimer: at(53)))
        #expect(m.counts(for: "a") == .init(idle: 1))
    }

    @Test func aLeaseWhoseDeadlinePassedFailsUnlessAnIdleConnectionIsThere() throws {
        var m = machine()
        #expect(m.leaseRequested(1, key: "a", fresh: false, deadline: at(0), now: at(0)) == Action(lease: .fail(1, .waitTimedOut)))
        #expect(m.connectsStarted == 0)
        try open(&m, lease: 2, connection: 10)
        _ = m.released(10, reusable: true, now: at(1))
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(0), now: at(1)) == Action(lease: .handOver(3, 10)))
    }

    // MARK: Connect failures

    @Test func aFailedConnectFailsItsLeaseAndTheNextWaiterGetsItsOwnConnect() throws {
        var m = machine(max: 1, waiters: 10)
        let first = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        _ = m.leaseRequested(3, key: "a", fresh: false, deadline: at(30), now: at(0))
        let failed = m.connectFailed(first)
        #expect(failed.lease == .fail(1, .connectFailed))
        let second = try connectID(failed)
        #expect(failed.connection == .connect("a", second))
        #expect(m.counts(for: "a") == .init(connecting: 1, waiting: 1))
        let failedAgain = m.connectFailed(second)
        #expect(failedAgain.lease == .fail(2, .connectFailed))
        let third = try connectID(failedAgain)
        #expect(m.connectSucceeded(third, 30, now: at(1)) == Action(lease: .handOver(3, 30)))
        #expect(m.connectsStarted == 3)
        #expect(m.connectionsOpened == 1)
        #expect(m.pendingLeaseCount == 0)
    }

    @Test func outcomesOfUnknownConnectsAreHarmless() {
        var m = machine()
        #expect(m.connectFailed(.init(value: 99)) == Action())
        #expect(m.connectSucceeded(.init(value: 99), 10, now: at(0)) == Action(connection: .close(10)))
        #expect(m.connectionCount == 0)
    }

    // MARK: Release and close

    @Test func aNonReusableReleaseClosesAndOpensANewConnectionForTheNextWaiter() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        let released = m.released(10, reusable: false, now: at(1))
        let id = try connectID(released)
        #expect(released == Action(connection: .closeAndConnect(10, "a", id)))
        #expect(m.counts(for: "a") == .init(connecting: 1))
        #expect(m.connectSucceeded(id, 20, now: at(2)) == Action(lease: .handOver(2, 20)))
    }

    @Test func aNonReusableReleaseWithNobodyWaitingJustCloses() throws {
        var m = machine()
        try open(&m, lease: 1, connection: 10)
        #expect(m.released(10, reusable: false, now: at(1)) == Action(connection: .close(10)))
        #expect(m.counts(for: "a") == .init())
        #expect(m.connectionCount == 0)
    }

    @Test func aReusableReleaseToAFreshWaiterIsReplacedByANewConnection() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: true, deadline: at(30), now: at(0))
        let released = m.released(10, reusable: true, now: at(1))
        let id = try connectID(released)
        #expect(released == Action(connection: .closeAndConnect(10, "a", id)))
        #expect(m.connectSucceeded(id, 20, now: at(2)) == Action(lease: .handOver(2, 20)))
    }

    @Test func aClosedConnectionFreesItsSlotForTheNextWaiter() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        let closed = m.closed(10)
        #expect(closed == Action(connection: .connect("a", try connectID(closed))))
        // Reported again (the holder forgets it, then the channel goes inactive): nothing.
        #expect(m.closed(10) == Action())
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        #expect(m.counts(for: "a") == .init(connecting: 1))
    }

    @Test func anIdleConnectionThatClosesLeavesTheIdleList() throws {
        var m = machine()
        try open(&m, lease: 1, connection: 10)
        try open(&m, lease: 2, connection: 20)
        _ = m.released(10, reusable: true, now: at(1))
        _ = m.released(20, reusable: true, now: at(2))
        #expect(m.closed(20) == Action())
        #expect(m.counts(for: "a") == .init(idle: 1))
        #expect(m.leaseRequested(3, key: "a", fresh: false, deadline: at(30), now: at(3)) == Action(lease: .handOver(3, 10)))
        // Releasing a connection twice is ignored.
        _ = m.released(10, reusable: true, now: at(4))
        #expect(m.released(10, reusable: true, now: at(5)) == Action())
        #expect(m.counts(for: "a") == .init(idle: 1))
    }

    // MARK: Cancellation

    @Test func cancellingAQueuedWaiterTakesItOutOfTheQueue() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        _ = m.leaseRequested(3, key: "a", fresh: false, deadline: at(30), now: at(0))
        m.cancelled(2, key: "a")
        #expect(m.counts(for: "a") == .init(leased: 1, waiting: 1))
        #expect(m.released(10, reusable: true, now: at(1)) == Action(lease: .handOver(3, 10)))
        m.cancelled(3, key: "a") // already served: nothing changes
        #expect(m.counts(for: "a") == .init(leased: 1))
        #expect(m.released(10, reusable: true, now: at(2)) == Action())
        #expect(m.counts(for: "a") == .init(idle: 1))
    }

    @Test func cancellingTheLastWaiterLetsTheReleasedConnectionPark() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        m.cancelled(2, key: "a")
        #expect(m.released(10, reusable: true, now: at(1)) == Action())
        #expect(m.counts(for: "a") == .init(idle: 1))
        #expect(m.pendingLeaseCount == 0)
        // Its deadline passes without a failure for it.
        #expect(m.timerFired(now: at(30)).lease == .none)
    }

    @Test func cancellingALeaseWhileItsConnectIsInFlightParksTheConnection() throws {
        var m = machine()
        let id = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        m.cancelled(1, key: "a")
        #expect(m.pendingLeaseCount == 0)
        let landed = m.connectSucceeded(id, 10, now: at(1))
        #expect(landed.lease == .none)
        #expect(landed.connection == .none)
        #expect(m.counts(for: "a") == .init(idle: 1))
    }

    @Test func aConnectWhoseLeaseWasCancelledServesTheFirstWaiter() throws {
        var m = machine(max: 1, waiters: 10)
        let id = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        _ = m.leaseRequested(2, key: "a", fresh: true, deadline: at(30), now: at(0))
        m.cancelled(1, key: "a")
        // A new connection suits a fresh waiter too.
        #expect(m.connectSucceeded(id, 10, now: at(1)) == Action(lease: .handOver(2, 10)))
    }

    @Test func aConnectWhoseLeaseWasCancelledFailsQuietlyAndTheNextWaiterGetsAConnect() throws {
        var m = machine(max: 1, waiters: 10)
        let id = try connectID(m.leaseRequested(1, key: "a", fresh: false, deadline: at(30), now: at(0)))
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        m.cancelled(1, key: "a")
        let failed = m.connectFailed(id)
        #expect(failed.lease == .none)
        #expect(failed.connection == .connect("a", try connectID(failed)))
    }

    @Test func cancellingAfterATimeoutOrAnUnknownLeaseChangesNothing() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(5), now: at(0))
        #expect(m.timerFired(now: at(5)).lease == .failMany([2], .waitTimedOut))
        m.cancelled(2, key: "a")
        m.cancelled(99, key: "zzz")
        #expect(m.counts(for: "a") == .init(leased: 1))
    }

    // MARK: Shutdown

    @Test func shutdownFailsEveryWaiterAndClosesIdleConnections() throws {
        var m = machine(max: 1, waiters: 10)
        try open(&m, lease: 1, connection: 10)
        _ = m.leaseRequested(2, key: "a", fresh: false, deadline: at(30), now: at(0))
        let connecting = try connectID(m.leaseRequested(3, key: "b", fresh: false, deadline: at(30), now: at(0)))
        try open(&m, lease: 4, connection: 40, key: "c")
        _ = m.released(40, reusable: true, now: at(1))
        let action = m.shutdown()
        guard case .failMany(let leases, .shutDown) = action.lease else {
            Issue.record("expected the waiters to fail with shutDown: \(action)")
            return
        }
        #expect(leases.sorted() == [2, 3])
        #expect(action.connection == .closeMany([40]))
        #expect(m.shutdown() == Action())
        // What comes later is closed, and new leases fail at once.
        #expect(m.connectSucceeded(connecting, 30, now: at(2)) == Action(connection: .close(30)))
        #expect(m.released(10, reusable: true, now: at(2)) == Action(connection: .close(10)))
        #expect(m.leaseRequested(5, key: "a", fresh: false, deadline: at(30), now: at(2)) == Action(lease: .fail(5, .shutDown)))
        #expect(m.connectionCount == 0)
        #expect(m.pendingLeaseCount == 0)
    }

    // MARK: Invariants under random events

    /// Drives the machine with seeded random events, acting like the shell, and checks after
    /// each step: each endpoint stays within its caps, nobody waits while a connection is
    /// idle, a connection has at most one holder, and each lease gets at most one outcome;
    /// after shutdown and the last connect, every lease got exactly one.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func invariantsHoldUnderRandomEvents(seed: UInt64) throws {
        let keys = ["a", "b"]
        var m = machine(max: 2, waiters: 3, idle: .seconds(5))
        var random = SplitMix64(seed: seed)
        var now: Int64 = 0
        var nextLease = 0
        var nextConnection = 100
        var pending: [Int: String] = [:] // lease -> key, not yet answered
        var outcomes: [Int: Int] = [:] // lease -> number of answers
        var holders: [Int: Int] = [:] // connection -> lease holding it
        var connects: [Machine.ConnectID] = []

        func apply(_ action: Action) {
            switch action.lease {
            case .none: break
            case .handOver(let lease, let connection):
                #expect(holders[connection] == nil, "connection \(connection) handed to \(lease) while held")
                holders[connection] = lease
                answer(lease)
            case .fail(let lease, _): answer(lease)
            case .failMany(let leases, _): leases.forEach(answer)
            }
            switch action.connection {
            case .none: break
            case .connect(_, let id): connects.append(id)
            case .close(let connection): holders[connection] = nil
            case .closeAndConnect(let connection, _, let id):
                holders[connection] = nil
                connects.append(id)
            case .closeMany(let connections): connections.forEach { holders[$0] = nil }
            }
        }
        func answer(_ lease: Int) {
            outcomes[lease, default: 0] += 1
            pending[lease] = nil
        }

        for _ in 0..<400 {
            switch random.next() % 8 {
            case 0, 1:
                nextLease += 1
                let key = keys[Int(random.next() % 2)]
                pending[nextLease] = key
                let deadline = at(now + Int64(random.next() % 8))
                apply(m.leaseRequested(nextLease, key: key, fresh: random.next() % 4 == 0, deadline: deadline, now: at(now)))
            case 2 where !connects.isEmpty:
                let id = connects.remove(at: Int(random.next() % UInt64(connects.count)))
                nextConnection += 1
                apply(m.connectSucceeded(id, nextConnection, now: at(now)))
            case 3 where !connects.isEmpty:
                apply(m.connectFailed(connects.remove(at: Int(random.next() % UInt64(connects.count)))))
            case 4 where !holders.isEmpty:
                let connection = holders.keys.sorted()[Int(random.next() % UInt64(holders.count))]
                holders[connection] = nil
                apply(m.released(connection, reusable: random.next() % 3 != 0, now: at(now)))
            case 5 where !holders.isEmpty:
                let connection = holders.keys.sorted()[Int(random.next() % UInt64(holders.count))]
                holders[connection] = nil
                apply(m.closed(connection))
            case 6 where !pending.isEmpty:
                let lease = pending.keys.sorted()[Int(random.next() % UInt64(pending.count))]
                m.cancelled(lease, key: pending[lease] ?? "")
                pending[lease] = nil
                outcomes[lease, default: 0] += 1 // a cancelled lease counts as answered
            default:
                now += 1
                if let timer = m.scheduledTimer, timer <= at(now) { apply(m.timerFired(now: at(now))) }
            }
            for key in keys {
                let counts = m.counts(for: key)
                #expect(counts.idle + counts.leased + counts.connecting <= 2)
                #expect(counts.waiting <= 3)
                #expect(counts.waiting == 0 || counts.idle == 0, "waiters while a connection is idle")
            }
            #expect(outcomes.values.allSatisfy { $0 == 1 }, "a lease answered twice")
            // Every pending lease is covered by the timer.
            if m.pendingLeaseCount > 0 { #expect(m.scheduledTimer != nil) }
        }
        apply(m.shutdown())
        while let id = connects.popLast() {
            nextConnection += 1
            apply(m.connectSucceeded(id, nextConnection, now: at(now)))
        }
        #expect(pending.isEmpty, "leases never answered: \(pending.keys.sorted())")
        #expect(outcomes.count == nextLease)
        #expect(outcomes.values.allSatisfy { $0 == 1 })
    }
}
