// Anthropic message events → OpenAI chunks: the fixture, usage as SluiceWire's tracker reads
// it (injected usage hidden or not), errors, and events that should not be there.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Stream translation: Anthropic → OpenAI")
struct StreamAnthropicToOpenAITests {
    @Test("Text and tool_use events become the OpenAI chunk fixture, usage chunk before [DONE]")
    func fixtureStream() throws {
        let (events, completed) = translateStream(try fixture("anthropic-stream-tool-use.sse"), from: .anthropic, to: .openai)
        let expected = try readEvents(sseEvents(try fixture("anthropic-stream-tool-use.openai.sse")).map { text($0) })
        #expect(try readEvents(events) == expected)
        #expect(completed)
    }

    @Test("The tracker reads the upstream's usage from the translated stream, cache included, and hides the usage chunk")
    func usageThroughTracker() throws {
        let upstream = try fixture("anthropic-stream-tool-use.sse")
        let (events, _) = translateStream(upstream, from: .anthropic, to: .openai)
        let truth = track(upstream, family: .anthropic)
        #expect(truth.usage == TokenUsage(inputTokens: 2520, outputTokens: 89, cachedInputTokens: 2048))

        let shown = track(events, family: .openai, hideInjectedUsage: false)
        #expect(shown.usage == truth.usage)
        #expect(shown.completed)
        #expect(!shown.sawErrorEvent)

        let hidden = track(events, family: .openai, hideInjectedUsage: true)
        #expect(hidden.usage == truth.usage)
        #expect(hidden.completed)
        // The usage-only chunk is dropped; every other chunk reaches the client.
        #expect(hidden.relayed.count == events.count - 1)
        #expect(!hidden.relayed.contains { $0.contains("\"usage\"") })
        #expect(hidden.relayed.last == "data: [DONE]\n\n")
    }

    @Test("Input counts repeated in message_delta (newer API versions) win over message_start's")
    func repeatedInputInDelta() throws {
        let stream = """
            event: message_start
            data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":1}}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":20,"cache_read_input_tokens":100,"cache_creation_input_tokens":7,"output_tokens":9}}

            event: message_stop
            data: {"type":"message_stop"}


            """
        let (events, completed) = translateStream(bytes(stream), from: .anthropic, to: .openai)
        #expect(completed)
        let tracked = track(events, family: .openai)
        #expect(tracked.usage == TokenUsage(inputTokens: 127, outputTokens: 9, cachedInputTokens: 100))
        #expect(tracked.usage == track(bytes(stream), family: .anthropic).usage)
    }

    @Test("Stop reasons in message_delta become the finish_reason chunk", arguments: [
        ("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"), ("stop_sequence", "stop"),
    ])
    func finishReasons(reason: String, expected: String) throws {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1}}}\n\n"
            + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\(reason)\"},\"usage\":{\"output_tokens\":2}}\n\n"
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        let read = try readEvents(translateStream(bytes(stream), from: .anthropic, to: .openai).events)
        let finishes = read.compactMap { member($0.data, "choices.0.finish_reason") }.filter { !$0.isNull }
        #expect(finishes == [.string(expected)])
    }

    @Test("An error event becomes an OpenAI error chunk the tracker sees; the stream is not completed")
    func errorEvent() throws {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":5}}}\n\n"
            + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        let (events, completed) = translateStream(bytes(stream), from: .anthropic, to: .openai)
        #expect(!completed)
        let read = try readEvents(events)
        #expect(read.count == 2)
        #expect(read.last.map { member($0.data, "error") } == (try canonical(#"{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded"}"#)))
        let tracked = track(events, family: .openai)
        #expect(tracked.sawErrorEvent)
        #expect(!tracked.completed)
    }

    @Test("ping, thinking, signature and unknown events give nothing; nothing follows message_stop")
    func ignoredEvents() throws {
        var translator = StreamTranslator(from: .anthropic, to: .openai)
        for event in [
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            ": keep-alive comment\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: future_event\ndata: {\"type\":\"future_event\"}\n\n",
        ] {
            #expect(translator.translate(event: bytes(event)).isEmpty, "\(event)")
        }
        #expect(translator.translate(event: bytes("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")).count == 3)
        #expect(translator.completed)
        #expect(translator.translate(event: bytes("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")).isEmpty)
    }

    @Test("CRLF line endings and data split over lines are read")
    func lineEndings() throws {
        let event = "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\r\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n"
        var translator = StreamTranslator(from: .anthropic, to: .openai)
        let read = try readEvents(translator.translate(event: bytes(event)))
        #expect(read.count == 1)
        #expect(read.first.flatMap { member($0.data, "choices.0.delta.content") } == "Hi")
    }

    @Test("Random and broken events never crash and always give whole events", arguments: 0..<4)
    func garbage(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed))
        let pieces = ["event: ", "data: ", "{", "}", "\"type\"", ":", "\"message_start\"", "\"content_block_delta\"", "\"index\"",
                      "0", ",", "\"delta\"", "\"text_delta\"", "\"text\"", "[", "]", "\n", "\u{FF}", "null", "\"message_stop\""]
        for upstream in [APIFamily.anthropic, .openai] {
            var translator = StreamTranslator(from: upstream, to: upstream == .anthropic ? .openai : .anthropic)
            for _ in 0..<300 {
                var event = ""
                for _ in 0..<Int.random(in: 1...25, using: &rng) { event += pieces[Int.random(in: 0..<pieces.count, using: &rng)] }
                for out in translator.translate(event: bytes(event + "\n\n")) {
                    #expect(out.hasSuffix("\n\n"))
                }
            }
        }
    }
}

/// SplitMix64, so random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
