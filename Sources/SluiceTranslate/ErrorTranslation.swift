// Error bodies: OpenAI `{"error":{message,type,param,code}}` ⇄ Anthropic
// `{"type":"error","error":{type,message}}`, keeping the kind of failure and the message.
import Foundation
import SluiceWire

/// Rewrites an upstream error body (JSON or not) into the client's error shape.
enum ErrorTranslation {
    /// The kinds of failure both vendors distinguish.
    enum Kind: Equatable {
        case invalidRequest, authentication, permission, notFound, requestTooLarge
        case rateLimited, billing, overloaded, timeout, server
    }

    /// What an upstream error said, whatever its shape.
    struct Reading: Equatable {
        var kind: Kind
        var message: String
        var param: String?
        var code: String?
    }

    static func body(_ body: [UInt8], status: Int, from upstream: APIFamily, to client: APIFamily) -> [UInt8] {
        let reading = read(body, status: status, family: upstream)
        return render(reading, family: client).bytes
    }

    // MARK: Reading

    static func read(_ body: [UInt8], status: Int, family: APIFamily) -> Reading {
        let parsed = (try? JSON.parse(body))?.objectValue
        let error = parsed?["error"]?.objectValue
        let message = error?["message"]?.stringValue ?? fallbackMessage(body, status: status)
        switch family {
        case .openai:
            let type = error?["type"]?.stringValue
            let code = error?["code"]?.stringValue
            return Reading(kind: kind(openAIType: type, code: code, status: status), message: message,
                           param: error?["param"]?.stringValue, code: code)
        case .anthropic:
            let type = error?["type"]?.stringValue
            return Reading(kind: kind(anthropicType: type, status: status), message: message, param: nil,
                           code: error?["code"]?.stringValue)
        }
    }

    /// The body text itself (trimmed and shortened) or a sentence naming the status.
    static func fallbackMessage(_ body: [UInt8], status: Int) -> String {
        let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return "The upstream provider answered with HTTP \(status)." }
        return "The upstream provider answered with HTTP \(status): \(text)"
    }

    static func kind(openAIType type: String?, code: String?, status: Int) -> Kind {
        switch code {
        case "invalid_api_key"?: return .authentication
        case "model_not_found"?: return .notFound
        case "insufficient_quota"?: return .billing
        case "rate_limit_exceeded"?: return .rateLimited
        case "context_length_exceeded"?: return .invalidRequest
        default: break
        }
        switch type {
        case "insufficient_quota"?: return .billing
        case "authentication_error"?: return .authentication
        case "permission_error"?: return .permission
        case "not_found_error"?: return .notFound
        case "rate_limit_error"?, "requests"?, "tokens"?: return .rateLimited
        default: break
        }
        return kind(status: status)
    }

    static func kind(anthropicType type: String?, status: Int) -> Kind {
        switch type {
        case "invalid_request_error"?: return .invalidRequest
        case "authentication_error"?: return .authentication
        case "permission_error"?: return .permission
        case "not_found_error"?: return .notFound
        case "request_too_large"?: return .requestTooLarge
        case "rate_limit_error"?: return .rateLimited
        case "billing_error"?: return .billing
        case "overloaded_error"?: return .overloaded
        case "timeout_error"?: return .timeout
        case "api_error"?: return .server
        default: return kind(status: status)
        }
    }

    static func kind(status: Int) -> Kind {
        switch status {
        case 401: return .authentication
        case 402: return .billing
        case 403: return .permission
        case 404: return .notFound
        case 408, 504: return .timeout
        case 413: return .requestTooLarge
        case 429: return .rateLimited
        case 503, 529: return .overloaded
        case 400..<500: return .invalidRequest
        default: return .server
        }
    }

    // MARK: Rendering

    static func render(_ reading: Reading, family: APIFamily) -> JSON {
        switch family {
        case .openai:
            let (type, code) = openAI(reading.kind)
            return ["error": [
                "message": .string(reading.message),
                "type": .string(type),
                "param": reading.param.map(JSON.string) ?? .null,
                "code": (reading.code ?? code).map(JSON.string) ?? .null,
            ]]
        case .anthropic:
            return ["type": "error", "error": ["type": .string(anthropicType(reading.kind)), "message": .string(reading.message)]]
        }
    }

    /// OpenAI's `type` and default `code` for a kind (as OpenAI's own errors spell them).
    static func openAI(_ kind: Kind) -> (type: String, code: String?) {
        switch kind {
        case .invalidRequest: return ("invalid_request_error", nil)
        case .authentication: return ("authentication_error", "invalid_api_key")
        case .permission: return ("permission_error", "permission_denied")
        case .notFound: return ("invalid_request_error", "not_found")
        case .requestTooLarge: return ("invalid_request_error", "request_too_large")
        case .rateLimited: return ("rate_limit_error", "rate_limit_exceeded")
        case .billing: return ("insufficient_quota", "insufficient_quota")
        case .overloaded: return ("server_error", "overloaded")
        case .timeout: return ("server_error", "timeout")
        case .server: return ("server_error", nil)
        }
    }

    static func anthropicType(_ kind: Kind) -> String {
        switch kind {
        case .invalidRequest: return "invalid_request_error"
        case .authentication: return "authentication_error"
        case .permission: return "permission_error"
        case .notFound: return "not_found_error"
        case .requestTooLarge: return "request_too_large"
        case .rateLimited: return "rate_limit_error"
        case .billing: return "billing_error"
        case .overloaded: return "overloaded_error"
        case .timeout: return "timeout_error"
        case .server: return "api_error"
        }
    }

    /// An error event's payload (Anthropic `error` event / OpenAI `{"error":…}` chunk) in the
    /// other family's stream shape.
    static func streamError(_ payload: JSONObject, from upstream: APIFamily, to client: APIFamily) -> JSON {
        let reading = read(JSON.object(payload).bytes, status: 500, family: upstream)
        return render(reading, family: client)
    }
}
