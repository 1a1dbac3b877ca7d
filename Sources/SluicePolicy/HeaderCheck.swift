/// Checks a provider's extra `headers:`: each name an HTTP token that the sidecar does not
/// own (credentials, hop-by-hop and framing headers, its own ids), each value printable.
enum HeaderCheck {
    /// Headers that carry credentials: the sidecar sends the provider's key itself.
    static let credentialHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
    ]

    /// Hop-by-hop, framing and encoding headers, which the sidecar writes for each connection
    /// and body (responses must arrive uncompressed so that usage can be read).
    static let connectionHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "expect", "host", "content-length", "content-type", "content-encoding", "accept-encoding", "http2-settings",
    ]

    /// Headers the sidecar sets on every call itself.
    static let sidecarHeaders: Set<String> = ["x-request-id", "traceparent", "tracestate"]

    /// Why `name` may not be an extra header, or `nil` when it may.
    static func problem(withName name: String) -> String? {
        guard !name.isEmpty else { return "header name must not be empty" }
        guard name.unicodeScalars.allSatisfy(isTokenCharacter) else {
            return "invalid header name \"\(name)\": use letters, digits and !#$%&'*+-.^_`|~"
        }
        let lower = name.lowercased()
        if credentialHeaders.contains(lower) {
            return "must not set \"\(lower)\": the sidecar sends the provider's credential (see credential)"
        }
        if connectionHeaders.contains(lower) || lower.hasPrefix("proxy-") {
            return "must not set \"\(lower)\": the sidecar sets connection, framing and encoding headers itself"
        }
        if sidecarHeaders.contains(lower) || lower.hasPrefix("x-sluice-") {
            return "must not set \"\(lower)\": the sidecar sets it on every call"
        }
        return nil
    }

    /// Why `value` may not be a header value, or `nil` when it may.
    static func problem(withValue value: String) -> String? {
        for scalar in value.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F {
                return "must not contain control characters (such as a line break)"
            }
            if !scalar.isASCII {
                return "must contain only ASCII characters"
            }
        }
        if let first = value.first, first == " " || first == "\t" {
            return "must not start with a space"
        }
        if let last = value.last, last == " " || last == "\t" {
            return "must not end with a space"
        }
        return nil
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }
}
