import Testing
@testable import SluiceSidecar
import SluiceWire

@Suite struct MetricsStageTests {
    @Test func recordsCallsTokensAndCost() throws {
        let metrics = SidecarMetrics()
        let stages: [any CallStage] = [ParseStage(), IdentifyStage(defaults: Attribution(tenant: "t1", feature: "f1")), RouteStage(), AccountStage(), MetricsStage(metrics: metrics)]
        for _ in 0..<3 {
            let call = try makeCall(body: #"{"model":"fast"}"#)
            #expect(run(stages, call) == nil)
            #expect(metrics.exposition(now: 0).contains("sluice_requests_in_flight 1"))
            call.status = 200
            call.recordAttempt(status: 200, startNanos: 1_000_000)
            call.firstByteNanos = 2_000_000
            call.endNanos = 50_000_000
            call.usage = TokenUsage(inputTokens: 100, outputTokens: 10, cachedInputTokens: 40)
            for stage in stages { stage.finish(call) }
        }
        let text = metrics.exposition(now: 0)
        #expect(text.contains(#"sluice_requests_total{route="direct",provider="openai",model="gpt-4o-mini",endpoint="chat_completions",status_class="2xx",cache="bypass"} 3"#))
        #expect(text.contains(#"sluice_tokens_total{provider="openai",model="gpt-4o-mini",feature="f1",type="input"} 300"#))
        #expect(text.contains(#"sluice_tokens_total{provider="openai",model="gpt-4o-mini",feature="f1",type="cached_input"} 120"#))
        #expect(text.contains(#"sluice_tokens_total{provider="openai",model="gpt-4o-mini",feature="f1",type="output"} 30"#))
        #expect(text.contains("sluice_requests_in_flight 0"))
        #expect(text.contains(#"sluice_request_duration_seconds_count{route="direct",provider="openai",model="gpt-4o-mini",endpoint="chat_completions",stream="false"} 3"#))
        #expect(text.contains(#"sluice_cost_usd_total{provider="openai",model="gpt-4o-mini",tenant="t1",feature="f1"}"#))
    }

    @Test func localErrorsAreCountedButNeverInFlight() throws {
        let metrics = SidecarMetrics()
        let stages: [any CallStage] = [ParseStage(), RouteStage(), MetricsStage(metrics: metrics)]
        let call = try makeCall(path: "/v1/unknown", body: "{}")
        let reply = try #require(run(stages, call))
        call.status = reply.status
        for stage in stages { stage.finish(call) }
        let text = metrics.exposition(now: 0)
        #expect(text.contains(#"sluice_requests_total{route="none",provider="none",model="none",endpoint="unknown",status_class="4xx",cache="bypass"} 1"#))
        #expect(text.contains("sluice_requests_in_flight 0"))
    }

    @Test func callerChosenLabelsAreCapped() {
        let limiter = LabelLimiter(limit: 2)
        #expect(limiter.admit("a") == "a")
        #expect(limiter.admit("b") == "b")
        #expect(limiter.admit("c") == "other")
        #expect(limiter.admit("a") == "a")
    }
}

@Suite struct PolicyMetricsTests {
    @Test func versionAndAgeAreExported() {
        let metrics = SidecarMetrics()
        metrics.policyLoaded(version: "abc123", at: 1_000)
        let text = metrics.exposition(now: 1_042.5)
        #expect(text.contains(#"sluice_policy_info{version="abc123"} 1"#))
        #expect(text.contains("sluice_policy_age_seconds 42.5"))
        metrics.policyLoaded(version: "def456", at: 2_000)
        let after = metrics.exposition(now: 2_001)
        #expect(!after.contains("abc123"))
        #expect(after.contains(#"sluice_policy_info{version="def456"} 1"#))
    }
}
