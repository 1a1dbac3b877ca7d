// The module's front door: translate requests, responses and error bodies between the
// OpenAI chat completions API and the Anthropic messages API.
import SluiceWire

/// Translates calls between OpenAI chat completions (`POST /v1/chat/completions`) and
/// Anthropic messages (`POST /v1/messages`), so a client keeps its own format when its
/// model is served by the other vendor. Pure functions over bytes; streams go through
/// ``StreamTranslator``.
///
/// What maps (both ways): system prompts (OpenAI `system`/`developer` messages, wherever they
/// stand, gathered into Anthropic's top-level `system`), text and image parts (data URLs ⇄
/// base64 sources, http(s) URLs ⇄ `url` sources), tools (`parameters` ⇄ `input_schema`),
/// `tool_choice` (auto/none/required/named ⇄ auto/none/any/tool), `parallel_tool_calls=false`
/// ⇄ `disable_parallel_tool_use`, assistant `tool_calls` ⇄ `tool_use` blocks, `tool` messages
/// ⇄ `tool_result` blocks (consecutive ones share one user message), `max_completion_tokens`
/// / `max_tokens` ⇄ `max_tokens` (4096 when an OpenAI request has none), `stop` ⇄
/// `stop_sequences`, `temperature`, `top_p`, `user` (or `safety_identifier`) ⇄
/// `metadata.user_id`, `stream` (an OpenAI upstream always gets
/// `stream_options.include_usage=true`), stop reasons, usage with cached tokens, errors.
///
/// Refused with a ``TranslationError`` (they would change the answer's meaning):
/// - OpenAI → Anthropic: `n` > 1, `logprobs: true`, `top_logprobs`, a non-empty
///   `logit_bias`, `response_format` other than `text`, audio output (`audio`, `modalities`
///   with `audio`), non-zero `frequency_penalty` / `presence_penalty`, `temperature` > 1
///   (Anthropic's range is 0–1), the deprecated `functions` / `function_call`,
///   `web_search_options`, tools other than `function`, `tool_choice` `allowed_tools` /
///   custom, content parts other than `text` / `image_url` (audio, files), image URLs that
///   are neither base64 data URLs nor http(s), tool-call arguments that are not a JSON object,
///   the `function` role.
/// - Anthropic → OpenAI: `top_k`, server tools (any tool with a `type` other than `custom`),
///   `mcp_servers`, `document` / `search_result` / server-tool content blocks, images inside
///   `tool_result` content.
///
/// Dropped (harmless or hints only): OpenAI `seed`, `store`, `metadata`, `service_tier`,
/// `prediction`, `reasoning_effort`, `verbosity`, `prompt_cache_key`, `stream_options`,
/// message `name`, tool `strict`, image `detail`; Anthropic `thinking` (and earlier thinking
/// blocks), `cache_control`, `service_tier`, `container`, `tool_result.is_error`, citations.
/// Unknown top-level fields are dropped, and so are `tool_choice` / `parallel_tool_calls` when
/// the request has no tools.
///
/// Identity: response and chunk ids, the serving model's name and tool call ids are kept
/// (tool call ids sent to Anthropic have characters outside `[A-Za-z0-9_-]` replaced by `_`,
/// the same way in calls and results); OpenAI's `created` is the time of translation.
/// Usage keeps every count: OpenAI `prompt_tokens` = Anthropic `input_tokens` +
/// `cache_read_input_tokens` + `cache_creation_input_tokens`, `cached_tokens` =
/// `cache_read_input_tokens`, so SluiceWire's `UsageParser` / `StreamUsageTracker` read the
/// same ``TokenUsage`` from the client-format bytes as from the upstream's.
public enum Translation {
    /// The request body translated for the upstream family, `upstreamModel` in place of `model`.
    /// A streamed request to an OpenAI upstream always carries `stream_options.include_usage`
    /// (hide the usage chunk from a client that did not ask for it). Same family: only `model`
    /// is replaced.
    public static func request(
        _ body: [UInt8], from client: APIFamily, to upstream: APIFamily, upstreamModel: String
    ) throws(TranslationError) -> [UInt8] {
        guard let parsed = try? JSON.parse(body), let object = parsed.objectValue else {
            throw TranslationError(message: "The request body is not a JSON object.", param: nil)
        }
        switch (client, upstream) {
        case (.openai, .anthropic):
            return try OpenAIToAnthropicRequest.translate(object, model: upstreamModel).bytes
        case (.anthropic, .openai):
            return try AnthropicToOpenAIRequest.translate(object, model: upstreamModel).bytes
        case (.openai, .openai), (.anthropic, .anthropic):
            var same = object
            same["model"] = .string(upstreamModel)
            return JSON.object(same).bytes
        }
    }

    /// A successful (2xx) non-streaming response body, upstream format → client format.
    /// A body that is not a JSON object is returned unchanged.
    public static func response(_ body: [UInt8], from upstream: APIFamily, to client: APIFamily) -> [UInt8] {
        guard upstream != client, let parsed = try? JSON.parse(body), let object = parsed.objectValue else { return body }
        switch upstream {
        case .anthropic: return JSON.object(ResponseTranslation.openAI(fromAnthropic: object)).bytes
        case .openai: return JSON.object(ResponseTranslation.anthropic(fromOpenAI: object)).bytes
        }
    }

    /// An error response body (any status, possibly not JSON) → an error body in the client's
    /// shape with the same meaning (type, code, message).
    public static func errorBody(_ body: [UInt8], status: Int, from upstream: APIFamily, to client: APIFamily) -> [UInt8] {
        ErrorTranslation.body(body, status: status, from: upstream, to: client)
    }

    /// The status to send the client for an upstream error status: Anthropic's 529
    /// (overloaded) becomes 503 for an OpenAI client; everything else is kept.
    public static func clientStatus(_ status: Int, from upstream: APIFamily, to client: APIFamily) -> Int {
        if upstream == .anthropic, client == .openai, status == 529 { return 503 }
        return status
    }

    /// The request path of the upstream family: `/v1/chat/completions` or `/v1/messages`.
    public static func upstreamPath(for upstream: APIFamily) -> String {
        switch upstream {
        case .openai: return "/v1/chat/completions"
        case .anthropic: return "/v1/messages"
        }
    }
}

/// A request the other vendor cannot express (such as `n` > 1): answered with a 400 in the
/// client's error shape.
public struct TranslationError: Error, Sendable, Equatable {
    /// What cannot be translated, for the client.
    public var message: String
    /// The request field at fault (`n`, `messages[2].content[0]`), when there is one.
    public var param: String?

    public init(message: String, param: String?) {
        self.message = message
        self.param = param
    }

    /// The HTTP status to answer with.
    public var status: Int { 400 }

    /// The 400 error body in the client's shape.
    public func body(for client: APIFamily) -> [UInt8] {
        Array(WireError.body(family: client, code: .invalidRequest, message: message, param: param).utf8)
    }
}
