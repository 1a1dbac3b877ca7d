import NIOCore
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

@Suite struct RouteStageTests {
    let stages: [any CallStage] = [ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage()]

    @Test func aliasRoutesDirectly() throws {
        let call = try makeCall(body: #"{"model":"fast","messages":[]}"#)
        #expect(run(stages, call) == nil)
        #expect(call.routeName == "direct")
        #expect(call.target?.name == "gpt-4o-mini")
        #expect(call.attempts.isEmpty)
    }

    @Test func unknownModelIs400ListingKnownOnes() throws {
        let call = try makeCall(body: #"{"model":"gpt-9"}"#)
        let reply = try #require(run(stages, call))
        #expect(reply.status == 400)
        #expect(reply.body.contains("unknown model gpt-9"))
        #expect(reply.body.contains("fast"))
        #expect(reply.body.contains(#""param":"model""#))
    }

    @Test func aModelOfTheOtherFamilyIsRoutedForTranslation() throws {
        let call = try makeCall(path: "/v1/messages", body: #"{"model":"fast","max_tokens":5,"messages":[]}"#)
        #expect(run(stages, call) == nil)
        #expect(call.target?.name == "gpt-4o-mini")
        #expect(call.target?.provider.family == .openai)
    }

    @Test func firstMatchingRouteWins() throws {
        let policy = testPolicy(routes: [
            Route(name: "search", match: RouteMatch(model: "fast", feature: "search"), targets: [RouteTarget(model: "gpt-4o")]),
            Route(name: "any-fast", match: RouteMatch(model: "fast"), targets: [RouteTarget(model: "gpt-4o-mini")]),
        ])
        let search = try makeCall(body: #"{"model":"fast"}"#, headers: [("x-sluice-feature", "search")], policy: policy)
        #expect(run(stages, search) == nil)
        #expect(search.routeName == "search")
        #expect(search.target?.name == "gpt-4o")

        let other = try makeCall(body: #"{"model":"fast"}"#, headers: [("x-sluice-feature", "chat")], policy: policy)
        #expect(run(stages, other) == nil)
        #expect(other.routeName == "any-fast")
    }

    @Test func weightsSplitTraffic() throws {
        let policy = testPolicy(routes: [
            Route(name: "split", match: RouteMatch(model: "mix"), targets: [RouteTarget(model: "gpt-4o", weight: 3), RouteTarget(model: "gpt-4o-mini", weight: 1)]),
        ])
        var counts: [String: Int] = [:]
        for bits in 0..<400 as Range<UInt64> {
            let call = try makeCall(body: #"{"model":"mix"}"#, policy: policy, randomBits: bits)
            #expect(run(stages, call) == nil)
            counts[call.target?.name ?? "", default: 0] += 1
        }
        #expect(counts == ["gpt-4o": 300, "gpt-4o-mini": 100])
    }

    @Test func routeTargetsOfTheOtherFamilyAreChosenByWeightToo() throws {
        // The upstream call translates: a target's vendor no longer limits who may use it.
        let policy = testPolicy(routes: [
            Route(name: "mixed", match: RouteMatch(model: "any"), targets: [RouteTarget(model: "claude-haiku", weight: 100), RouteTarget(model: "gpt-4o", weight: 1)]),
        ])
        let call = try makeCall(body: #"{"model":"any"}"#, policy: policy, randomBits: 7)
        #expect(run(stages, call) == nil)
        #expect(call.target?.name == "claude-haiku")
    }

    @Test func aTargetWhoseBreakerIsOpenIsPassedOverWhileAnotherIsHealthy() throws {
        let health = HealthRegistry()
        let policy = testPolicy(routes: [
            Route(name: "split", match: RouteMatch(model: "mix"), targets: [RouteTarget(model: "gpt-4o", weight: 3), RouteTarget(model: "gpt-4o-mini", weight: 1)]),
        ])
        let snapshot = try RuntimeSnapshot(policy: policy, version: "t", health: health)
        let sick = try #require(snapshot.modelsByClientName["gpt-4o"])
        let now = monotonicMilliseconds()
        for _ in 0..<BreakerSettings().consecutiveFailures {
            sick.health.record(.failure, admission: sick.health.admit(now: now).admission, headMilliseconds: nil, now: now)
        }
        #expect(sick.health.isOpen(now: now))
        let route = try #require(snapshot.routes.first)
        for bits in 0..<40 as Range<UInt64> {
            #expect(RouteStage.pick(route, randomBits: bits, now: now)?.name == "gpt-4o-mini")
        }
        // Once every target is open, the pick falls back to weights (the attempt loop
        // then reports no healthy upstream or fails over).
        let other = try #require(snapshot.modelsByClientName["gpt-4o-mini"])
        for _ in 0..<BreakerSettings().consecutiveFailures {
            other.health.record(.failure, admission: other.health.admit(now: now).admission, headMilliseconds: nil, now: now)
        }
        #expect(RouteStage.pick(route, randomBits: 0, now: now) != nil)
    }
}
