import NIOCore
import NIOHTTP1
import SluiceWire

/// Serves the app's calls on one HTTP/1.1 connection or one HTTP/2 stream: a thin shell
/// that turns channel events into ``CallLifecycle`` events and performs its actions.
///
/// Bytes only: it collects the request, runs the ``Pipeline``'s stages, starts the call's
/// ``ResponseSource`` (the upstream exchange, a local reply, or whatever the wrapping
/// stages return) and writes what the source produces — held for JSON (so cost can go in
/// a header), event by event for SSE (flushed at once, usage read in passing). Everything
/// runs on the channel's event loop.
///
/// HTTP/1.1 pipelining is handled here rather than by NIO's `HTTPServerPipelineHandler`,
/// which stops and restarts reading around every request (two `epoll_ctl` calls each): a
/// request that arrives while the previous answer is still being written waits in a small
/// queue, and reading pauses only then. Quiescing (drain) closes an idle connection at once
/// and a busy one after its answer, with `connection: close`.
final class EgressHandler: ChannelDuplexHandler, RemovableChannelHandler, ResponseSink, StageRunObserver {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let loop: LoopContext
    let settings: EgressSettings
    let pipeline: Pipeline
    let transport: Transport
    var context: ChannelHandlerContext?
    var lifecycle: CallLifecycle

    // Per request.
    var requestHead: HTTPRequestHead?
    var requestBody: ByteBuffer?
    var requestStartNanos: UInt64 = 0
    var call: Call?
    var source: (any ResponseSource)?
    /// Whether a channelRead is being handled (upstream starts wait for its end).
    var reading = false
    /// The held head and body of a non-stream answer.
    /// The answer's status and headers, kept apart (not in an `HTTPResponseHead` box) so
    /// that adding Sluice's headers mutates them in place instead of copying.
    var heldHead: (status: HTTPResponseStatus, headers: HTTPHeaders)?
    var heldBody: ByteBuffer?
    var relay: StreamRelay?
    /// The failure being turned into an error reply or event.
    var pendingFailure: ResponseFailure?
    /// Whether the current source is a reply Sluice made itself (no usage, no upstream timing).
    var sourceIsLocal = false

    // HTTP/1.1 pipelining.
    /// Parts of requests that arrived while an answer was still being written.
    var pipelined = CircularBuffer<HTTPServerRequestPart>()
    /// Whether reads are held until the queue drains.
    var holdingReads = false
    var readPending = false
    /// The server is draining: close once the connection is idle.
    var quiescing = false

    // Bytes this handler holds against the process-wide ``MemoryBudget``.
    /// Reserved for the request body (its declared length, or chunk by chunk).
    var requestReserved = 0
    /// Whether the declared length was reserved up front (chunks then need nothing more).
    var requestPrereserved = false
    /// Reserved for a held answer.
    var responseReserved = 0

    init(loop: LoopContext, settings: EgressSettings, pipeline: Pipeline, transport: Transport) {
        self.loop = loop
        self.settings = settings
        self.pipeline = pipeline
        self.transport = transport
        self.lifecycle = CallLifecycle(maxRequestBodyBytes: settings.maxRequestBodyBytes, maxBufferedResponseBytes: settings.maxBufferedResponseBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        releaseRequestBytes()
        releaseResponseBytes()
    }

    func releaseRequestBytes() {
        if requestReserved > 0 { loop.memory.release(requestReserved) }
        requestReserved = 0
        requestPrereserved = false
    }

    func releaseResponseBytes() {
        if responseReserved > 0 { loop.memory.release(responseReserved) }
        responseReserved = 0
    }

    /// Reserves `bytes` more for the request body; false when the budget is spent.
    private func reserveRequest(_ bytes: Int) -> Bool {
        guard loop.memory.tryReserve(bytes) else { return false }
        requestReserved += bytes
        return true
    }

    // MARK: Request side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if transport == .h1, lifecycle.request == .complete || !pipelined.isEmpty {
            // A pipelined request: it waits until the answer before it is out.
            pipelined.append(part)
            holdingReads = true
            return
        }
        reading = true
        receive(part, context: context)
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            requestHead = head
            requestBody = nil
            call = nil
            source = nil
            releaseRequestBytes()
            requestStartNanos = NIODeadline.now().uptimeNanoseconds
            let length = head.headers.first(name: "content-length").flatMap(Int.init)
            let expects = head.headers.first(name: "expect")?.lowercased() == "100-continue"
            perform(lifecycle.handle(.requestHead(contentLength: length, expectsContinue: expects)))
            if !head.isKeepAlive { lifecycle.closeAfterThisResponse() }
            if let length, length > 0, length <= settings.maxRequestBodyBytes, case .receiving = lifecycle.request {
                // Reserved and sized once: one budget check, no regrowth copies.
                if reserveRequest(length) {
                    requestPrereserved = true
                    requestBody = context.channel.allocator.buffer(capacity: length)
                }
            }
        case .body(var chunk):
            // A declared length was reserved at the head (the decoder holds the body to it).
            let reserved = requestPrereserved || reserveRequest(chunk.readableBytes)
            let action = lifecycle.handle(.requestBody(bytes: chunk.readableBytes, reserved: reserved))
            if action == .appendRequestBody {
                if requestBody == nil {
                    requestBody = chunk
                } else {
                    requestBody?.writeBuffer(&chunk)
                }
            } else {
                perform(action)
            }
        case .end:
            perform(lifecycle.handle(.requestEnd))
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdingReads {
            readPending = true
        } else {
            context.read()
        }
    }

    /// After an answer: serves the requests that queued behind it, then reads again.
    func resumePipelined() {
        guard transport == .h1, !pipelined.isEmpty || holdingReads else { return }
        // On the next tick, so a long queue never deepens the current stack.
        let loopBound = NIOLoopBound(self, eventLoop: loop.eventLoop)
        loop.eventLoop.execute {
            let handler = loopBound.value
            guard let context = handler.context else { return }
            while handler.lifecycle.request != .complete, let part = handler.pipelined.popFirst() {
                handler.receive(part, context: context)
            }
            if handler.pipelined.isEmpty {
                handler.holdingReads = false
                if handler.readPending {
                    handler.readPending = false
                    context.read()
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, transport == .h1 {
            quiescing = true
            pipelined.removeAll()
            if lifecycle.request == .idle, !lifecycle.sourceIsActive, call == nil || call?.isFinished == true {
                context.close(promise: nil)
            } else {
                lifecycle.closeAfterThisResponse()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        if transport == .h1 { perform(lifecycle.handle(.readComplete)) }
        context.fireChannelReadComplete()
    }

    func makeCall(head: HTTPRequestHead, body: ByteBuffer) -> Call {
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
            traceBits: (loop.randomUInt64(), loop.randomUInt64(), loop.randomUInt64()), wallClock: loop.clock, loopLocal: loop.local,
            upstreamPool: loop.pool
        )
    }

    private func runStages() {
        guard let head = requestHead else { return }
        let call = makeCall(head: head, body: requestBody ?? ByteBuffer())
        self.call = call
        requestBody = nil
        pipeline.enter(call, eventLoop: loop.eventLoop, observer: self)
    }

    func stagesDidFinish(_ call: Call, reply: LocalReply?) {
        guard self.call === call, !call.isFinished else { return }
        if let reply {
            source = localSource(call, reply)
        } else {
            sourceIsLocal = false
            source = pipeline.invoke(call)
        }
        perform(lifecycle.handle(.sourceReady(duringRead: reading)))
        if lifecycle.response == .pendingStart, transport == .h2 {
            // An HTTP/2 stream sees a read-complete after every frame, but a reset sent
            // with the request comes in the same socket read: the connection's whole read
            // is processed before the loop runs queued tasks.
            let bound = NIOLoopBound(self, eventLoop: loop.eventLoop)
            loop.eventLoop.execute {
                let handler = bound.value
                handler.perform(handler.lifecycle.handle(.readComplete))
            }
        }
    }

    /// The source of a reply Sluice makes itself; records it on the call.
    func localSource(_ call: Call, _ reply: LocalReply) -> LocalReplySource {
        sourceIsLocal = true
        if call.attempts.isEmpty { call.outcome = .local }
        if reply.status >= 400 {
            call.errorCode = reply.errorCode
            call.errorMessage = reply.body
        }
        return LocalReplySource(reply, includeBody: call.head.method != .HEAD)
    }

    // MARK: Actions

    func perform(_ action: CallLifecycle.Action) {
        switch action {
        case .none, .appendRequestBody:
            break
        case .sendContinue:
            write(.head(HTTPResponseHead(version: requestHead?.version ?? .http1_1, status: .continue)), flush: true)
        case .dropRequestBody:
            requestBody = nil
            releaseRequestBytes()
        case .reject(let code):
            requestBody = nil
            releaseRequestBytes()
            guard let head = requestHead else { return }
            let call = makeCall(head: head, body: ByteBuffer())
            self.call = call
            let message = code == .requestTooLarge
                ? "request body exceeds the limit of \(settings.maxRequestBodyBytes) bytes"
                : "the sidecar holds too many request bytes in memory; retry shortly"
            let source = localSource(call, .error(code, message, family: call.family, headers: code == .overloaded ? [("retry-after", "1")] : []))
            self.source = source
            source.start(sink: self)
        case .runStages:
            runStages()
        case .startSource:
            source?.start(sink: self)
        case .sendStreamHead, .holdHead, .bufferBody, .flushHeldAndRelay, .relayBody,
             .sendHeldAnswer, .endStream, .endBrokenStream, .answerWithError, .abort:
            performResponse(action)
        case .setDemand(let wanted):
            source?.setDemand(wanted)
        case .cancelAndFinish(let outcome):
            source?.cancel()
            source = nil
            heldBody = nil
            releaseResponseBytes()
            if let call, !call.isFinished {
                call.outcome = outcome
                if outcome == .clientClosed, relay?.tracker?.completed == true {
                    // The stream's final event had gone out: the client had the whole answer
                    // and hung up before the provider's end of body arrived.
                    call.outcome = .completed
                    if let last = call.attempts.indices.last { call.attempts[last].outcome = .ok }
                }
                if let relay { call.usage = relay.tracker?.usage ?? call.usage }
                if call.status == 0 || !call.streamed { call.status = 499 }
                finish(call)
            }
        }
    }

    // MARK: Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(lifecycle.handle(.clientWritabilityChanged(writable: context.channel.isWritable)))
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(lifecycle.handle(.clientClosed))
        requestBody = nil
        releaseRequestBytes()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        perform(lifecycle.handle(.clientClosed))
        context.close(promise: nil)
    }
}
