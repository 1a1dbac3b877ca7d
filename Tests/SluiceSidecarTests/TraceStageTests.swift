import NIOHTTP1
import Testing
@testable import SluiceSidecar

@Suite struct TraceStageTests {
    @Test func keepsTheCallersTraceAndOpensAChildSpan() throws {
        let call = try makeCall(headers: [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])
        #expect(run([TraceStage()], call) == nil)
        let trace = try #require(call.trace)
        #expect(trace.traceID == "0af7651916cd43dd8448eb211c80319c")
        #expect(trace.parentSpanID == "b7ad6b7169203331")
        #expect(trace.spanID != "b7ad6b7169203331")
        #expect(trace.spanID.count == 16)
        #expect(trace.upstreamTraceparent == "00-0af7651916cd43dd8448eb211c80319c-\(trace.spanID)-01")
        var headers = HTTPHeaders()
        TraceStage().decorate(call, headers: &headers, trailers: false)
        #expect(headers.first(name: "x-sluice-trace-id") == trace.traceID)
    }

    @Test(arguments: [
        "", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", // too few parts
        "00-00000000000000000000000000000000-b7ad6b7169203331-01", // zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // zero span id
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", // upper case
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // forbidden version
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", // v00 has exactly 4 parts
    ])
    func malformedHeadersStartANewTrace(header: String) throws {
        let call = try makeCall(headers: [("traceparent", header)])
        #expect(run([TraceStage()], call) == nil)
        let trace = try #require(call.trace)
        #expect(trace.parentSpanID == nil)
        #expect(trace.traceID.count == 32)
        let allHex = trace.traceID.allSatisfy { $0.isLowercaseHexDigit }
        #expect(allHex)
        #expect(trace.flags == "01")
    }

    @Test func futureVersionsMayCarryMoreFields() {
        #expect(TraceStage.parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future") != nil)
    }

    @Test func differentCallsGetDifferentTraces() throws {
        let a = try makeCall(randomBits: 1)
        let b = try makeCall(randomBits: 2)
        _ = run([TraceStage()], a)
        _ = run([TraceStage()], b)
        #expect(a.trace?.traceID != b.trace?.traceID)
    }
}
