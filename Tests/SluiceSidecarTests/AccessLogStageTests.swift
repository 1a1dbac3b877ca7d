import Foundation
import Testing
@testable import SluiceSidecar
import SluiceWire

@Suite struct AccessLogStageTests {
    @Test func lineIsJSONWithTheDocumentedFields() throws {
        let call = try makeCall(body: #"{"model":"fast","stream":true}"#, headers: [("x-sluice-user", "u-1"), ("x-sluice-feature", "search")])
        #expect(run([ParseStage(), IdentifyStage(defaults: Attribution(tenant: "t1")), RouteStage(), AccountStage()], call) == nil)
        call.status = 200
        call.recordAttempt(status: 200)
        call.usage = TokenUsage(inputTokens: 10, outputTokens: 5, cachedInputTokens: 0)
        call.firstByteNanos = 1_500_000
        call.endNanos = 12_345_678
        AccountStage().finish(call)
        let line = AccessLogStage.line(for: call, time: "2026-11-24T00:00:00.000Z")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["tenant"] as? String == "t1")
        #expect(object["feature"] as? String == "search")
        #expect(object["route"] as? String == "direct")
        #expect(object["model"] as? String == "gpt-4o-mini")
        #expect(object["input_tokens"] as? Int == 10)
        #expect(object["output_tokens"] as? Int == 5)
        #expect(object["stream"] as? Bool == true)
        #expect(object["latency_ms"] as? Double == 12.345)
        #expect(object["ttfb_ms"] as? Double == 1.5)
        #expect((object["cost_usd"] as? Double).map { abs($0 - 0.0000045) < 1e-12 } == true)
        #expect(object["user"] as? String == "u-1")
        #expect(object["transport"] as? String == "h1")
        #expect(object["upstream_status"] as? Int == 200)
    }
}
