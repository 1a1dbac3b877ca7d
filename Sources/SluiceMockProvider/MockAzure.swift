import Foundation
import NIOHTTP1
import SluiceWire

/// An Azure OpenAI request line: `POST /openai/deployments/{deployment}/{operation}?api-version=…`.
struct AzureRoute: Sendable, Equatable {
    /// The deployment named in the path; it stands in for the model.
    var deployment: String
    /// The OpenAI operation the path names.
    var endpoint: Endpoint
    /// The `api-version` query parameter; nil when absent (Azure answers 404 then).
    var apiVersion: String?

    /// Parses `path` (no query) and `query` (after `?`, may be empty); nil when the path is not
    /// an Azure deployment path the mock serves.
    init?(method: HTTPMethod, path: String, query: Substring) {
        guard method == .POST else { return nil }
        let prefix = "/openai/deployments/"
        guard path.hasPrefix(prefix) else { return nil }
        var rest = Substring(path.dropFirst(prefix.count))
        while rest.count > 1, rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let deployment = rest[..<slash]
        guard !deployment.isEmpty else { return nil }
        switch rest[rest.index(after: slash)...] {
        case "chat/completions": self.endpoint = .chatCompletions
        case "completions": self.endpoint = .completions
        case "embeddings": self.endpoint = .embeddings
        default: return nil
        }
        self.deployment = String(deployment).removingPercentEncoding ?? String(deployment)
        self.apiVersion = Self.queryValue("api-version", in: query).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The first value of `name` in a query string (percent-decoded, `+` as space).
    static func queryValue(_ name: String, in query: Substring) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.map(String.init) == name else { continue }
            let raw = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            return raw.removingPercentEncoding ?? raw
        }
        return nil
    }

    /// Whether the request carries a credential Azure accepts: an `api-key` header or an
    /// Entra ID `Authorization: Bearer` token.
    static func isAuthenticated(_ headers: HTTPHeaders) -> Bool {
        if let key = headers.first(name: "api-key"), !key.isEmpty { return true }
        if let authorization = headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer "),
            authorization.count > "bearer ".count
        {
            return true
        }
        return false
    }

    /// Azure's own gateway errors (not the OpenAI-shaped ones its models return): missing
    /// `api-version` is a 404 `Resource not found`, a missing key a 401 `Access denied`.
    static func gatewayError(status: Int, requestID: String) -> String {
        let marker = " (mock; request ID \(requestID))"
        let message: String
        switch status {
        case 401:
            message = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
                + "for an active subscription and use a correct regional API endpoint for your resource."
        default:
            message = "Resource not found"
        }
        return "{\"error\":{\"code\":\"\(status)\",\"message\":\(JSONText.quoted(message + marker))}}"
    }
}
