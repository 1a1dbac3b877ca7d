import SluiceWire

/// Model list: answers `GET /v1/models` from the policy's model names and aliases, in the
/// OpenAI shape, or the Anthropic shape when the caller sends `anthropic-version`.
public struct ModelListStage: CallStage {
    public let name = "model-list"

    public init() {}

    public func enter(_ call: Call) -> StageDecision {
        guard call.endpoint == .models else { return .next }
        let anthropic = call.head.headers.contains(name: "anthropic-version") || call.head.headers.contains(name: "x-api-key")
        return .reply(LocalReply(status: 200, body: anthropic ? call.snapshot.anthropicModelList : call.snapshot.openAIModelList))
    }
}
