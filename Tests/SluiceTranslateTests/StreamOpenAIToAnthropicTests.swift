// OpenAI chunks → Anthropic message events: the fixture, usage as SluiceWire's tracker reads
// it, blocks opened and closed in order, errors, and streams that end early.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Stream translation: OpenAI → Anthropic")
struct StreamOpenAIToAnthropicTests {
    @Test("Text and two tool calls become the Anthropic event fixture")
    func fixtureStream() throws {
        let (events, completed) = translateStream(try fixture("openai-stream-tool-calls.sse"), from: .openai, to: .anthropic)
        let expected = try readEvents(sseEvents(try fixture("openai-stream-tool-calls.anthropic.sse")).map { text($0) })
        #expect(try readEvents(events) == expected)
        #expect(completed)
        // Each event carries its name, and it matches the data's type.
        for event in try readEvents(events) {
            #expect(event.name.map(JSON.string) == member(event.data, "type"))
        }
    }

    @Test("The tracker reads the upstream's usage from the translated stream, cache included")
    func usageThroughTracker() throws {
        let upstream = try fixture("openai-stream-tool-calls.sse")
        let truth = track(upstream, family: .openai)
        #expect(truth.usage == TokenUsage(inputTokens: 1850, outputTokens: 61, cachedInputTokens: 1536))
        let (events, _) = translateStream(upstream, from: .openai, to: .anthropic)
        let tracked = track(events, family: .anthropic)
        #expect(tracked.usage == truth.usage)
        #expect(tracked.completed)
        #expect(!tracked.sawErrorEvent)
    }

    @Test("A text-only stream: one text block, finish reasons mapped", arguments: [
        ("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"),
    ])
    func textOnly(reason: String, expected: String) throws {
        let head = #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"g","choices":["#
        let stream = [
            head + #"{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
            head + #"{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            head + #"{"index":0,"delta":{},"finish_reason":""# + reason + #""}]}"#,
            head + #"],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
            "[DONE]",
        ].map { "data: \($0)\n\n" }.joined()
        let read = try readEvents(translateStream(bytes(stream), from: .openai, to: .anthropic).events)
        #expect(read.map { $0.name ?? "" } == [
            "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
        ])
        #expect(member(read[5].data, "delta.stop_reason") == .string(expected))
        #expect(member(read[5].data, "usage") == (try canonical(#"{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}"#)))
        #expect(track(bytes(stream), family: .openai).usage == track(read.map { "event: \($0.name ?? "")\ndata: \($0.data.serialized)\n\n" }, family: .anthropic).usage)
    }

    @Test("Text after a tool call opens a new text block; the tool block is closed first")
    func blockOrder() throws {
        let head = #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"g","choices":["#
        let stream = [
            head + #"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}"#,
            head + #"{"index":0,"delta":{"content":"done"},"finish_reason":null}]}"#,
            head + #"{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ].map { "data: \($0)\n\n" }.joined()
        let read = try readEvents(translateStream(bytes(stream), from: .openai, to: .anthropic).events)
        let shape = read.map { "\($0.name ?? "")@\(member($0.data, "index")?.intValue ?? -1)" }
        #expect(shape == [
            "message_start@-1", "content_block_start@0", "content_block_delta@0", "content_block_stop@0",
            "content_block_start@1", "content_block_delta@1", "content_block_stop@1", "message_delta@-1", "message_stop@-1",
        ])
    }

    @Test("A streamed refusal becomes text with stop_reason refusal")
    func refusal() throws {
        let stream = "data: {\"id\":\"c\",\"model\":\"g\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't\"}}]}\n\n"
            + "data: {\"id\":\"c\",\"model\":\"g\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n"
        let read = try readEvents(translateStream(bytes(stream), from: .openai, to: .anthropic).events)
        #expect(read.compactMap { member($0.data, "delta.text") } == ["I can't"])
        #expect(read.compactMap { member($0.data, "delta.stop_reason") } == ["refusal"])
    }

    @Test("An OpenAI error chunk becomes an Anthropic error event the tracker sees")
    func errorChunk() throws {
        let stream = "data: {\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n"
        let (events, completed) = translateStream(bytes(stream), from: .openai, to: .anthropic)
        #expect(!completed)
        #expect(events == ["event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Rate limit\"}}\n\n"])
        #expect(track(events, family: .anthropic).sawErrorEvent)
    }

    @Test("A stream cut before [DONE] is not completed and has no message_stop")
    func cutStream() throws {
        let stream = "data: {\"id\":\"c\",\"model\":\"g\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        let (events, completed) = translateStream(bytes(stream), from: .openai, to: .anthropic)
        #expect(!completed)
        #expect(!events.contains { $0.contains("message_stop") })
        #expect(!track(events, family: .anthropic).completed)
    }

    @Test("[DONE] alone still gives a whole message; keep-alive comments give nothing")
    func doneOnly() throws {
        var translator = StreamTranslator(from: .openai, to: .anthropic)
        #expect(translator.translate(event: bytes(": ping\n\n")).isEmpty)
        let read = try readEvents(translator.translate(event: bytes("data: [DONE]\n\n")))
        #expect(read.map { $0.name ?? "" } == ["message_start", "message_delta", "message_stop"])
        #expect(translator.completed)
    }

    @Test("Same family passes events through and notices the end")
    func passThrough() {
        var openAI = StreamTranslator(from: .openai, to: .openai)
        #expect(openAI.translate(event: bytes("data: {\"x\":1}\n\n")) == ["data: {\"x\":1}\n\n"])
        #expect(!openAI.completed)
        _ = openAI.translate(event: bytes("data: [DONE]\n\n"))
        #expect(openAI.completed)
        var anthropic = StreamTranslator(from: .anthropic, to: .anthropic)
        _ = anthropic.translate(event: bytes("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
        #expect(anthropic.completed)
    }
}
