import Foundation
import NIOHTTP1

/// Which headers cross the proxy in each direction.
enum HeaderPolicy {
    /// Client request headers never sent upstream (plus every `proxy-*` and `x-sluice-*`,
    /// and any header the client's `Connection:` names, RFC 9110 §7.6.1): hop-by-hop
    /// headers, the app's own credentials and account selectors (the sidecar sends the
    /// provider's key, so the app must not pick an OpenAI organization or project under it),
    /// Sluice's attribution headers, `accept-encoding` (usage is read from the response, so
    /// it must arrive uncompressed) and headers the proxy sets itself (`x-request-id`,
    /// `traceparent`).
    static let droppedRequestHeaders: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "expect", "host", "content-length",
        "authorization", "x-api-key", "api-key", "accept-encoding", "http2-settings",
        "openai-organization", "openai-project",
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
        out.reserveCapacity(headers.count + 8) // room for host, length, credential, ids and version
        let named = connectionOptions(headers)
        for (name, value) in headers {
            let lower = lowercased(name)
            if droppedRequestHeaders.contains(lower) || lower.hasPrefix("x-sluice-") || lower.hasPrefix("proxy-") { continue }
            if let named, named.contains(lower) { continue }
            out.add(name: name, value: value)
        }
        return out
    }

    /// The header names listed in `Connection:` (lower case), or nil when there is none
    /// (the common case costs no allocation).
    static func connectionOptions(_ headers: HTTPHeaders) -> Set<String>? {
        guard headers.contains(name: "connection") else { return nil }
        var names = Set<String>()
        for value in headers[canonicalForm: "connection"] {
            let name = value.trimmingCharacters(in: .whitespaces).lowercased()
            if !name.isEmpty, name != "close", name != "keep-alive" { names.insert(name) }
        }
        return names.isEmpty ? nil : names
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
