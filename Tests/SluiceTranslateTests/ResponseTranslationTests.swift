// Whole response bodies both ways: the fixtures, stop reasons, usage as SluiceWire reads it,
// round trips, and bodies that are not what they should be.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Response translation")
struct ResponseTranslationTests {
    @Test("An Anthropic message with text and tool_use becomes the OpenAI fixture")
    func anthropicToOpenAIFixture() throws {
        let out = Translation.response(try fixture("anthropic-response-tool-use.json"), from: .anthropic, to: .openai)
        let expected = try canonical(try fixture("anthropic-response-tool-use.openai.json"))
        #expect(replacing("created", with: 0, in: try canonical(out)) == replacing("created", with: 0, in: expected))
        #expect(member(try canonical(out), "created")?.intValue.map { $0 > 1_700_000_000 } == true)
    }

    @Test("An OpenAI completion with text and two tool calls becomes the Anthropic fixture")
    func openAIToAnthropicFixture() throws {
        let out = Translation.response(try fixture("openai-response-tool-calls.json"), from: .openai, to: .anthropic)
        #expect(try canonical(out) == canonical(try fixture("openai-response-tool-calls.anthropic.json")))
    }

    @Test("SluiceWire reads the same usage from the translated body as from the upstream's, cache included")
    func usageSurvives() throws {
        let anthropic = try fixture("anthropic-response-tool-use.json")
        let fromAnthropic = bodyUsage(Translation.response(anthropic, from: .anthropic, to: .openai), family: .openai)
        #expect(fromAnthropic == bodyUsage(anthropic, family: .anthropic))
        #expect(fromAnthropic == TokenUsage(inputTokens: 2620, outputTokens: 89, cachedInputTokens: 2048))

        let openAI = try fixture("openai-response-tool-calls.json")
        let fromOpenAI = bodyUsage(Translation.response(openAI, from: .openai, to: .anthropic), family: .anthropic)
        #expect(fromOpenAI == bodyUsage(openAI, family: .openai))
        #expect(fromOpenAI == TokenUsage(inputTokens: 1850, outputTokens: 61, cachedInputTokens: 1536))
    }

    @Test("Anthropic stop_reason → OpenAI finish_reason", arguments: [
        ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
        ("tool_use", "tool_calls"), ("refusal", "content_filter"), ("pause_turn", "stop"),
    ])
    func stopReasonToOpenAI(reason: String, expected: String) throws {
        let body = #"{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"x"}],"stop_reason":""# + reason + #"","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}"#
        let out = try parseObject(Translation.response(bytes(body), from: .anthropic, to: .openai))
        #expect(member(out, "choices.0.finish_reason") == .string(expected))
    }

    @Test("OpenAI finish_reason → Anthropic stop_reason", arguments: [
        ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
        ("content_filter", "refusal"), ("function_call", "tool_use"),
    ])
    func stopReasonToAnthropic(reason: String, expected: String) throws {
        let body = #"{"id":"c1","object":"chat.completion","created":1,"model":"g","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":""# + reason + #""}]}"#
        let out = try parseObject(Translation.response(bytes(body), from: .openai, to: .anthropic))
        #expect(member(out, "stop_reason") == .string(expected))
    }

    @Test("A refusal becomes Anthropic text; tool-call arguments that are not an object become {}")
    func refusalAndBadArguments() throws {
        let body = #"{"id":"c1","object":"chat.completion","created":1,"model":"g","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{broken"}}]},"finish_reason":"content_filter"}]}"#
        let out = try canonical(Translation.response(bytes(body), from: .openai, to: .anthropic))
        #expect(member(out, "content") == (try canonical(#"[{"type":"text","text":"I can't help with that."},{"type":"tool_use","id":"call_1","name":"f","input":{}}]"#)))
        #expect(member(out, "stop_reason") == "refusal")
        #expect(member(out, "usage") == nil)
    }

    @Test("Anthropic → OpenAI → Anthropic keeps a message (one text block, no cache writes)")
    func anthropicRoundTrip() throws {
        let original = #"{"id":"msg_9","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_9","name":"f","input":{"q":[1,{"r":null}]}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":30,"output_tokens":5}}"#
        let openAI = Translation.response(bytes(original), from: .anthropic, to: .openai)
        let back = Translation.response(openAI, from: .openai, to: .anthropic)
        #expect(try canonical(back) == canonical(original))
    }

    @Test("OpenAI → Anthropic → OpenAI keeps a completion (apart from created)")
    func openAIRoundTrip() throws {
        let original = #"{"id":"chatcmpl-1","object":"chat.completion","created":5,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":40,"completion_tokens":5,"total_tokens":45,"prompt_tokens_details":{"cached_tokens":30}}}"#
        let anthropic = Translation.response(bytes(original), from: .openai, to: .anthropic)
        let back = Translation.response(anthropic, from: .anthropic, to: .openai)
        #expect(replacing("created", with: 0, in: try canonical(back)) == replacing("created", with: 0, in: try canonical(original)))
    }

    @Test("Thinking blocks are left out of the OpenAI message")
    func thinkingDropped() throws {
        let body = #"{"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"redacted_thinking","data":"x"},{"type":"text","text":"42"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}"#
        let out = try parseObject(Translation.response(bytes(body), from: .anthropic, to: .openai))
        #expect(member(out, "choices.0.message.content") == "42")
        #expect(member(out, "choices.0.message.tool_calls") == nil)
    }

    @Test("Cache writes count as prompt tokens, not cached ones")
    func cacheWrites() throws {
        let body = #"{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3,"cache_creation_input_tokens":1000,"output_tokens":2}}"#
        let out = try parseObject(Translation.response(bytes(body), from: .anthropic, to: .openai))
        #expect(member(out, "usage.prompt_tokens") == 1003)
        #expect(member(out, "usage.prompt_tokens_details.cached_tokens") == 0)
        #expect(member(out, "choices.0.message.content") == .null)
    }

    @Test("A body that is not a JSON object is passed through unchanged; odd shapes do not crash", arguments: [
        "", "<html>oops</html>", "[]", "{}", #"{"content":"x","usage":7}"#, #"{"choices":[1,2]}"#,
        #"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"text":"b"}],"tool_calls":[5,{"function":7}]}}]}"#,
    ])
    func oddBodies(body: String) throws {
        for (upstream, client) in [(APIFamily.openai, APIFamily.anthropic), (.anthropic, .openai)] {
            let out = Translation.response(bytes(body), from: upstream, to: client)
            if (try? JSON.parse(bytes(body)))?.objectValue == nil {
                #expect(out == bytes(body))
            } else {
                #expect(try parseObject(out).objectValue != nil)
            }
        }
    }
}
