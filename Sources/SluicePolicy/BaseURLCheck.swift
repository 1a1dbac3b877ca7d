/// Checks a provider's `base_url`: `http` or `https`, a host, an optional port and an
/// optional path prefix; no user info, query or fragment.
enum BaseURLCheck {
    /// Why `url` is not a valid base URL, or `nil` when it is.
    static func problem(with url: String) -> String? {
        guard !url.contains(where: \.isWhitespace) else { return "must not contain spaces" }
        guard let schemeEnd = url.range(of: "://") else {
            return "must start with http:// or https://"
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            return "scheme must be http or https, got \"\(scheme)\""
        }
        let rest = url[schemeEnd.upperBound...]
        if rest.contains("?") { return "must not have a query (\"?...\")" }
        if rest.contains("#") { return "must not have a fragment (\"#...\")" }
        let authority = rest.prefix { $0 != "/" }
        guard !authority.isEmpty else { return "has no host" }
        if authority.contains("@") { return "must not contain user info (\"user@\"); use credential" }
        return problem(withAuthority: authority)
    }

    private static func problem(withAuthority authority: Substring) -> String? {
        let host: Substring
        let port: Substring?
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1] or [::1]:8080.
            guard let close = authority.firstIndex(of: "]") else { return "unterminated IPv6 address" }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                port = nil
            } else if after.hasPrefix(":") {
                port = after.dropFirst()
            } else {
                return "unexpected \"\(after)\" after the IPv6 address"
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "invalid IPv6 address \"\(host)\""
            }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return "invalid host \"\(authority)\"" }
            host = parts[0]
            port = parts.count == 2 ? parts[1] : nil
            guard !host.isEmpty else { return "has no host" }
            let allowed = host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
            guard allowed else { return "invalid host \"\(host)\"" }
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber),
                  let number = Int(port), (1...65535).contains(number) else {
                return "invalid port \"\(port)\"; expected 1-65535"
            }
        }
        return nil
    }

    /// The URL as the sidecar should use it: without trailing slashes, so that appending an
    /// incoming path such as `/v1/chat/completions` gives a single slash.
    static func normalized(_ url: String) -> String {
        var result = Substring(url)
        while result.hasSuffix("/"), !result.hasSuffix("://") {
            result = result.dropLast()
        }
        return String(result)
    }
}
