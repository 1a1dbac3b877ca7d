import NIOCore
import Testing

@testable import SluiceSidecar

/// A connection whose call was abandoned is drained and parked, not closed, when its
/// response ends within the byte budget and deadline; otherwise it is closed.
@Suite struct UpstreamPoolDrainTests {
    /// Writes a request, abandons the call at once and drains with these limits.
    func abandonCall(_ t: PoolUnderTest, maxBytes: Int, within: TimeAmount) async throws {
        let started: Bool = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
            pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                guard case .success(let connection) = result else { return promise.fail(Unexpected("lease: \(result)")) }
                let call = Recorder()
                connection.attach(call)
                connection.write(UpstreamPoolTests.request())
                pool.releaseAfterDraining(connection, responseKeepAlive: nil, maxBytes: maxBytes, deadline: .now() + within)
                promise.succeed(true)
            }
        }
        #expect(started)
    }

    /// Polls the pool's open and idle counts until they are `expected` or 5 s passed.
    func poll(_ t: PoolUnderTest, until expected: [Int]) async throws -> [Int] {
        let deadline = NIODeadline.now() + .seconds(5)
        var counts: [Int] = []
        while NIODeadline.now() < deadline {
            counts = try await t.read { [$0.openCount, $0.idleCount] }
            if counts == expected { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return counts
    }

    @Test func anAbandonedCallsConnectionIsParkedWhenItsResponseEnds() async throws {
        try await withPool(reply: { _ in .respondAfter(UpstreamPoolTests.okResponse, .milliseconds(100)) }) { t in
            try await abandonCall(t, maxBytes: 1024, within: .seconds(5))
            #expect(try await poll(t, until: [1, 1]) == [1, 1])
            // The next call reuses it: still one connection, at both ends.
            let served: Bool = try await t.onLoop(within: .seconds(5)) { pool, key, promise in
                pool.lease(key, fresh: false, deadline: .now() + .seconds(5)) { result in
                    guard case .success(let connection) = result else { return promise.fail(Unexpected("lease: \(result)")) }
                    let call = Recorder()
                    call.onPart = { part in
                        guard case .end = part else { return }
                        promise.succeed(true)
                        _ = call
                    }
                    connection.attach(call)
                    connection.write(UpstreamPoolTests.request())
                }
            }
            #expect(served)
            #expect(try await t.read { $0.connectionsOpened } == 1)
            #expect(t.server.connections == 1)
            #expect(t.server.requests == 2)
        }
    }

    @Test func aResponseOverTheBudgetClosesTheConnection() async throws {
        // The body is 2 bytes; the budget 1.
        try await withPool(reply: { _ in .respondAfter(UpstreamPoolTests.okResponse, .milliseconds(50)) }) { t in
            try await abandonCall(t, maxBytes: 1, within: .seconds(5))
            #expect(try await poll(t, until: [0, 0]) == [0, 0])
            #expect(try await t.read { $0.connectionsOpened } == 1)
        }
    }

    @Test func aResponseNotDoneByTheDeadlineClosesTheConnection() async throws {
        try await withPool(reply: { _ in .silent }) { t in
            try await abandonCall(t, maxBytes: 1024, within: .milliseconds(200))
            #expect(try await poll(t, until: [0, 0]) == [0, 0])
        }
    }
}
