// WireError and SluiceErrorCode: Sluice's own errors in the shape each client expects.
import Foundation
import NIOCore
import Testing
@testable import SluiceWire

@Suite("WireError")
struct WireErrorTests {
    /// Per code: HTTP status, OpenAI error type, Anthropic error type.
    static let expected: [SluiceErrorCode: (status: Int, openAI: String, anthropic: String)] = [
        .invalidRequest: (400, "invalid_request_error", "invalid_request_error"),
        .notFound: (404, "invalid_request_error", "not_found_error"),
        .methodNotAllowed: (405, "invalid_request_error", "invalid_request_error"),
        .requestTooLarge: (413, "invalid_request_error", "request_too_large"),
        .budgetExceeded: (402, "insufficient_quota", "billing_error"),
        .rateLimited: (429, "rate_limit_error", "rate_limit_error"),
        .overloaded: (503, "server_error", "overloaded_error"),
        .noHealthyUpstream: (503, "server_error", "overloaded_error"),
        .upstreamTimeout: (504, "server_error", "timeout_error"),
        .upstreamError: (502, "server_error", "api_error"),
        .internalError: (500, "server_error", "api_error"),
    ]

    /// The error types Anthropic documents; its SDKs map on them.
    static let anthropicTypes: Set<String> = [
        "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large",
        "rate_limit_error", "api_error", "overloaded_error", "billing_error", "timeout_error",
    ]

    static func parse(_ text: String) throws -> [String: Any] {
        #expect(scannerAccepts(text))
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("every code is in the table")
    func tableIsComplete() {
        #expect(Set(Self.expected.keys) == Set(SluiceErrorCode.allCases))
    }

    @Test("status codes", arguments: SluiceErrorCode.allCases)
    func status(_ code: SluiceErrorCode) {
        #expect(code.status == Self.expected[code]?.status)
    }

    @Test("OpenAI shape: {error:{message,type,code,param}}", arguments: SluiceErrorCode.allCases)
    func openAIShape(_ code: SluiceErrorCode) throws {
        for param: String? in [nil, "model"] {
            let body = WireError.body(family: .openai, code: code, message: "Something went wrong.", param: param)
            let json = try Self.parse(body)
            #expect(Set(json.keys) == ["error"])
            let error = try #require(json["error"] as? [String: Any])
            #expect(Set(error.keys) == ["message", "type", "code", "param"])
            #expect(error["message"] as? String == "Something went wrong.")
            #expect(error["type"] as? String == Self.expected[code]?.openAI)
            #expect(error["code"] as? String == code.rawValue)
            if let param {
                #expect(error["param"] as? String == param)
            } else {
                #expect(error["param"] is NSNull)
            }
        }
    }

    @Test("Anthropic shape: {type:error,error:{type,message,code}}", arguments: SluiceErrorCode.allCases)
    func anthropicShape(_ code: SluiceErrorCode) throws {
        let body = WireError.body(family: .anthropic, code: code, message: "Something went wrong.", param: "ignored")
        let json = try Self.parse(body)
        #expect(Set(json.keys) == ["type", "error"])
        #expect(json["type"] as? String == "error")
        let error = try #require(json["error"] as? [String: Any])
        #expect(Set(error.keys) == ["type", "message", "code"])
        #expect(error["type"] as? String == Self.expected[code]?.anthropic)
        #expect(Self.anthropicTypes.contains(error["type"] as? String ?? ""))
        #expect(error["message"] as? String == "Something went wrong.")
        #expect(error["code"] as? String == code.rawValue)
    }

    @Test("messages and params are escaped", arguments: [
        "model \"gpt-5\" is not served",
        "line one\nline two\r\n\ttabbed",
        "back\\slash and /slash",
        "control \u{0}\u{1}\u{1F} characters",
        "unicode caf\u{E9} \u{1F600} \u{2028}",
        "</script><script>alert(1)</script>",
        "",
    ])
    func escaping(_ message: String) throws {
        for family in [APIFamily.openai, .anthropic] {
            let body = WireError.body(family: family, code: .invalidRequest, message: message, param: message)
            let json = try Self.parse(body)
            let error = try #require(json["error"] as? [String: Any])
            #expect(error["message"] as? String == message)
            if family == .openai {
                #expect(error["param"] as? String == message)
            }
            #expect(!body.contains("\n"))
        }
    }

    @Test("stream error events are whole SSE events the tracker recognises", arguments: SluiceErrorCode.allCases)
    func streamEvents(_ code: SluiceErrorCode) throws {
        for family in [APIFamily.openai, .anthropic] {
            let text = WireError.streamEvent(family: family, code: code, message: "upstream \"closed\"\nearly")
            var splitter = SSEEventSplitter()
            var events: [ByteBuffer] = []
            splitter.append(buffer(text)) { events.append($0) }
            #expect(events.count == 1)
            #expect(!splitter.hasPartialEvent)
            let event = try #require(events.first)
            #expect(SSEEvent.name(of: event) == (family == .anthropic ? "error" : nil))
            let data = try #require(SSEEvent.data(of: event))
            #expect(data.text == WireError.body(family: family, code: code, message: "upstream \"closed\"\nearly"))
            _ = try Self.parse(data.text)
            var tracker = StreamUsageTracker(family: family, hideInjectedUsage: true)
            #expect(tracker.observe(event, allocator: ByteBufferAllocator()) == .forward)
            #expect(tracker.sawErrorEvent)
            #expect(!tracker.completed)
        }
    }

    @Test("exact bodies", arguments: [
        (APIFamily.openai, SluiceErrorCode.budgetExceeded, "Budget of team a is spent.", "model" as String?,
         #"{"error":{"message":"Budget of team a is spent.","type":"insufficient_quota","code":"budget_exceeded","param":"model"}}"#),
        (.anthropic, .overloaded, "Too busy.", nil,
         #"{"type":"error","error":{"type":"overloaded_error","message":"Too busy.","code":"overloaded"}}"#),
    ])
    func exactBodies(_ family: APIFamily, _ code: SluiceErrorCode, _ message: String, _ param: String?, _ expected: String) {
        #expect(WireError.body(family: family, code: code, message: message, param: param) == expected)
    }
}
