/// The wire format a caller speaks (and a provider answers in): it shapes errors and usage.
public enum APIFamily: String, Sendable, Equatable {
    case openai
    case anthropic
}
