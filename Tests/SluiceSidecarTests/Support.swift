import NIOCore
import NIOHTTP1
import SluicePolicy
@testable import SluiceSidecar
import SluiceWire

/// A small policy with one OpenAI and one Anthropic provider, used across the tests.
func testPolicy(routes: [Route] = []) -> Policy {
    Policy(
        providers: [
            "openai": Provider(name: "openai", kind: .openai, baseURL: "http://127.0.0.1:9", credential: .environment("OPENAI_KEY")),
            "anthropic": Provider(name: "anthropic", kind: .anthropic, baseURL: "http://127.0.0.1:10/prefix", credential: .environment("ANTHROPIC_KEY")),
        ],
        models: [
            "gpt-4o-mini": Model(name: "gpt-4o-mini", provider: "openai", upstreamModel: "gpt-4o-mini-2024-07-18", prices: Prices(input: 0.15, output: 0.60, cachedInput: 0.075), aliases: ["fast"]),
            "gpt-4o": Model(name: "gpt-4o", provider: "openai", prices: Prices(input: 2.5, output: 10)),
            "claude-haiku": Model(name: "claude-haiku", provider: "anthropic", upstreamModel: "claude-3-5-haiku-latest", prices: Prices(input: 0.8, output: 4, cachedInput: 0.08)),
        ],
        routes: routes
    )
}

func makeCall(
    method: HTTPMethod = .POST, path: String = "/v1/chat/completions", body: String = "",
    headers: [(String, String)] = [], policy: Policy = testPolicy(), randomBits: UInt64 = 0
) throws -> Call {
    let snapshot = try RuntimeSnapshot(policy: policy, version: "test")
    var buffer = ByteBuffer()
    buffer.writeString(body)
    let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: HTTPHeaders(headers))
    return Call(
        id: "req-1", head: head, body: buffer, transport: .h1, startNanos: 0, snapshot: snapshot,
        credentials: CredentialSet(), family: Endpoint.guessFamily(path: path, hasAnthropicHeaders: false), randomBits: randomBits
    )
}

/// Runs stages in order until one does not say `next`; returns its reply, or nil.
func run(_ stages: [any CallStage], _ call: Call) -> LocalReply? {
    for stage in stages {
        switch stage.enter(call) {
        case .next: continue
        case .reply(let reply): return reply
        case .suspend: return nil
        }
    }
    return nil
}

extension Call {
    /// Records an upstream attempt to the call's target, as the upstream step would.
    func recordAttempt(status: Int?, startNanos: UInt64 = 1_000_000, failure: UpstreamFailureKind? = nil) {
        guard let target else { return }
        var attempt = Attempt(target: target, startNanos: startNanos)
        attempt.status = status
        attempt.failure = failure
        attempts.append(attempt)
    }
}
