// Request bodies both ways: the fixtures, each mapped field, round trips, and the fields
// that must be refused rather than silently changed.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Request translation")
struct RequestTranslationTests {
    @Test("OpenAI request with system, images, tool calls and results becomes the Anthropic fixture")
    func openAIToAnthropicFixture() throws {
        let out = try Translation.request(
            try fixture("openai-request-tools.json"), from: .openai, to: .anthropic, upstreamModel: "claude-sonnet-4-20250514")
        #expect(try canonical(out) == canonical(try fixture("openai-request-tools.anthropic.json")))
    }

    @Test("Anthropic request with system blocks, images, thinking, tool use and results becomes the OpenAI fixture")
    func anthropicToOpenAIFixture() throws {
        let out = try Translation.request(
            try fixture("anthropic-request-tools.json"), from: .anthropic, to: .openai, upstreamModel: "gpt-4o")
        #expect(try canonical(out) == canonical(try fixture("anthropic-request-tools.openai.json")))
    }

    @Test("Anthropic requires max_tokens: 4096 when the OpenAI request has none; max_completion_tokens wins over max_tokens")
    func maxTokens() throws {
        let none = try requestResult(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, from: .openai, to: .anthropic).get()
        #expect(member(none, "max_tokens") == 4096)
        let legacy = try requestResult(#"{"model":"m","max_tokens":77,"messages":[{"role":"user","content":"hi"}]}"#, from: .openai, to: .anthropic).get()
        #expect(member(legacy, "max_tokens") == 77)
        let both = try requestResult(#"{"model":"m","max_tokens":77,"max_completion_tokens":99,"messages":[{"role":"user","content":"hi"}]}"#, from: .openai, to: .anthropic).get()
        #expect(member(both, "max_tokens") == 99)
    }

    @Test("One system message becomes Anthropic's system string; the model is replaced")
    func systemString() throws {
        let out = try requestResult(
            #"{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#,
            from: .openai, to: .anthropic, model: "claude-haiku").get()
        #expect(member(out, "system") == "Be brief.")
        #expect(member(out, "model") == "claude-haiku")
        #expect(member(out, "messages") == sortedKeys([["role": "user", "content": [["type": "text", "text": "hi"]]]]))
        #expect(member(out, "stream") == nil)
    }

    @Test("An OpenAI upstream always gets stream_options.include_usage for a stream")
    func streamUsageRequested() throws {
        let out = try requestResult(#"{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#, from: .anthropic, to: .openai).get()
        #expect(member(out, "stream") == true)
        #expect(member(out, "stream_options.include_usage") == true)
        let plain = try requestResult(#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#, from: .anthropic, to: .openai).get()
        #expect(member(plain, "stream_options") == nil)
    }

    @Test("tool_choice OpenAI → Anthropic", arguments: [
        (#""auto""#, false, #"{"type":"auto"}"#),
        (#""none""#, false, #"{"type":"none"}"#),
        (#""required""#, false, #"{"type":"any"}"#),
        (#"{"type":"function","function":{"name":"f"}}"#, false, #"{"type":"tool","name":"f"}"#),
        (#""auto""#, true, #"{"type":"auto","disable_parallel_tool_use":true}"#),
        (#""required""#, true, #"{"type":"any","disable_parallel_tool_use":true}"#),
        ("null", true, #"{"type":"auto","disable_parallel_tool_use":true}"#),
    ])
    func toolChoiceToAnthropic(choice: String, serial: Bool, expected: String) throws {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"#
            + choice + (serial ? #","parallel_tool_calls":false}"# : "}")
        let out = try requestResult(body, from: .openai, to: .anthropic).get()
        #expect(member(out, "tool_choice") == (try canonical(expected)))
        #expect(member(out, "tools") == (try canonical(#"[{"name":"f","input_schema":{"type":"object","properties":{}}}]"#)))
    }

    @Test("tool_choice Anthropic → OpenAI", arguments: [
        (#"{"type":"auto"}"#, #""auto""#, nil as Bool?),
        (#"{"type":"none"}"#, #""none""#, nil),
        (#"{"type":"any"}"#, #""required""#, nil),
        (#"{"type":"tool","name":"f"}"#, #"{"type":"function","function":{"name":"f"}}"#, nil),
        (#"{"type":"auto","disable_parallel_tool_use":true}"#, #""auto""#, false),
        (#"{"type":"tool","name":"f","disable_parallel_tool_use":true}"#, #"{"type":"function","function":{"name":"f"}}"#, false),
    ])
    func toolChoiceToOpenAI(choice: String, expected: String, parallel: Bool?) throws {
        let body = #"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":"# + choice + "}"
        let out = try requestResult(body, from: .anthropic, to: .openai).get()
        #expect(member(out, "tool_choice") == (try canonical(expected)))
        #expect(member(out, "parallel_tool_calls") == parallel.map(JSON.bool))
    }

    @Test("stop: a string or an array becomes stop_sequences; user or safety_identifier becomes metadata.user_id")
    func stopAndUser() throws {
        let array = try requestResult(#"{"model":"m","stop":["a","b"],"safety_identifier":"s-1","messages":[{"role":"user","content":"hi"}]}"#, from: .openai, to: .anthropic).get()
        #expect(member(array, "stop_sequences") == ["a", "b"])
        #expect(member(array, "metadata.user_id") == "s-1")
    }

    @Test("Assistant text and tool calls in one message keep their order; empty content is dropped")
    func assistantBlocks() throws {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"","tool_calls":[{"id":"call 1/x","type":"function","function":{"name":"f","arguments":""}}]},{"role":"tool","tool_call_id":"call 1/x","content":"ok"}]}"#
        let out = try requestResult(body, from: .openai, to: .anthropic).get()
        // Anthropic ids allow only [A-Za-z0-9_-]: the call and its result map to the same id.
        #expect(member(out, "messages.1") == (try canonical(#"{"role":"assistant","content":[{"type":"tool_use","id":"call_1_x","name":"f","input":{}}]}"#)))
        #expect(member(out, "messages.2.content.0.tool_use_id") == "call_1_x")
    }

    @Test("An Anthropic tool result before user text becomes a tool message before the user message")
    func toolResultOrder() throws {
        let body = #"{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,2]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"done"},{"type":"text","text":"next"}]}]}"#
        let out = try requestResult(body, from: .anthropic, to: .openai).get()
        #expect(member(out, "messages") == (try canonical(#"""
            [{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},
             {"role":"tool","tool_call_id":"t1","content":"done"},
             {"role":"user","content":"next"}]
            """#)))
    }

    // MARK: Round trips

    @Test("OpenAI → Anthropic → OpenAI keeps a request in the mapped subset")
    func openAIRoundTrip() throws {
        let original = #"""
            {"model":"gpt-4o","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":"Checking.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"18 C"},
              {"role":"user","content":[{"type":"text","text":"And this?"},{"type":"image_url","image_url":{"url":"data:image/webp;base64,UklGRg=="}}]}
             ],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
             "tool_choice":"auto","parallel_tool_calls":false,
             "max_completion_tokens":300,"stop":["X"],"temperature":0.5,"top_p":1,"user":"u","stream":true,"stream_options":{"include_usage":true}}
            """#
        let anthropic = try Translation.request(bytes(original), from: .openai, to: .anthropic, upstreamModel: "claude")
        let back = try Translation.request(anthropic, from: .anthropic, to: .openai, upstreamModel: "gpt-4o")
        #expect(try canonical(back) == canonical(original))
    }

    @Test("Anthropic → OpenAI → Anthropic keeps a request in the mapped subset")
    func anthropicRoundTrip() throws {
        let original = #"""
            {"model":"claude","max_tokens":200,"system":"Be brief.","messages":[
              {"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Oslo","n":2}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"4 C"},{"type":"text","text":"Thanks"}]}
             ],
             "tools":[{"name":"w","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},
             "stop_sequences":["X"],"temperature":0.5,"top_p":0.9,"metadata":{"user_id":"u"},"stream":true}
            """#
        let openAI = try Translation.request(bytes(original), from: .anthropic, to: .openai, upstreamModel: "gpt-4o")
        let back = try Translation.request(openAI, from: .openai, to: .anthropic, upstreamModel: "claude")
        #expect(try canonical(back) == canonical(original))
    }

    @Test("Same family: only the model changes")
    func sameFamily() throws {
        let out = try requestResult(#"{"model":"a","n":3,"messages":[]}"#, from: .openai, to: .openai, model: "b").get()
        #expect(out == (try canonical(#"{"model":"b","n":3,"messages":[]}"#)))
    }

    // MARK: Refused

    @Test("OpenAI fields Anthropic cannot honour are refused with their param", arguments: [
        (#""n":2"#, "n"),
        (#""logprobs":true"#, "logprobs"),
        (#""top_logprobs":3"#, "top_logprobs"),
        (#""logit_bias":{"50256":-100}"#, "logit_bias"),
        (#""response_format":{"type":"json_object"}"#, "response_format"),
        (#""modalities":["text","audio"]"#, "modalities"),
        (#""frequency_penalty":0.5"#, "frequency_penalty"),
        (#""presence_penalty":-1"#, "presence_penalty"),
        (#""temperature":1.5"#, "temperature"),
        (#""functions":[{"name":"f"}]"#, "functions"),
        (#""web_search_options":{}"#, "web_search_options"),
        (#""tools":[{"type":"custom","custom":{"name":"x"}}]"#, "tools[0].type"),
        (#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{}}"#, "tool_choice"),
    ])
    func refusedOpenAIFields(field: String, param: String) {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"}],"# + field + "}"
        #expect(throws: TranslationError.self) { try Translation.request(bytes(body), from: .openai, to: .anthropic, upstreamModel: "c") }
        guard case .failure(let error) = requestResult(body, from: .openai, to: .anthropic) else {
            Issue.record("accepted \(field)")
            return
        }
        #expect(error.param == param)
        #expect(!error.message.isEmpty)
    }

    @Test("Harmless OpenAI fields are dropped, not refused")
    func droppedOpenAIFields() throws {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi","name":"x"}],"n":1,"seed":7,"store":true,"metadata":{"a":"b"},"service_tier":"auto","reasoning_effort":"low","frequency_penalty":0,"logprobs":false,"response_format":{"type":"text"},"prompt_cache_key":"k"}"#
        let out = try requestResult(body, from: .openai, to: .anthropic).get()
        #expect(out == (try canonical(#"{"model":"target-model","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#)))
    }

    @Test("OpenAI messages Anthropic cannot take are refused with their param", arguments: [
        (#"{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}"#, "messages[0].content[0].type"),
        (#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}"#, "messages[0].content[0].image_url.url"),
        (#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}"#, "messages[0].content[0].image_url.url"),
        (#"{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1,2]"}}]}"#, "messages[0].tool_calls[0].function.arguments"),
        (#"{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}"#, "messages[0].tool_calls[0].function.arguments"),
        (#"{"role":"function","name":"f","content":"x"}"#, "messages[0].role"),
        (#"{"role":"user"}"#, "messages[0].content"),
        (#"{"role":7,"content":"x"}"#, "messages[0].role"),
        (#"{"content":"x"}"#, "messages[0].role"),
        (#""just text""#, "messages[0]"),
    ])
    func refusedOpenAIMessages(message: String, param: String) {
        let body = #"{"model":"m","messages":["# + message + "]}"
        guard case .failure(let error) = requestResult(body, from: .openai, to: .anthropic) else {
            Issue.record("accepted \(message)")
            return
        }
        #expect(error.param == param)
    }

    @Test("Anthropic fields and blocks OpenAI cannot honour are refused with their param", arguments: [
        (#""top_k":5,"messages":[]"#, "top_k"),
        (#""mcp_servers":[],"messages":[]"#, "mcp_servers"),
        (#""tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[]"#, "tools[0].type"),
        (#""messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]"#, "messages[0].content[0].type"),
        (#""messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}]"#, "messages[0].content[0].content[0].type"),
        (#""messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]"#, "messages[0].content[0].source.type"),
        (#""messages":[{"role":"system","content":"x"}]"#, "messages[0].role"),
        (#""messages":[{"role":"user","content":5}]"#, "messages[0].content"),
        (#""messages":"hi""#, "messages"),
        (#""max_tokens":"many","messages":[]"#, "max_tokens"),
    ])
    func refusedAnthropicFields(fields: String, param: String) {
        let body = #"{"model":"m","# + fields + "}"
        guard case .failure(let error) = requestResult(body, from: .anthropic, to: .openai) else {
            Issue.record("accepted \(fields)")
            return
        }
        #expect(error.param == param)
    }

    @Test("Bodies that are not a JSON object are a TranslationError, both ways", arguments: [
        "", "not json", "[1,2]", "\"s\"", "{\"model\":", "{\"model\":\"m\"}", "{\"messages\":null}",
        "\u{FF}\u{FE}", String(repeating: "[", count: 10_000),
    ])
    func malformedBodies(body: String) {
        for (client, upstream) in [(APIFamily.openai, APIFamily.anthropic), (.anthropic, .openai)] {
            #expect(throws: TranslationError.self) {
                try Translation.request(bytes(body), from: client, to: upstream, upstreamModel: "m")
            }
        }
    }

    @Test("A TranslationError renders as a 400 body in the client's shape")
    func errorBodyShape() throws {
        let error = TranslationError(message: "`n` must be 1", param: "n")
        #expect(error.status == 400)
        let openAI = try parseObject(error.body(for: .openai))
        #expect(member(openAI, "error.type") == "invalid_request_error")
        #expect(member(openAI, "error.param") == "n")
        #expect(member(openAI, "error.message") == "`n` must be 1")
        let anthropic = try parseObject(error.body(for: .anthropic))
        #expect(member(anthropic, "type") == "error")
        #expect(member(anthropic, "error.type") == "invalid_request_error")
    }

    @Test("Upstream paths")
    func paths() {
        #expect(Translation.upstreamPath(for: .openai) == "/v1/chat/completions")
        #expect(Translation.upstreamPath(for: .anthropic) == "/v1/messages")
    }
}
