import NIOCore
import NIOSSL
import SluicePolicy
import SluiceWire

/// A provider ready for calls: parsed endpoint and, for HTTPS, its TLS context.
///
/// A class, built once per snapshot: calls and attempts hold references to it, so handing
/// a target around costs one retain, not a copy of every field.
public final class ResolvedProvider: Sendable {
    public let name: String
    public let family: APIFamily
    public let endpoint: UpstreamEndpoint
    /// Built once per snapshot: creating a TLS context loads the trust store.
    public let tlsContext: NIOSSLContext?
    public let credential: CredentialSource?
    public let kind: ProviderKind
    /// Azure OpenAI: the `api-version` query parameter.
    public let apiVersion: String?
    /// Azure OpenAI: upstream model name → deployment.
    public let deployments: [String: String]
    /// Extra request headers for every call to this provider.
    public let extraHeaders: [(String, String)]
    /// The operator's connection cap for this provider (nil: the sidecar's default).
    public let maxConnections: Int?
    public let timeouts: Timeouts
    /// Its retry budget, shared by every loop and kept across policy reloads.
    public let health: ProviderHealth

    public init(
        name: String, family: APIFamily, endpoint: UpstreamEndpoint, tlsContext: NIOSSLContext?, credential: CredentialSource?,
        kind: ProviderKind = .openai, apiVersion: String? = nil, deployments: [String: String] = [:], extraHeaders: [(String, String)] = [],
        maxConnections: Int? = nil, timeouts: Timeouts = Timeouts(), health: ProviderHealth
    ) {
        self.name = name
        self.family = family
        self.endpoint = endpoint
        self.tlsContext = tlsContext
        self.credential = credential
        self.kind = kind
        self.apiVersion = apiVersion
        self.deployments = deployments
        self.extraHeaders = extraHeaders
        self.maxConnections = maxConnections
        self.timeouts = timeouts
        self.health = health
    }
}

/// A model as the router hands it to later stages (a class, for the same reason).
public final class ResolvedModel: Sendable {
    public let name: String
    public let upstreamModel: String
    public let prices: Prices
    public let provider: ResolvedProvider
    /// Its breaker and latency window, shared by every loop and kept across reloads.
    public let health: TargetHealth

    public init(name: String, upstreamModel: String, prices: Prices, provider: ResolvedProvider, health: TargetHealth) {
        self.name = name
        self.upstreamModel = upstreamModel
        self.prices = prices
        self.provider = provider
        self.health = health
    }
}

/// A route with its weights pre-summed for a quick weighted pick.
public struct CompiledRoute: Sendable {
    public var name: String
    public var match: RouteMatch
    public var targets: [ResolvedModel]
    /// Each target's weight (at least 1), in target order.
    public var weights: [Int]
    public var fallbacks: [ResolvedModel]
    public var timeouts: Timeouts
    public var retry: RetrySettings
    /// The degrade rule and the model it sends calls to.
    public var degrade: (rule: DegradeRule, to: ResolvedModel)?
    public var fallbackReply: FallbackReply?
}

/// The policy compiled for the hot path: every lookup a request needs is one dictionary
/// access. Immutable; a new policy produces a new snapshot, swapped in per event loop.
public final class RuntimeSnapshot: Sendable {
    public let policy: Policy
    /// Identifies the policy version (a hash of its source text, or a control-plane version).
    public let version: String
    public let modelsByClientName: [String: ResolvedModel]
    public let providers: [String: ResolvedProvider]
    public let routes: [CompiledRoute]
    /// Breakers, latency windows and retry budgets (outlive the snapshot).
    public let health: HealthRegistry
    /// Pre-rendered `GET /v1/models` answers.
    public let openAIModelList: String
    public let anthropicModelList: String

    /// Why a policy could not be compiled (bad TLS material, an unusable base URL).
    public struct CompileError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(policy: Policy, version: String, health: HealthRegistry = HealthRegistry()) throws {
        self.policy = policy
        self.version = version
        self.health = health
        var providers: [String: ResolvedProvider] = [:]
        for (name, provider) in policy.providers {
            guard let endpoint = UpstreamEndpoint(baseURL: provider.baseURL) else {
                throw CompileError(description: "provider \(name): base_url \(provider.baseURL) is not an http(s) URL")
            }
            var tls: NIOSSLContext?
            if endpoint.useTLS {
                var configuration = TLSConfiguration.makeClientConfiguration()
                if let caFile = provider.caFile {
                    do {
                        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                    } catch {
                        throw CompileError(description: "provider \(name): cannot read ca_file \(caFile): \(error)")
                    }
                }
                do {
                    tls = try NIOSSLContext(configuration: configuration)
                } catch {
                    throw CompileError(description: "provider \(name): TLS setup failed: \(error)")
                }
            }
            let family: APIFamily = provider.kind == .anthropic ? .anthropic : .openai
            providers[name] = ResolvedProvider(
                name: name, family: family, endpoint: endpoint, tlsContext: tls, credential: provider.credential,
                kind: provider.kind, apiVersion: provider.apiVersion, deployments: provider.deployments,
                extraHeaders: provider.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                maxConnections: provider.maxConnections, timeouts: provider.timeouts, health: health.provider(name)
            )
        }
        var resolvedByModelName: [String: ResolvedModel] = [:]
        for (name, model) in policy.models {
            guard let provider = providers[model.provider] else {
                throw CompileError(description: "model \(name): unknown provider \(model.provider)")
            }
            let breaker = policy.providers[model.provider]?.breaker ?? BreakerSettings()
            resolvedByModelName[name] = ResolvedModel(
                name: name, upstreamModel: model.upstreamModel, prices: model.prices, provider: provider,
                health: health.target(provider: provider.name, model: name, breaker: breaker)
            )
        }
        var byName = resolvedByModelName
        for model in policy.models.values {
            for alias in model.aliases where byName[alias] == nil {
                byName[alias] = resolvedByModelName[model.name]
            }
        }
        self.providers = providers
        self.modelsByClientName = byName
        self.routes = try policy.routes.map { route in
            let targets = try route.targets.map { target -> ResolvedModel in
                guard let model = resolvedByModelName[target.model] else {
                    throw CompileError(description: "route \(route.name): unknown model \(target.model)")
                }
                return model
            }
            let weights = route.targets.map { max(1, $0.weight) }
            let fallbacks = route.fallbacks.compactMap { resolvedByModelName[$0] }
            let degrade = route.degrade.flatMap { rule in resolvedByModelName[rule.to].map { (rule: rule, to: $0) } }
            return CompiledRoute(
                name: route.name, match: route.match, targets: targets, weights: weights, fallbacks: fallbacks,
                timeouts: route.timeouts, retry: route.retry, degrade: degrade, fallbackReply: route.fallbackReply
            )
        }
        let names = policy.clientModelNames
        self.openAIModelList = "{\"object\":\"list\",\"data\":[" + names.map { name in
            let owner = byName[name]?.provider.name ?? "sluice"
            return "{\"id\":\(JSONText.quoted(name)),\"object\":\"model\",\"created\":0,\"owned_by\":\(JSONText.quoted(owner))}"
        }.joined(separator: ",") + "]}"
        let anthropicEntries = names.map { name in
            "{\"type\":\"model\",\"id\":\(JSONText.quoted(name)),\"display_name\":\(JSONText.quoted(name)),\"created_at\":\"1970-01-01T00:00:00Z\"}"
        }
        let first = names.first.map(JSONText.quoted) ?? "null"
        let last = names.last.map(JSONText.quoted) ?? "null"
        self.anthropicModelList = "{\"data\":[" + anthropicEntries.joined(separator: ",") + "],\"has_more\":false,\"first_id\":\(first),\"last_id\":\(last)}"
    }
}
