import NIOHTTP1

/// Which headers cross the proxy in each direction.
enum HeaderPolicy {
    /// Client request headers never sent upstream (plus every `proxy-*` and `x-sluice-*`):
    /// hop-by-hop headers, the app's own
    /// credentials (the sidecar sends the provider's), Sluice's attribution headers,
    /// `accept-encoding` (usage is read from the response, so it must arrive uncompressed)
    /// and headers the proxy sets itself (`x-request-id`, `traceparent`).
    static let droppedRequestHeaders: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "expect", "host", "content-length",
        "authorization", "x-api-key", "api-key", "accept-encoding", "http2-settings",
        "x-request-id", "traceparent",
    ]

    /// Upstream response headers never relayed: hop-by-hop headers, framing the proxy
    /// redoes, cookies, any `x-sluice-*` (Sluice's own), and the upstream's request id (relayed as
    /// `x-sluice-upstream-request-id`, since `x-request-id` is Sluice's own).
    static let droppedResponseHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "content-length", "set-cookie", "x-request-id", "alt-svc",
    ]

    /// The request headers to forward upstream.
    static func forwardedRequestHeaders(_ headers: HTTPHeaders) -> HTTPHeaders {
        var out = HTTPHeaders()
        out.reserveCapacity(headers.count + 4)
        for (name, value) in headers {
            let lower = lowercased(name)
            if droppedRequestHeaders.contains(lower) || lower.hasPrefix("x-sluice-") || lower.hasPrefix("proxy-") { continue }
            out.add(name: name, value: value)
        }
        return out
    }

    /// `name` in lower case, without allocating when it already is (HTTP/2 names always
    /// are, and most SDKs send lower-case HTTP/1.1 names).
    @inline(__always)
    static func lowercased(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
    }

    /// The response headers to relay to the client.
    static func relayedResponseHeaders(_ headers: HTTPHeaders) -> HTTPHeaders {
        var out = HTTPHeaders()
        out.reserveCapacity(headers.count + 8)
        for (name, value) in headers {
            let lower = lowercased(name)
            if lower == "x-request-id" {
                out.add(name: "x-sluice-upstream-request-id", value: value)
                continue
            }
            // An upstream must not be able to forge Sluice's own headers (cost, route, …).
            if droppedResponseHeaders.contains(lower) || lower.hasPrefix("x-sluice-") { continue }
            out.add(name: name, value: value)
        }
        return out
    }
}
