import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceWire

/// Writing answers: heads, complete bodies, provider-shaped errors, and the deliberate
/// failures (mid-body stops and resets) the tests ask for.
extension MockHTTPHandler {
    /// The provider's id of the current response (`req_…`), sent in its request-id header.
    func responseID() -> String {
        "req_" + Hashing.hex(Hashing.mix(UInt64(truncatingIfNeeded: self.generation) ^ UInt64(UInt(bitPattern: ObjectIdentifier(self).hashValue))))
    }

    func responseHeaders(contentType: String, flavor: ProviderFlavor?, requestID: String? = nil) -> HTTPHeaders {
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

    func writeResponse(
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

    func finishResponse(context: ChannelHandlerContext) {
        // Read before writing `.end`: that write may synchronously deliver the next pipelined
        // request to this handler, which resets the per-request state.
        let keepAlive = self.keepAlive
        let future = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            future.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// A provider-shaped error answer. `headers` replaces the configured `Retry-After` headers of
    /// a 429 (scripted faults send exactly the ones they name); `body` replaces the provider's shape.
    func writeError(
        context: ChannelHandlerContext,
        flavor: ProviderFlavor,
        status: Int,
        message: String?,
        headers: [(String, String)]? = nil,
        body customBody: String? = nil,
        requestID customRequestID: String? = nil
    ) {
        var extra: [(String, String)] = []
        if let headers {
            extra = headers
        } else if status == 429 {
            extra.append(("retry-after", String(self.configuration.retryAfterSeconds)))
            if let milliseconds = self.configuration.retryAfterMilliseconds {
                extra.append(("retry-after-ms", String(milliseconds)))
            }
            if flavor == .openAI {
                extra.append(("x-ratelimit-reset-requests", "\(self.configuration.retryAfterSeconds)s"))
            }
        }
        let requestID = customRequestID ?? self.responseID()
        let body = customBody ?? Bodies.error(flavor: flavor, status: status, requestID: requestID, message: message)
        self.recorder.recordError(MockProviderStats.LastError(status: status, requestID: requestID, body: body), model: self.requestModel)
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
    func writeComplete(context: ChannelHandlerContext, plan: GenerationPlan, midStopIsReset: Bool?) {
        let body = Bodies.body(plan)
        self.recorder.recordStatus(200, model: plan.model)
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

    func midStop(context: ChannelHandlerContext, isReset: Bool) {
        self.job = nil
        if isReset {
            self.recorder.recordReset(model: self.requestModel)
            self.abort(context: context)
        } else {
            self.recorder.recordHang(model: self.requestModel)
        }
    }

    /// Closes the connection at once with SO_LINGER 0 (a TCP RST), bypassing TLS shutdown.
    func abort(context: ChannelHandlerContext) {
        self.stopWork()
        if let socket = context.channel as? any SocketOptionProvider {
            _ = socket.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        let front = try? context.pipeline.syncOperations.context(name: MockFrontMarker.name)
        (front ?? context).close(promise: nil)
    }
}
