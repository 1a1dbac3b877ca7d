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

    @Test func valuesAreEscapedIntoValidJSON() throws {
        let call = try makeCall(body: #"{"model":"fast"}"#)
        #expect(run([ParseStage(), IdentifyStage(defaults: Attribution(tenant: "t\"1\\ \n\u{1}é✓"))], call) == nil)
        call.endNanos = 1_002_000
        let line = AccessLogStage.line(for: call, time: "x")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["tenant"] as? String == "t\"1\\ \n\u{1}é✓")
        #expect(object["latency_ms"] as? Double == 1.002)
        #expect(AccessLogStage.milliseconds(12_345_678) == "12.345")
        #expect(AccessLogStage.milliseconds(7_000) == "0.007")
    }

    @Test func finishWritesOneLineWithAnRFC3339Time() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        let call = try makeCall(body: #"{"model":"fast"}"#)
        call.endNanos = 5_000_000
        for _ in 0..<2 { AccessLogStage(sink: sink).finish(call) }
        sink.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let object = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        let time = try #require(object["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z") && time.dropFirst(19).first == ".")
        #expect(object["request_id"] as? String == "req-1")
    }
}
