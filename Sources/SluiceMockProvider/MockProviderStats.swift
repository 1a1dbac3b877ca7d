import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// What a ``MockProvider`` has served since it started or was last reset (`GET /mock/stats`).
///
/// Token counts are exactly the numbers the mock put in the `usage` of responses it finished
/// sending: a stream cut by `x-mock-reset: mid` or stalled by `x-mock-hang: mid` counts as a request
/// but adds no tokens, and an OpenAI stream without `stream_options.include_usage` reports no usage,
/// so it adds no tokens either. `input_tokens` is the provider's own input field as sent
/// (OpenAI `prompt_tokens` / `input_tokens`, which include the cached part; Anthropic `input_tokens`,
/// which excludes it); `cached_input_tokens` is OpenAI `cached_tokens` / Anthropic
/// `cache_read_input_tokens`. Requests to `/mock/...` are not counted.
///
/// The `sent_*_tokens` counts are the usage a client reading every byte the mock wrote would
/// have seen, whether or not the response was finished: for each response, the latest value
/// of each usage field written so far. A stream cut off (`x-mock-reset: mid`,
/// `x-mock-hang: mid`, the client gone) counts the usage of the events written before the
/// cut: an Anthropic stream's `message_start` (its input, and 1 output token), nothing for an
/// OpenAI stream (its usage comes last). For finished responses they equal the counts above.
public struct MockProviderStats: Sendable, Codable, Equatable {
    /// Per upstream model (the request's `model`; for Azure paths, the deployment): what that
    /// target saw, so a test can hold it against the attempts Sluice logged for it.
    public struct ModelStats: Sendable, Codable, Equatable {
        /// Requests naming this model (whatever happened to them).
        public var requests: Int = 0
        /// Responses that were sent completely and reported usage.
        public var completedResponses: Int = 0
        public var inputTokens: Int = 0
        public var outputTokens: Int = 0
        public var cachedInputTokens: Int = 0
        /// Usage written, finished or not (see ``MockProviderStats``).
        public var sentInputTokens: Int = 0
        public var sentOutputTokens: Int = 0
        public var sentCachedInputTokens: Int = 0
        /// Responses per HTTP status code (as a decimal string), errors included.
        public var statuses: [String: Int] = [:]
        /// Connections reset on purpose while answering this model.
        public var resets: Int = 0
        /// Responses to this model left hanging on purpose.
        public var hangs: Int = 0
        /// Requests that consumed a scripted fault other than `{}` (`POST /mock/faults`).
        public var faults: Int = 0

        public init() {}

        enum CodingKeys: String, CodingKey {
            case requests, statuses, resets, hangs, faults
            case completedResponses = "completed_responses"
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
            case cachedInputTokens = "cached_input_tokens"
            case sentInputTokens = "sent_input_tokens"
            case sentOutputTokens = "sent_output_tokens"
            case sentCachedInputTokens = "sent_cached_input_tokens"
        }
    }

    /// The most recent error response the mock sent (an injected or real 4xx/5xx).
    public struct LastError: Sendable, Codable, Equatable {
        public var status: Int
        /// The id in the response's `x-request-id` (OpenAI) or `request-id` (Anthropic)
        /// header, also written into the error's message: it marks a body as the mock's own.
        public var requestID: String
        /// The body exactly as sent.
        public var body: String

        public init(status: Int, requestID: String, body: String) {
            self.status = status
            self.requestID = requestID
            self.body = body
        }

        enum CodingKeys: String, CodingKey {
            case status, body
            case requestID = "request_id"
        }
    }

    /// The most recent request (not counting `/mock/...`).
    public struct LastRequest: Sendable, Codable, Equatable {
        public var method: String
        /// Path without the query string.
        public var path: String
        /// Header names lower-cased; repeated headers joined with ", ".
        public var headers: [String: String]
        /// The body as UTF-8 text.
        public var body: String
        /// The query string (after `?`, undecoded); empty when there was none.
        public var query: String

        public init(method: String, path: String, headers: [String: String], body: String, query: String = "") {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
            self.query = query
        }
    }

    /// Requests on Azure OpenAI deployment paths (`/openai/deployments/{deployment}/...`).
    public struct AzureStats: Sendable, Codable, Equatable {
        /// All of them, rejected ones (no `api-version`, no key) included.
        public var requests: Int = 0
        /// Requests per deployment named in the path.
        public var deployments: [String: Int] = [:]
        /// Requests per `api-version` query value (`""` when absent).
        public var apiVersions: [String: Int] = [:]
        /// The deployment, `api-version` and `api-key` header of the most recent one (nil: absent).
        public var lastDeployment: String?
        public var lastAPIVersion: String?
        public var lastAPIKey: String?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case requests, deployments
            case apiVersions = "api_versions"
            case lastDeployment = "last_deployment"
            case lastAPIVersion = "last_api_version"
            case lastAPIKey = "last_api_key"
        }
    }

    /// TCP connections that carried an API request, counted at their first one (connections
    /// that only ever asked `/mock/...`, like a test reading these stats, are left out).
    public var connections: Int = 0
    /// Of those, the ones that have closed, whichever side closed them (since the last reset,
    /// so it may count a connection opened before it).
    public var connectionsClosed: Int = 0
    /// All requests received.
    public var requests: Int = 0
    /// Requests per path (without query string).
    public var paths: [String: Int] = [:]
    /// Responses per HTTP status code (as a decimal string); resets and hangs have none.
    public var statuses: [String: Int] = [:]
    /// Per upstream model or Azure deployment (JSON `models`): requests, statuses, resets, hangs,
    /// scripted faults consumed and tokens.
    public var models: [String: ModelStats] = [:]
    /// Requests per credential: the value of `Authorization`, `x-api-key` and `api-key`.
    public var credentials: [String: Int] = [:]
    /// Occurrences of each request header name (lower-cased).
    public var headersSeen: [String: Int] = [:]
    public var lastRequest: LastRequest?
    /// The most recent error response (absent when none was sent).
    public var lastError: LastError?
    /// SSE events written (each `data:` block, `[DONE]` included).
    public var streamedEvents: Int = 0
    /// Responses (JSON or stream) sent completely.
    public var completedResponses: Int = 0
    /// Connections closed abruptly on purpose (`x-mock-reset`).
    public var resets: Int = 0
    /// Responses left hanging on purpose (`x-mock-hang`).
    public var hangs: Int = 0
    /// Sums over ``models``.
    public var inputTokens: Int = 0
    public var outputTokens: Int = 0
    public var cachedInputTokens: Int = 0
    /// Sums over ``models``: usage written, finished or not.
    public var sentInputTokens: Int = 0
    public var sentOutputTokens: Int = 0
    public var sentCachedInputTokens: Int = 0
    /// Azure deployment-path requests (see ``AzureStats``).
    public var azure = AzureStats()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case connections, requests, paths, statuses, models, credentials, resets, hangs, azure
        case connectionsClosed = "connections_closed"
        case headersSeen = "headers_seen"
        case lastRequest = "last_request"
        case lastError = "last_error"
        case streamedEvents = "streamed_events"
        case completedResponses = "completed_responses"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cachedInputTokens = "cached_input_tokens"
        case sentInputTokens = "sent_input_tokens"
        case sentOutputTokens = "sent_output_tokens"
        case sentCachedInputTokens = "sent_cached_input_tokens"
    }
}

/// Usage numbers exactly as written into a response.
struct ReportedUsage: Sendable, Equatable {
    var input: Int
    var cached: Int
    var output: Int
}

/// Thread-safe owner of the counters; shared by every connection of one ``MockProvider``.
final class StatsRecorder: Sendable {
    private struct State {
        var stats = MockProviderStats()
        var sequence: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Records an arriving request and returns its sequence number (0, 1, 2, ...).
    func recordRequest(head: HTTPRequestHead, path: String, query: Substring = "", body: ByteBuffer?, model: String?, azure: AzureRoute? = nil) -> UInt64 {
        var headerMap: [String: String] = [:]
        var names: [String] = []
        names.reserveCapacity(head.headers.count)
        var credentials: [String] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            names.append(lower)
            if let existing = headerMap[lower] {
                headerMap[lower] = existing + ", " + value
            } else {
                headerMap[lower] = value
            }
            if lower == "authorization" || lower == "x-api-key" || lower == "api-key" {
                credentials.append(value)
            }
        }
        let last = MockProviderStats.LastRequest(
            method: head.method.rawValue,
            path: path,
            headers: headerMap,
            body: body.map { String(buffer: $0) } ?? "",
            query: String(query)
        )
        return self.state.withLockedValue { state in
            let sequence = state.sequence
            state.sequence &+= 1
            state.stats.requests += 1
            state.stats.paths[path, default: 0] += 1
            for name in names {
                state.stats.headersSeen[name, default: 0] += 1
            }
            for credential in credentials {
                state.stats.credentials[credential, default: 0] += 1
            }
            if let model {
                state.stats.models[model, default: MockProviderStats.ModelStats()].requests += 1
            }
            state.stats.lastRequest = last
            if let azure {
                state.stats.azure.requests += 1
                state.stats.azure.deployments[azure.deployment, default: 0] += 1
                state.stats.azure.apiVersions[azure.apiVersion ?? "", default: 0] += 1
                state.stats.azure.lastDeployment = azure.deployment
                state.stats.azure.lastAPIVersion = azure.apiVersion
                state.stats.azure.lastAPIKey = headerMap["api-key"]
            }
            return sequence
        }
    }

    func recordConnection() {
        self.state.withLockedValue { $0.stats.connections += 1 }
    }

    func recordConnectionClosed() {
        self.state.withLockedValue { $0.stats.connectionsClosed += 1 }
    }

    /// A response head about to be written, for a request naming `model` (nil: none known).
    func recordStatus(_ code: Int, model: String?) {
        let key = String(code)
        self.state.withLockedValue { state in
            state.stats.statuses[key, default: 0] += 1
            if let model { state.stats.models[model, default: MockProviderStats.ModelStats()].statuses[key, default: 0] += 1 }
        }
    }

    /// An error response about to be written: its status is counted and it becomes ``MockProviderStats/lastError``.
    func recordError(_ error: MockProviderStats.LastError, model: String?) {
        let key = String(error.status)
        self.state.withLockedValue { state in
            state.stats.statuses[key, default: 0] += 1
            if let model { state.stats.models[model, default: MockProviderStats.ModelStats()].statuses[key, default: 0] += 1 }
            state.stats.lastError = error
        }
    }

    /// A request naming `model` consumed a scripted fault that changes its answer.
    func recordFault(model: String) {
        self.state.withLockedValue { $0.stats.models[model, default: MockProviderStats.ModelStats()].faults += 1 }
    }

    /// Usage fields about to be written: `change` is what they add to the response's usage
    /// so far (an Anthropic `message_delta` replaces `message_start`'s output count, so its
    /// change may be negative).
    func recordSentUsage(model: String, change: ReportedUsage) {
        self.state.withLockedValue { state in
            var entry = state.stats.models[model, default: MockProviderStats.ModelStats()]
            entry.sentInputTokens += change.input
            entry.sentOutputTokens += change.output
            entry.sentCachedInputTokens += change.cached
            state.stats.models[model] = entry
            state.stats.sentInputTokens += change.input
            state.stats.sentOutputTokens += change.output
            state.stats.sentCachedInputTokens += change.cached
        }
    }

    func addStreamedEvents(_ count: Int) {
        guard count > 0 else { return }
        self.state.withLockedValue { $0.stats.streamedEvents += count }
    }

    /// A response was (about to be) sent completely; `usage` is what it reported, if anything.
    func recordCompletion(model: String, usage: ReportedUsage?, streamedEvents: Int = 0) {
        self.state.withLockedValue { state in
            state.stats.streamedEvents += streamedEvents
            state.stats.completedResponses += 1
            guard let usage else { return }
            var entry = state.stats.models[model, default: MockProviderStats.ModelStats()]
            entry.completedResponses += 1
            entry.inputTokens += usage.input
            entry.outputTokens += usage.output
            entry.cachedInputTokens += usage.cached
            state.stats.models[model] = entry
            state.stats.inputTokens += usage.input
            state.stats.outputTokens += usage.output
            state.stats.cachedInputTokens += usage.cached
        }
    }

    func recordReset(model: String?) {
        self.state.withLockedValue { state in
            state.stats.resets += 1
            if let model { state.stats.models[model, default: MockProviderStats.ModelStats()].resets += 1 }
        }
    }

    func recordHang(model: String?) {
        self.state.withLockedValue { state in
            state.stats.hangs += 1
            if let model { state.stats.models[model, default: MockProviderStats.ModelStats()].hangs += 1 }
        }
    }

    func snapshot() -> MockProviderStats {
        self.state.withLockedValue { $0.stats }
    }

    func reset() {
        self.state.withLockedValue { $0 = State() }
    }
}
