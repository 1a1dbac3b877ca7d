/// The operator's policy: providers, models with prices and aliases, and routes.
///
/// A `Policy` is a plain, immutable value built by ``PolicyLoader`` from YAML and checked
/// by ``PolicyValidator``. Later sections (`limits`, `budgets`, `lanes`) join it as the
/// stages that use them arrive; the loader already rejects them as unknown keys until then.
public struct Policy: Sendable, Equatable {
    /// Upstream providers by name (the key under `providers:`).
    public var providers: [String: Provider]
    /// Models by name (the key under `models:`).
    public var models: [String: Model]
    /// Routes in file order; the first whose `match` fits a call wins.
    public var routes: [Route]

    public init(providers: [String: Provider] = [:], models: [String: Model] = [:], routes: [Route] = []) {
        self.providers = providers
        self.models = models
        self.routes = routes
    }
}

/// The wire protocol a provider speaks, which also fixes how credentials are sent.
public enum ProviderKind: String, Sendable, Equatable, CaseIterable {
    /// OpenAI, or any OpenAI-compatible server (vLLM, Ollama, Groq, Together…) by base URL:
    /// `Authorization: Bearer`, paths as the client sent them.
    case openai
    /// Azure OpenAI: `/openai/deployments/{deployment}/…?api-version=…`, `api-key` header.
    case azureOpenAI = "azure-openai"
    /// Anthropic: `x-api-key` and `anthropic-version` headers.
    case anthropic
}

/// One upstream provider: where it is, how to authenticate, how to trust its TLS.
public struct Provider: Sendable, Equatable {
    public var name: String
    public var kind: ProviderKind
    /// Scheme, host, optional port and optional path prefix, e.g. `https://api.openai.com`.
    /// The upstream path is the prefix followed by the incoming path (`/v1/chat/completions`).
    public var baseURL: String
    public var credential: CredentialSource?
    /// PEM file with the CA certificates to trust instead of the system store.
    public var caFile: String?
    /// Azure OpenAI: the `api-version` query parameter sent on every call.
    public var apiVersion: String?
    /// Azure OpenAI: upstream model name → deployment name (a model without an entry uses
    /// its upstream model name as the deployment).
    public var deployments: [String: String]
    /// Extra request headers sent to this provider on every call (never credentials).
    public var headers: [String: String]
    /// Most connections the sidecar keeps open to this provider; nil = the sidecar's default.
    public var maxConnections: Int?
    /// This provider's timeouts; a route's own timeouts override them field by field.
    public var timeouts: Timeouts
    /// When this provider's targets stop being called for a while.
    public var breaker: BreakerSettings

    public init(
        name: String, kind: ProviderKind, baseURL: String, credential: CredentialSource? = nil, caFile: String? = nil,
        apiVersion: String? = nil, deployments: [String: String] = [:], headers: [String: String] = [:],
        maxConnections: Int? = nil, timeouts: Timeouts = Timeouts(), breaker: BreakerSettings = BreakerSettings()
    ) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.credential = credential
        self.caFile = caFile
        self.apiVersion = apiVersion
        self.deployments = deployments
        self.headers = headers
        self.maxConnections = maxConnections
        self.timeouts = timeouts
        self.breaker = breaker
    }
}

/// Time limits of an upstream call, in milliseconds. Every field is optional: a route's
/// value wins over its provider's, which wins over the sidecar's command-line default.
public struct Timeouts: Sendable, Equatable {
    /// To get a connection: open one (TCP and TLS) or wait for a pooled one to come free.
    public var connect: Int?
    /// From the start of an attempt to the provider's response head.
    public var head: Int?
    /// Streams: from the response head to the first event.
    public var firstToken: Int?
    /// Longest silence between body bytes once the answer has begun.
    public var idle: Int?
    /// The whole call, every attempt and backoff included (a client's
    /// `x-sluice-timeout-ms` may shorten it, never lengthen it).
    public var total: Int?

    public init(connect: Int? = nil, head: Int? = nil, firstToken: Int? = nil, idle: Int? = nil, total: Int? = nil) {
        self.connect = connect
        self.head = head
        self.firstToken = firstToken
        self.idle = idle
        self.total = total
    }

    /// These timeouts with `other`'s unset fields filled from `self`.
    public func overridden(by other: Timeouts) -> Timeouts {
        Timeouts(
            connect: other.connect ?? connect, head: other.head ?? head, firstToken: other.firstToken ?? firstToken,
            idle: other.idle ?? idle, total: other.total ?? total
        )
    }
}

/// A per-target circuit breaker's settings (a target is one provider and one model).
public struct BreakerSettings: Sendable, Equatable {
    /// Opens after this many failures in a row.
    public var consecutiveFailures: Int
    /// Opens when failures reach this share of the calls in the window…
    public var failureRatio: Double
    /// …counted over this sliding window (milliseconds)…
    public var windowMilliseconds: Int
    /// …once the window holds at least this many calls.
    public var minimumCalls: Int
    /// Stays open this long (milliseconds) before letting probes through.
    public var openForMilliseconds: Int
    /// Calls let through while half-open; all must succeed to close.
    public var probes: Int

    public init(consecutiveFailures: Int = 5, failureRatio: Double = 0.5, windowMilliseconds: Int = 30_000, minimumCalls: Int = 10, openForMilliseconds: Int = 30_000, probes: Int = 1) {
        self.consecutiveFailures = consecutiveFailures
        self.failureRatio = failureRatio
        self.windowMilliseconds = windowMilliseconds
        self.minimumCalls = minimumCalls
        self.openForMilliseconds = openForMilliseconds
        self.probes = probes
    }
}

/// How a route retries a failed attempt on the same target.
public struct RetrySettings: Sendable, Equatable {
    /// Attempts per target, the first included (1 = no retries). Each fallback gets as many.
    public var attempts: Int
    /// First backoff (milliseconds); doubles per retry, with full jitter.
    public var backoffMilliseconds: Int
    /// Longest backoff (milliseconds).
    public var maxBackoffMilliseconds: Int
    /// Retries to one provider may be at most this percent of its recent calls…
    public var budgetPercent: Double
    /// …plus this many.
    public var budgetFloor: Int

    public init(attempts: Int = 1, backoffMilliseconds: Int = 200, maxBackoffMilliseconds: Int = 5_000, budgetPercent: Double = 20, budgetFloor: Int = 3) {
        self.attempts = attempts
        self.backoffMilliseconds = backoffMilliseconds
        self.maxBackoffMilliseconds = maxBackoffMilliseconds
        self.budgetPercent = budgetPercent
        self.budgetFloor = budgetFloor
    }
}

/// Sends a route's calls to a cheaper or faster model while its chosen target is unwell.
public struct DegradeRule: Sendable, Equatable {
    /// Degrade when the target's recent p95 latency (milliseconds) is above this.
    public var latencyP95OverMilliseconds: Int?
    /// Degrade when the target's breaker is open.
    public var breakerOpen: Bool
    /// The model name (a key under `models:`) to send the call to instead.
    public var to: String

    public init(latencyP95OverMilliseconds: Int? = nil, breakerOpen: Bool = false, to: String) {
        self.latencyP95OverMilliseconds = latencyP95OverMilliseconds
        self.breakerOpen = breakerOpen
        self.to = to
    }
}

/// The answer of last resort (`fallback: static`): a completion with this content in the
/// caller's format, marked `x-sluice-fallback: static`.
public struct FallbackReply: Sendable, Equatable {
    public var content: String

    public init(content: String) {
        self.content = content
    }
}

/// Where the sidecar reads a provider's API key. Apps never hold it.
public enum CredentialSource: Sendable, Equatable {
    /// An environment variable of the sidecar process.
    case environment(String)
    /// A file (typically a mounted Kubernetes Secret), re-read when it changes.
    case file(String)
}

/// USD per one million tokens.
public struct Prices: Sendable, Equatable {
    public var input: Double
    public var output: Double
    /// Price of input tokens served from the provider's prompt cache; defaults to `input`.
    public var cachedInput: Double

    public init(input: Double = 0, output: Double = 0, cachedInput: Double? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput ?? input
    }
}

/// A model the operator exposes: which provider serves it, under which name, at what price.
public struct Model: Sendable, Equatable {
    public var name: String
    public var provider: String
    /// The model name sent upstream; defaults to `name`.
    public var upstreamModel: String
    public var prices: Prices
    /// Other names clients may use for this model.
    public var aliases: [String]

    public init(name: String, provider: String, upstreamModel: String? = nil, prices: Prices = Prices(), aliases: [String] = []) {
        self.name = name
        self.provider = provider
        self.upstreamModel = upstreamModel ?? name
        self.prices = prices
        self.aliases = aliases
    }
}

/// Which calls a route applies to. Every field that is set must match.
public struct RouteMatch: Sendable, Equatable {
    /// The model name as the client sent it (an alias or a model name).
    public var model: String?
    /// The `x-sluice-feature` attribution value.
    public var feature: String?
    /// The request path, e.g. `/v1/chat/completions`.
    public var path: String?

    public init(model: String? = nil, feature: String? = nil, path: String? = nil) {
        self.model = model
        self.feature = feature
        self.path = path
    }
}

/// One weighted primary target of a route.
public struct RouteTarget: Sendable, Equatable {
    /// A model name (a key under `models:`).
    public var model: String
    /// Relative share of traffic among the route's targets; defaults to 1.
    public var weight: Int

    public init(model: String, weight: Int = 1) {
        self.model = model
        self.weight = weight
    }
}

/// A named rule mapping matching calls to weighted targets and an ordered fallback list.
public struct Route: Sendable, Equatable {
    public var name: String
    public var match: RouteMatch
    public var targets: [RouteTarget]
    /// Model names tried in order when the targets fail (used by the resilience stages).
    public var fallbacks: [String]
    /// Time limits; unset fields come from the provider, then the sidecar's defaults.
    public var timeouts: Timeouts
    public var retry: RetrySettings
    public var degrade: DegradeRule?
    /// The answer when every target and fallback failed; nil = the last failure is relayed.
    public var fallbackReply: FallbackReply?

    public init(
        name: String, match: RouteMatch = RouteMatch(), targets: [RouteTarget], fallbacks: [String] = [],
        timeouts: Timeouts = Timeouts(), retry: RetrySettings = RetrySettings(), degrade: DegradeRule? = nil, fallbackReply: FallbackReply? = nil
    ) {
        self.name = name
        self.match = match
        self.targets = targets
        self.fallbacks = fallbacks
        self.timeouts = timeouts
        self.retry = retry
        self.degrade = degrade
        self.fallbackReply = fallbackReply
    }
}

extension Policy {
    /// The model a client-facing name (model name or alias) refers to, if any.
    public func model(named nameOrAlias: String) -> Model? {
        if let model = models[nameOrAlias] { return model }
        return models.values.first { $0.aliases.contains(nameOrAlias) }
    }

    /// Every client-facing name: model names and aliases, sorted.
    public var clientModelNames: [String] {
        var names = Set(models.keys)
        for model in models.values { names.formUnion(model.aliases) }
        return names.sorted()
    }
}
