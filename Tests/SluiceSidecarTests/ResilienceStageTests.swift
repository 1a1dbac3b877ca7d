import NIOCore
import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

/// The resilience stage's own decisions before the attempt loop: the call's deadline and
/// the degradation rule.
@Suite struct ResilienceStageTests {
    let stages: [any CallStage] = [ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage(), ResilienceStage()]

    func policy(degrade: DegradeRule? = nil, total: Int? = nil) -> Policy {
        testPolicy(routes: [
            Route(name: "chat", match: RouteMatch(model: "chat"), targets: [RouteTarget(model: "gpt-4o")], timeouts: Timeouts(total: total), degrade: degrade),
        ])
    }

    @Test func theRoutesTotalSetsTheDeadlineAndAClientMayOnlyShortenIt() throws {
        let plain = try makeCall(body: #"{"model":"chat"}"#, policy: policy(total: 2_000))
        #expect(run(stages, plain) == nil)
        #expect(plain.deadlineNanos == 2_000 * 1_000_000)
        let shorter = try makeCall(body: #"{"model":"chat"}"#, headers: [("x-sluice-timeout-ms", "500")], policy: policy(total: 2_000))
        #expect(run(stages, shorter) == nil)
        #expect(shorter.deadlineNanos == 500 * 1_000_000)
        let longer = try makeCall(body: #"{"model":"chat"}"#, headers: [("x-sluice-timeout-ms", "9000")], policy: policy(total: 2_000))
        #expect(run(stages, longer) == nil)
        #expect(longer.deadlineNanos == 2_000 * 1_000_000)
        let noTotal = try makeCall(body: #"{"model":"chat"}"#, headers: [("x-sluice-timeout-ms", "700")], policy: policy())
        #expect(run(stages, noTotal) == nil)
        #expect(noTotal.deadlineNanos == 700 * 1_000_000)
    }

    @Test(arguments: ["0", "-5", "soon", "99999999999"])
    func aMalformedClientDeadlineIsA400(_ value: String) throws {
        let call = try makeCall(body: #"{"model":"chat"}"#, headers: [("x-sluice-timeout-ms", value)], policy: policy())
        let reply = try #require(run(stages, call))
        #expect(reply.status == 400)
        #expect(reply.body.contains("x-sluice-timeout-ms"))
    }

    @Test func aSlowTargetIsDegradedByItsRecentP95() throws {
        let rule = DegradeRule(latencyP95OverMilliseconds: 1_000, to: "gpt-4o-mini")
        let call = try makeCall(body: #"{"model":"chat"}"#, policy: policy(degrade: rule))
        let slow = try #require(call.snapshot.modelsByClientName["gpt-4o"])
        let now = monotonicMilliseconds()
        for latency in [1_500, 1_600, 1_700, 1_800, 2_000] as [UInt64] {
            slow.health.record(.success, admission: .allowed, headMilliseconds: latency, now: now)
        }
        #expect(run(stages, call) == nil)
        #expect(call.target?.name == "gpt-4o-mini")
        #expect(call.degradedReason == "latency_p95")
        var headers = HTTPHeaders()
        ResilienceStage().decorate(call, headers: &headers, trailers: false)
        #expect(headers["x-sluice-degraded"] == ["latency_p95"])
    }

    @Test func aFastTargetOrTooFewSamplesIsNotDegraded() throws {
        let rule = DegradeRule(latencyP95OverMilliseconds: 1_000, to: "gpt-4o-mini")
        let call = try makeCall(body: #"{"model":"chat"}"#, policy: policy(degrade: rule))
        let target = try #require(call.snapshot.modelsByClientName["gpt-4o"])
        let now = monotonicMilliseconds()
        for latency in [5_000, 5_000] as [UInt64] { // two samples: too few to judge
            target.health.record(.success, admission: .allowed, headMilliseconds: latency, now: now)
        }
        #expect(run(stages, call) == nil)
        #expect(call.target?.name == "gpt-4o")
        #expect(call.degradedReason == nil)
    }

    @Test func anOpenBreakerDegradesOnlyWhenTheRuleSaysSo() throws {
        let call = try makeCall(body: #"{"model":"chat"}"#, policy: policy(degrade: DegradeRule(breakerOpen: true, to: "gpt-4o-mini")))
        let target = try #require(call.snapshot.modelsByClientName["gpt-4o"])
        let now = monotonicMilliseconds()
        for _ in 0..<BreakerSettings().consecutiveFailures {
            target.health.record(.failure, admission: .allowed, headMilliseconds: nil, now: now)
        }
        #expect(run(stages, call) == nil)
        #expect(call.degradedReason == "breaker_open")
        #expect(call.target?.name == "gpt-4o-mini")

        let latencyOnly = try makeCall(body: #"{"model":"chat"}"#, policy: policy(degrade: DegradeRule(latencyP95OverMilliseconds: 1_000, to: "gpt-4o-mini")))
        let sick = try #require(latencyOnly.snapshot.modelsByClientName["gpt-4o"])
        for _ in 0..<BreakerSettings().consecutiveFailures {
            sick.health.record(.failure, admission: .allowed, headMilliseconds: nil, now: now)
        }
        #expect(run(stages, latencyOnly) == nil)
        #expect(latencyOnly.target?.name == "gpt-4o") // the attempt loop then reports it open
    }
}
