import Testing
@testable import SluiceSidecar
import SluiceWire

@Suite struct ParseStageTests {
    @Test func resolvesEndpointAndModel() throws {
        let call = try makeCall(body: #"{"model":"fast","stream":true,"messages":[]}"#)
        #expect(run([ParseStage()], call) == nil)
        #expect(call.endpoint == .chatCompletions)
        #expect(call.request?.model == "fast")
        #expect(call.request?.stream == true)
    }

    @Test func unknownPathIs404InTheGuessedShape() throws {
        let openai = try makeCall(path: "/v1/nothing", body: "{}")
        let reply = try #require(run([ParseStage()], openai))
        #expect(reply.status == 404)
        #expect(reply.body.contains(#""code":"not_found""#))
        #expect(reply.body.hasPrefix(#"{"error":"#))

        let anthropic = try makeCall(path: "/v1/messages/batches", body: "{}")
        let anthropicReply = try #require(run([ParseStage()], anthropic))
        #expect(anthropicReply.body.hasPrefix(#"{"type":"error""#))
    }

    @Test func wrongMethodIs405WithAllow() throws {
        let call = try makeCall(method: .GET, path: "/v1/messages")
        let reply = try #require(run([ParseStage()], call))
        #expect(reply.status == 405)
        #expect(reply.headers.contains { $0.0 == "allow" && $0.1 == "POST" })
        #expect(reply.body.contains(#""type":"invalid_request_error""#))
    }

    @Test(arguments: [
        ("", "empty"),
        ("{bad", "not valid JSON"),
        ("[1,2]", "must be a JSON object"),
        (#"{"model":5}"#, "must be a string"),
        (#"{"messages":[]}"#, "needs a \\\"model\\\""),
    ])
    func badBodiesAre400(body: String, message: String) throws {
        let call = try makeCall(path: "/v1/messages", body: body)
        let reply = try #require(run([ParseStage()], call))
        #expect(reply.status == 400)
        #expect(reply.body.contains(message))
        #expect(reply.body.contains(#""code":"invalid_request""#))
        #expect(reply.body.hasPrefix(#"{"type":"error""#))
    }

    @Test func modelListNeedsNoBody() throws {
        let call = try makeCall(method: .GET, path: "/v1/models")
        #expect(run([ParseStage()], call) == nil)
        #expect(call.endpoint == .models)
    }
}

extension LocalReply: Equatable {
    public static func == (lhs: LocalReply, rhs: LocalReply) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
    }
}
