import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

@Suite struct AccountStageTests {
    @Test func costUsesCachedPriceForCachedTokens() {
        let usage = TokenUsage(inputTokens: 1_000_000, outputTokens: 500_000, cachedInputTokens: 400_000)
        let cost = AccountStage.cost(of: usage, at: Prices(input: 0.15, output: 0.60, cachedInput: 0.075))
        // 600k × 0.15 + 400k × 0.075 + 500k × 0.60, per million
        #expect(abs(cost - (0.09 + 0.03 + 0.30)) < 1e-12)
    }

    @Test(arguments: [
        (0.0, "0"), (0.0000027, "0.0000027"), (1.5, "1.5"), (12.0, "12"), (0.00000000004, "0"), (0.123456789012, "0.123456789"),
    ])
    func formatting(cost: Double, text: String) {
        #expect(AccountStage.format(cost) == text)
    }

    @Test func headerForJSONTrailerForStreams() throws {
        let stages: [any CallStage] = [ParseStage(), RouteStage()]
        let call = try makeCall(body: #"{"model":"fast"}"#)
        #expect(run(stages, call) == nil)
        call.usage = TokenUsage(inputTokens: 7, outputTokens: 3, cachedInputTokens: 2)
        var headers = HTTPHeaders()
        AccountStage().decorate(call, headers: &headers, trailers: false)
        #expect(headers.first(name: "x-sluice-cost-usd") == "0.0000027")

        let stream = try makeCall(body: #"{"model":"fast","stream":true}"#)
        #expect(run(stages, stream) == nil)
        stream.streamed = true
        var head = HTTPHeaders()
        AccountStage().decorate(stream, headers: &head, trailers: false)
        #expect(head.first(name: "x-sluice-cost-usd") == nil)
        stream.usage = TokenUsage(inputTokens: 7, outputTokens: 3)
        var trailers = HTTPHeaders()
        AccountStage().decorate(stream, headers: &trailers, trailers: true)
        #expect(trailers.first(name: "x-sluice-cost-usd") == "0.00000285")
    }
}
