import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves one connection: requests arrive one at a time (the pipelining helper in front of this
/// handler holds back the next one until our response's `.end`). Runs entirely on the event loop.
final class MockHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBodyBytes = 64 * 1024 * 1024
    /// Events written per event-loop tick before yielding to other connections.
    static let eventsPerTick = 32

    let shared: MockShared
    var requestHead: HTTPRequestHead?
    var requestBody: ByteBuffer?
    var bodyTooLarge = false
    var keepAlive = true
    var httpVersion = HTTPVersion.http1_1
    /// Bumped per request and on close: stale timers compare against it.
    var generation = 0
    var pending: Scheduled<Void>?
    var job: StreamJob?
    /// This connection has carried an API request (not `/mock/...`), so it is in the stats.
    var counted = false
    /// The model (or Azure deployment) the current request names; nil when unknown.
    var requestModel: String?

    init(shared: MockShared) {
        self.shared = shared
    }

    var configuration: MockProviderConfiguration { self.shared.configuration }
    var recorder: StatsRecorder { self.shared.recorder }

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

    func stopWork() {
        self.generation &+= 1
        self.pending?.cancel()
        self.pending = nil
        self.job = nil
    }

    // MARK: Requests

    func handle(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        self.generation &+= 1
        self.keepAlive = head.isKeepAlive
        self.httpVersion = head.version
        self.requestModel = nil
        let uriParts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = uriParts.first.map(String.init) ?? head.uri
        let query = uriParts.count > 1 ? uriParts[1] : ""

        if path == "/mock" || path.hasPrefix("/mock/") {
            self.handleControl(context: context, head: head, path: path, body: body)
            return
        }

        if !self.counted {
            self.counted = true
            self.recorder.recordConnection()
        }
        let azure = AzureRoute(method: head.method, path: path, query: query)
        let endpoint = azure?.endpoint ?? Endpoint(method: head.method, path: path)
        let flavor = endpoint?.flavor ?? ProviderFlavor.guess(path: path, headers: head.headers)
        var overrides = MockOverrides(head.headers)
        var parsed: ParsedRequest?
        if let endpoint, !self.bodyTooLarge {
            parsed = try? ParsedRequest.parse(body, endpoint: endpoint)
        }
        if let azure {
            // Azure serves the deployment, whatever the body names.
            parsed?.model = azure.deployment
        }
        let model = parsed.map { $0.model ?? ParsedRequest.defaultModel }
        self.requestModel = model
        let sequence = self.recorder.recordRequest(head: head, path: path, query: query, body: body, model: model, azure: azure)

        if overrides.reset == .head {
            self.recorder.recordReset(model: model)
            self.abort(context: context)
            return
        }
        if overrides.hang == .head {
            self.recorder.recordHang(model: model)
            return
        }
        var latency = overrides.latencyMilliseconds ?? self.configuration.latencyMilliseconds
        guard let endpoint else {
            let message = flavor == .openAI ? "Invalid URL (\(head.method.rawValue) \(path))" : "Not found: \(path)"
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: 404, message: message)
            }
            return
        }
        guard let request = parsed, let model else {
            let status = self.bodyTooLarge ? 413 : 400
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: status, message: nil)
            }
            return
        }
        if let azure, let status = azure.apiVersion == nil ? 404 : (AzureRoute.isAuthenticated(head.headers) ? nil : 401) {
            // Azure's gateway answers these before any model sees the request: no fault is consumed.
            self.after(milliseconds: latency, context: context) { [self] in
                let requestID = self.responseID()
                self.writeError(
                    context: context, flavor: flavor, status: status, message: nil,
                    body: AzureRoute.gatewayError(status: status, requestID: requestID), requestID: requestID
                )
            }
            return
        }
        if let fault = self.shared.faults.withLockedValue({ $0.take(model: model) }), !fault.isNormal {
            self.recorder.recordFault(model: model)
            overrides.apply(fault, streaming: request.stream)
            latency = overrides.latencyMilliseconds ?? self.configuration.latencyMilliseconds
            if fault.reset == .head {
                self.after(milliseconds: latency, context: context) { [self] in
                    self.recorder.recordReset(model: model)
                    self.abort(context: context)
                }
                return
            }
            if fault.hang == .head {
                self.after(milliseconds: latency, context: context) { [self] in
                    self.recorder.recordHang(model: model)
                }
                return
            }
        }
        latency += overrides.extraLatencyMilliseconds
        if let status = self.injectedStatus(overrides: overrides, sequence: sequence) {
            let headers = overrides.retryHeaders
            self.after(milliseconds: latency, context: context) { [self] in
                self.writeError(context: context, flavor: flavor, status: status, message: nil, headers: headers)
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

    func injectedStatus(overrides: MockOverrides, sequence: UInt64) -> Int? {
        if let status = overrides.status { return status }
        let configuration = self.configuration
        guard configuration.errorRate > 0 || configuration.rateLimitRate > 0 else { return nil }
        let draw = Hashing.unit(configuration.seed ^ Hashing.mix(sequence &+ 0x5EED))
        if draw < configuration.errorRate { return 500 }
        if draw < configuration.errorRate + configuration.rateLimitRate { return 429 }
        return nil
    }

    // MARK: Timing

    /// Runs `body` now (delay 0) or after `milliseconds` on this event loop, unless the
    /// connection closes or moves on first.
    func after(milliseconds: Int, context: ChannelHandlerContext, _ body: @escaping () -> Void) {
        if milliseconds <= 0 {
            body()
        } else {
            self.schedule(context: context, at: .now() + .milliseconds(Int64(milliseconds)), body)
        }
    }

    func schedule(context: ChannelHandlerContext, at deadline: NIODeadline, _ body: @escaping () -> Void) {
        let generation = self.generation
        self.pending = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard self.generation == generation, context.channel.isActive else { return }
            self.pending = nil
            body()
        }
    }
}

@available(*, unavailable)
extension MockHTTPHandler: Sendable {}
