import NIOCore
import NIOHTTP1
import SluiceWire

/// The response half of ``EgressHandler``: what the call's source produces, written to the
/// client as the ``CallLifecycle`` decides.
extension EgressHandler {
    // MARK: ResponseSink

    func sourceDidEmitHead(_ head: HTTPResponseHead) {
        guard let call else { return }
        call.status = Int(head.status.code)
        if call.firstByteNanos == nil, !sourceIsLocal { call.firstByteNanos = NIODeadline.now().uptimeNanoseconds }
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        heldHead = (head.status, head.headers)
        perform(lifecycle.handle(.sourceHead(status: Int(head.status.code), isEventStream: isEventStream)))
    }

    func sourceDidEmitBody(_ part: ByteBuffer) {
        // Only a part that would be held needs memory from the budget.
        var reserved = true
        if case .buffering = lifecycle.response {
            reserved = loop.memory.tryReserve(part.readableBytes)
            if reserved { responseReserved += part.readableBytes }
        }
        switch lifecycle.handle(.sourceBody(bytes: part.readableBytes, reserved: reserved)) {
        case .bufferBody:
            if heldBody == nil {
                heldBody = part
            } else {
                var chunk = part
                heldBody?.writeBuffer(&chunk)
            }
        case .flushHeldAndRelay:
            releaseResponseBytes()
            if let call, let head = heldHead {
                heldHead = nil
                relay = StreamRelay(tracker: nil)
                sendStreamHead(call, status: head.status, headers: head.headers)
            }
            if var held = heldBody {
                heldBody = nil
                var chunk = part
                held.writeBuffer(&chunk)
                relayChunk(held)
            } else {
                relayChunk(part)
            }
        case .relayBody:
            relayChunk(part)
        default:
            break
        }
    }

    func sourceDidEnd() {
        // Only an event stream has a final event to miss.
        let complete = relay?.tracker == nil ? true : finishRelay()
        perform(lifecycle.handle(.sourceEnd(complete: complete)))
    }

    func sourceDidFail(_ failure: ResponseFailure) {
        guard let call else { return }
        call.errorMessage = failure.detail
        if let relay { call.usage = relay.tracker?.usage ?? call.usage }
        pendingFailure = failure
        perform(lifecycle.handle(.sourceFailed(failure.kind)))
    }

    // MARK: Actions on the response

    func performResponse(_ action: CallLifecycle.Action) {
        guard let call else { return }
        switch action {
        case .sendStreamHead:
            guard let head = heldHead else { return }
            heldHead = nil
            call.streamed = true
            if sourceIsLocal {
                relay = StreamRelay(tracker: nil) // Sluice's own events: nothing to price or hide
            } else {
                let family = call.family
                relay = StreamRelay(tracker: StreamUsageTracker(family: family, hideInjectedUsage: call.attempts.last?.hideInjectedUsage ?? false))
            }
            sendStreamHead(call, status: head.status, headers: head.headers)
        case .holdHead, .bufferBody, .relayBody, .flushHeldAndRelay:
            break
        case .sendHeldAnswer:
            sendHeldAnswer(call)
        case .endStream:
            if relay?.tracker == nil, !sourceIsLocal, let endpoint = call.endpoint, endpoint.isMetered, (200..<300).contains(call.status) {
                call.usage = relay?.tailUsage(family: call.family)
            } else if let tracker = relay?.tracker {
                call.usage = tracker.usage ?? call.usage
            }
            var trailers: HTTPHeaders?
            if allowsTrailers(call) {
                var fields = HTTPHeaders()
                pipeline.decorate(call, headers: &fields, trailers: true)
                trailers = fields.isEmpty ? nil : fields
            }
            endResponse(call, trailers: trailers)
        case .endBrokenStream(let code):
            let detail = pendingFailure?.detail ?? "the stream ended without its final event"
            pendingFailure = nil
            endBrokenStream(call, code: code, detail: detail)
        case .answerWithError(let usual):
            let failure = pendingFailure
            let code = failure?.code ?? usual
            pendingFailure = nil
            heldHead = nil
            heldBody = nil
            let provider = call.target?.provider.name ?? "upstream"
            let detail = failure?.detail ?? "the answer ended before its head"
            let message = code == .upstreamTimeout ? "\(provider) did not answer in time (\(detail))" : "\(provider) failed: \(detail)"
            releaseResponseBytes()
            source = localSource(call, .error(code, message, family: call.family))
            call.status = 0
            perform(lifecycle.handle(.sourceReady(duringRead: false)))
        case .abort:
            // A JSON body under way cannot carry an error: reset, so the client sees a
            // broken answer rather than a short one.
            call.outcome = .upstreamBroken
            call.errorCode = .upstreamError
            releaseResponseBytes()
            source = nil
            relay = nil
            finish(call)
            context?.close(promise: nil)
        default:
            break
        }
    }

    private func finishRelay() -> Bool {
        guard var relay, let call else { return true }
        self.relay = nil
        if let rest = relay.finish(allocator: context?.channel.allocator ?? ByteBufferAllocator()) {
            call.bytesOut += rest.readableBytes
            write(.body(.byteBuffer(rest)), flush: false)
        }
        self.relay = relay
        call.usage = relay.tracker?.usage ?? call.usage
        // A body that ended cleanly without the stream's terminal event ([DONE],
        // message_stop, response.completed) is an answer cut short.
        return relay.tracker?.completed ?? true
    }

    private func sendHeldAnswer(_ call: Call) {
        guard let head = heldHead else { return }
        heldHead = nil
        let body = heldBody ?? ByteBuffer()
        heldBody = nil
        releaseResponseBytes() // handed to the channel now; its own write buffer bounds it
        if !sourceIsLocal, let endpoint = call.endpoint, endpoint.isMetered, (200..<300).contains(Int(head.status.code)) {
            call.usage = body.withUnsafeReadableBytes {
                UsageParser.usage(inResponseBody: $0, family: call.family)
            }
        }
        var headers = head.headers
        addCommonHeaders(call, &headers)
        // A HEAD request's answer announces the length of the body it leaves out.
        if call.head.method != .HEAD || !headers.contains(name: "content-length") {
            headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        }
        pipeline.decorate(call, headers: &headers, trailers: false)
        write(.head(responseHead(status: head.status, headers: headers)), flush: false)
        call.bytesOut += body.readableBytes
        if body.readableBytes > 0 { write(.body(.byteBuffer(body)), flush: false) }
        endResponse(call, trailers: nil)
    }

    /// Headers are out: ends the stream with a well-formed error event in the provider's
    /// shape, so the client never mistakes a cut answer for a complete one.
    private func endBrokenStream(_ call: Call, code: SluiceErrorCode, detail: String) {
        let provider = call.target?.provider.name ?? "upstream"
        call.outcome = .upstreamBroken
        call.errorCode = code
        call.errorMessage = detail
        if call.attempts.last?.failure == nil, !call.attempts.isEmpty {
            call.attempts[call.attempts.count - 1].failure = .brokenStream
        }
        let family = call.family
        let event = WireError.streamEvent(family: family, code: code, message: "\(provider) broke off the stream: \(detail)")
        var buffer = context?.channel.allocator.buffer(capacity: event.utf8.count) ?? ByteBuffer()
        buffer.writeString(event)
        call.bytesOut += buffer.readableBytes
        write(.body(.byteBuffer(buffer)), flush: false)
        endResponse(call, trailers: nil)
    }

    func allowsTrailers(_ call: Call) -> Bool {
        if transport == .h2 { return true }
        guard let te = call.head.headers.first(name: "te") else { return false }
        return te.lowercased().contains("trailers")
    }

    private func sendStreamHead(_ call: Call, status: HTTPResponseStatus, headers upstreamHeaders: HTTPHeaders) {
        var headers = upstreamHeaders
        headers.remove(name: "content-length")
        addCommonHeaders(call, &headers)
        pipeline.decorate(call, headers: &headers, trailers: false)
        if allowsTrailers(call) { headers.add(name: "trailer", value: "x-sluice-cost-usd") }
        if transport == .h1, headers.first(name: "cache-control") == nil { headers.add(name: "cache-control", value: "no-cache") }
        write(.head(responseHead(status: status, headers: headers)), flush: true)
    }

    private func relayChunk(_ chunk: ByteBuffer) {
        guard let call, var relay = self.relay, let allocator = context?.channel.allocator else { return }
        self.relay = nil // avoid a copy-on-write of the relay while we mutate it
        var wrote = false
        let intact = relay.process(chunk, allocator: allocator) { out in
            call.bytesOut += out.readableBytes
            write(.body(.byteBuffer(out)), flush: false)
            wrote = true
        }
        self.relay = relay
        if wrote { context?.flush() }
        if !intact {
            // An event too long to hold while rewriting: the stream cannot go on intact.
            source?.cancel()
            let failure = ResponseFailure(kind: .protocolError, detail: "an event longer than the relay's bound")
            if !call.attempts.isEmpty { call.attempts[call.attempts.count - 1].failure = .protocolError }
            sourceDidFail(failure)
        }
    }

    private func addCommonHeaders(_ call: Call, _ headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: "x-request-id", value: call.id)
        if lifecycle.closeAfterResponse, transport == .h1 { headers.replaceOrAdd(name: "connection", value: "close") }
    }

    private func responseHead(status: HTTPResponseStatus, headers: HTTPHeaders) -> HTTPResponseHead {
        HTTPResponseHead(version: requestHead?.version ?? .http1_1, status: status, headers: headers)
    }

    private func endResponse(_ call: Call, trailers: HTTPHeaders?) {
        lifecycle.responseWritten()
        source = nil
        relay = nil
        if let context {
            // The call is answered: a close triggered by this very write (draining, or
            // `connection: close`) must not count as the client going away.
            let close = lifecycle.closeAfterResponse && transport == .h1
            context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
                if close { context.close(promise: nil) }
            }
        }
        finish(call)
        if !lifecycle.closeAfterResponse { resumePipelined() }
    }

    func finish(_ call: Call) {
        releaseRequestBytes() // the call (and its upstream request) no longer hold the body
        guard !call.isFinished else { return }
        call.endNanos = NIODeadline.now().uptimeNanoseconds
        pipeline.finish(call)
    }

    func write(_ part: HTTPServerResponsePart, flush: Bool) {
        guard let context else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(part), promise: nil)
        } else {
            context.write(wrapOutboundOut(part), promise: nil)
        }
    }
}
