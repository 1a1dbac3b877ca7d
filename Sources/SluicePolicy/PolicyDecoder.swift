import Yams

/// Walks the YAML node tree into a ``PolicyDraft``, reporting what is wrong with the file's
/// shape: unknown keys, wrong types, missing required keys, empty required collections and
/// empty strings. Rules about values and cross-references are ``PolicyValidator``'s job.
struct PolicyDecoder {
    var diagnostics: DiagnosticCollector

    init(file: String) {
        diagnostics = DiagnosticCollector(file: file)
    }

    mutating func decode(_ root: Node?) -> PolicyDraft {
        var draft = PolicyDraft()
        guard let root, !root.isNull else {
            for key in RootKey.allCases where RootKey.required.contains(key) {
                diagnostics.report(Self.missingKey(key.rawValue), at: .start, field: key.rawValue)
            }
            return draft
        }
        guard let mapping = expectMapping(root, field: "") else { return draft }
        for entry in entries(of: mapping, field: "", as: RootKey.self) {
            switch entry.key {
            case .providers:
                draft.providers = namedEntries(entry.value, field: entry.field, noun: "provider")
                    .map { decodeProvider(name: $0.name, node: $0.value) }
            case .models:
                draft.models = namedEntries(entry.value, field: entry.field, noun: "model")
                    .map { decodeModel(name: $0.name, node: $0.value) }
            case .routes:
                draft.routes = items(entry.value, field: entry.field, allowNull: true)
                    .map { decodeRoute(node: $0.node, field: $0.field) }
            }
        }
        return draft
    }

    // MARK: Sections

    private mutating func decodeProvider(name: Located<String>, node: Node) -> ProviderDraft {
        var draft = ProviderDraft(name: name, position: node.position)
        guard let mapping = expectMapping(node, field: name.field) else { return draft }
        draft.position = mapping.position
        for entry in entries(of: mapping, field: name.field, as: ProviderKey.self) {
            switch entry.key {
            case .kind: draft.kind = string(entry.value, field: entry.field)
            case .baseURL: draft.baseURL = string(entry.value, field: entry.field)
            case .credential: draft.credential = decodeCredential(entry.value, field: entry.field)
            case .caFile: draft.caFile = string(entry.value, field: entry.field)
            case .apiVersion:
                draft.hasAPIVersion = true
                draft.apiVersion = string(entry.value, field: entry.field)
            case .deployments:
                draft.deployments = Located(
                    value: stringMap(entry.value, field: entry.field), position: entry.value.position, field: entry.field
                )
            case .headers: draft.headers = stringMap(entry.value, field: entry.field)
            case .maxConnections: draft.maxConnections = integer(entry.value, field: entry.field)
            case .timeouts: draft.timeouts = decodeTimeouts(entry.value, field: entry.field)
            case .breaker: draft.breaker = decodeBreaker(entry.value, field: entry.field)
            }
        }
        return draft
    }

    private mutating func decodeCredential(_ node: Node, field: String) -> CredentialDraft? {
        guard let mapping = expectMapping(node, field: field) else { return nil }
        var draft = CredentialDraft(position: node.position, field: field)
        for entry in entries(of: mapping, field: field, as: CredentialKey.self) {
            switch entry.key {
            case .env:
                draft.hasEnv = true
                draft.env = string(entry.value, field: entry.field)
            case .file:
                draft.hasFile = true
                draft.file = string(entry.value, field: entry.field)
            }
        }
        return draft
    }

    private mutating func decodeModel(name: Located<String>, node: Node) -> ModelDraft {
        var draft = ModelDraft(name: name)
        guard let mapping = expectMapping(node, field: name.field) else { return draft }
        for entry in entries(of: mapping, field: name.field, as: ModelKey.self) {
            switch entry.key {
            case .provider: draft.provider = string(entry.value, field: entry.field)
            case .upstreamModel: draft.upstreamModel = string(entry.value, field: entry.field)
            case .prices: decodePrices(entry.value, field: entry.field, into: &draft)
            case .aliases: draft.aliases = strings(entry.value, field: entry.field)
            }
        }
        return draft
    }

    private mutating func decodePrices(_ node: Node, field: String, into draft: inout ModelDraft) {
        guard let mapping = expectMapping(node, field: field) else { return }
        for entry in entries(of: mapping, field: field, as: PricesKey.self) {
            switch entry.key {
            case .input: draft.input = number(entry.value, field: entry.field)
            case .output: draft.output = number(entry.value, field: entry.field)
            case .cachedInput: draft.cachedInput = number(entry.value, field: entry.field)
            }
        }
    }

    private mutating func decodeRoute(node: Node, field: String) -> RouteDraft {
        var draft = RouteDraft()
        guard let mapping = expectMapping(node, field: field) else { return draft }
        for entry in entries(of: mapping, field: field, as: RouteKey.self) {
            switch entry.key {
            case .name: draft.name = string(entry.value, field: entry.field)
            case .match: decodeMatch(entry.value, field: entry.field, into: &draft)
            case .targets:
                let targets = items(entry.value, field: entry.field, allowNull: true)
                if targets.isEmpty, entry.value.isNull || entry.value.sequence != nil {
                    diagnostics.report("must list at least one target", at: entry.value.position, field: entry.field)
                }
                draft.targets = targets.map { decodeTarget(node: $0.node, field: $0.field) }
            case .fallbacks: draft.fallbacks = strings(entry.value, field: entry.field)
            case .timeouts: draft.timeouts = decodeTimeouts(entry.value, field: entry.field)
            case .retry: draft.retry = decodeRetry(entry.value, field: entry.field)
            case .degrade: draft.degrade = decodeDegrade(entry.value, field: entry.field)
            case .fallbackReply: draft.fallbackReply = decodeFallbackReply(entry.value, field: entry.field)
            }
        }
        return draft
    }

    private mutating func decodeMatch(_ node: Node, field: String, into draft: inout RouteDraft) {
        guard !node.isNull, let mapping = expectMapping(node, field: field) else { return }
        for entry in entries(of: mapping, field: field, as: MatchKey.self) {
            switch entry.key {
            case .model: draft.matchModel = string(entry.value, field: entry.field)
            case .feature: draft.matchFeature = string(entry.value, field: entry.field)
            case .path: draft.matchPath = string(entry.value, field: entry.field)
            }
        }
    }

    private mutating func decodeTarget(node: Node, field: String) -> TargetDraft {
        var draft = TargetDraft()
        if case .scalar(let scalar) = node, node.isStringScalar {
            diagnostics.report(
                "expected a mapping, got a string; write \"- model: \(scalar.string)\"",
                at: node.position, field: field
            )
            return draft
        }
        guard let mapping = expectMapping(node, field: field) else { return draft }
        for entry in entries(of: mapping, field: field, as: TargetKey.self) {
            switch entry.key {
            case .model: draft.model = string(entry.value, field: entry.field)
            case .weight: draft.weight = integer(entry.value, field: entry.field)
            }
        }
        return draft
    }

    // MARK: Structure

    struct Entry<Key> {
        var key: Key
        var value: Node
        var field: String
    }

    /// The known entries of `mapping`, in file order. Reports unknown keys (with a suggestion
    /// when one is close) and missing required keys (at the mapping).
    mutating func entries<Key: PolicyKey>(
        of mapping: Node.Mapping, field: String, as _: Key.Type
    ) -> [Entry<Key>] {
        var result: [Entry<Key>] = []
        var seen = Set<Key>()
        for (keyNode, value) in mapping {
            guard let name = keyName(keyNode, field: field) else { continue }
            let keyField = FieldPath.join(field, name)
            guard let key = Key(rawValue: name) else {
                let known = Key.allCases.map(\.rawValue)
                let hint = Suggestions.closest(to: name, in: known).map { "; did you mean \"\($0)\"?" }
                    ?? "; expected one of: \(known.joined(separator: ", "))"
                diagnostics.report("unknown key \"\(name)\"\(hint)", at: keyNode.position, field: keyField)
                continue
            }
            seen.insert(key)
            result.append(Entry(key: key, value: value, field: keyField))
        }
        for key in Key.allCases where Key.required.contains(key) && !seen.contains(key) {
            diagnostics.report(
                Self.missingKey(key.rawValue), at: mapping.position, field: FieldPath.join(field, key.rawValue)
            )
        }
        return result
    }

    /// The entries of a name → definition mapping (`providers:`, `models:`), which must not be empty.
    mutating func namedEntries(
        _ node: Node, field: String, noun: String
    ) -> [(name: Located<String>, value: Node)] {
        if node.isNull {
            diagnostics.report("must define at least one \(noun)", at: node.position, field: field)
            return []
        }
        guard let mapping = expectMapping(node, field: field) else { return [] }
        if mapping.isEmpty {
            diagnostics.report("must define at least one \(noun)", at: node.position, field: field)
        }
        var result: [(name: Located<String>, value: Node)] = []
        for (keyNode, value) in mapping {
            guard let name = keyName(keyNode, field: field) else { continue }
            guard !name.isEmpty, !keyNode.isNull else {
                diagnostics.report("\(noun) name must not be empty", at: keyNode.position, field: field)
                continue
            }
            result.append((Located(value: name, position: keyNode.position, field: FieldPath.join(field, name)), value))
        }
        return result
    }

    /// The items of a list, each with its indexed field path. A null value is an empty list
    /// when `allowNull` is set.
    mutating func items(_ node: Node, field: String, allowNull: Bool) -> [(node: Node, field: String)] {
        if allowNull, node.isNull { return [] }
        guard case .sequence(let sequence) = node else {
            diagnostics.report("expected a list, got \(node.kindDescription)", at: node.position, field: field)
            return []
        }
        return sequence.enumerated().map { ($0.element, FieldPath.index(field, $0.offset)) }
    }

    mutating func keyName(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node else {
            diagnostics.report("expected a key name, got \(node.kindDescription)", at: node.position, field: field)
            return nil
        }
        return scalar.string
    }

    mutating func expectMapping(_ node: Node, field: String) -> Node.Mapping? {
        guard case .mapping(let mapping) = node else {
            diagnostics.report("expected a mapping, got \(node.kindDescription)", at: node.position, field: field)
            return nil
        }
        return mapping
    }

    // MARK: Scalars

    mutating func string(_ node: Node, field: String) -> Located<String>? {
        guard case .scalar(let scalar) = node, node.isStringScalar else {
            var message = "expected a string, got \(node.kindDescription)"
            if case .scalar(let scalar) = node, !node.isNull {
                message += "; quote it if \"\(scalar.string)\" is meant as text"
            }
            diagnostics.report(message, at: node.position, field: field)
            return nil
        }
        guard !scalar.string.isEmpty else {
            diagnostics.report("must not be empty", at: node.position, field: field)
            return nil
        }
        return Located(value: scalar.string, position: node.position, field: field)
    }

    /// A list of non-empty strings; null is an empty list.
    mutating func strings(_ node: Node, field: String) -> [Located<String>] {
        items(node, field: field, allowNull: true).compactMap { string($0.node, field: $0.field) }
    }

    mutating func number(_ node: Node, field: String) -> Located<Double>? {
        if case .scalar = node {
            let value: Double? = switch node.tagName {
            case .int: node.int.map(Double.init) ?? node.float
            case .float: node.float
            default: nil
            }
            if let value {
                return Located(value: value, position: node.position, field: field)
            }
        }
        diagnostics.report("expected a number, got \(node.kindDescription)", at: node.position, field: field)
        return nil
    }

    mutating func integer(_ node: Node, field: String) -> Located<Int>? {
        if case .scalar(let scalar) = node {
            switch node.tagName {
            case .int:
                if let value = node.int {
                    return Located(value: value, position: node.position, field: field)
                }
                diagnostics.report("integer \(scalar.string) is out of range", at: node.position, field: field)
                return nil
            case .float:
                diagnostics.report("expected an integer, got \(scalar.string)", at: node.position, field: field)
                return nil
            default:
                break
            }
        }
        diagnostics.report("expected an integer, got \(node.kindDescription)", at: node.position, field: field)
        return nil
    }

    static func missingKey(_ key: String) -> String {
        "missing required key \"\(key)\""
    }
}
