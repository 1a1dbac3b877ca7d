import NIOCore
import NIOHTTP1
import SluiceTranslate
import SluiceWire

/// Wraps an upstream attempt to a provider of the other API family and hands its answer
/// on in the caller's format: event streams event by event (``StreamTranslator``), JSON
/// bodies and errors whole once they end (bounded by `maxBodyBytes`).
///
/// Usage is read later from the translated bytes, by the same relay and parser as any
/// answer, so a translated call is priced from the serving model's own counts.
final class TranslatingSource: ResponseSource, ResponseSink {
    private let inner: any ResponseSource
    private let upstream: APIFamily
    private let client: APIFamily
    private let maxBodyBytes: Int
    private weak var sink: (any ResponseSink)?
    private var mode: Mode = .awaitingHead
    private var splitter = SSEEventSplitter()
    private var translator: StreamTranslator
    private var heldHead: HTTPResponseHead?
    private var heldBody: [UInt8] = []

    private enum Mode {
        case awaitingHead
        case stream
        case body(status: Int)
        case done
    }

    init(inner: any ResponseSource, upstream: APIFamily, client: APIFamily, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.inner = inner
        self.upstream = upstream
        self.client = client
        self.maxBodyBytes = maxBodyBytes
        self.translator = StreamTranslator(from: upstream, to: client)
    }

    func start(sink: any ResponseSink) {
        self.sink = sink
        inner.start(sink: self)
    }

    func setDemand(_ wanted: Bool) {
        inner.setDemand(wanted)
    }

    func cancel() {
        mode = .done
        sink = nil
        inner.cancel()
    }

    func sourceDidEmitHead(_ head: HTTPResponseHead) {
        guard case .awaitingHead = mode else { return }
        let status = Int(head.status.code)
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        var headers = head.headers
        headers.remove(name: "content-length")
        if isEventStream, (200..<300).contains(status) {
            mode = .stream
            sink?.sourceDidEmitHead(HTTPResponseHead(version: head.version, status: head.status, headers: headers))
        } else {
            mode = .body(status: status)
            let clientStatus = Translation.clientStatus(status, from: upstream, to: client)
            heldHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: clientStatus), headers: headers)
        }
    }

    func sourceDidEmitBody(_ part: ByteBuffer) {
        switch mode {
        case .stream:
            var out: ByteBuffer?
            let outcome = splitter.append(part) { event in
                for text in translator.translate(event: Array(event.readableBytesView)) {
                    if out == nil { out = ByteBuffer() }
                    out?.writeString(text)
                }
            }
            if let out { sink?.sourceDidEmitBody(out) }
            if outcome != .ok { failTranslation("an upstream event longer than the translator's bound") }
        case .body:
            guard heldBody.count + part.readableBytes <= maxBodyBytes else {
                failTranslation("an upstream answer over \(maxBodyBytes) bytes cannot be translated")
                return
            }
            heldBody.append(contentsOf: part.readableBytesView)
        case .awaitingHead, .done:
            break
        }
    }

    func sourceDidEnd() {
        switch mode {
        case .stream:
            mode = .done
            if let rest = splitter.takePartialEvent() {
                var out = ByteBuffer()
                for text in translator.translate(event: Array(rest.readableBytesView)) { out.writeString(text) }
                if out.readableBytes > 0 { sink?.sourceDidEmitBody(out) }
            }
            sink?.sourceDidEnd()
        case .body(let status):
            mode = .done
            let translated = (200..<300).contains(status)
                ? Translation.response(heldBody, from: upstream, to: client)
                : Translation.errorBody(heldBody, status: status, from: upstream, to: client)
            heldBody = []
            guard var head = heldHead else { return }
            heldHead = nil
            head.headers.replaceOrAdd(name: "content-type", value: "application/json")
            head.headers.replaceOrAdd(name: "content-length", value: String(translated.count))
            sink?.sourceDidEmitHead(head)
            if !translated.isEmpty {
                var buffer = ByteBuffer()
                buffer.writeBytes(translated)
                sink?.sourceDidEmitBody(buffer)
            }
            sink?.sourceDidEnd()
        case .awaitingHead, .done:
            break
        }
    }

    func sourceDidFail(_ failure: ResponseFailure) {
        guard !isDone else { return }
        mode = .done
        sink?.sourceDidFail(failure)
    }

    private var isDone: Bool {
        if case .done = mode { return true }
        return false
    }

    private func failTranslation(_ detail: String) {
        inner.cancel()
        mode = .done
        sink?.sourceDidFail(ResponseFailure(kind: .protocolError, detail: detail))
    }
}
