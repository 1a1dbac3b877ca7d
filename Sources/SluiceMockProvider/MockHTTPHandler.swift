import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// State shared by all connections of one provider.
final class MockShared: Sendable {
    let configuration: MockProviderConfiguration
    let recorder = StatsRecorder()

    init(configuration: MockProviderConfiguration) {
        self.configuration = configuration
    }
}

/// Marks the front of each connection's pipeline (before TLS): closing from here reaches the
/// socket directly, so an abrupt reset skips the TLS close_notify.
final class MockFrontMarker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    static let name = "sluice-mock-front"
}

/// A streamed response in progress on one connection.
private final class StreamJob {
    let script: StreamScript
    var next = 0
    /// When content event 0 is due.
    let contentStart: NIODeadline
    /// Spacing of content events; nil = as fast as possible.
    let interval: TimeAmount?
    /// Stop (hang or reset) instead of writing this event index.
    let stopAt: Int?
    let stopIsReset: Bool
    var waitingForWritability = false

    init(script: StreamScript, contentStart: NIODeadline, interval: TimeAmount?, stopAt: Int?, stopIsReset: Bool) {
        self.script = script
        self.contentStart = contentStart
        self.interval = interval
        self.stopAt = stopAt
        self.stopIsReset = stopIsReset
    }

    /// Timer granularity: deadlines are rounded up to it so that the events of many streams due
    /// around the same time share one event-loop wake-up.
    static let granularityNanoseconds: UInt64 = 1_000_000

    /// When event `index` is due; nil = now.
    func due(_ index: Int) -> NIODeadline? {
        let preamble = self.script.preambleCount
        if index < preamble { return nil }
        guard let interval = self.interval else { return self.contentStart }
        let content = min(index - preamble, max(0, self.script.contentCount - 1))
        let exact = self.contentStart + .nanoseconds(interval.nanoseconds &* Int64(content))
        let granularity = Self.granularityNanoseconds
        let rounded = (exact.uptimeNanoseconds / granularity &+ 1) &* granularity
        return .uptimeNanoseconds(rounded)
    }
}

/// Serves one connection: requests arrive one at a time (the pipelining helper in front of this
/// handler holds back the next one until our response's `.end`). Runs entirely on the event loop.
final class MockHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let maxBodyBytes = 64 * 1024 * 1024
    /// Events written per event-loop tick before yielding to other connections.
    private static let eventsPerTick = 32

    private let shared: MockShared
    private var requestHead: HTTPRequestHead?
    private var requestBody: ByteBuffer?
    private var bodyTooLarge = false
    private var keepAlive = true
    private var httpVersion = HTTPVersion.http1_1
    /// Bumped per request and on close: stale timers compare against it.
    private var generation = 0
    private var pending: Scheduled<Void>?
    private var job: StreamJob?
    /// This connection has carried an API request (not `/mock/...`), so it is in the stats.
    private var counted = false

    init(shared: MockShared) {
        self.shared = shared
    }

    private var configuration: MockProviderConfiguration { self.shared.configuration }
    private var recorder: StatsRecorder { self.shared.recorder }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.requestHead = head
            self.requestBody = nil
            self.bodyTooLarge = false
            if head.headers["expect"].contains(where: { $0.lowercased().contains("100-continue") }) {
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(self.wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var chunk):
            guard !self.bodyTooLarge else { return }
            if var body = self.requestBody.take() {
                body.writeBuffer(&chunk)
                self.requestBody = body
            } else {
                self.requestBody = chunk
            }
            if (self.requestBody?.readableBytes ?? 0) > Self.maxBodyBytes {
                self.bodyTooLarge = true
                self.requestBody = nil
            }
        case .end:
            guard let head = self.requestHead else { return }
            self.requestHead = nil
            let body = self.requestBody
            self.requestBody = nil
            self.handle(context: context, head: head, body: body)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let job = self.job, job.waitingForWritability {
            job.waitingForWritability = false
            self.pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stopWork()
        if self.counted {
            self.counted = false
            self.recorder.recordConnectionClosed()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopWork()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.stopWork()
        context.close(promise: nil)
    }

    private func stopWork() {
        self.generation &+= 1
        self.pending?.cancel()
        self.pending = nil
        self.job = nil
    }

    // MARK: Requests

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        self.generation &+= 1
        self.keepAlive = head.isKeepAlive
        self.httpVersion = head.version
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri

        if path == "/mock" || path.hasPrefix("/mock/") {
            self.handleControl(context: context, head: head, path: path)
            return
        }

        if !self.counted {
            self.counted = true
            self.recorder.recordConnection()
        }
        let endpoint = Endpoint(method: head.method, path: path)
        let flavor = endpoint?.flavor ?? ProviderFlavor.guess(path: path, headers: head.headers)
        let overrides = MockOverrides(head.headers)
        let parsed: ParsedRequest?
        if let endpoint, !self.bodyTooLarge {
            parsed = try? ParsedRequest.parse(body, endpoint: endpoint)
        } else {
            parsed = nil
        }
        let sequence = self.recorder.recordRequest(
            head: head,
            path: path,
            body: body,
            model: parsed.map { $0.model ?? ParsedRequest.defaultModel }
        )
        let latency = overrides.latencyMilliseconds ?? self.configuration.latencyMilliseconds

        if overrides.reset == .head {
            self.recorder.recordReset()
            self.abort(context: context)
            return
        }
        if overrides.hang == .head {
            self.recorder.recordHang()
            return
        }
        guard let endpoint else {
            let message = flavor == .openAI ? "Invalid URL (\(head.method.rawValue) \(path))" : "Not found: \(path)"
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: 404, message: message)
            }
            return
        }
        guard let request = parsed else {
            let status = self.bodyTooLarge ? 413 : 400
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: status, message: nil)
            }
            return
        }
        if let status = self.injectedStatus(overrides: overrides, sequence: sequence) {
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: status, message: nil)
            }
            return
        }
        let plan = GenerationPlan(
            endpoint: endpoint,
            request: request,
            overrides: overrides,
            configuration: self.configuration,
            sequence: sequence
        )
        // nil: no mid-response stop; true: reset there; false: hang there.
        let midStopIsReset: Bool? = overrides.reset == .mid ? true : (overrides.hang == .mid ? false : nil)
        self.after(milliseconds: latency, context: context) { [self] in
            if plan.stream {
                self.startStream(context: context, plan: plan, overrides: overrides, midStopIsReset: midStopIsReset)
            } else {
                self.writeComplete(context: context, plan: plan, midStopIsReset: midStopIsReset)
            }
        }
    }

    private func injectedStatus(overrides: MockOverrides, sequence: UInt64) -> Int? {
        if let status = overrides.status { return status }
        let configuration = self.configuration
        guard configuration.errorRate > 0 || configuration.rateLimitRate > 0 else { return nil }
        let draw = Hashing.unit(configuration.seed ^ Hashing.mix(sequence &+ 0x5EED))
        if draw < configuration.errorRate { return 500 }
        if draw < configuration.errorRate + configuration.rateLimitRate { return 429 }
        return nil
    }

    private func handleControl(context: ChannelHandlerContext, head: HTTPRequestHead, path: String) {
        switch path {
        case "/mock/stats":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(self.recorder.snapshot())) ?? Data("{}".utf8)
            self.writeResponse(context: context, status: .ok, contentType: "application/json", body: String(decoding: data, as: UTF8.self))
        case "/mock/reset":
            self.recorder.reset()
            self.writeResponse(context: context, status: .ok, contentType: "application/json", body: "{\"ok\":true}")
        case "/mock/ready", "/mock/health":
            self.writeResponse(context: context, status: .ok, contentType: "application/json", body: "{\"status\":\"ready\"}")
        default:
            self.writeResponse(context: context, status: .notFound, contentType: "application/json", body: "{\"error\":\"unknown mock endpoint\"}")
        }
    }

    // MARK: Timing

    /// Runs `body` now (delay 0) or after `milliseconds` on this event loop, unless the
    /// connection closes or moves on first.
    private func after(milliseconds: Int, context: ChannelHandlerContext, _ body: @escaping () -> Void) {
        if milliseconds <= 0 {
            body()
        } else {
            self.schedule(context: context, at: .now() + .milliseconds(Int64(milliseconds)), body)
        }
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline, _ body: @escaping () -> Void) {
        let generation = self.generation
        self.pending = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard self.generation == generation, context.channel.isActive else { return }
            self.pending = nil
            body()
        }
    }

    // MARK: Responses

    /// The provider's id of the current response (`req_…`), sent in its request-id header.
    private func responseID() -> String {
        "req_" + Hashing.hex(Hashing.mix(UInt64(truncatingIfNeeded: self.generation) ^ UInt64(UInt(bitPattern: ObjectIdentifier(self).hashValue))))
    }

    private func responseHeaders(contentType: String, flavor: ProviderFlavor?, requestID: String? = nil) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(6)
        headers.add(name: "content-type", value: contentType)
        if let flavor {
            headers.add(name: flavor == .anthropic ? "request-id" : "x-request-id", value: requestID ?? self.responseID())
        }
        if !self.keepAlive {
            headers.add(name: "connection", value: "close")
        } else if self.httpVersion.major == 1 && self.httpVersion.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        return headers
    }

    private func writeResponse(
        context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        contentType: String,
        body: String,
        flavor: ProviderFlavor? = nil,
        requestID: String? = nil,
        extraHeaders: [(String, String)] = []
    ) {
        let buffer = context.channel.allocator.buffer(string: body)
        var headers = self.responseHeaders(contentType: contentType, flavor: flavor, requestID: requestID)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        headers.add(name: "content-length", value: String(buffer.readableBytes))
        let head = HTTPResponseHead(version: self.httpVersion, status: status, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        self.finishResponse(context: context)
    }

    private func finishResponse(context: ChannelHandlerContext) {
        // Read before writing `.end`: that write may synchronously deliver the next pipelined
        // request to this handler, which resets the per-request state.
        let keepAlive = self.keepAlive
        let future = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            future.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func writeError(context: ChannelHandlerContext, flavor: ProviderFlavor, status: Int, message: String?) {
        var extra: [(String, String)] = []
        if status == 429 {
            extra.append(("retry-after", String(self.configuration.retryAfterSeconds)))
        }
        if flavor == .openAI && status == 429 {
            extra.append(("x-ratelimit-reset-requests", "\(self.configuration.retryAfterSeconds)s"))
        }
        let requestID = self.responseID()
        let body = Bodies.error(flavor: flavor, status: status, requestID: requestID, message: message)
        self.recorder.recordError(MockProviderStats.LastError(status: status, requestID: requestID, body: body))
        self.writeResponse(
            context: context,
            status: HTTPResponseStatus(statusCode: status),
            contentType: "application/json",
            body: body,
            flavor: flavor,
            requestID: requestID,
            extraHeaders: extra
        )
    }

    /// A non-streaming answer; with a mid-stop, half of the body is sent and then the connection
    /// hangs or is reset.
    private func writeComplete(context: ChannelHandlerContext, plan: GenerationPlan, midStopIsReset: Bool?) {
        let body = Bodies.body(plan)
        self.recorder.recordStatus(200)
        guard let isReset = midStopIsReset else {
            self.recorder.recordCompletion(model: plan.model, usage: plan.reportedUsage)
            if let usage = plan.reportedUsage {
                self.recorder.recordSentUsage(model: plan.model, change: usage)
            }
            self.writeResponse(context: context, status: .ok, contentType: "application/json", body: body, flavor: plan.endpoint.flavor)
            return
        }
        var buffer = context.channel.allocator.buffer(string: body)
        var headers = self.responseHeaders(contentType: "application/json", flavor: plan.endpoint.flavor)
        headers.add(name: "content-length", value: String(buffer.readableBytes))
        let head = HTTPResponseHead(version: self.httpVersion, status: .ok, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if let half = buffer.readSlice(length: buffer.readableBytes / 2) {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(half))), promise: nil)
        }
        context.flush()
        self.midStop(context: context, isReset: isReset)
    }

    private func midStop(context: ChannelHandlerContext, isReset: Bool) {
        self.job = nil
        if isReset {
            self.recorder.recordReset()
            self.abort(context: context)
        } else {
            self.recorder.recordHang()
        }
    }

    /// Closes the connection at once with SO_LINGER 0 (a TCP RST), bypassing TLS shutdown.
    private func abort(context: ChannelHandlerContext) {
        self.stopWork()
        if let socket = context.channel as? any SocketOptionProvider {
            _ = socket.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        let front = try? context.pipeline.syncOperations.context(name: MockFrontMarker.name)
        (front ?? context).close(promise: nil)
    }

    // MARK: Streaming

    private func startStream(context: ChannelHandlerContext, plan: GenerationPlan, overrides: MockOverrides, midStopIsReset: Bool?) {
        let script = StreamScript(plan: plan, allocator: context.channel.allocator)
        var headers = self.responseHeaders(contentType: "text/event-stream; charset=utf-8", flavor: plan.endpoint.flavor)
        headers.add(name: "cache-control", value: "no-cache")
        if self.httpVersion.major == 1 && self.httpVersion.minor == 0 {
            // No chunked encoding in HTTP/1.0: the body ends when the connection closes.
            self.keepAlive = false
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        self.recorder.recordStatus(200)
        let head = HTTPResponseHead(version: self.httpVersion, status: .ok, headers: headers)
        context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)

        let ttft = overrides.timeToFirstTokenMilliseconds ?? self.configuration.timeToFirstTokenMilliseconds
        let tps = overrides.tokensPerSecond ?? self.configuration.tokensPerSecond
        let interval: TimeAmount? = tps > 0 ? .nanoseconds(Int64(max(1, min(1e9 / tps, 3.6e12)))) : nil
        var stopAt: Int?
        if midStopIsReset != nil {
            let content = script.contentCount
            stopAt = script.preambleCount + (content == 0 ? 0 : max(1, content / 2))
        }
        self.job = StreamJob(
            script: script,
            contentStart: .now() + .milliseconds(Int64(max(0, ttft))),
            interval: interval,
            stopAt: stopAt,
            stopIsReset: midStopIsReset ?? false
        )
        self.pump(context: context)
    }

    /// Writes every event that is due, flushing each; schedules itself for the next one.
    private func pump(context: ChannelHandlerContext) {
        guard let job = self.job else { return }
        let script = job.script
        let allocator = context.channel.allocator
        var written = 0
        var uncounted = 0
        defer { self.recorder.addStreamedEvents(uncounted) }
        var now = NIODeadline.now()
        while job.next < script.total {
            guard self.job === job, context.channel.isActive else { return }
            if let stopAt = job.stopAt, job.next >= stopAt {
                self.recorder.addStreamedEvents(uncounted)
                uncounted = 0
                self.midStop(context: context, isReset: job.stopIsReset)
                return
            }
            if let due = job.due(job.next), due > now {
                now = NIODeadline.now()
                if due > now {
                    self.schedule(context: context, at: due) { [self] in self.pump(context: context) }
                    return
                }
            }
            if !context.channel.isWritable {
                job.waitingForWritability = true
                return
            }
            if written >= Self.eventsPerTick {
                let generation = self.generation
                context.eventLoop.assumeIsolated().execute { [self] in
                    guard self.generation == generation else { return }
                    self.pump(context: context)
                }
                return
            }
            let index = job.next
            job.next += 1
            written += 1
            if let change = script.usageChange(at: index) {
                self.recorder.recordSentUsage(model: script.plan.model, change: change)
            }
            if index == script.total - 1 {
                // Count before the last byte leaves, so a client that saw the end sees the stats.
                self.recorder.recordCompletion(model: script.plan.model, usage: script.plan.reportedUsage, streamedEvents: uncounted + 1)
                uncounted = 0
            } else {
                uncounted += 1
            }
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(script.event(index, allocator: allocator)))), promise: nil)
        }
        guard self.job === job else { return }
        self.job = nil
        self.finishResponse(context: context)
    }
}

@available(*, unavailable)
extension MockHTTPHandler: Sendable {}

@available(*, unavailable)
extension MockFrontMarker: Sendable {}
