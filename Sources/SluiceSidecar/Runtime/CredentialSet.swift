import SluicePolicy

/// The provider secrets currently in force, by provider name. Immutable; the
/// ``CredentialWatcher`` builds a new set when a secret changes.
public struct CredentialSet: Sendable, Equatable {
    public var secrets: [String: String] {
        didSet { bearerValues = secrets.mapValues { "Bearer " + $0 } }
    }
    /// `Bearer <secret>` per provider, built once rather than per call.
    public private(set) var bearerValues: [String: String]

    public init(secrets: [String: String] = [:]) {
        self.secrets = secrets
        self.bearerValues = secrets.mapValues { "Bearer " + $0 }
    }

    /// Reads every provider's secret from its source: the environment given, or a file.
    /// A missing variable or unreadable file leaves the provider without a secret.
    public static func load(for policy: Policy, environment: [String: String], readFile: (String) -> String?) -> CredentialSet {
        var secrets: [String: String] = [:]
        for (name, provider) in policy.providers {
            switch provider.credential {
            case .environment(let variable)?:
                if let value = environment[variable]?.trimmingWhitespace(), !value.isEmpty { secrets[name] = value }
            case .file(let path)?:
                if let value = readFile(path)?.trimmingWhitespace(), !value.isEmpty { secrets[name] = value }
            case nil:
                break
            }
        }
        return CredentialSet(secrets: secrets)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
