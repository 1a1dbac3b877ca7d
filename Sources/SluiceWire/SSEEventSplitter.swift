import NIOCore

/// Splits a byte stream of server-sent events into whole events as the bytes arrive.
///
/// Lines end with CRLF, LF or a lone CR, and an event ends with the blank line that closes
/// it (WHATWG HTML §9.2.5). Each event handed out is a slice of the buffer it arrived in
/// (no copy) that ends with that blank line; bytes of an unfinished event wait for the next
/// chunk, and each byte is scanned once however many chunks an event comes in.
///
/// Nothing is dropped or added: the events handed out, followed by ``takePartialEvent()``,
/// are exactly the input bytes. A stray blank line (a keep-alive newline) comes out as an
/// "event" of its own, which is harmless. An event whose closing CR is the last byte so far
/// waits for one more byte (or the stream's end) to tell whether an LF belongs to it, so a
/// caller that drops or rewrites an event never leaves half of its line end behind.
public struct SSEEventSplitter: Sendable {
    /// What ``append(_:onEvent:)`` did with a chunk.
    public enum Outcome: Sendable, Equatable {
        /// Every event the chunk completed was handed out; the rest (if any) waits.
        case ok
        /// The unfinished event grew past ``maxEventBytes``. Events the chunk completed
        /// before it were handed out; the unfinished event's bytes were dropped and the
        /// splitter starts afresh. The stream can no longer be relayed event by event and
        /// should be ended as broken.
        case overflow
    }

    /// Where the scan stands within the current line.
    private enum LineState: Sendable {
        /// At the start of a line.
        case empty
        /// Inside a line that holds bytes.
        case content
        /// A CR ended a line that held bytes; an LF next is the rest of its line end.
        case afterCR
        /// A CR ended a blank line, and with it the pending event, as the last byte so far;
        /// an LF next is part of that event, any other byte starts the next one.
        case afterBlankCR
    }

    /// The largest unfinished event held while waiting for its end (4 MiB unless set).
    public let maxEventBytes: Int
    /// The bytes of the unfinished event (nil when there are none).
    private var pending: ByteBuffer?
    /// How many of `pending`'s bytes were already scanned.
    private var scanned = 0
    private var line = LineState.empty
    /// Bytes scanned so far, in all (each byte once): a statistic for tests.
    private(set) var scannedBytes = 0

    /// - Parameter maxEventBytes: the largest unfinished event to hold while waiting for its
    ///   end; more makes ``append(_:onEvent:)`` return ``Outcome/overflow``.
    public init(maxEventBytes: Int = 4 * 1024 * 1024) {
        self.maxEventBytes = maxEventBytes
    }

    /// Whether bytes of an unfinished event are waiting.
    public var hasPartialEvent: Bool { pending != nil }

    /// The bytes of the unfinished event, if any, removing them (the splitter starts afresh).
    public mutating func takePartialEvent() -> ByteBuffer? {
        defer {
            pending = nil
            scanned = 0
            line = .empty
        }
        return pending
    }

    /// Feeds `chunk`; calls `onEvent` with each event it completes, in order, and reports
    /// ``Outcome/overflow`` when the unfinished event grows past ``maxEventBytes``.
    @discardableResult
    public mutating func append(_ chunk: ByteBuffer, onEvent: (ByteBuffer) -> Void) -> Outcome {
        guard chunk.readableBytes > 0 else { return .ok }
        let buffer: ByteBuffer
        if var waiting = pending {
            pending = nil
            // `waiting` is a slice of just the unfinished event, so what is held does not
            // grow with the stream (events already handed out are not kept).
            waiting.writeImmutableBuffer(chunk)
            buffer = waiting
        } else {
            buffer = chunk
            scanned = 0
        }
        let from = scanned
        var state = line
        var eventStart = 0
        let count = buffer.withUnsafeReadableBytes { bytes -> Int in
            var offset = from
            if state == .afterBlankCR, offset < bytes.count {
                // The held event ends here, with the LF of its CRLF if that comes next.
                if bytes[offset] == SSEEvent.lf { offset += 1 }
                if let event = buffer.getSlice(at: buffer.readerIndex + eventStart, length: offset - eventStart) {
                    onEvent(event)
                }
                eventStart = offset
                state = .empty
            }
            while offset < bytes.count {
                let byte = bytes[offset]
                offset += 1
                if byte == SSEEvent.lf {
                    if state == .empty {
                        if let event = buffer.getSlice(at: buffer.readerIndex + eventStart, length: offset - eventStart) {
                            onEvent(event)
                        }
                        eventStart = offset
                    }
                    state = .empty
                } else if byte == SSEEvent.cr {
                    guard state != .content else {
                        state = .afterCR
                        continue
                    }
                    // A blank line ends here, and the event with it; a CRLF ends it whole.
                    guard offset < bytes.count else {
                        state = .afterBlankCR
                        break
                    }
                    if bytes[offset] == SSEEvent.lf { offset += 1 }
                    state = .empty
                    if let event = buffer.getSlice(at: buffer.readerIndex + eventStart, length: offset - eventStart) {
                        onEvent(event)
                    }
                    eventStart = offset
                } else {
                    state = .content
                    // Run to the end of the line.
                    while offset < bytes.count, bytes[offset] != SSEEvent.lf, bytes[offset] != SSEEvent.cr {
                        offset += 1
                    }
                }
            }
            return bytes.count
        }
        scannedBytes += count - from
        let rest = count - eventStart
        guard rest > 0 else {
            scanned = 0
            line = state
            return .ok
        }
        guard rest <= maxEventBytes else {
            scanned = 0
            line = .empty
            return .overflow
        }
        pending = buffer.getSlice(at: buffer.readerIndex + eventStart, length: rest)
        scanned = rest
        line = state
        return .ok
    }
}

/// Reads the fields of one server-sent event.
public enum SSEEvent {
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")

    /// The event's `data:` payload (several data lines joined with `\n`), or nil if none.
    public static func data(of event: ByteBuffer) -> ByteBuffer? {
        var result: ByteBuffer?
        event.withUnsafeReadableBytes { bytes in
            forEachField(bytes) { field, value in
                guard field == .data else { return }
                if var existing = result {
                    // A slice cannot grow; this copies when lines are joined.
                    existing.writeInteger(lf)
                    existing.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[value]))
                    result = existing
                } else {
                    result = event.getSlice(at: event.readerIndex + value.lowerBound, length: value.count)
                }
            }
        }
        return result
    }

    /// The byte ranges of the event's `data:` values, in order: ``data(of:)`` is them joined
    /// with `\n`.
    static func dataValueRanges(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        forEachField(bytes) { field, value in
            if field == .data { ranges.append(value) }
        }
        return ranges
    }

    /// The event's `event:` name, if any (the last one wins).
    public static func name(of event: ByteBuffer) -> String? {
        var name: String?
        event.withUnsafeReadableBytes { bytes in
            forEachField(bytes) { field, value in
                if field == .event { name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self) }
            }
        }
        return name
    }

    /// The fields these readers look at.
    private enum Field {
        case data, event, other
    }

    private static func field(_ bytes: UnsafeRawBufferPointer, _ name: Range<Int>) -> Field {
        let name = UnsafeRawBufferPointer(rebasing: bytes[name])
        if name.elementsEqual("data".utf8) { return .data }
        if name.elementsEqual("event".utf8) { return .event }
        return .other
    }

    /// Calls `body` with each field line's name and value range. Lines end with CRLF, LF or
    /// CR; comments (lines starting with `:`) and blank lines are skipped; a line without a
    /// colon is a name with an empty value; one space after the colon is not part of the value.
    private static func forEachField(_ bytes: UnsafeRawBufferPointer, _ body: (Field, Range<Int>) -> Void) {
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            var colon: Int?
            while lineEnd < bytes.count, bytes[lineEnd] != lf, bytes[lineEnd] != cr {
                if colon == nil, bytes[lineEnd] == UInt8(ascii: ":") { colon = lineEnd }
                lineEnd += 1
            }
            if lineEnd > lineStart, colon != lineStart {
                let nameEnd = colon ?? lineEnd
                var valueStart = min(nameEnd + 1, lineEnd)
                if valueStart < lineEnd, bytes[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                body(field(bytes, lineStart..<nameEnd), valueStart..<lineEnd)
            }
            lineStart = lineEnd + 1
            if lineEnd < bytes.count, bytes[lineEnd] == cr, lineStart < bytes.count, bytes[lineStart] == lf {
                lineStart += 1
            }
        }
    }
}
