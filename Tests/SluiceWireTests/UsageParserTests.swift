// UsageParser and TokenUsage: usage from every provider's non-streaming response body.
import Testing
@testable import SluiceWire

@Suite("UsageParser")
struct UsageParserTests {
    /// POST /v1/chat/completions, as OpenAI answers it (pretty-printed, with cached prompt tokens).
    static let chatCompletion = """
        {
          "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
          "object": "chat.completion",
          "created": 1741569952,
          "model": "gpt-4o-2024-08-06",
          "choices": [
            {
              "index": 0,
              "message": {
                "role": "assistant",
                "content": "Hello! How can I assist you today? (\\"usage\\": none here)",
                "refusal": null,
                "annotations": []
              },
              "logprobs": null,
              "finish_reason": "stop"
            }
          ],
          "usage": {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {
              "cached_tokens": 1920,
              "audio_tokens": 0
            },
            "completion_tokens_details": {
              "reasoning_tokens": 0,
              "audio_tokens": 0,
              "accepted_prediction_tokens": 0,
              "rejected_prediction_tokens": 0
            }
          },
          "service_tier": "default"
        }
        """

    /// POST /v1/completions (legacy).
    static let completion = """
        {"id":"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7","object":"text_completion","created":1589478378,"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"text":"\\n\\nThis is indeed a test","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}
        """

    /// POST /v1/embeddings.
    static let embeddings = """
        {"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.006929283495992422,-0.005336422007530928,0.00047350498,-2.4093744e-05]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}
        """

    /// POST /v1/responses.
    static let response = """
        {"id":"resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41","object":"response","created_at":1741476777,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4o-2024-08-06","output":[{"type":"message","id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove beneath a silver moon...","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":1536,"input_tokens_details":{"cached_tokens":1280},"output_tokens":420,"output_tokens_details":{"reasoning_tokens":128},"total_tokens":1956},"user":null,"metadata":{}}
        """

    /// POST /v1/messages, with prompt caching.
    static let message = """
        {"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":0},"output_tokens":6,"service_tier":"standard"}}
        """

    static func usage(_ body: String, _ family: APIFamily) -> TokenUsage? {
        Array(body.utf8).withUnsafeBytes { UsageParser.usage(inResponseBody: $0, family: family) }
    }

    @Test("reads usage from each provider's response", arguments: [
        (chatCompletion, APIFamily.openai, TokenUsage(inputTokens: 2006, outputTokens: 300, cachedInputTokens: 1920)),
        (completion, .openai, TokenUsage(inputTokens: 5, outputTokens: 7, cachedInputTokens: 0)),
        (embeddings, .openai, TokenUsage(inputTokens: 8, outputTokens: 0, cachedInputTokens: 0)),
        (response, .openai, TokenUsage(inputTokens: 1536, outputTokens: 420, cachedInputTokens: 1280)),
        (message, .anthropic, TokenUsage(inputTokens: 12 + 100 + 2048, outputTokens: 6, cachedInputTokens: 2048)),
    ])
    func readsUsage(_ body: String, _ family: APIFamily, _ expected: TokenUsage) {
        #expect(Self.usage(body, family) == expected)
    }

    @Test("Anthropic input counts every prompt token; cached is what was read from the cache", arguments: [
        (#"{"input_tokens":25,"output_tokens":1}"#, TokenUsage(inputTokens: 25, outputTokens: 1, cachedInputTokens: 0)),
        (#"{"input_tokens":3,"cache_read_input_tokens":4000,"output_tokens":9}"#, TokenUsage(inputTokens: 4003, outputTokens: 9, cachedInputTokens: 4000)),
        (#"{"input_tokens":3,"cache_creation_input_tokens":4000,"cache_read_input_tokens":0,"output_tokens":9}"#, TokenUsage(inputTokens: 4003, outputTokens: 9, cachedInputTokens: 0)),
        (#"{"input_tokens":3,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":9}"#, TokenUsage(inputTokens: 3, outputTokens: 9, cachedInputTokens: 0)),
        (#"{"output_tokens":15}"#, TokenUsage(inputTokens: 0, outputTokens: 15, cachedInputTokens: 0)),
    ])
    func anthropicCache(_ usage: String, _ expected: TokenUsage) {
        let parsed = Self.usage(#"{"type":"message","usage":\#(usage)}"#, .anthropic)
        #expect(parsed == expected)
        #expect(parsed?.uncachedInputTokens == expected.inputTokens - expected.cachedInputTokens)
    }

    @Test("OpenAI cached tokens from either details object", arguments: [
        (#"{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":64}}"#, TokenUsage(inputTokens: 100, outputTokens: 5, cachedInputTokens: 64)),
        (#"{"input_tokens":100,"output_tokens":5,"input_tokens_details":{"cached_tokens":64}}"#, TokenUsage(inputTokens: 100, outputTokens: 5, cachedInputTokens: 64)),
        (#"{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":null}"#, TokenUsage(inputTokens: 100, outputTokens: 5, cachedInputTokens: 0)),
        (#"{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"audio_tokens":0}}"#, TokenUsage(inputTokens: 100, outputTokens: 5, cachedInputTokens: 0)),
        (#"{"completion_tokens":5}"#, TokenUsage(inputTokens: 0, outputTokens: 5, cachedInputTokens: 0)),
    ])
    func openAICached(_ usage: String, _ expected: TokenUsage) {
        #expect(Self.usage(#"{"object":"chat.completion","usage":\#(usage)}"#, .openai) == expected)
    }

    @Test("no usage, no answer", arguments: [
        (#"{"id":"chatcmpl-1","object":"chat.completion","choices":[]}"#, APIFamily.openai),
        (#"{"id":"chatcmpl-1","usage":null}"#, .openai),
        (#"{"id":"chatcmpl-1","usage":[1,2]}"#, .openai),
        (#"{"id":"chatcmpl-1","usage":{}}"#, .openai),
        (#"{"id":"chatcmpl-1","usage":{"total_tokens":12}}"#, .openai),
        (#"{"id":"chatcmpl-1","usage":{"prompt_tokens":"12","completion_tokens":null}}"#, .openai),
        (#"{"choices":[{"message":{"usage":{"prompt_tokens":1}}}]}"#, .openai),
        (#"{"input_tokens":2095}"#, .anthropic), // POST /v1/messages/count_tokens
        (#"{"type":"message","usage":{"cache_read_input_tokens":5}}"#, .anthropic),
        (#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, .anthropic),
        (#"{"usage":{"prompt_tokens":1}"#, .openai), // truncated
        ("", .openai),
        ("[]", .openai),
    ])
    func missingUsage(_ body: String, _ family: APIFamily) {
        #expect(Self.usage(body, family) == nil)
    }

    @Test("token counts are read as integers", arguments: [
        ("0", 0), ("7", 7), ("2006", 2006), ("12.0", 12), ("12.9", 12), ("-3", -3),
        ("9223372036854775807", Int.max),
    ])
    func integers(_ number: String, _ expected: Int) {
        #expect(Self.usage(#"{"usage":{"prompt_tokens":\#(number)}}"#, .openai)?.inputTokens == expected)
    }

    @Test("a count too big for Int is treated as absent")
    func overflow() {
        let usage = Self.usage(#"{"usage":{"prompt_tokens":99999999999999999999,"completion_tokens":3}}"#, .openai)
        #expect(usage == TokenUsage(inputTokens: 0, outputTokens: 3, cachedInputTokens: 0))
    }

    @Test("the last duplicate usage member wins")
    func duplicateUsage() {
        let body = #"{"usage":{"prompt_tokens":1,"completion_tokens":1},"usage":{"prompt_tokens":2,"completion_tokens":3}}"#
        #expect(Self.usage(body, .openai) == TokenUsage(inputTokens: 2, outputTokens: 3))
    }

    @Test("uncached input never goes below zero")
    func uncached() {
        #expect(TokenUsage(inputTokens: 100, outputTokens: 1, cachedInputTokens: 60).uncachedInputTokens == 40)
        #expect(TokenUsage(inputTokens: 10, outputTokens: 1, cachedInputTokens: 60).uncachedInputTokens == 0)
        #expect(TokenUsage() == TokenUsage(inputTokens: 0, outputTokens: 0, cachedInputTokens: 0))
    }
}

@Suite("UsageParser tail") struct UsageParserTailTests {
    @Test func readsUsageFromTheEndOfAnOversizedBody() {
        let tail = #"0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":12,"total_tokens":12}}"#
        let usage = Array(tail.utf8).withUnsafeBytes { UsageParser.usage(inTail: $0, family: .openai) }
        #expect(usage == TokenUsage(inputTokens: 12, outputTokens: 0, cachedInputTokens: 0))
    }

    @Test func ignoresAUsageObjectCutByTheWindow() {
        let tail = #"ge":{"prompt_tokens":12,"total_tokens":12}}"#
        let usage = Array(tail.utf8).withUnsafeBytes { UsageParser.usage(inTail: $0, family: .openai) }
        #expect(usage == nil)
    }
}

@Suite("UsageParser fast path") struct UsageParserFastPathTests {
    func usage(_ body: String) -> TokenUsage? {
        Array(body.utf8).withUnsafeBytes { UsageParser.usage(inResponseBody: $0, family: .openai) }
    }

    @Test func topLevelUsageFollowedByMoreMembers() {
        let body = #"{"id":"x","choices":[{"message":{"content":"a \"usage\": {} b"}}],"usage":{"prompt_tokens":5,"completion_tokens":2},"service_tier":"default","system_fingerprint":null}"#
        #expect(usage(body) == TokenUsage(inputTokens: 5, outputTokens: 2))
    }

    @Test func nestedUsageAfterTheTopLevelOneIsNotTaken() {
        let body = #"{"usage":{"prompt_tokens":5,"completion_tokens":2},"content":[{"input":{"usage":{"prompt_tokens":99}}}]}"#
        #expect(usage(body) == TokenUsage(inputTokens: 5, outputTokens: 2))
    }

    @Test(arguments: [
        (#", "a": [1, {"b": null}] , "c":"}" }  "#, true),
        ("}", true),
        ("} x", false),
        ("}}", false),
        (#", "a": 1"#, false),
        (#", 1: 2 }"#, false),
    ])
    func restOfObject(rest: String, expected: Bool) {
        let ok = Array(rest.utf8).withUnsafeBytes { JSONScanner.isRestOfObject($0, from: 0) }
        #expect(ok == expected)
    }
}
