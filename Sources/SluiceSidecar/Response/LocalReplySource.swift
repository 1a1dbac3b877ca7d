import NIOCore
import NIOHTTP1
import SluiceWire

/// A ``ResponseSource`` for an answer Sluice makes itself: an error in the caller's shape,
/// the model list, or any content type; `text/event-stream` bodies are produced event by
/// event, honouring demand.
public final class LocalReplySource: ResponseSource {
    private let head: HTTPResponseHead
    private var parts: [ByteBuffer]
    private var next = 0
    private weak var sink: (any ResponseSink)?
    private var demand = true
    private var started = false
    private var finished = false

    /// - Parameters:
    ///   - reply: the answer.
    ///   - includeBody: false for `HEAD` requests (the head still announces the length).
    public init(_ reply: LocalReply, includeBody: Bool = true) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(reply.headers.count + 3)
        headers.add(name: "content-type", value: reply.contentType)
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if let code = reply.errorCode { headers.add(name: "x-sluice-error-code", value: code.rawValue) }
        if !reply.isEventStream { headers.add(name: "content-length", value: String(reply.body.utf8.count)) }
        head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
        guard includeBody, !reply.body.isEmpty else {
            parts = []
            return
        }
        if reply.isEventStream {
            // One part per event, so demand applies between events.
            var buffer = ByteBuffer()
            buffer.writeString(reply.body)
            var splitter = SSEEventSplitter(maxEventBytes: .max)
            var events: [ByteBuffer] = []
            _ = splitter.append(buffer) { events.append($0) }
            if let rest = splitter.takePartialEvent() { events.append(rest) }
            parts = events
        } else {
            var buffer = ByteBuffer()
            buffer.writeString(reply.body)
            parts = [buffer]
        }
    }

    public func start(sink: any ResponseSink) {
        guard !started else { return }
        started = true
        self.sink = sink
        sink.sourceDidEmitHead(head)
        produce()
    }

    public func setDemand(_ wanted: Bool) {
        demand = wanted
        if wanted, started { produce() }
    }

    public func cancel() {
        finished = true
        sink = nil
    }

    private func produce() {
        while demand, !finished, next < parts.count {
            let part = parts[next]
            next += 1
            sink?.sourceDidEmitBody(part)
        }
        if !finished, next == parts.count {
            finished = true
            sink?.sourceDidEnd()
        }
    }
}
