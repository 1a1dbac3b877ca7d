import NIOCore
import NIOHTTP1
import SluiceTranslate
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

    /// The request for `call` to `target`, of the caller's own API family.
    init(for call: Call, target: ResolvedModel, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        var body = call.body
        var hide = false
        if let request = call.request, let endpoint = call.endpoint {
            let wantsUsage = request.stream && endpoint.usageNeedsStreamOption && target.provider.family == .openai
            hide = wantsUsage && !request.clientRequestedUsage
            body = request.rewritten(call.body, upstreamModel: target.upstreamModel, requestUsage: wantsUsage, allocator: allocator)
        }
        self.init(for: call, target: target, body: body, clientURI: call.head.uri, hideInjectedUsage: hide)
    }

    /// The request for `call` to a `target` of the other API family: the body translated
    /// (chat completions ⇄ messages), sent to that family's path. The translated answer
    /// always carries stream usage; it is hidden when an OpenAI client did not ask for it.
    static func translated(for call: Call, target: ResolvedModel) throws(TranslationError) -> UpstreamRequest {
        guard let endpoint = call.endpoint, endpoint == .chatCompletions || endpoint == .messages else {
            throw TranslationError(
                message: "\(call.endpointLabel) cannot be translated to the \(target.provider.family.rawValue) API; only chat completions and messages can (model \(target.name) is served by \(target.provider.name))",
                param: "model"
            )
        }
        let translated = try Translation.request(Array(call.body.readableBytesView), from: call.family, to: target.provider.family, upstreamModel: target.upstreamModel)
        var body = ByteBuffer()
        body.writeBytes(translated)
        let hide = call.family == .openai && (call.request?.stream ?? false) && !(call.request?.clientRequestedUsage ?? false)
        return UpstreamRequest(for: call, target: target, body: body, clientURI: Translation.upstreamPath(for: target.provider.family), hideInjectedUsage: hide)
    }

    private init(for call: Call, target: ResolvedModel, body: ByteBuffer, clientURI: String, hideInjectedUsage hide: Bool) {
        let provider = target.provider
        var headers = HeaderPolicy.forwardedRequestHeaders(call.head.headers)
        if provider.family != call.family {
            // The other vendor's version and beta headers mean nothing to this one.
            let foreign = call.family == .anthropic ? "anthropic-" : "openai-"
            for name in headers.map(\.name) where name.lowercased().hasPrefix(foreign) { headers.remove(name: name) }
        }
        // Forwarded headers never hold host, content-length or credentials (HeaderPolicy).
        headers.add(name: "host", value: provider.endpoint.hostHeader)
        headers.add(name: "content-length", value: String(body.readableBytes))
        for (name, value) in provider.extraHeaders where !headers.contains(name: name) {
            headers.add(name: name, value: value)
        }
        switch provider.kind {
        case .openai:
            if let bearer = call.credentials.bearerValues[provider.name] { headers.add(name: "authorization", value: bearer) }
        case .azureOpenAI:
            if let secret = call.credentials.secrets[provider.name] { headers.add(name: "api-key", value: secret) }
        case .anthropic:
            if let secret = call.credentials.secrets[provider.name] { headers.add(name: "x-api-key", value: secret) }
            if !headers.contains(name: "anthropic-version") { headers.add(name: "anthropic-version", value: "2023-06-01") }
        }
        headers.add(name: "x-request-id", value: call.id)
        if let trace = call.trace {
            headers.add(name: "traceparent", value: trace.upstreamTraceparent)
        }
        let uri = UpstreamRequest.uri(clientURI: clientURI, provider: provider, upstreamModel: target.upstreamModel)
        self.init(head: HTTPRequestHead(version: .http1_1, method: call.head.method, uri: uri, headers: headers), body: body, hideInjectedUsage: hide)
    }

    /// The provider's URI for a client URI: under the base URL's path prefix; for Azure
    /// OpenAI, `/openai/deployments/{deployment}/…` with `api-version` in the query.
    static func uri(clientURI: String, provider: ResolvedProvider, upstreamModel: String) -> String {
        guard provider.kind == .azureOpenAI else {
            return provider.endpoint.pathPrefix.isEmpty ? clientURI : provider.endpoint.pathPrefix + clientURI
        }
        var path = Substring(clientURI)
        var query: Substring = ""
        if let mark = path.firstIndex(of: "?") {
            query = path[path.index(after: mark)...]
            path = path[..<mark]
        }
        if path.hasPrefix("/v1/") { path = path.dropFirst(3) }
        let deployment = provider.deployments[upstreamModel] ?? upstreamModel
        var parameters = query.split(separator: "&").filter { !$0.hasPrefix("api-version=") }.map(String.init)
        if let version = provider.apiVersion { parameters.insert("api-version=" + version, at: 0) }
        let encoded = deployment.addingPercentEncodingForPath()
        let base = provider.endpoint.pathPrefix + "/openai/deployments/" + encoded + path
        return parameters.isEmpty ? base : base + "?" + parameters.joined(separator: "&")
    }
}

private extension String {
    /// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
    func addingPercentEncodingForPath() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}
