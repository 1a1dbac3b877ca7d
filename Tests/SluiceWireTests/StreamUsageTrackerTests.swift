// StreamUsageTracker: usage and the end of each family's streams, and hiding the usage the
// proxy asked for so the client gets the exact bytes it would have had without the proxy.
import NIOCore
import Testing
@testable import SluiceWire

/// Realistic provider streams, built event by event.
enum Streams {
    enum OpenAIEndpoint: String, Sendable, CaseIterable {
        case chat, completions
    }

    static let contentPieces = ["Hello", "!", " Caf\u{E9}", " \u{1F600}", "\\n\\n", " \\\"usage\\\": null", " done."]

    /// An OpenAI chat/completions or completions stream, as sent with or without
    /// `stream_options.include_usage`.
    static func openAI(
        _ endpoint: OpenAIEndpoint, includeUsage: Bool, lineEnding: String = "\n", obfuscation: Bool = false
    ) -> String {
        var events: [String] = []
        var counter = 0
        func tail() -> String {
            counter += 1
            return (includeUsage ? ",\"usage\":null" : "") + (obfuscation ? ",\"obfuscation\":\"x\(counter)Qz\"" : "") + "}"
        }
        switch endpoint {
        case .chat:
            let head = "{\"id\":\"chatcmpl-BxVqXgA1mVKcW1rRq3sTgDQm5nY8Z\",\"object\":\"chat.completion.chunk\",\"created\":1753358400,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_34a54ae93c\",\"choices\":["
            events.append(head + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]" + tail())
            for piece in contentPieces {
                events.append(head + "{\"index\":0,\"delta\":{\"content\":\"\(piece)\"},\"logprobs\":null,\"finish_reason\":null}]" + tail())
            }
            events.append(head + "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]" + tail())
            if includeUsage {
                events.append(head + "],\"usage\":{\"prompt_tokens\":1117,\"completion_tokens\":46,\"total_tokens\":1163,\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}" + (obfuscation ? ",\"obfuscation\":\"u5\"" : "") + "}")
            }
        case .completions:
            let head = "{\"id\":\"cmpl-9c2rE5kqJ3bXhWcD1vT0aLbQzR\",\"object\":\"text_completion\",\"created\":1718000000,\"choices\":["
            let model = ",\"model\":\"gpt-3.5-turbo-instruct\",\"system_fingerprint\":null"
            for piece in contentPieces {
                events.append(head + "{\"text\":\"\(piece)\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]" + model + tail())
            }
            events.append(head + "{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}]" + model + tail())
            if includeUsage {
                events.append(head + "]" + model + ",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":16,\"total_tokens\":21}}")
            }
        }
        events.append("[DONE]")
        return events.map { "data: " + $0 + lineEnding + lineEnding }.joined()
    }

    static func openAIUsage(_ endpoint: OpenAIEndpoint) -> TokenUsage {
        switch endpoint {
        case .chat: return TokenUsage(inputTokens: 1117, outputTokens: 46, cachedInputTokens: 1024)
        case .completions: return TokenUsage(inputTokens: 5, outputTokens: 16, cachedInputTokens: 0)
        }
    }

    /// An Anthropic Messages stream with a text and a tool_use block and prompt caching.
    /// `repeatInputInDelta`: newer API versions repeat the input counts in `message_delta`.
    static func anthropic(repeatInputInDelta: Bool) -> String {
        let deltaUsage = repeatInputInDelta
            ? "{\"input_tokens\":12,\"cache_creation_input_tokens\":248,\"cache_read_input_tokens\":2048,\"output_tokens\":73}"
            : "{\"output_tokens\":73}"
        let events: [(String, String)] = [
            ("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":248,\"cache_read_input_tokens\":2048,\"cache_creation\":{\"ephemeral_5m_input_tokens\":248,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"service_tier\":\"standard\"}}}"),
            ("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
            ("ping", "{\"type\": \"ping\"}"),
            ("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay, let me check\"}}"),
            ("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the weather \\\"usage\\\".\"}}"),
            ("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
            ("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}"),
            ("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}"),
            ("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"San Fra\"}}"),
            ("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ncisco, CA\\\"}\"}}"),
            ("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"),
            ("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":\(deltaUsage)}"),
            ("message_stop", "{\"type\":\"message_stop\"}"),
        ]
        return events.map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
    }

    static let anthropicUsage = TokenUsage(inputTokens: 12 + 248 + 2048, outputTokens: 73, cachedInputTokens: 2048)

    /// An OpenAI Responses stream ending with `terminal` (`response.completed`, `.incomplete`, `.failed`).
    static func responses(terminal: String = "response.completed") -> String {
        let id = "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
        let item = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654"
        func response(status: String, output: String, usage: String) -> String {
            "{\"id\":\"\(id)\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"\(status)\",\"error\":null,\"incomplete_details\":null,\"instructions\":\"You are a helpful assistant.\",\"max_output_tokens\":null,\"model\":\"gpt-4.1-2025-04-14\",\"output\":\(output),\"parallel_tool_calls\":true,\"previous_response_id\":null,\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":true,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\",\"usage\":\(usage),\"user\":null,\"metadata\":{}}"
        }
        let message = "{\"id\":\"\(item)\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi there!\",\"annotations\":[]}]}"
        let usage = "{\"input_tokens\":37,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":11,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":48}"
        let status = terminal.replacingOccurrences(of: "response.", with: "")
        let events: [(String, String)] = [
            ("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":\(response(status: "in_progress", output: "[]", usage: "null"))}"),
            ("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":\(response(status: "in_progress", output: "[]", usage: "null"))}"),
            ("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"id\":\"\(item)\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}"),
            ("response.content_part.added", "{\"type\":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\"\(item)\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}"),
            ("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"\(item)\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}"),
            ("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":5,\"item_id\":\"\(item)\",\"output_index\":0,\"content_index\":0,\"delta\":\" there!\"}"),
            ("response.output_text.done", "{\"type\":\"response.output_text.done\",\"sequence_number\":6,\"item_id\":\"\(item)\",\"output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}"),
            ("response.content_part.done", "{\"type\":\"response.content_part.done\",\"sequence_number\":7,\"item_id\":\"\(item)\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"Hi there!\",\"annotations\":[]}}"),
            ("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":8,\"output_index\":0,\"item\":\(message)}"),
            (terminal, "{\"type\":\"\(terminal)\",\"sequence_number\":9,\"response\":\(response(status: status, output: "[\(message)]", usage: usage))}"),
        ]
        return events.map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
    }

    static let responsesUsage = TokenUsage(inputTokens: 37, outputTokens: 11, cachedInputTokens: 0)
}

@Suite("StreamUsageTracker")
struct StreamUsageTrackerTests {
    /// Relays `stream` through a splitter and `tracker` in `chunks`, as the sidecar does, and
    /// returns the bytes the client gets.
    static func relay(_ chunks: [ByteBuffer], through tracker: inout StreamUsageTracker) -> String {
        var splitter = SSEEventSplitter()
        var out = ByteBuffer()
        for chunk in chunks {
            splitter.append(chunk) { event in
                switch tracker.observe(event, allocator: ByteBufferAllocator()) {
                case .forward:
                    var event = event
                    out.writeBuffer(&event)
                case .replace(var replacement):
                    out.writeBuffer(&replacement)
                case .drop:
                    break
                }
            }
        }
        if var rest = splitter.takePartialEvent() { out.writeBuffer(&rest) }
        return out.text
    }

    static func relay(_ stream: String, through tracker: inout StreamUsageTracker) -> String {
        relay([buffer(stream)], through: &tracker)
    }

    static func observe(_ event: String, family: APIFamily = .openai, hide: Bool = true) -> (StreamUsageTracker.Action, StreamUsageTracker) {
        var tracker = StreamUsageTracker(family: family, hideInjectedUsage: hide)
        let action = tracker.observe(buffer(event), allocator: ByteBufferAllocator())
        return (action, tracker)
    }

    static func replacement(_ action: StreamUsageTracker.Action) -> String? {
        if case .replace(let bytes) = action { return bytes.text }
        return nil
    }

    // MARK: - OpenAI chat/completions and completions

    @Test("reads the final usage of an OpenAI stream and relays it untouched when the client asked", arguments: Streams.OpenAIEndpoint.allCases)
    func openAIUsage(_ endpoint: Streams.OpenAIEndpoint) {
        let stream = Streams.openAI(endpoint, includeUsage: true)
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: false)
        #expect(tracker.isPassThrough)
        #expect(Self.relay(stream, through: &tracker) == stream)
        #expect(tracker.usage == Streams.openAIUsage(endpoint))
        #expect(tracker.completed)
        #expect(!tracker.sawErrorEvent)
        #expect(tracker.eventCount == stream.components(separatedBy: "\n\n").count - 1)
    }

    @Test("completed is set by [DONE] and not before")
    func doneCompletes() {
        let events = Streams.openAI(.chat, includeUsage: true).components(separatedBy: "\n\n").dropLast().map { $0 + "\n\n" }
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: false)
        for event in events.dropLast() {
            _ = tracker.observe(buffer(event), allocator: ByteBufferAllocator())
            #expect(!tracker.completed)
        }
        #expect(events.last == "data: [DONE]\n\n")
        #expect(tracker.usage == Streams.openAIUsage(.chat))
        _ = tracker.observe(buffer(events.last!), allocator: ByteBufferAllocator())
        #expect(tracker.completed)
    }

    /// How a stream's events are framed: line endings, and whether chunks carry OpenAI's
    /// `obfuscation` padding member after `usage`.
    struct Framing: Sendable, CustomTestStringConvertible {
        var lineEnding: String
        var obfuscation: Bool
        var testDescription: String { "\(lineEnding == "\n" ? "LF" : "CRLF")\(obfuscation ? ", obfuscation" : "")" }

        static let all = [
            Framing(lineEnding: "\n", obfuscation: false), Framing(lineEnding: "\n", obfuscation: true),
            Framing(lineEnding: "\r\n", obfuscation: false), Framing(lineEnding: "\r\n", obfuscation: true),
        ]
    }

    @Test("with hideInjectedUsage the client gets byte for byte the stream sent without include_usage", arguments:
        Streams.OpenAIEndpoint.allCases, Framing.all)
    func hidesInjectedUsage(_ endpoint: Streams.OpenAIEndpoint, _ variant: Framing) {
        let withUsage = Streams.openAI(endpoint, includeUsage: true, lineEnding: variant.lineEnding, obfuscation: variant.obfuscation)
        let without = Streams.openAI(endpoint, includeUsage: false, lineEnding: variant.lineEnding, obfuscation: variant.obfuscation)
        #expect(withUsage != without)
        var rng = SeededGenerator(seed: 2024)
        let bytes = Array(withUsage.utf8)
        let chunkings = [[buffer(withUsage)], bytes.map { ByteBuffer(bytes: [$0]) }]
            + (0..<10).map { _ in randomChunks(bytes, maxChunk: 90, using: &rng) }
        for chunks in chunkings {
            var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: true)
            #expect(!tracker.isPassThrough)
            #expect(Self.relay(chunks, through: &tracker) == without)
            #expect(tracker.usage == Streams.openAIUsage(endpoint))
            #expect(tracker.completed)
        }
    }

    @Test("a stream the client asked usage for is not changed by a tracker that hides nothing")
    func passThroughKeepsUsage() {
        let stream = Streams.openAI(.chat, includeUsage: true, lineEnding: "\r\n", obfuscation: true)
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: false)
        #expect(Self.relay(stream, through: &tracker) == stream)
        #expect(tracker.usage == Streams.openAIUsage(.chat))
    }

    @Test("removes usage:null wherever it sits in the chunk", arguments: [
        (#"data: {"id":"x","usage":null}"# + "\n\n", #"data: {"id":"x"}"# + "\n\n"),
        (#"data: {"usage":null,"id":"x"}"# + "\n\n", #"data: {"id":"x"}"# + "\n\n"),
        (#"data: {"usage":null}"# + "\n\n", #"data: {}"# + "\n\n"),
        (#"data: {"a":1,"usage":null,"b":2}"# + "\n\n", #"data: {"a":1,"b":2}"# + "\n\n"),
        (#"data: { "id" : "x" , "usage" : null }"# + "\n\n", #"data: { "id" : "x" }"# + "\n\n"),
        (#"data:{"id":"x","usage":null}"# + "\n\n", #"data:{"id":"x"}"# + "\n\n"),
        (#"data: {"id":"x","usage":null}"# + "\r\n\r\n", #"data: {"id":"x"}"# + "\r\n\r\n"),
        ("id: 4\n" + #"data: {"id":"x","usage":null}"# + "\n\n", "id: 4\n" + #"data: {"id":"x"}"# + "\n\n"),
        ("data: {\"id\":\"x\",\ndata: \"usage\":null,\ndata: \"b\":2}\n\n", "data: {\"id\":\"x\",\ndata: \"b\":2}\n\n"),
        ("data: {\"id\":\"x\",\ndata: \"usage\":null\ndata: }\n\n", "data: {\"id\":\"x\"\ndata: }\n\n"),
    ])
    func removesNullUsage(_ event: String, _ expected: String) throws {
        let (action, _) = Self.observe(event)
        let out = try #require(Self.replacement(action))
        #expect(out == expected)
        // What is left is still one valid JSON object.
        let data = try #require(SSEEvent.data(of: buffer(out)))
        #expect(scannerAccepts(data.text))
    }

    @Test("drops the usage-only chunk and keeps its usage")
    func dropsUsageChunk() {
        let (action, tracker) = Self.observe(#"data: {"id":"c","object":"chat.completion.chunk","choices":[ ],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"# + "\n\n")
        #expect(action == .drop)
        #expect(tracker.usage == TokenUsage(inputTokens: 9, outputTokens: 2))
    }

    @Test("usage riding on a chunk with content is removed, the chunk kept")
    func usageOnContentChunk() {
        let event = #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"# + "\n\n"
        let (action, tracker) = Self.observe(event)
        #expect(Self.replacement(action) == #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}"# + "\n\n")
        #expect(tracker.usage == TokenUsage(inputTokens: 9, outputTokens: 1))
        let (kept, _) = Self.observe(event, hide: false)
        #expect(kept == .forward)
    }

    @Test("usage text inside content and nested usage members are left alone", arguments: [
        #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"\"usage\":null"}}]}"# + "\n\n",
        #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"x","usage":null}}]}"# + "\n\n",
        #"data: {"id":"c","choices":[]}"# + "\n\n",
        "data: not json \"usage\":null\n\n",
        ": comment\n\n",
        "event: ping\n\n",
    ])
    func leftAlone(_ event: String) {
        let (action, tracker) = Self.observe(event)
        #expect(action == .forward)
        #expect(tracker.usage == nil)
        #expect(!tracker.completed)
        #expect(!tracker.sawErrorEvent)
        #expect(tracker.eventCount == 1)
    }

    @Test("a stream cut before its usage chunk has no usage and is not completed")
    func truncatedStream() {
        let stream = Streams.openAI(.chat, includeUsage: true)
        let cut = stream.range(of: "\"choices\":[],")!.lowerBound
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: true)
        let out = Self.relay(String(stream[..<cut]), through: &tracker)
        #expect(tracker.usage == nil)
        #expect(!tracker.completed)
        // The unfinished last event is handed on as it came.
        #expect(out.hasSuffix(String(stream[..<cut].suffix(40))))
    }

    // MARK: - Errors

    @Test("notices error events of every family", arguments: [
        (APIFamily.openai, #"data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"# + "\n\n"),
        (.openai, "event: error\n" + #"data: {"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}"# + "\n\n"),
        (.openai, "event: response.failed\n" + #"data: {"type":"response.failed","sequence_number":3,"response":{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"usage":null}}"# + "\n\n"),
        (.anthropic, "event: error\n" + #"data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"# + "\n\n"),
    ])
    func errorEvents(_ family: APIFamily, _ event: String) {
        for hide in [false, true] {
            let (action, tracker) = Self.observe(event, family: family, hide: hide)
            #expect(action == .forward)
            #expect(tracker.sawErrorEvent)
        }
    }

    @Test("an error mid-stream is noticed and the stream is not completed")
    func errorMidStream() {
        let events = Streams.openAI(.chat, includeUsage: true).components(separatedBy: "\n\n")
        let stream = events.prefix(3).map { $0 + "\n\n" }.joined()
            + #"data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"# + "\n\n"
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: false)
        #expect(Self.relay(stream, through: &tracker) == stream)
        #expect(tracker.sawErrorEvent)
        #expect(!tracker.completed)
        #expect(tracker.usage == nil)
    }

    // MARK: - Anthropic

    @Test("reads an Anthropic stream's usage, cache tokens included", arguments: [false, true])
    func anthropicUsage(repeatInputInDelta: Bool) {
        let stream = Streams.anthropic(repeatInputInDelta: repeatInputInDelta)
        for hide in [false, true] {
            var tracker = StreamUsageTracker(family: .anthropic, hideInjectedUsage: hide)
            #expect(Self.relay(stream, through: &tracker) == stream)
            #expect(tracker.usage == Streams.anthropicUsage)
            #expect(tracker.completed)
            #expect(!tracker.sawErrorEvent)
            #expect(tracker.eventCount == 13)
        }
    }

    @Test("Anthropic usage as it grows: input at message_start, output at message_delta, done at message_stop")
    func anthropicProgress() {
        let events = Streams.anthropic(repeatInputInDelta: false).components(separatedBy: "\n\n").dropLast().map { $0 + "\n\n" }
        var tracker = StreamUsageTracker(family: .anthropic, hideInjectedUsage: false)
        _ = tracker.observe(buffer(events[0]), allocator: ByteBufferAllocator())
        #expect(tracker.usage == TokenUsage(inputTokens: 2308, outputTokens: 1, cachedInputTokens: 2048))
        for event in events[1..<(events.count - 1)] {
            _ = tracker.observe(buffer(event), allocator: ByteBufferAllocator())
            #expect(!tracker.completed)
        }
        #expect(tracker.usage == Streams.anthropicUsage)
        _ = tracker.observe(buffer(events.last!), allocator: ByteBufferAllocator())
        #expect(tracker.completed)
    }

    @Test("a message_delta without message_start still counts its output")
    func anthropicDeltaAlone() {
        let (_, tracker) = Self.observe(#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"# + "\n\n", family: .anthropic)
        #expect(tracker.usage == TokenUsage(inputTokens: 0, outputTokens: 15))
    }

    @Test("Anthropic streams in random chunks give the same usage", arguments: [false, true])
    func anthropicChunked(repeatInputInDelta: Bool) {
        let stream = Streams.anthropic(repeatInputInDelta: repeatInputInDelta)
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<10 {
            var tracker = StreamUsageTracker(family: .anthropic, hideInjectedUsage: false)
            #expect(Self.relay(randomChunks(Array(stream.utf8), maxChunk: 50, using: &rng), through: &tracker) == stream)
            #expect(tracker.usage == Streams.anthropicUsage)
            #expect(tracker.completed)
        }
    }

    // MARK: - OpenAI Responses

    @Test("reads usage from the Responses API's terminal event", arguments: [
        ("response.completed", false), ("response.incomplete", false), ("response.failed", true),
    ])
    func responsesUsage(_ terminal: String, _ isError: Bool) {
        let stream = Streams.responses(terminal: terminal)
        for hide in [false, true] {
            var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: hide)
            #expect(Self.relay(stream, through: &tracker) == stream)
            #expect(tracker.usage == Streams.responsesUsage)
            #expect(tracker.completed)
            #expect(tracker.sawErrorEvent == isError)
            #expect(tracker.eventCount == 10)
        }
    }

    @Test("Responses events before the terminal one neither complete the stream nor carry usage")
    func responsesProgress() {
        let events = Streams.responses().components(separatedBy: "\n\n").dropLast().map { $0 + "\n\n" }
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: false)
        for event in events.dropLast() {
            #expect(tracker.observe(buffer(event), allocator: ByteBufferAllocator()) == .forward)
            #expect(!tracker.completed)
            #expect(tracker.usage == nil)
        }
        _ = tracker.observe(buffer(events.last!), allocator: ByteBufferAllocator())
        #expect(tracker.completed)
        #expect(tracker.usage == Streams.responsesUsage)
    }
}
