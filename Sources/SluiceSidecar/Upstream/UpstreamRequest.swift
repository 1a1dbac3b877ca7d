import NIOCore
import NIOHTTP1
import SluiceWire

/// The request one upstream attempt sends, built from the call for one target: the URI
/// under the provider's path prefix, the forwarded headers plus the provider's credential,
/// and the body with `model` rewritten (and, for OpenAI streams, usage asked for).
///
/// Built per attempt, so a retry or failover to another provider gets that provider's
/// credential, model name and URI from the same call.
struct UpstreamRequest {
    var head: HTTPRequestHead
    var body: ByteBuffer
    /// Whether the body asks for stream usage the client did not ask for (the relay hides it).
    var hideInjectedUsage: Bool

    init(head: HTTPRequestHead, body: ByteBuffer, hideInjectedUsage: Bool = false) {
        self.head = head
        self.body = body
        self.hideInjectedUsage = hideInjectedUsage
    }

    /// The request for `call` to `target`.
    init(for call: Call, target: ResolvedModel, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        let provider = target.provider
        var body = call.body
        var hide = false
        if let request = call.request, let endpoint = call.endpoint {
            let wantsUsage = request.stream && endpoint.usageNeedsStreamOption && provider.family == .openai
            hide = wantsUsage && !request.clientRequestedUsage
            body = request.rewritten(call.body, upstreamModel: target.upstreamModel, requestUsage: wantsUsage, allocator: allocator)
        }
        var headers = HeaderPolicy.forwardedRequestHeaders(call.head.headers)
        // Forwarded headers never hold host, content-length or credentials (HeaderPolicy).
        headers.add(name: "host", value: provider.endpoint.hostHeader)
        headers.add(name: "content-length", value: String(body.readableBytes))
        switch provider.family {
        case .openai:
            if let bearer = call.credentials.bearerValues[provider.name] { headers.add(name: "authorization", value: bearer) }
        case .anthropic:
            if let secret = call.credentials.secrets[provider.name] { headers.add(name: "x-api-key", value: secret) }
            if !headers.contains(name: "anthropic-version") { headers.add(name: "anthropic-version", value: "2023-06-01") }
        }
        headers.add(name: "x-request-id", value: call.id)
        if let trace = call.trace {
            headers.add(name: "traceparent", value: trace.upstreamTraceparent)
        }
        let uri = provider.endpoint.pathPrefix.isEmpty ? call.head.uri : provider.endpoint.pathPrefix + call.head.uri
        self.init(head: HTTPRequestHead(version: .http1_1, method: call.head.method, uri: uri, headers: headers), body: body, hideInjectedUsage: hide)
    }
}
