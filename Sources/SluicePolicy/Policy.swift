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
    case openai
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

    public init(name: String, kind: ProviderKind, baseURL: String, credential: CredentialSource? = nil, caFile: String? = nil) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.credential = credential
        self.caFile = caFile
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

    public init(name: String, match: RouteMatch = RouteMatch(), targets: [RouteTarget], fallbacks: [String] = []) {
        self.name = name
        self.match = match
        self.targets = targets
        self.fallbacks = fallbacks
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
