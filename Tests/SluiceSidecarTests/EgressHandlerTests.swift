import NIOCore
import NIOEmbedded
import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

/// A source a test drives by hand: it records what the handler asked of it.
final class ScriptedSource: ResponseSource {
    weak var sink: (any ResponseSink)?
    var started = 0
    var cancelled = false
    var demand: [Bool] = []

    func start(sink: any ResponseSink) {
        started += 1
        self.sink = sink
    }

    func setDemand(_ wanted: Bool) { demand.append(wanted) }
    func cancel() { cancelled = true }

    func head(_ status: HTTPResponseStatus = .ok, contentType: String = "application/json") {
        sink?.sourceDidEmitHead(HTTPResponseHead(version: .http1_1, status: status, headers: ["content-type": contentType]))
    }

    func body(_ text: String) {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        sink?.sourceDidEmitBody(buffer)
    }
}

/// The terminal step in these tests: hands out the scripted source and records an attempt.
final class ScriptedTerminal: CallTerminal, @unchecked Sendable {
    var sources: [ScriptedSource] = []

    func source(for call: Call) -> any ResponseSource {
        if let target = call.target { call.attempts.append(Attempt(target: target, startNanos: 1)) }
        let source = ScriptedSource()
        sources.append(source)
        return source
    }
}

/// A stage that records finishes, and can suspend until a test completes its promise.
final class ProbeStage: CallStage, @unchecked Sendable {
    let name = "probe"
    var suspendWith: EventLoopPromise<StageDecision>?
    var entered = 0
    var finished = 0

    func enter(_ call: Call) -> StageDecision {
        entered += 1
        if let promise = suspendWith { return .suspend(promise.futureResult) }
        return .next
    }

    func finish(_ call: Call) { finished += 1 }
}

/// The egress handler as a thin shell, in memory: request parts in, response parts out.
@Suite struct EgressHandlerTests {
    let channel = EmbeddedChannel()
    let terminal = ScriptedTerminal()
    let probe = ProbeStage()
    let metrics = SidecarMetrics()

    func install(settings: EgressSettings = EgressSettings(), transport: Transport = .h1, stages: [any CallStage]? = nil) throws {
        let loop = channel.embeddedEventLoop
        let snapshot = try RuntimeSnapshot(policy: testPolicy(), version: "t")
        let context = LoopContext(eventLoop: loop, snapshot: snapshot, credentials: CredentialSet(), pool: UpstreamPool(eventLoop: loop))
        let list = stages ?? [ParseStage(), IdentifyStage(defaults: Attribution()), probe, RouteStage(), AccountStage(), MetricsStage(metrics: metrics)]
        let pipeline = Pipeline(stages: list, terminal: terminal)
        try channel.pipeline.syncOperations.addHandler(EgressHandler(loop: context, settings: settings, pipeline: pipeline, transport: transport))
        // Active, so that a close the handler makes is visible as `isActive == false`.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(channel.isActive)
    }

    func send(_ body: String, path: String = "/v1/chat/completions", headers: [(String, String)] = [], readComplete: Bool = true) throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: HTTPHeaders(headers))
        head.headers.add(name: "content-length", value: String(body.utf8.count))
        // fireChannelRead, not writeInbound: the latter adds a read-complete after each part.
        channel.pipeline.fireChannelRead(HTTPServerRequestPart.head(head))
        var buffer = channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        if !body.isEmpty { channel.pipeline.fireChannelRead(HTTPServerRequestPart.body(buffer)) }
        channel.pipeline.fireChannelRead(HTTPServerRequestPart.end(nil))
        if readComplete { channel.pipeline.fireChannelReadComplete() }
    }

    /// Everything written so far: the head, the body text, the end's trailers, and whether the end came.
    func response() throws -> (head: HTTPResponseHead?, body: String, ended: Bool, trailers: HTTPHeaders?) {
        var head: HTTPResponseHead?
        var body = ""
        var ended = false
        var trailers: HTTPHeaders?
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head(let value): head = value
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: break
            case .end(let value): ended = true; trailers = value
            }
        }
        return (head, body, ended, trailers)
    }

    @Test func heldJSONAnswerGoesOutWithLengthCostAndRoute() throws {
        try install()
        try send(#"{"model":"fast"}"#)
        let source = try #require(terminal.sources.first)
        #expect(source.started == 1)
        source.head()
        source.body(#"{"usage":{"prompt_tokens":10,"#)
        #expect(try response().head == nil) // held until the end
        source.body(#""completion_tokens":5}}"#)
        source.sink?.sourceDidEnd()
        let (head, body, ended, _) = try response()
        #expect(head?.status == .ok)
        #expect(head?.headers.first(name: "content-length") == String(body.utf8.count))
        #expect(head?.headers.first(name: "x-sluice-route") == "direct")
        #expect(head?.headers.first(name: "x-sluice-cost-usd") != nil)
        #expect(ended)
        #expect(probe.finished == 1)
    }

    @Test func eventStreamHeadIsFlushedAtOnceAndTrailersCarryTheCost() throws {
        try install(transport: .h2)
        try send(#"{"model":"claude-haiku","stream":true}"#, path: "/v1/messages")
        let source = try #require(terminal.sources.first)
        #expect(source.started == 0, "an HTTP/2 stream starts upstream after the connection's read")
        channel.embeddedEventLoop.run()
        #expect(source.started == 1)
        source.head(contentType: "text/event-stream")
        #expect(try response().head?.headers.first(name: "trailer") == "x-sluice-cost-usd")
        source.body("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n")
        #expect(try response().body.contains("message_start"))
        source.body("event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        source.sink?.sourceDidEnd()
        let (_, body, ended, trailers) = try response()
        #expect(body.contains("message_stop"))
        #expect(ended)
        #expect(trailers?.first(name: "x-sluice-cost-usd") != nil)
    }

    @Test func failureBeforeTheHeadIsAnErrorInTheCallersShape() throws {
        try install()
        try send(#"{"model":"fast"}"#)
        let source = try #require(terminal.sources.first)
        source.sink?.sourceDidFail(ResponseFailure(kind: .timeout, detail: "no head in 3 s"))
        let (head, body, ended, _) = try response()
        #expect(head?.status == .gatewayTimeout)
        #expect(head?.headers.first(name: "x-sluice-error-code") == "upstream_timeout")
        #expect(body.contains(#""code":"upstream_timeout""#))
        #expect(ended)
    }

    @Test func brokenJSONUnderWayIsAbortedNotEndedCleanly() throws {
        try install(settings: EgressSettings(maxBufferedResponseBytes: 8))
        try send(#"{"model":"fast"}"#)
        let source = try #require(terminal.sources.first)
        source.head()
        source.body("0123456789") // over the hold limit: relayed from here
        source.sink?.sourceDidFail(ResponseFailure(kind: .brokenStream, detail: "reset"))
        let (head, body, ended, _) = try response()
        #expect(head?.status == .ok)
        #expect(body == "0123456789")
        #expect(ended == false, "no clean end, no SSE error event on a JSON answer")
        #expect(!channel.isActive)
        #expect(probe.finished == 1)
    }

    @Test func brokenStreamEndsWithAnErrorEvent() throws {
        try install()
        try send(#"{"model":"fast","stream":true}"#)
        let source = try #require(terminal.sources.first)
        source.head(contentType: "text/event-stream")
        source.body("data: {\"choices\":[]}\n\n")
        source.sink?.sourceDidFail(ResponseFailure(kind: .brokenStream, detail: "reset"))
        let (_, body, ended, _) = try response()
        #expect(body.hasSuffix("\n\n") && body.contains(#""code":"upstream_error""#))
        #expect(ended)
    }

    @Test func clientBackpressureReachesTheSource() throws {
        try install()
        try send(#"{"model":"fast","stream":true}"#)
        let source = try #require(terminal.sources.first)
        source.head(contentType: "text/event-stream")
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(source.demand == [false, true])
    }

    @Test func upstreamStartsOnlyAtTheEndOfTheRead() throws {
        try install()
        try send(#"{"model":"fast"}"#, readComplete: false)
        let source = try #require(terminal.sources.first)
        #expect(source.started == 0)
        channel.pipeline.fireChannelReadComplete()
        #expect(source.started == 1)
    }

    @Test func resetInTheSameReadNeverStartsTheUpstream() throws {
        try install()
        try send(#"{"model":"fast"}"#, readComplete: false)
        channel.pipeline.fireChannelInactive()
        channel.pipeline.fireChannelReadComplete()
        let source = try #require(terminal.sources.first)
        #expect(source.started == 0)
        #expect(probe.finished == 1)
        #expect(metrics.exposition(now: 0).contains("sluice_requests_in_flight 0"))
    }

    @Test func http2ResetBeforeTheLoopTurnsNeverStartsTheUpstream() throws {
        try install(transport: .h2)
        try send(#"{"model":"fast"}"#) // the stream's own read-complete comes with it
        channel.pipeline.fireChannelInactive()
        channel.embeddedEventLoop.run()
        #expect(try #require(terminal.sources.first).started == 0)
        #expect(probe.finished == 1)
    }

    @Test func clientLeavingMidStreamCancelsTheSourceAndFinishesOnce() throws {
        try install()
        try send(#"{"model":"fast","stream":true}"#)
        let source = try #require(terminal.sources.first)
        source.head(contentType: "text/event-stream")
        channel.pipeline.fireChannelInactive()
        #expect(source.cancelled)
        source.sink?.sourceDidEnd()
        #expect(probe.finished == 1)
    }

    @Test func clientLeavingWhileAStageIsSuspendedStopsThePipeline() throws {
        try install()
        probe.suspendWith = channel.embeddedEventLoop.makePromise()
        try send(#"{"model":"fast"}"#)
        #expect(probe.entered == 1)
        channel.pipeline.fireChannelInactive()
        // The call is over: metrics saw it end, and nothing after the probe runs.
        #expect(probe.finished == 1)
        probe.suspendWith?.succeed(.next)
        channel.embeddedEventLoop.run()
        #expect(terminal.sources.isEmpty)
        #expect(metrics.exposition(now: 0).contains("sluice_requests_in_flight 0"))
    }

    @Test func stagesThatNeverEnteredAreNotFinished() throws {
        try install()
        try send(#"{"model":"fast"}"#, path: "/v1/nowhere")
        let (head, _, ended, _) = try response()
        #expect(head?.status == .notFound)
        #expect(ended)
        #expect(probe.entered == 0)
        #expect(probe.finished == 0)
        #expect(metrics.exposition(now: 0).contains(#"status_class="4xx""#))
    }

    @Test func tooLargeBodyIs413AndTheConnectionCloses() throws {
        try install(settings: EgressSettings(maxRequestBodyBytes: 4))
        try send(#"{"model":"fast"}"#)
        let (head, body, ended, _) = try response()
        #expect(head?.status == .payloadTooLarge)
        #expect(head?.headers.first(name: "connection") == "close")
        #expect(body.contains("request_too_large"))
        #expect(ended)
        #expect(terminal.sources.isEmpty)
    }

    @Test func localServerSentEventsReplyIsStreamed() throws {
        struct SSEStage: CallStage {
            let name = "sse"
            func enter(_ call: Call) -> StageDecision {
                .reply(LocalReply(status: 200, contentType: "text/event-stream", body: "data: one\n\ndata: two\n\n"))
            }
        }
        try install(stages: [SSEStage()])
        try send("{}")
        let (head, body, ended, _) = try response()
        #expect(head?.headers.first(name: "content-type") == "text/event-stream")
        #expect(head?.headers.first(name: "content-length") == nil)
        #expect(body == "data: one\n\ndata: two\n\n")
        #expect(ended)
    }

    @Test func pipelinedRequestWaitsForTheAnswerBeforeIt() throws {
        try install()
        try send(#"{"model":"fast"}"#, readComplete: false)
        try send(#"{"model":"gpt-4o"}"#, readComplete: true)
        #expect(terminal.sources.count == 1, "the second request waits")
        let first = try #require(terminal.sources.first)
        first.head()
        first.body("{}")
        first.sink?.sourceDidEnd()
        channel.embeddedEventLoop.run()
        #expect(terminal.sources.count == 2)
        let second = terminal.sources[1]
        #expect(second.started == 1)
        second.head()
        second.sink?.sourceDidEnd()
        var heads = 0
        var ends = 0
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .head = part { heads += 1 }
            if case .end = part { ends += 1 }
        }
        #expect((heads, ends) == (2, 2))
    }

    @Test func quiescingClosesAnIdleConnectionAndABusyOneAfterItsAnswer() throws {
        try install()
        try send(#"{"model":"fast"}"#)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(channel.isActive, "busy: the answer goes out first")
        let source = try #require(terminal.sources.first)
        source.head()
        source.sink?.sourceDidEnd()
        let (head, _, ended, _) = try response()
        #expect(head?.headers.first(name: "connection") == "close")
        #expect(ended)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)

        let idle = EmbeddedChannel()
        let snapshot = try RuntimeSnapshot(policy: testPolicy(), version: "t")
        let context = LoopContext(eventLoop: idle.embeddedEventLoop, snapshot: snapshot, credentials: CredentialSet(), pool: UpstreamPool(eventLoop: idle.embeddedEventLoop))
        try idle.pipeline.syncOperations.addHandler(EgressHandler(loop: context, settings: EgressSettings(), pipeline: Pipeline(stages: []), transport: .h1))
        try idle.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(idle.isActive)
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isActive)
    }

    @Test func aWrappingStageCanRunTheCallAgainForAnotherTarget() throws {
        // What the resilience stage will do: a failure before the head is retried on the
        // next target; both attempts are recorded on the call, each with its own target.
        try install(stages: [ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage(), RetryOnAnotherTarget(fallback: "gpt-4o"), AccountStage(), MetricsStage(metrics: metrics)])
        try send(#"{"model":"fast"}"#)
        let first = try #require(terminal.sources.first)
        first.sink?.sourceDidFail(ResponseFailure(kind: .connect, detail: "refused"))
        #expect(terminal.sources.count == 2, "the wrapper ran next(call) again")
        let second = terminal.sources[1]
        #expect(second.started == 1)
        second.head()
        second.body(#"{"usage":{"prompt_tokens":1,"completion_tokens":1}}"#)
        second.sink?.sourceDidEnd()
        let (head, _, ended, _) = try response()
        #expect(head?.status == .ok)
        #expect(head?.headers.first(name: "x-sluice-model") == "gpt-4o")
        #expect(ended)
    }
}

/// A test stage with an around-hook: on a failure before the head, switches the call's
/// target and runs the rest of the pipeline again.
struct RetryOnAnotherTarget: CallStage {
    let name = "retry-on-another-target"
    let fallback: String
    var wrapsCall: Bool { true }

    func enter(_ call: Call) -> StageDecision { .next }

    func around(_ call: Call, next: CallNext) -> any ResponseSource {
        RetryingSource(call: call, next: next, fallback: fallback)
    }

    final class RetryingSource: ResponseSource, ResponseSink {
        let call: Call
        let next: CallNext
        let fallback: String
        var inner: (any ResponseSource)?
        weak var sink: (any ResponseSink)?
        var retried = false

        init(call: Call, next: CallNext, fallback: String) {
            self.call = call
            self.next = next
            self.fallback = fallback
        }

        func start(sink: any ResponseSink) {
            self.sink = sink
            let source = next(call)
            inner = source
            source.start(sink: self)
        }

        func setDemand(_ wanted: Bool) { inner?.setDemand(wanted) }
        func cancel() { inner?.cancel() }
        func sourceDidEmitHead(_ head: HTTPResponseHead) { sink?.sourceDidEmitHead(head) }
        func sourceDidEmitBody(_ part: ByteBuffer) { sink?.sourceDidEmitBody(part) }
        func sourceDidEnd() { sink?.sourceDidEnd() }

        func sourceDidFail(_ failure: ResponseFailure) {
            guard !retried, let target = call.snapshot.modelsByClientName[fallback] else {
                sink?.sourceDidFail(failure)
                return
            }
            retried = true
            call.target = target
            let source = next(call)
            inner = source
            source.start(sink: self)
        }
    }
}
