/// The keys the policy loader accepts at each level of the file.
///
/// The loader decodes each mapping by switching over these key enums, so a key listed here is
/// necessarily handled, and any other key is reported as unknown. `config/policy.schema.json`
/// is checked against the `Set` constants by a test, so the schema cannot drift either.
public enum PolicyKeys {
    /// Top level of the file.
    public static let root = names(of: RootKey.self)
    /// An entry under `providers:`.
    public static let provider = names(of: ProviderKey.self)
    /// A provider's `credential:` mapping.
    public static let credential = names(of: CredentialKey.self)
    /// A provider's or a route's `timeouts:` mapping.
    public static let timeouts = names(of: TimeoutsKey.self)
    /// A provider's `breaker:` mapping.
    public static let breaker = names(of: BreakerKey.self)
    /// An entry under `models:`.
    public static let model = names(of: ModelKey.self)
    /// A model's `prices:` mapping.
    public static let prices = names(of: PricesKey.self)
    /// An item of `routes:`.
    public static let route = names(of: RouteKey.self)
    /// A route's `match:` mapping.
    public static let match = names(of: MatchKey.self)
    /// An item of a route's `targets:`.
    public static let target = names(of: TargetKey.self)
    /// A route's `retry:` mapping.
    public static let retry = names(of: RetryKey.self)
    /// A route's `degrade:` mapping.
    public static let degrade = names(of: DegradeKey.self)
    /// The `when:` mapping of a route's `degrade:`.
    public static let degradeWhen = names(of: DegradeWhenKey.self)
    /// A route's `fallback_reply:` mapping.
    public static let fallbackReply = names(of: FallbackReplyKey.self)

    private static func names<Key: PolicyKey>(of _: Key.Type) -> Set<String> {
        Set(Key.allCases.map(\.rawValue))
    }
}

/// The keys of one kind of mapping in the policy file, in the order they are documented.
package protocol PolicyKey: RawRepresentable, CaseIterable, Hashable, Sendable where RawValue == String {
    /// Keys that must be present.
    static var required: Set<Self> { get }
}

package enum RootKey: String, PolicyKey {
    case providers, models, routes
    package static let required: Set<RootKey> = [.providers, .models]
}

package enum ProviderKey: String, PolicyKey {
    case kind
    case baseURL = "base_url"
    case credential
    case caFile = "ca_file"
    case apiVersion = "api_version"
    case deployments
    case headers
    case maxConnections = "max_connections"
    case timeouts
    case breaker
    package static let required: Set<ProviderKey> = [.kind, .baseURL]
}

package enum CredentialKey: String, PolicyKey {
    case env, file
    package static let required: Set<CredentialKey> = []
}

package enum ModelKey: String, PolicyKey {
    case provider
    case upstreamModel = "upstream_model"
    case prices
    case aliases
    package static let required: Set<ModelKey> = [.provider]
}

package enum PricesKey: String, PolicyKey {
    case input, output
    case cachedInput = "cached_input"
    package static let required: Set<PricesKey> = []
}

package enum RouteKey: String, PolicyKey {
    case name, match, targets, fallbacks, timeouts, retry, degrade
    case fallbackReply = "fallback_reply"
    package static let required: Set<RouteKey> = [.name, .targets]
}

package enum MatchKey: String, PolicyKey {
    case model, feature, path
    package static let required: Set<MatchKey> = []
}

package enum TargetKey: String, PolicyKey {
    case model, weight
    package static let required: Set<TargetKey> = [.model]
}

package enum TimeoutsKey: String, PolicyKey {
    case connect, head
    case firstToken = "first_token"
    case idle, total
    package static let required: Set<TimeoutsKey> = []
}

package enum BreakerKey: String, PolicyKey {
    case consecutiveFailures = "consecutive_failures"
    case failureRatio = "failure_ratio"
    case window
    case minCalls = "min_calls"
    case openFor = "open_for"
    case probes
    package static let required: Set<BreakerKey> = []
}

package enum RetryKey: String, PolicyKey {
    case attempts, backoff
    case maxBackoff = "max_backoff"
    case budgetPercent = "budget_percent"
    case budgetFloor = "budget_floor"
    package static let required: Set<RetryKey> = []
}

package enum DegradeKey: String, PolicyKey {
    case when, to
    package static let required: Set<DegradeKey> = [.when, .to]
}

package enum DegradeWhenKey: String, PolicyKey {
    case latencyP95Over = "latency_p95_over"
    case breakerOpen = "breaker_open"
    package static let required: Set<DegradeWhenKey> = []
}

package enum FallbackReplyKey: String, PolicyKey {
    case content
    package static let required: Set<FallbackReplyKey> = [.content]
}
