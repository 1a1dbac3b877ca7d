// Damaged fixtures (truncated, bytes flipped) through every entry point: never a crash,
// always a TranslationError or well-formed JSON, and error bodies always in the client's shape.
import SluiceWire
import Testing
@testable import SluiceTranslate

@Suite("Malformed input")
struct MalformedInputTests {
    static let fixtures = [
        ("openai-request-tools.json", APIFamily.openai), ("anthropic-request-tools.json", .anthropic),
        ("openai-response-tool-calls.json", .openai), ("anthropic-response-tool-use.json", .anthropic),
    ]

    /// `bytes` truncated or with a few bytes replaced, chosen by `rng`.
    static func damaged(_ bytes: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var out = bytes
        if Bool.random(using: &rng) {
            out = Array(out.prefix(Int.random(in: 0..<out.count, using: &rng)))
        }
        let replacements: [UInt8] = Array("{}[]\",:0an\\ \u{7F}".utf8) + [0xFF, 0xC3, 0x00]
        for _ in 0..<Int.random(in: 0...4, using: &rng) where !out.isEmpty {
            out[Int.random(in: 0..<out.count, using: &rng)] = replacements[Int.random(in: 0..<replacements.count, using: &rng)]
        }
        return out
    }

    @Test("Damaged bodies: requests fail cleanly or give JSON; responses give JSON or the bytes back; errors give the client's shape",
          arguments: 0..<4)
    func damagedBodies(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(100 + seed))
        for (name, family) in Self.fixtures {
            let original = try fixture(name)
            let other: APIFamily = family == .openai ? .anthropic : .openai
            for _ in 0..<150 {
                let body = Self.damaged(original, using: &rng)
                do throws(TranslationError) {
                    let out = try Translation.request(body, from: family, to: other, upstreamModel: "m")
                    #expect((try? JSON.parse(out))?.objectValue != nil)
                } catch {
                    #expect(!error.message.isEmpty)
                }
                let response = Translation.response(body, from: family, to: other)
                #expect(response == body || (try? JSON.parse(response))?.objectValue != nil)

                let errorBody = Translation.errorBody(body, status: 500, from: family, to: other)
                let parsed = try parseObject(errorBody)
                switch other {
                case .openai: #expect(member(parsed, "error.message")?.stringValue != nil)
                case .anthropic: #expect(member(parsed, "type") == "error")
                }
            }
        }
    }

    @Test("Damaged streams: every output is whole SSE events whose data is JSON or [DONE]", arguments: 0..<3)
    func damagedStreams(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(200 + seed))
        for (name, family) in [("openai-stream-tool-calls.sse", APIFamily.openai), ("anthropic-stream-tool-use.sse", .anthropic)] {
            let events = sseEvents(try fixture(name))
            for _ in 0..<20 {
                var translator = StreamTranslator(from: family, to: family == .openai ? .anthropic : .openai)
                for event in events {
                    let input = Bool.random(using: &rng) ? Self.damaged(event, using: &rng) : event
                    for out in translator.translate(event: input) {
                        #expect(out.hasSuffix("\n\n"))
                        let message = SSEMessage(Array(out.utf8))
                        let data = try #require(message.data)
                        #expect(data == "[DONE]" || (try? JSON.parse(data))?.objectValue != nil, "\(out)")
                    }
                }
            }
        }
    }
}
