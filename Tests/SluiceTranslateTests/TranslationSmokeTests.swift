import Foundation
import SluiceTranslate
import SluiceWire
import Testing

/// The sidecar's use of the module in one glance: a request goes across and comes back.
@Suite struct TranslationSmokeTests {
    @Test func anOpenAIRequestBecomesAnAnthropicOneWithTheUpstreamModel() throws {
        let body = Array(#"{"model":"gpt-x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":20}"#.utf8)
        let out = try Translation.request(body, from: .openai, to: .anthropic, upstreamModel: "claude-up")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
        #expect(object["model"] as? String == "claude-up")
        #expect(object["max_tokens"] as? Int == 20)
        #expect(Translation.upstreamPath(for: .anthropic) == "/v1/messages")
    }
}
