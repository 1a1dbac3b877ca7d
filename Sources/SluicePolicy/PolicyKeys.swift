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
    case name, match, targets, fallbacks
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
