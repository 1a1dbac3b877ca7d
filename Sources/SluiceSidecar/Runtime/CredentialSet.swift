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
        load(for: policy, environment: environment, readFile: readFile, previous: nil).credentials
    }

    /// Reads every provider's secret from its source, keeping the last good one when the
    /// source is briefly bad.
    ///
    /// A Kubernetes Secret update truncates the file and then writes it, so a re-read can
    /// see it empty (or missing, mid-swap of the `..data` link). Such a read, and a secret
    /// that would be unsafe in a header (a control character such as CR or LF inside it,
    /// after trimming surrounding whitespace), never replaces a working key: the provider
    /// keeps its secret from `previous` (or has none on a first load), and the problem is
    /// returned so the caller can log it, once per change.
    ///
    /// - Parameters:
    ///   - policy: the providers and where each one's secret comes from.
    ///   - environment: the process environment, read once at start.
    ///   - readFile: the file's contents, or nil when it cannot be read.
    ///   - previous: the set in force now; nil on the first load.
    /// - Returns: the new set, and one problem per provider whose source was unusable.
    public static func load(
        for policy: Policy, environment: [String: String], readFile: (String) -> String?,
        previous: CredentialSet?
    ) -> (credentials: CredentialSet, problems: [CredentialProblem]) {
        var secrets: [String: String] = [:]
        var problems: [CredentialProblem] = []
        for (name, provider) in policy.providers.sorted(by: { $0.key < $1.key }) {
            guard let source = provider.credential else { continue }
            let raw: String?
            switch source {
            case .environment(let variable): raw = environment[variable]
            case .file(let path): raw = readFile(path)
            }
            let kept = previous?.secrets[name]
            switch validate(raw) {
            case .success(let secret):
                secrets[name] = secret
            case .failure(let kind):
                secrets[name] = kept
                problems.append(CredentialProblem(provider: name, source: source, kind: kind, keptPrevious: kept != nil))
            }
        }
        return (CredentialSet(secrets: secrets), problems)
    }

    /// The trimmed secret, or why it cannot be used.
    static func validate(_ raw: String?) -> Result<String, CredentialProblem.Kind> {
        guard let raw else { return .failure(.unreadable) }
        let trimmed = raw.trimmingWhitespace()
        guard !trimmed.isEmpty else { return .failure(.empty) }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .failure(.controlCharacter)
        }
        return .success(trimmed)
    }
}

/// A provider whose credential source could not be used on a load, and what was done.
public struct CredentialProblem: Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the source.
    public enum Kind: Sendable, Equatable, Error {
        /// The variable is unset, or the file missing or unreadable.
        case unreadable
        /// Empty or only whitespace (a file mid-rewrite).
        case empty
        /// A control character (CR, LF, NUL, ...) inside the secret: it would let the
        /// secret inject headers, so it is never sent.
        case controlCharacter
    }

    public var provider: String
    public var source: CredentialSource
    public var kind: Kind
    /// Whether the provider kept its previous secret (false: it has none).
    public var keptPrevious: Bool

    public var description: String {
        let what: String
        switch source {
        case .environment(let variable): what = "environment variable \(variable)"
        case .file(let path): what = "file \(path)"
        }
        let why: String
        switch kind {
        case .unreadable: why = "is unset or unreadable"
        case .empty: why = "is empty"
        case .controlCharacter: why = "contains a control character (such as CR or LF) and is rejected"
        }
        let then = keptPrevious ? "keeping the previous secret" : "the provider has no secret; calls to it go out unauthenticated"
        return "credential for provider \(provider): \(what) \(why); \(then)"
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
