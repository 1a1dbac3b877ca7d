// SSEEventSplitter and SSEEvent: whole events out of arbitrarily cut bytes, and their fields.
import NIOCore
import Testing
@testable import SluiceWire

@Suite("SSEEventSplitter")
struct SSEEventSplitterTests {
    /// A real Anthropic stream, event by event.
    static let anthropicEvents = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01EcUJ6ELkySSmfYbCmVmUZ9\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"! Caf\u{E9} \u{1F600}\\n\\n\\\"quoted\\\"\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ]

    /// Events with comments, ids, retry, several data lines and empty data.
    static let oddEvents = [
        ": keep-alive comment\n\n",
        "id: 1\nretry: 3000\ndata: first line\ndata: second line\n\n",
        "data:no space\n\n",
        "data\n\n",
        "event:custom\ndata:  two leading spaces\n\n",
        "data: [DONE]\n\n",
    ]

    static func crlf(_ events: [String]) -> [String] {
        events.map { $0.replacingOccurrences(of: "\n", with: "\r\n") }
    }

    /// Feeds `chunks` and returns the events out, plus what is left unfinished.
    static func split(_ chunks: [ByteBuffer]) -> (events: [String], rest: String?) {
        var splitter = SSEEventSplitter()
        var events: [String] = []
        for chunk in chunks {
            splitter.append(chunk) { events.append($0.text) }
        }
        let hadPartial = splitter.hasPartialEvent
        let rest = splitter.takePartialEvent()?.text
        #expect(hadPartial == (rest != nil))
        #expect(!splitter.hasPartialEvent)
        return (events, rest)
    }

    static let streams: [(String, [String])] = [
        ("anthropic", anthropicEvents),
        ("anthropic CRLF", crlf(anthropicEvents)),
        ("odd", oddEvents),
        ("odd CRLF", crlf(oddEvents)),
    ]

    @Test("a stream cut in two at every byte gives the same events", arguments: streams)
    func everySplitPoint(_ name: String, _ events: [String]) {
        let stream = Array(events.joined().utf8)
        for cut in 0...stream.count {
            let chunks = [ByteBuffer(bytes: stream[..<cut]), ByteBuffer(bytes: stream[cut...])]
            let (out, rest) = Self.split(chunks)
            #expect(out == events, "\(name), cut at \(cut)")
            #expect(rest == nil)
        }
    }

    @Test("a stream fed byte by byte gives the same events", arguments: streams)
    func byteByByte(_ name: String, _ events: [String]) {
        let stream = Array(events.joined().utf8)
        let (out, rest) = Self.split(stream.map { ByteBuffer(bytes: [$0]) })
        #expect(out == events)
        #expect(rest == nil)
    }

    @Test("a stream in random chunks gives the same events", arguments: streams)
    func randomChunkSizes(_ name: String, _ events: [String]) {
        var rng = SeededGenerator(seed: 7)
        let stream = Array(events.joined().utf8)
        for round in 0..<60 {
            let chunks = randomChunks(stream, maxChunk: [3, 17, 64, 400][round % 4], using: &rng)
            let (out, rest) = Self.split(chunks)
            #expect(out == events, "\(name), round \(round)")
            #expect(rest == nil)
        }
    }

    @Test("a whole stream in one chunk gives the same events", arguments: streams)
    func oneChunk(_ name: String, _ events: [String]) {
        let (out, rest) = Self.split([buffer(events.joined())])
        #expect(out == events)
        #expect(rest == nil)
    }

    @Test("events are handed out in order, each as soon as its blank line arrives")
    func eventsAsSoonAsComplete() {
        var splitter = SSEEventSplitter()
        var events: [String] = []
        splitter.append(buffer("data: a\n")) { events.append($0.text) }
        #expect(events.isEmpty)
        #expect(splitter.hasPartialEvent)
        splitter.append(buffer("\ndata: b\n\ndata: c")) { events.append($0.text) }
        #expect(events == ["data: a\n\n", "data: b\n\n"])
        splitter.append(buffer("\r\n\r\n")) { events.append($0.text) }
        #expect(events == ["data: a\n\n", "data: b\n\n", "data: c\r\n\r\n"])
        #expect(!splitter.hasPartialEvent)
        #expect(splitter.takePartialEvent() == nil)
    }

    @Test("an unfinished last event is handed back by takePartialEvent")
    func partialEvent() {
        let (out, rest) = Self.split([buffer("data: {\"a\":1}\n\ndata: {\"b\""), buffer(":2}\n")])
        #expect(out == ["data: {\"a\":1}\n\n"])
        #expect(rest == "data: {\"b\":2}\n")
    }

    @Test("empty chunks change nothing")
    func emptyChunks() {
        let (out, rest) = Self.split([buffer(""), buffer("data: x\n"), buffer(""), buffer("\n"), buffer("")])
        #expect(out == ["data: x\n\n"])
        #expect(rest == nil)
    }

    @Test("no byte is lost or added: events and rest put back together are the input")
    func lossless() {
        var rng = SeededGenerator(seed: 99)
        let pieces = ["data: x", "\n", "\r\n", ": c", "event: e", "data: {\"k\":\"v\"}", "\n\n", "\r\n\r\n", "\r"]
        for _ in 0..<200 {
            let stream = (0..<Int.random(in: 1...20, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let bytes = Array(stream.utf8)
            let (out, rest) = Self.split(randomChunks(bytes, maxChunk: 8, using: &rng))
            #expect(out.joined() + (rest ?? "") == stream)
            // Each event ends with a blank line (one holding nothing but carriage returns).
            for event in out {
                var bytes = Array(event.utf8)
                #expect(bytes.last == UInt8(ascii: "\n"), "\(event.debugDescription)")
                bytes.removeLast()
                while bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                #expect(bytes.isEmpty || bytes.last == UInt8(ascii: "\n"), "\(event.debugDescription)")
            }
        }
    }

    // MARK: - SSEEvent fields

    @Test("reads data and name", arguments: [
        ("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "message_stop", "{\"type\":\"message_stop\"}"),
        ("data: [DONE]\n\n", nil, "[DONE]"),
        ("data: first\ndata: second\n\n", nil, "first\nsecond"),
        ("data: first\r\ndata: second\r\ndata: third\r\n\r\n", nil, "first\nsecond\nthird"),
        ("data: {\"a\":\ndata:  1}\n\n", nil, "{\"a\":\n 1}"),
        ("data:no space\n\n", nil, "no space"),
        ("data:  two spaces\n\n", nil, " two spaces"),
        ("data\n\n", nil, ""),
        ("data:\n\n", nil, ""),
        ("data: a:b: c\n\n", nil, "a:b: c"),
        ("id: 7\nevent:error\nretry: 10\ndata: {}\n\n", "error", "{}"),
        (": comment\ndata: x\n: another\n\n", nil, "x"),
        ("event: ping\n\n", "ping", nil),
        (": keep-alive\n\n", nil, nil),
        ("datum: x\ndata2: y\n\n", nil, nil),
        ("event: a\nevent: b\ndata: x\n\n", "b", "x"),
        ("data: unterminated", nil, "unterminated"),
    ] as [(String, String?, String?)])
    func fields(_ event: String, _ name: String?, _ data: String?) {
        #expect(SSEEvent.name(of: buffer(event)) == name)
        #expect(SSEEvent.data(of: buffer(event))?.text == data)
    }

    @Test("data of an event that is a slice of a larger buffer")
    func dataOfSlice() throws {
        var splitter = SSEEventSplitter()
        var data: [String] = []
        splitter.append(buffer("data: one\n\ndata: two\ndata: lines\n\n")) { event in
            data.append(SSEEvent.data(of: event)?.text ?? "-")
        }
        #expect(data == ["one", "two\nlines"])
    }
}
