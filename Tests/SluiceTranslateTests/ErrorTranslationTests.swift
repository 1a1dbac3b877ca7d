// Error bodies both ways: each kind of failure keeps its meaning and message, and bodies
// that are not JSON still give a well-formed error in the client's shape.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Error translation")
struct ErrorTranslationTests {
    @Test("Anthropic errors → OpenAI type and code, message kept", arguments: [
        (400, "invalid_request_error", "invalid_request_error", nil as String?),
        (401, "authentication_error", "authentication_error", "invalid_api_key"),
        (403, "permission_error", "permission_error", "permission_denied"),
        (404, "not_found_error", "invalid_request_error", "not_found"),
        (413, "request_too_large", "invalid_request_error", "request_too_large"),
        (429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded"),
        (402, "billing_error", "insufficient_quota", "insufficient_quota"),
        (500, "api_error", "server_error", nil),
        (529, "overloaded_error", "server_error", "overloaded"),
        (504, "timeout_error", "server_error", "timeout"),
    ])
    func anthropicToOpenAI(status: Int, type: String, openAIType: String, code: String?) throws {
        let body = #"{"type":"error","error":{"type":""# + type + #"","message":"Something about \"x\"."},"request_id":"req_1"}"#
        let out = try parseObject(Translation.errorBody(bytes(body), status: status, from: .anthropic, to: .openai))
        #expect(member(out, "error.type") == .string(openAIType))
        #expect(member(out, "error.code") == (code.map(JSON.string) ?? .null))
        #expect(member(out, "error.message") == "Something about \"x\".")
        #expect(member(out, "error.param") == .null)
    }

    @Test("OpenAI errors → Anthropic type, message kept", arguments: [
        (400, #"{"message":"Bad","type":"invalid_request_error","param":"messages","code":null}"#, "invalid_request_error"),
        (400, #"{"message":"Bad","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}"#, "invalid_request_error"),
        (401, #"{"message":"Bad","type":"invalid_request_error","param":null,"code":"invalid_api_key"}"#, "authentication_error"),
        (403, #"{"message":"Bad","type":"invalid_request_error","param":null,"code":null}"#, "permission_error"),
        (404, #"{"message":"Bad","type":"invalid_request_error","param":"model","code":"model_not_found"}"#, "not_found_error"),
        (429, #"{"message":"Bad","type":"requests","param":null,"code":"rate_limit_exceeded"}"#, "rate_limit_error"),
        (429, #"{"message":"Bad","type":"insufficient_quota","param":null,"code":"insufficient_quota"}"#, "billing_error"),
        (500, #"{"message":"Bad","type":"server_error","param":null,"code":null}"#, "api_error"),
        (503, #"{"message":"Bad","type":"server_error","param":null,"code":null}"#, "overloaded_error"),
        (504, #"{"message":"Bad","type":"server_error","param":null,"code":null}"#, "timeout_error"),
    ])
    func openAIToAnthropic(status: Int, error: String, anthropicType: String) throws {
        let body = #"{"error":"# + error + "}"
        let out = try parseObject(Translation.errorBody(bytes(body), status: status, from: .openai, to: .anthropic))
        #expect(member(out, "type") == "error")
        #expect(member(out, "error.type") == .string(anthropicType))
        #expect(member(out, "error.message") == "Bad")
    }

    @Test("OpenAI → Anthropic → OpenAI keeps type, code and param where OpenAI has them")
    func openAIKeepsCode() throws {
        let body = #"{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#
        let anthropic = Translation.errorBody(bytes(body), status: 429, from: .openai, to: .anthropic)
        let back = try parseObject(Translation.errorBody(anthropic, status: 429, from: .anthropic, to: .openai))
        #expect(back == (try parseObject(bytes(#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}"#))))
    }

    @Test("Sluice's own stable code in an Anthropic body survives into the OpenAI body")
    func sluiceCodeKept() throws {
        let body = WireError.body(family: .anthropic, code: .upstreamTimeout, message: "slow")
        let out = try parseObject(Translation.errorBody(bytes(body), status: 504, from: .anthropic, to: .openai))
        #expect(member(out, "error.code") == "upstream_timeout")
        #expect(member(out, "error.type") == "server_error")
    }

    @Test("Bodies that are not an error object still give a well-formed error of the status's kind", arguments: [
        (502, "<html><body>Bad Gateway</body></html>", "api_error", "server_error"),
        (503, "", "overloaded_error", "server_error"),
        (429, "slow down", "rate_limit_error", "rate_limit_error"),
        (404, "[1,2]", "not_found_error", "invalid_request_error"),
        (401, #"{"error":"nope"}"#, "authentication_error", "authentication_error"),
        (400, "\u{FF}\u{00}{", "invalid_request_error", "invalid_request_error"),
        (418, #"{"error":{"message":5}}"#, "invalid_request_error", "invalid_request_error"),
    ])
    func notJSON(status: Int, body: String, anthropicType: String, openAIType: String) throws {
        for upstream in [APIFamily.openai, .anthropic] {
            let anthropic = try parseObject(Translation.errorBody(bytes(body), status: status, from: upstream, to: .anthropic))
            #expect(member(anthropic, "type") == "error")
            #expect(member(anthropic, "error.type") == .string(anthropicType))
            let message = member(anthropic, "error.message")?.stringValue ?? ""
            #expect(message.contains("HTTP \(status)"))
            let openAI = try parseObject(Translation.errorBody(bytes(body), status: status, from: upstream, to: .openai))
            #expect(member(openAI, "error.type") == .string(openAIType))
            #expect(member(openAI, "error.message")?.stringValue?.contains("HTTP \(status)") == true)
        }
    }

    @Test("The text of a non-JSON body is kept, shortened")
    func keepsText() throws {
        let long = String(repeating: "x", count: 5000)
        let out = try parseObject(Translation.errorBody(bytes("upstream says no " + long), status: 500, from: .openai, to: .anthropic))
        let message = member(out, "error.message")?.stringValue ?? ""
        #expect(message.contains("upstream says no"))
        #expect(message.count < 700)
    }

    @Test("Status for the client: 529 becomes 503 for OpenAI clients only")
    func clientStatus() {
        #expect(Translation.clientStatus(529, from: .anthropic, to: .openai) == 503)
        #expect(Translation.clientStatus(529, from: .anthropic, to: .anthropic) == 529)
        #expect(Translation.clientStatus(429, from: .anthropic, to: .openai) == 429)
        #expect(Translation.clientStatus(503, from: .openai, to: .anthropic) == 503)
    }
}
