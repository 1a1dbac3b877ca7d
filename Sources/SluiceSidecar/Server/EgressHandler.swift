import NIOCore
import NIOHTTP1
import SluiceWire

/// Serves the app's calls on one HTTP/1.1 connection or one HTTP/2 stream.
///
/// Bytes only: it collects the request, hands it to the ``Pipeline``, starts the upstream
/// exchange, and relays the answer — buffered for JSON (so cost can go in a header),
/// event by event for SSE (flushed at once, usage read in passing). Everything runs on
/// the channel's event loop.
final class EgressHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamResponseReceiver {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let loop: LoopContext
    private let settings: EgressSettings
    private let pipeline: Pipeline
    private let transport: String
    private var context: ChannelHandlerContext?

    // Per request.
    private var requestHead: HTTPRequestHead?
    private var requestBody: ByteBuffer?
    private var requestStartNanos: UInt64 = 0
    private var rejectedEarly = false
    private var call: Call?
    private var keepAlive = true
    private var exchange: UpstreamExchange?
    private var response = ResponseState.idle

    private enum ResponseState {
        case idle
        /// Waiting for the upstream head or collecting a JSON body before answering.
        case buffering(HTTPResponseHead?, ByteBuffer?)
        /// SSE or oversized body: head sent, parts relayed as they come.
        case streaming(StreamRelay)
        case done
    }

    init(loop: LoopContext, settings: EgressSettings, pipeline: Pipeline, transport: String) {
        self.loop = loop
        self.settings = settings
        self.pipeline = pipeline
        self.transport = transport
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Request side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            startRequest(head)
        case .body(var chunk):
            guard !rejectedEarly, call == nil else { return }
            if var body = requestBody {
                guard body.readableBytes + chunk.readableBytes <= settings.maxRequestBodyBytes else {
                    rejectTooLarge()
                    return
                }
                body.writeBuffer(&chunk)
                requestBody = body
            } else {
                guard chunk.readableBytes <= settings.maxRequestBodyBytes else {
                    rejectTooLarge()
                    return
                }
                requestBody = chunk
            }
        case .end:
            guard !rejectedEarly else {
                rejectedEarly = false
                return
            }
            guard let head = requestHead, call == nil else { return }
            runPipeline(head: head, body: requestBody ?? context.channel.allocator.buffer(capacity: 0))
        }
    }

    private func startRequest(_ head: HTTPRequestHead) {
        requestHead = head
        requestBody = nil
        rejectedEarly = false
        call = nil
        response = .idle
        keepAlive = head.isKeepAlive
        requestStartNanos = NIODeadline.now().uptimeNanoseconds
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > settings.maxRequestBodyBytes {
            rejectTooLarge()
            return
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            write(.head(HTTPResponseHead(version: head.version, status: .continue)), flush: true)
        }
    }

    private func rejectTooLarge() {
        guard let head = requestHead, !rejectedEarly else { return }
        rejectedEarly = true
        requestBody = nil
        keepAlive = false
        let call = makeCall(head: head, body: ByteBuffer())
        self.call = call
        let limit = settings.maxRequestBodyBytes
        answer(call, with: .error(.requestTooLarge, "request body exceeds the limit of \(limit) bytes", family: call.family))
    }

    private func makeCall(head: HTTPRequestHead, body: ByteBuffer) -> Call {
        let family = Endpoint.guessFamily(
            path: head.uri,
            hasAnthropicHeaders: head.headers.contains(name: "anthropic-version") || head.headers.contains(name: "x-api-key")
        )
        var id = loop.nextRequestID()
        if let given = head.headers.first(name: "x-request-id"), RequestID.isAcceptable(given) {
            id = given
        }
        return Call(
            id: id, head: head, body: body, transport: transport, startNanos: requestStartNanos,
            snapshot: loop.snapshot, credentials: loop.credentials, family: family,
            randomBits: loop.randomUInt64(),
            traceBits: (loop.randomUInt64(), loop.randomUInt64(), loop.randomUInt64()), wallClock: loop.clock, loopLocal: loop.local
        )
    }

    private func runPipeline(head: HTTPRequestHead, body: ByteBuffer) {
        let call = makeCall(head: head, body: body)
        self.call = call
        requestBody = nil
        pipeline.enter(call, eventLoop: loop.eventLoop) { [weak self] reply in
            guard let self, self.call === call, case .idle = self.response else { return }
            if let reply {
                self.answer(call, with: reply)
            } else {
                self.callUpstream(call)
            }
        }
    }

    // MARK: Upstream

    private func callUpstream(_ call: Call) {
        guard let target = call.target else {
            answer(call, with: .error(.internalError, "no target chosen", family: call.family))
            return
        }
        let provider = target.provider
        var headers = HeaderPolicy.forwardedRequestHeaders(call.head.headers)
        let body = call.upstreamBody ?? call.body
        // Forwarded headers never hold host, content-length or credentials (HeaderPolicy).
        headers.add(name: "host", value: provider.endpoint.hostHeader)
        headers.add(name: "content-length", value: String(body.readableBytes))
        switch provider.family {
        case .openai:
            if let bearer = call.credentials.bearerValues[provider.name] { headers.add(name: "authorization", value: bearer) }
        case .anthropic:
            if let secret = call.credentials.secrets[provider.name] { headers.add(name: "x-api-key", value: secret) }
        }
        if provider.family == .anthropic, !headers.contains(name: "anthropic-version") {
            headers.add(name: "anthropic-version", value: "2023-06-01")
        }
        headers.add(name: "x-request-id", value: call.id)
        if let trace = call.trace {
            headers.add(name: "traceparent", value: trace.upstreamTraceparent)
        }
        let uri = provider.endpoint.pathPrefix + call.head.uri
        let request = UpstreamRequest(head: HTTPRequestHead(version: .http1_1, method: call.head.method, uri: uri, headers: headers), body: body)
        response = .buffering(nil, nil)
        let exchange = UpstreamExchange(
            pool: loop.pool,
            key: UpstreamPool.Key(endpoint: provider.endpoint, tls: provider.tlsContext),
            request: request,
            headTimeout: settings.upstreamHeadTimeout,
            idleTimeout: settings.upstreamIdleTimeout,
            receiver: self
        )
        self.exchange = exchange
        call.upstreamStartNanos = NIODeadline.now().uptimeNanoseconds
        exchange.start()
    }

    func upstreamDidReceiveHead(_ head: HTTPResponseHead) {
        guard let call, case .buffering = response else { return }
        call.upstreamStatus = Int(head.status.code)
        call.status = Int(head.status.code)
        call.firstByteNanos = NIODeadline.now().uptimeNanoseconds
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        if isEventStream && head.status == .ok {
            call.streamed = true
            let relay = StreamRelay(
                tracker: StreamUsageTracker(family: call.target?.provider.family ?? call.family, hideInjectedUsage: call.hideInjectedUsage)
            )
            response = .streaming(relay)
            sendStreamHead(call, upstream: head)
        } else {
            response = .buffering(head, nil)
        }
    }

    func upstreamDidReceiveBody(_ buffer: ByteBuffer) {
        guard let call else { return }
        switch response {
        case .buffering(let head?, let collected):
            var body = collected ?? buffer
            if collected != nil {
                var chunk = buffer
                body.writeBuffer(&chunk)
            }
            if body.readableBytes > settings.maxBufferedResponseBytes {
                // Too big to hold for a cost header: relay the rest as it comes.
                let relay = StreamRelay(tracker: nil)
                response = .streaming(relay)
                sendStreamHead(call, upstream: head)
                relayChunk(body)
            } else {
                response = .buffering(head, body)
            }
        case .streaming:
            relayChunk(buffer)
        default:
            break
        }
    }

    func upstreamDidFinish() {
        guard let call else { return }
        exchange = nil
        switch response {
        case .buffering(let head?, let body):
            let body = body ?? ByteBuffer()
            if let endpoint = call.endpoint, endpoint.isMetered, (200..<300).contains(Int(head.status.code)) {
                call.usage = body.withUnsafeReadableBytes {
                    UsageParser.usage(inResponseBody: $0, family: call.target?.provider.family ?? call.family)
                }
            }
            var headers = HeaderPolicy.relayedResponseHeaders(head.headers)
            addCommonHeaders(call, &headers)
            headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
            pipeline.decorate(call, headers: &headers, trailers: false)
            write(.head(responseHead(status: head.status, headers: headers)), flush: false)
            call.bytesOut += body.readableBytes
            if body.readableBytes > 0 { write(.body(.byteBuffer(body)), flush: false) }
            endResponse(call, trailers: nil)
        case .streaming(var relay):
            if let rest = relay.finish(allocator: context?.channel.allocator ?? ByteBufferAllocator()) {
                call.bytesOut += rest.readableBytes
                write(.body(.byteBuffer(rest)), flush: false)
            }
            if relay.tracker == nil, let endpoint = call.endpoint, endpoint.isMetered, (200..<300).contains(call.status) {
                call.usage = relay.tailUsage(family: call.target?.provider.family ?? call.family)
            } else {
                call.usage = relay.tracker?.usage ?? call.usage
            }
            response = .streaming(relay)
            if let tracker = relay.tracker, !tracker.completed {
                // The body ended cleanly but without the stream's terminal event
                // ([DONE], message_stop, response.completed): the answer is cut short.
                endBrokenStream(call, code: .upstreamError, detail: "the stream ended without its final event")
                return
            }
            var trailers: HTTPHeaders?
            if allowsTrailers {
                var fields = HTTPHeaders()
                pipeline.decorate(call, headers: &fields, trailers: true)
                trailers = fields.isEmpty ? nil : fields
            }
            endResponse(call, trailers: trailers)
        default:
            break
        }
    }

    func upstreamDidFail(_ failure: UpstreamFailure) {
        guard let call else { return }
        exchange = nil
        let code: SluiceErrorCode = failure.kind == .timeout ? .upstreamTimeout : .upstreamError
        call.upstreamFailure = failure.responseStarted && failure.kind != .timeout ? "broken_stream" : failure.kind.rawValue
        let provider = call.target?.provider.name ?? "upstream"
        switch response {
        case .streaming(var relay):
            call.usage = relay.tracker?.usage
            _ = relay.finish(allocator: context?.channel.allocator ?? ByteBufferAllocator())
            endBrokenStream(call, code: code, detail: failure.detail)
        default:
            let message = failure.kind == .timeout
                ? "\(provider) did not answer in time (\(failure.detail))"
                : "\(provider) failed: \(failure.detail)"
            answer(call, with: .error(code, message, family: call.family))
        }
    }

    /// Headers are out: ends the stream with a well-formed error event in the provider's
    /// shape, so the client never mistakes a cut answer for a complete one.
    private func endBrokenStream(_ call: Call, code: SluiceErrorCode, detail: String) {
        let provider = call.target?.provider.name ?? "upstream"
        call.outcome = .upstreamBroken
        call.errorCode = code
        call.errorMessage = detail
        if call.upstreamFailure == nil { call.upstreamFailure = "broken_stream" }
        let family = call.target?.provider.family ?? call.family
        let event = WireError.streamEvent(family: family, code: code, message: "\(provider) broke off the stream: \(detail)")
        var buffer = context?.channel.allocator.buffer(capacity: event.utf8.count) ?? ByteBuffer()
        buffer.writeString(event)
        call.bytesOut += buffer.readableBytes
        write(.body(.byteBuffer(buffer)), flush: false)
        keepAlive = false
        endResponse(call, trailers: nil)
    }

    // MARK: Response side

    private var allowsTrailers: Bool {
        if transport == "h2" { return true }
        guard let te = call?.head.headers.first(name: "te") else { return false }
        return te.lowercased().contains("trailers")
    }

    private func sendStreamHead(_ call: Call, upstream: HTTPResponseHead) {
        var headers = HeaderPolicy.relayedResponseHeaders(upstream.headers)
        addCommonHeaders(call, &headers)
        pipeline.decorate(call, headers: &headers, trailers: false)
        if allowsTrailers { headers.add(name: "trailer", value: "x-sluice-cost-usd") }
        if transport == "h1", headers.first(name: "cache-control") == nil { headers.add(name: "cache-control", value: "no-cache") }
        write(.head(responseHead(status: upstream.status, headers: headers)), flush: true)
    }

    private func relayChunk(_ chunk: ByteBuffer) {
        guard let call, case .streaming(var relay) = response, let allocator = context?.channel.allocator else { return }
        response = .done // avoid a copy-on-write of the relay while we mutate it
        var wrote = false
        relay.process(chunk, allocator: allocator) { out in
            call.bytesOut += out.readableBytes
            write(.body(.byteBuffer(out)), flush: false)
            wrote = true
        }
        response = .streaming(relay)
        if wrote { context?.flush() }
    }

    private func addCommonHeaders(_ call: Call, _ headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: "x-request-id", value: call.id)
        if !keepAlive, transport == "h1" { headers.replaceOrAdd(name: "connection", value: "close") }
    }

    private func responseHead(status: HTTPResponseStatus, headers: HTTPHeaders) -> HTTPResponseHead {
        HTTPResponseHead(version: requestHead?.version ?? .http1_1, status: status, headers: headers)
    }

    /// Sends a reply Sluice made itself.
    private func answer(_ call: Call, with reply: LocalReply) {
        guard context != nil else {
            finish(call)
            return
        }
        if call.upstreamStatus == nil { call.outcome = .local }
        call.status = reply.status
        if reply.status >= 400 {
            call.errorCode = reply.errorCode
            call.errorMessage = reply.body
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if let code = reply.errorCode { headers.add(name: "x-sluice-error-code", value: code.rawValue) }
        addCommonHeaders(call, &headers)
        headers.replaceOrAdd(name: "content-length", value: String(reply.body.utf8.count))
        pipeline.decorate(call, headers: &headers, trailers: false)
        write(.head(responseHead(status: HTTPResponseStatus(statusCode: reply.status), headers: headers)), flush: false)
        if call.head.method != .HEAD, let allocator = context?.channel.allocator {
            var buffer = allocator.buffer(capacity: reply.body.utf8.count)
            buffer.writeString(reply.body)
            call.bytesOut += buffer.readableBytes
            write(.body(.byteBuffer(buffer)), flush: false)
        }
        endResponse(call, trailers: nil)
    }

    private func endResponse(_ call: Call, trailers: HTTPHeaders?) {
        response = .done
        // The call is answered: a close triggered by this very write (draining, or
        // `connection: close`) must not count as the client going away.
        if self.call === call { self.call = nil }
        exchange = nil
        if let context {
            let close = !keepAlive && transport == "h1"
            context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
                if close { context.close(promise: nil) }
            }
        }
        finish(call)
    }

    private func finish(_ call: Call) {
        guard call.endNanos == nil else { return }
        call.endNanos = NIODeadline.now().uptimeNanoseconds
        if self.call === call { self.call = nil }
        pipeline.finish(call)
    }

    private func write(_ part: HTTPServerResponsePart, flush: Bool) {
        guard let context else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(part), promise: nil)
        } else {
            context.write(wrapOutboundOut(part), promise: nil)
        }
    }

    // MARK: Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            exchange?.resumeReading()
        } else {
            exchange?.pauseReading()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientWentAway()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        clientWentAway()
        context.close(promise: nil)
    }

    private func clientWentAway() {
        exchange?.cancel()
        exchange = nil
        if let call, call.endNanos == nil {
            call.outcome = .clientClosed
            if case .streaming(let relay) = response { call.usage = relay.tracker?.usage }
            if call.status == 0 || !call.streamed { call.status = 499 }
            response = .done
            finish(call)
        }
    }
}

/// Settings of the egress listener that shape every call.
public struct EgressSettings: Sendable {
    /// Largest request body accepted (413 beyond it).
    public var maxRequestBodyBytes: Int
    /// Largest JSON response held to put its cost in a header; larger ones are relayed as
    /// they arrive and their cost goes to the access log only.
    public var maxBufferedResponseBytes: Int
    /// How long to wait for the upstream's response head.
    public var upstreamHeadTimeout: TimeAmount
    /// How long a response under way may go without a byte from upstream before it is cut
    /// (streams then end with an error event).
    public var upstreamIdleTimeout: TimeAmount

    public init(maxRequestBodyBytes: Int = 10 * 1024 * 1024, maxBufferedResponseBytes: Int = 8 * 1024 * 1024, upstreamHeadTimeout: TimeAmount = .seconds(600), upstreamIdleTimeout: TimeAmount = .seconds(300)) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxBufferedResponseBytes = maxBufferedResponseBytes
        self.upstreamHeadTimeout = upstreamHeadTimeout
        self.upstreamIdleTimeout = upstreamIdleTimeout
    }
}

/// Rules for client-supplied request ids.
enum RequestID {
    /// Accepts ids of 1 to 128 visible ASCII characters (no quotes or backslashes, which
    /// would need escaping in logs and headers).
    static func isAcceptable(_ id: String) -> Bool {
        let utf8 = id.utf8
        return !utf8.isEmpty && utf8.count <= 128 && utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
