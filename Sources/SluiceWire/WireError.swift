import NIOCore

/// Sluice's stable error codes, each with its HTTP status. Clients can rely on these.
public enum SluiceErrorCode: String, Sendable, Equatable, CaseIterable {
    case invalidRequest = "invalid_request"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case requestTooLarge = "request_too_large"
    case budgetExceeded = "budget_exceeded"
    case rateLimited = "rate_limited"
    case overloaded = "overloaded"
    case noHealthyUpstream = "no_healthy_upstream"
    case upstreamTimeout = "upstream_timeout"
    case upstreamError = "upstream_error"
    case internalError = "internal_error"

    /// The HTTP status sent with this code.
    public var status: Int {
        switch self {
        case .invalidRequest: return 400
        case .notFound: return 404
        case .methodNotAllowed: return 405
        case .requestTooLarge: return 413
        case .budgetExceeded: return 402
        case .rateLimited: return 429
        case .overloaded, .noHealthyUpstream: return 503
        case .upstreamTimeout: return 504
        case .upstreamError: return 502
        case .internalError: return 500
        }
    }

    /// The error `type` an OpenAI client expects for this status class.
    var openAIType: String {
        switch self {
        case .invalidRequest, .notFound, .methodNotAllowed, .requestTooLarge: return "invalid_request_error"
        case .budgetExceeded: return "insufficient_quota"
        case .rateLimited: return "rate_limit_error"
        case .overloaded, .noHealthyUpstream, .upstreamTimeout, .upstreamError, .internalError: return "server_error"
        }
    }

    /// The error `type` an Anthropic client expects for this status class.
    var anthropicType: String {
        switch self {
        case .invalidRequest, .methodNotAllowed: return "invalid_request_error"
        case .notFound: return "not_found_error"
        case .requestTooLarge: return "request_too_large"
        case .budgetExceeded: return "billing_error"
        case .rateLimited: return "rate_limit_error"
        case .overloaded, .noHealthyUpstream: return "overloaded_error"
        case .upstreamTimeout: return "timeout_error"
        case .upstreamError, .internalError: return "api_error"
        }
    }
}

/// Renders Sluice's own errors in the caller's API shape.
///
/// OpenAI: `{"error":{"message","type","code","param"}}`. Anthropic:
/// `{"type":"error","error":{"type","message","code"}}` (the SDKs ignore the extra `code`,
/// which carries the stable Sluice code in both shapes).
public enum WireError {
    /// The JSON body of an error response.
    public static func body(family: APIFamily, code: SluiceErrorCode, message: String, param: String? = nil) -> String {
        switch family {
        case .openai:
            let paramText = param.map(JSONText.quoted) ?? "null"
            return "{\"error\":{\"message\":\(JSONText.quoted(message)),\"type\":\"\(code.openAIType)\",\"code\":\"\(code.rawValue)\",\"param\":\(paramText)}}"
        case .anthropic:
            return "{\"type\":\"error\",\"error\":{\"type\":\"\(code.anthropicType)\",\"message\":\(JSONText.quoted(message)),\"code\":\"\(code.rawValue)\"}}"
        }
    }

    /// A well-formed SSE error event that ends a stream the upstream broke off.
    public static func streamEvent(family: APIFamily, code: SluiceErrorCode, message: String) -> String {
        switch family {
        case .openai:
            return "data: \(body(family: .openai, code: code, message: message))\n\n"
        case .anthropic:
            return "event: error\ndata: \(body(family: .anthropic, code: code, message: message))\n\n"
        }
    }
}
