import Foundation
import SluiceTranslate
import SluiceWire
import Testing

/// Inputs FuzzTranslate found (Fuzz/Corpus/FuzzTranslate/regress-*), each pinned here.
@Suite struct FuzzRegressionTests {
    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func aLeadingZeroInToolArgumentsIsNotCopiedIntoTheAnswer() throws {
        let body = Array(#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"n\":01}"}}]},"finish_reason":"tool_calls"}]}"#.utf8)
        let out = Translation.response(body, from: .openai, to: .anthropic)
        let message = try object(out) // valid JSON: `01` was refused, not written back
        #expect(message["type"] as? String == "message")
    }

    @Test func aLeadingZeroInRequestToolArgumentsIsRefusedOrDropped() throws {
        let body = Array(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"n\":-00}"}}]},{"role":"tool","tool_call_id":"call_1","content":"ok"}]}"#.utf8)
        do {
            let out = try Translation.request(body, from: .openai, to: .anthropic, upstreamModel: "claude")
            _ = try object(out)
        } catch let error as TranslationError {
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: [
        #"{"type":"message","content":[],"usage":{"input_tokens":9223372036854775807,"cache_read_input_tokens":1,"output_tokens":1}}"#,
        #"{"type":"message","content":[],"usage":{"input_tokens":9223372036854775807,"output_tokens":1}}"#,
    ])
    func hugeAnthropicCountsDoNotOverflow(_ text: String) throws {
        let out = Translation.response(Array(text.utf8), from: .anthropic, to: .openai)
        let usage = try #require(try object(out)["usage"] as? [String: Any])
        #expect((usage["total_tokens"] as? Int ?? -1) >= 0)
    }

    @Test func negativeOpenAICountsBecomeZero() throws {
        let text = #"{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":-9223372036854775808,"completion_tokens":0,"prompt_tokens_details":{"cached_tokens":1}}}"#
        let out = Translation.response(Array(text.utf8), from: .openai, to: .anthropic)
        let usage = try #require(try object(out)["usage"] as? [String: Any])
        #expect(usage["input_tokens"] as? Int == 0)
    }

    @Test func hugeCountsInAStreamDoNotOverflow() {
        var translator = StreamTranslator(from: .anthropic, to: .openai)
        let event = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":9223372036854775807,\"cache_read_input_tokens\":1}}}\n\n"
        let out = translator.translate(event: Array(event.utf8))
        #expect(out.allSatisfy { $0.hasSuffix("\n\n") })
    }
}
