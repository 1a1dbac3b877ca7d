/// Where a provider lives, parsed once from its base URL: the pool key for connections.
public struct UpstreamEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let useTLS: Bool
    public let host: String
    public let port: Int
    /// Prepended to the incoming path, without a trailing slash (often empty).
    public let pathPrefix: String
    /// The `Host` header value, computed once (it goes out with every request).
    public let hostHeader: String

    public init(useTLS: Bool, host: String, port: Int, pathPrefix: String = "") {
        self.useTLS = useTLS
        self.host = host
        self.port = port
        self.pathPrefix = pathPrefix
        let defaultPort = useTLS ? 443 : 80
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        self.hostHeader = port == defaultPort ? name : "\(name):\(port)"
    }

    /// Parses `http[s]://host[:port][/prefix]`; nil when it is not such a URL.
    public init?(baseURL: String) {
        let useTLS: Bool
        var rest: Substring
        if baseURL.hasPrefix("https://") {
            useTLS = true
            rest = baseURL.dropFirst("https://".count)
        } else if baseURL.hasPrefix("http://") {
            useTLS = false
            rest = baseURL.dropFirst("http://".count)
        } else {
            return nil
        }
        var prefix = ""
        if let slash = rest.firstIndex(of: "/") {
            prefix = String(rest[slash...])
            rest = rest[..<slash]
        }
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard !rest.isEmpty, !prefix.contains("?"), !prefix.contains("#") else { return nil }
        var host = String(rest)
        var port = useTLS ? 443 : 80
        if host.hasPrefix("[") {
            // IPv6 literal: [::1]:8080
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let parsed = Int(after.dropFirst()), (1...65535).contains(parsed) else { return nil }
                port = parsed
            } else if !after.isEmpty {
                return nil
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let parsed = Int(host[host.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
            port = parsed
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { return nil }
        self.init(useTLS: useTLS, host: host, port: port, pathPrefix: prefix)
    }

    public var description: String { "\(useTLS ? "https" : "http")://\(hostHeader)\(pathPrefix)" }
}
