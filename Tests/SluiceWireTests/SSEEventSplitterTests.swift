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

    static func cr(_ events: [String]) -> [String] {
        events.map { $0.replacingOccurrences(of: "\n", with: "\r") }
    }

    /// Feeds `chunks` and returns the events out, plus what is left unfinished.
    static func split(_ chunks: [ByteBuffer]) -> (events: [String], rest: String?) {
        var splitter = SSEEventSplitter()
        var events: [String] = []
        for chunk in chunks {
            let outcome = splitter.append(chunk) { events.append($0.text) }
            #expect(outcome == .ok)
        }
        let hadPartial = splitter.hasPartialEvent
        let rest = splitter.takePartialEvent()?.text
        #expect(hadPartial == (rest != nil))
        #expect(!splitter.hasPartialEvent)
        return (events, rest)
    }

    /// Checks a whole stream split into `events` came out as `out` and `rest`: all handed
    /// out, except a last event closed by a CR, which waits for a byte that may be its LF.
    static func expectEvents(_ out: [String], _ rest: String?, _ events: [String], _ comment: Comment) {
        if let last = events.last, last.utf8.last == UInt8(ascii: "\r") {
            #expect(out == Array(events.dropLast()), comment)
            #expect(rest == last, comment)
        } else {
            #expect(out == events, comment)
            #expect(rest == nil, comment)
        }
    }

    /// The events of a whole stream by the letter of the spec: lines end with CRLF, LF or
    /// CR, an event ends after the line end of a blank line. Returns the events and the rest.
    /// Written for clarity, not speed, with no state carried between chunks.
    static func referenceEvents(_ stream: [UInt8]) -> (events: [String], rest: String?) {
        var events: [String] = []
        var eventStart = 0
        var lineStart = 0
        var index = 0
        while index < stream.count {
            let byte = stream[index]
            guard byte == 0x0A || byte == 0x0D else {
                index += 1
                continue
            }
            let blank = index == lineStart
            index += 1
            let loneCR = byte == 0x0D && (index == stream.count || stream[index] != 0x0A)
            if !loneCR, byte == 0x0D { index += 1 }
            // An event closed by a CR that is the last byte so far waits: an LF may follow.
            if blank, !(loneCR && index == stream.count) {
                events.append(String(decoding: stream[eventStart..<index], as: UTF8.self))
                eventStart = index
            }
            lineStart = index
        }
        let rest = eventStart < stream.count ? String(decoding: stream[eventStart...], as: UTF8.self) : nil
        return (events, rest)
    }

    static let streams: [(String, [String])] = [
        ("anthropic", anthropicEvents),
        ("anthropic CRLF", crlf(anthropicEvents)),
        ("anthropic CR", cr(anthropicEvents)),
        ("odd", oddEvents),
        ("odd CRLF", crlf(oddEvents)),
        ("odd CR", cr(oddEvents)),
    ]

    @Test("a stream cut in two at every byte gives the same events", arguments: streams)
    func everySplitPoint(_ name: String, _ events: [String]) {
        let stream = Array(events.joined().utf8)
        for cut in 0...stream.count {
            let chunks = [ByteBuffer(bytes: stream[..<cut]), ByteBuffer(bytes: stream[cut...])]
            let (out, rest) = Self.split(chunks)
            Self.expectEvents(out, rest, events, "\(name), cut at \(cut)")
        }
    }

    @Test("a stream fed byte by byte gives the same events", arguments: streams)
    func byteByByte(_ name: String, _ events: [String]) {
        let stream = Array(events.joined().utf8)
        let (out, rest) = Self.split(stream.map { ByteBuffer(bytes: [$0]) })
        Self.expectEvents(out, rest, events, "\(name)")
    }

    @Test("a stream in random chunks gives the same events", arguments: streams)
    func randomChunkSizes(_ name: String, _ events: [String]) {
        var rng = SeededGenerator(seed: 7)
        let stream = Array(events.joined().utf8)
        for round in 0..<60 {
            let chunks = randomChunks(stream, maxChunk: [3, 17, 64, 400][round % 4], using: &rng)
            let (out, rest) = Self.split(chunks)
            Self.expectEvents(out, rest, events, "\(name), round \(round)")
        }
    }

    @Test("a whole stream in one chunk gives the same events", arguments: streams)
    func oneChunk(_ name: String, _ events: [String]) {
        let (out, rest) = Self.split([buffer(events.joined())])
        Self.expectEvents(out, rest, events, "\(name)")
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
        let pieces = ["data: x", "\n", "\r\n", ": c", "event: e", "data: {\"k\":\"v\"}", "\n\n", "\r\n\r\n", "\r", "\r\r", "data:"]
        for _ in 0..<1000 {
            let stream = (0..<Int.random(in: 1...20, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let bytes = Array(stream.utf8)
            let (out, rest) = Self.split(randomChunks(bytes, maxChunk: 8, using: &rng))
            #expect(out.joined() + (rest ?? "") == stream)
            // The events are those of the whole stream read by the letter of the spec.
            let reference = Self.referenceEvents(bytes)
            #expect(out == reference.events, "\(stream.debugDescription)")
            #expect(rest == reference.rest, "\(stream.debugDescription)")
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

@Suite("SSEEventSplitter line endings and cost")
struct SSEEventSplitterLineEndingTests {
    @Test("each byte is scanned once, however many chunks a long event comes in")
    func incrementalScan() {
        var splitter = SSEEventSplitter()
        var events: [ByteBuffer] = []
        let chunk = String(repeating: "x", count: 1024)
        splitter.append(buffer("data: ")) { events.append($0) }
        for _ in 0..<256 {
            splitter.append(buffer(chunk)) { events.append($0) }
        }
        splitter.append(buffer("\n\n")) { events.append($0) }
        #expect(events.count == 1)
        #expect(events.first?.readableBytes == 6 + 256 * 1024 + 2)
        #expect(splitter.scannedBytes == 6 + 256 * 1024 + 2)
    }

    @Test("CR-only line endings split events", arguments: [
        ["data: a\r\r", "data: b\r\r"],
        ["event: e\rdata: {\"k\":1}\r\r", ": comment\r\r", "data: x\rdata: y\r\r"],
    ])
    func crOnly(_ events: [String]) {
        let stream = Array(events.joined().utf8)
        for cut in 0...stream.count {
            var splitter = SSEEventSplitter()
            var out: [String] = []
            splitter.append(ByteBuffer(bytes: stream[..<cut])) { out.append($0.text) }
            splitter.append(ByteBuffer(bytes: stream[cut...])) { out.append($0.text) }
            // The last event waits for a byte after its closing CR (an LF would belong to it).
            #expect(out == events.dropLast(), "cut at \(cut)")
            #expect(splitter.takePartialEvent()?.text == events.last)
        }
    }

    @Test("fields of events with CR, LF and CRLF line ends", arguments: [
        ("event: x\rdata: a\rdata: b\r\r", "x", "a\nb"),
        ("data: a\r\ndata: b\rdata: c\n\n", nil, "a\nb\nc"),
        (": c\revent: y\r\ndata:z\r", "y", "z"),
        ("data: a\r", nil, "a"),
        ("\rdata: a", nil, "a"),
    ] as [(String, String?, String?)])
    func fieldsWithCR(_ event: String, _ name: String?, _ data: String?) {
        #expect(SSEEvent.name(of: buffer(event)) == name)
        #expect(SSEEvent.data(of: buffer(event))?.text == data)
    }
}

@Suite("SSEEventSplitter bounds and chunk edges")
struct SSEEventSplitterBoundTests {
    /// Feeds `chunks` to `splitter`; returns the events out and each chunk's outcome.
    static func feed(_ splitter: inout SSEEventSplitter, _ chunks: [String]) -> (events: [String], outcomes: [SSEEventSplitter.Outcome]) {
        var events: [String] = []
        var outcomes: [SSEEventSplitter.Outcome] = []
        for chunk in chunks {
            outcomes.append(splitter.append(buffer(chunk)) { events.append($0.text) })
        }
        return (events, outcomes)
    }

    @Test("the default bound is 4 MiB")
    func defaultBound() {
        #expect(SSEEventSplitter().maxEventBytes == 4 * 1024 * 1024)
    }

    @Test("an unfinished event just below and at the bound waits; one byte more overflows", arguments: [
        (15, SSEEventSplitter.Outcome.ok, true),
        (16, .ok, true),
        (17, .overflow, false),
    ])
    func unfinishedEventAtTheBound(_ size: Int, _ expected: SSEEventSplitter.Outcome, _ waiting: Bool) {
        var splitter = SSEEventSplitter(maxEventBytes: 16)
        let partial = "data: " + String(repeating: "x", count: size - 6)
        let (events, outcomes) = Self.feed(&splitter, ["data: a\n\n", partial])
        #expect(events == ["data: a\n\n"])
        #expect(outcomes == [.ok, expected])
        #expect(splitter.hasPartialEvent == waiting)
    }

    @Test("an event that grows past the bound over several chunks overflows when it does")
    func growsPastTheBound() {
        var splitter = SSEEventSplitter(maxEventBytes: 16)
        let (events, outcomes) = Self.feed(&splitter, ["data: 12", "34567890", "x", "\n\n"])
        #expect(outcomes == [.ok, .ok, .overflow, .ok])
        // The dropped event's bytes are gone: its end comes out as two stray blank lines.
        #expect(events == ["\n", "\n"])
        #expect(!splitter.hasPartialEvent)
    }

    @Test("events completed in the chunk that overflows are still handed out, in order")
    func eventsBeforeTheOverflow() {
        var splitter = SSEEventSplitter(maxEventBytes: 8)
        let (events, outcomes) = Self.feed(&splitter, ["data: a\r\n\r\ndata: b\r\rdata: too long"])
        #expect(outcomes == [.overflow])
        #expect(events == ["data: a\r\n\r\n", "data: b\r\r"])
        #expect(splitter.takePartialEvent() == nil)
    }

    @Test("a whole event larger than the bound in one chunk is not held, so it passes")
    func wholeEventLargerThanTheBound() {
        var splitter = SSEEventSplitter(maxEventBytes: 8)
        let (events, outcomes) = Self.feed(&splitter, ["data: a long event\n\n"])
        #expect(outcomes == [.ok])
        #expect(events == ["data: a long event\n\n"])
    }

    @Test("after an overflow the splitter starts afresh")
    func afreshAfterOverflow() {
        var splitter = SSEEventSplitter(maxEventBytes: 8)
        let (events, outcomes) = Self.feed(&splitter, ["data: too long\r", "data: b\n\n"])
        #expect(outcomes == [.overflow, .ok])
        // The CR state of the dropped line is gone too: "data: b" is read as a new line.
        #expect(events == ["data: b\n\n"])
    }

    @Test("a CRLF cut after the CR of a line with bytes is one line end")
    func crlfCutInALine() {
        var splitter = SSEEventSplitter()
        let (events, _) = Self.feed(&splitter, ["data: a\r", "\n", "\r", "\n"])
        #expect(events == ["data: a\r\n\r\n"])
        #expect(!splitter.hasPartialEvent)
    }

    @Test("an event whose closing CR ends a chunk waits for the next byte: an LF is part of it")
    func crlfCutAfterTheClosingCR() {
        var splitter = SSEEventSplitter()
        var (events, outcomes) = Self.feed(&splitter, ["data: a\r\n\r"])
        #expect(events.isEmpty)
        #expect(splitter.hasPartialEvent)
        (events, outcomes) = Self.feed(&splitter, ["\ndata: b\r\n\r\n"])
        #expect(outcomes == [.ok])
        #expect(events == ["data: a\r\n\r\n", "data: b\r\n\r\n"])
        #expect(!splitter.hasPartialEvent)
    }

    @Test("an event whose closing CR ends a chunk is handed out when the next byte is not an LF")
    func crCutAfterTheClosingCR() {
        var splitter = SSEEventSplitter()
        #expect(Self.feed(&splitter, ["data: a\r\r"]).events.isEmpty)
        #expect(Self.feed(&splitter, ["data: b\r\r"]).events == ["data: a\r\r"])
        #expect(Self.feed(&splitter, ["\r"]).events == ["data: b\r\r"])
        // The held CR is a blank line (a stray "event"); at the stream's end it is the rest.
        #expect(splitter.takePartialEvent()?.text == "\r")
        #expect(!splitter.hasPartialEvent)
    }

    @Test("events from one chunk are slices of it, not copies")
    func eventsAreSlices() {
        let chunk = buffer("data: a\n\ndata: b\r\n\r\n: c\r\rdata: d\n\n")
        var splitter = SSEEventSplitter()
        var starts: [Int] = []
        splitter.append(chunk) { event in
            starts.append(event.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) })
        }
        let base = chunk.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) }
        #expect(starts == [base, base + 9, base + 20, base + 25])
    }

    @Test("an unfinished event's storage does not keep the events before it")
    func pendingStorageIsTrimmed() {
        var splitter = SSEEventSplitter()
        let event = "data: " + String(repeating: "y", count: 4000) + "\n\n"
        for _ in 0..<200 {
            splitter.append(buffer(event + "data: z")) { _ in }
            splitter.append(buffer("z\n\n")) { _ in }
        }
        splitter.append(buffer(event + "data: z")) { _ in }
        splitter.append(buffer("z")) { _ in }
        let partial = splitter.takePartialEvent()
        #expect(partial?.text == "data: zz")
        #expect((partial?.capacity ?? .max) < 16 * 1024)
    }
}
