// libFuzzer target: the SSE splitter fed a stream cut at fuzzer-chosen points, and the
// usage tracker of both families over its events. Build and run with scripts/fuzz.
import NIOCore
import SluiceWire

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzSSE invariant: \(message())") }
}

/// The bounds a run may use (chosen by the input's first byte); the default never trips
/// on inputs of -max_len.
private let bounds = [4 * 1024 * 1024, 16, 64, 1024]

/// Input: a flags byte (bits 0-1 pick the bound), a cut-count byte, that many chunk sizes
/// (one byte each, 1...256, used in turn), then the stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSE(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let bound = bounds[Int(input[0] & 3)]
    let sizeCount = min(Int(input[1] % 16), size - 2)
    let sizes = input[2..<(2 + sizeCount)].map { Int($0) + 1 }
    let stream = Array(input[(2 + sizeCount)...])
    var chunks: [ByteBuffer] = []
    var start = 0
    var turn = 0
    while start < stream.count {
        let end = sizes.isEmpty ? stream.count : min(stream.count, start + sizes[turn % sizes.count])
        chunks.append(ByteBuffer(bytes: stream[start..<end]))
        start = end
        turn += 1
    }
    let events = checkSplitter(stream, chunks, bound: bound)
    for family in [APIFamily.openai, .anthropic] {
        for hide in [false, true] {
            checkTracker(events, family: family, hide: hide)
        }
    }
    return 0
}

/// Splits `chunks`; checks the events and the rest are the input byte for byte (the bytes of
/// an event dropped on overflow being everything from its start to the chunk's end), that
/// each event ends with its first blank line, and, without an overflow, that the events are
/// those of the whole stream. Returns the events, the rest last.
private func checkSplitter(_ stream: [UInt8], _ chunks: [ByteBuffer], bound: Int) -> [ByteBuffer] {
    var splitter = SSEEventSplitter(maxEventBytes: bound)
    var events: [ByteBuffer] = []
    var cursor = 0
    var chunkEnd = 0
    var overflowed = false
    for chunk in chunks {
        chunkEnd += chunk.readableBytes
        let outcome = splitter.append(chunk) { event in
            let bytes = Array(event.readableBytesView)
            require(cursor + bytes.count <= chunkEnd && stream[cursor..<(cursor + bytes.count)].elementsEqual(bytes), "event is not the next input bytes")
            require(endsWithItsOnlyBlankLine(bytes), "event does not end with its first blank line: \(bytes)")
            cursor += bytes.count
            events.append(event)
        }
        if outcome == .overflow {
            require(chunkEnd - cursor > bound, "overflow with \(chunkEnd - cursor) bytes unfinished, bound \(bound)")
            require(!splitter.hasPartialEvent, "bytes kept after an overflow")
            overflowed = true
            cursor = chunkEnd
        } else {
            require(chunkEnd - cursor <= bound, "\(chunkEnd - cursor) bytes held, bound \(bound)")
            require(splitter.hasPartialEvent == (cursor < chunkEnd), "hasPartialEvent")
        }
    }
    let rest = splitter.takePartialEvent()
    let restBytes = rest.map { Array($0.readableBytesView) } ?? []
    require(stream[cursor...].elementsEqual(restBytes), "events + rest != input")
    require(!splitter.hasPartialEvent, "rest taken twice")
    if !overflowed {
        let reference = referenceEvents(stream)
        require(events.map { Array($0.readableBytesView) } == reference.events && restBytes == reference.rest, "events differ from the whole stream's")
    }
    if let rest { events.append(rest) }
    return events
}

/// Whether `bytes`, read alone, end with a blank line and hold no blank line before it
/// (lines end with CRLF, LF or CR).
private func endsWithItsOnlyBlankLine(_ bytes: [UInt8]) -> Bool {
    var lineStart = 0
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        guard byte == 0x0A || byte == 0x0D else {
            index += 1
            continue
        }
        let blank = index == lineStart
        index += 1
        if byte == 0x0D, index < bytes.count, bytes[index] == 0x0A { index += 1 }
        if blank { return index == bytes.count }
        lineStart = index
    }
    return false
}

/// The events of a whole stream by the letter of the spec; an event closed by a lone CR
/// that is the stream's last byte is the rest (an LF might follow).
private func referenceEvents(_ stream: [UInt8]) -> (events: [[UInt8]], rest: [UInt8]) {
    var events: [[UInt8]] = []
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
        if byte == 0x0D, !loneCR { index += 1 }
        if blank, !(loneCR && index == stream.count) {
            events.append(Array(stream[eventStart..<index]))
            eventStart = index
        }
        lineStart = index
    }
    return (events, Array(stream[eventStart...]))
}

/// Runs a tracker over the events: a tracker that hides nothing forwards every event; a
/// replacement keeps the event's data one JSON object with one member fewer.
private func checkTracker(_ events: [ByteBuffer], family: APIFamily, hide: Bool) {
    var tracker = StreamUsageTracker(family: family, hideInjectedUsage: hide)
    let allocator = ByteBufferAllocator()
    for event in events {
        let action = tracker.observe(event, allocator: allocator)
        guard hide, family == .openai else {
            require(action == .forward, "\(family) tracker, hide \(hide), changed an event")
            continue
        }
        guard case .replace(let replacement) = action else { continue }
        guard let before = SSEEvent.data(of: event), let after = SSEEvent.data(of: replacement) else {
            fatalError("FuzzSSE invariant: a replaced event lost its data")
        }
        let counts: [Int?] = [before, after].map { data in
            data.withUnsafeReadableBytes { (try? JSONScanner.scanObject($0))?.members.count }
        }
        require(counts[0] != nil && counts[1] == counts[0].map { $0 - 1 },
                "replacement is not the object less one member: \(String(buffer: before)) -> \(String(buffer: after))")
    }
    require(tracker.eventCount == events.count, "eventCount")
}
