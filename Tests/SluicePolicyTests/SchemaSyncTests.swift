import Foundation
import Testing
import SluicePolicy

/// `config/policy.schema.json` must accept exactly the keys the loader accepts.
@Suite("Schema sync")
struct SchemaSyncTests {
    private static func loadSchema() throws -> [String: Any] {
        let url = repositoryRoot.appendingPathComponent("config/policy.schema.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any])
    }

    /// Follows a local `$ref` ("#/$defs/name"), or returns the object itself.
    private static func resolve(_ object: [String: Any], in schema: [String: Any]) throws -> [String: Any] {
        guard let ref = object["$ref"] as? String else { return object }
        let name = try #require(ref.split(separator: "/").last.map(String.init))
        let defs = try #require(schema["$defs"] as? [String: Any])
        return try #require(defs[name] as? [String: Any], "unresolved \(ref)")
    }

    private static func child(_ object: [String: Any], _ key: String, in schema: [String: Any]) throws -> [String: Any] {
        let value = try #require(object[key] as? [String: Any], "no \(key)")
        return try resolve(value, in: schema)
    }

    private static func property(_ object: [String: Any], _ name: String, in schema: [String: Any]) throws -> [String: Any] {
        let properties = try child(object, "properties", in: schema)
        return try child(properties, name, in: schema)
    }

    /// Every object schema for a level of the file, by name.
    private static func levels() throws -> [(name: String, object: [String: Any], keys: Set<String>)] {
        let schema = try loadSchema()
        let provider = try child(property(schema, "providers", in: schema), "additionalProperties", in: schema)
        let model = try child(property(schema, "models", in: schema), "additionalProperties", in: schema)
        let route = try child(property(schema, "routes", in: schema), "items", in: schema)
        let target = try child(property(route, "targets", in: schema), "items", in: schema)
        let degrade = try property(route, "degrade", in: schema)
        return [
            ("root", schema, PolicyKeys.root),
            ("provider", provider, PolicyKeys.provider),
            ("credential", try property(provider, "credential", in: schema), PolicyKeys.credential),
            ("model", model, PolicyKeys.model),
            ("prices", try property(model, "prices", in: schema), PolicyKeys.prices),
            ("route", route, PolicyKeys.route),
            ("match", try property(route, "match", in: schema), PolicyKeys.match),
            ("target", target, PolicyKeys.target),
            ("provider timeouts", try property(provider, "timeouts", in: schema), PolicyKeys.timeouts),
            ("breaker", try property(provider, "breaker", in: schema), PolicyKeys.breaker),
            ("route timeouts", try property(route, "timeouts", in: schema), PolicyKeys.timeouts),
            ("retry", try property(route, "retry", in: schema), PolicyKeys.retry),
            ("degrade", degrade, PolicyKeys.degrade),
            ("degrade when", try property(degrade, "when", in: schema), PolicyKeys.degradeWhen),
            ("fallback reply", try property(route, "fallback_reply", in: schema), PolicyKeys.fallbackReply),
        ]
    }

    @Test("property names at every level equal the loader's keys")
    func propertyNamesMatch() throws {
        for level in try Self.levels() {
            let properties = try #require(level.object["properties"] as? [String: Any], "\(level.name)")
            #expect(Set(properties.keys) == level.keys, "level \(level.name)")
        }
    }

    @Test("every level forbids other properties")
    func closedObjects() throws {
        for level in try Self.levels() {
            #expect(level.object["additionalProperties"] as? Bool == false, "level \(level.name)")
        }
    }

    @Test("required keys match the loader's")
    func requiredKeysMatch() throws {
        let expected: [String: Set<String>] = [
            "root": Self.names(RootKey.required), "provider": Self.names(ProviderKey.required),
            "credential": Self.names(CredentialKey.required), "model": Self.names(ModelKey.required),
            "prices": Self.names(PricesKey.required), "route": Self.names(RouteKey.required),
            "match": Self.names(MatchKey.required), "target": Self.names(TargetKey.required),
            "provider timeouts": Self.names(TimeoutsKey.required), "breaker": Self.names(BreakerKey.required),
            "route timeouts": Self.names(TimeoutsKey.required), "retry": Self.names(RetryKey.required),
            "degrade": Self.names(DegradeKey.required), "degrade when": Self.names(DegradeWhenKey.required),
            "fallback reply": Self.names(FallbackReplyKey.required),
        ]
        for level in try Self.levels() {
            let required = Set(level.object["required"] as? [String] ?? [])
            #expect(required == expected[level.name], "level \(level.name)")
        }
    }

    @Test("every field has a description")
    func descriptions() throws {
        let schema = try Self.loadSchema()
        for level in try Self.levels() {
            let properties = try #require(level.object["properties"] as? [String: Any])
            for (name, value) in properties {
                let field = try Self.resolve(try #require(value as? [String: Any]), in: schema)
                #expect(field["description"] is String, "\(level.name).\(name)")
            }
        }
    }

    @Test("the provider kind enum lists every ProviderKind")
    func kindEnum() throws {
        let schema = try Self.loadSchema()
        let provider = try Self.child(Self.property(schema, "providers", in: schema), "additionalProperties", in: schema)
        let kind = try Self.property(provider, "kind", in: schema)
        #expect(Set(kind["enum"] as? [String] ?? []) == Set(ProviderKind.allCases.map(\.rawValue)))
    }

    @Test("the schema's defaults equal the Swift defaults")
    func defaultsMatch() throws {
        let schema = try Self.loadSchema()
        let defs = try #require(schema["$defs"] as? [String: Any])
        func defaultValue(_ def: String, _ key: String) throws -> Double {
            let object = try #require(defs[def] as? [String: Any])
            let properties = try #require(object["properties"] as? [String: Any])
            let field = try #require(properties[key] as? [String: Any], "\(def).\(key)")
            return try #require((field["default"] as? NSNumber)?.doubleValue, "\(def).\(key) has no default")
        }
        let breaker = BreakerSettings()
        #expect(try defaultValue("breaker", "consecutive_failures") == Double(breaker.consecutiveFailures))
        #expect(try defaultValue("breaker", "failure_ratio") == breaker.failureRatio)
        #expect(try defaultValue("breaker", "min_calls") == Double(breaker.minimumCalls))
        #expect(try defaultValue("breaker", "probes") == Double(breaker.probes))
        let retry = RetrySettings()
        #expect(try defaultValue("retry", "attempts") == Double(retry.attempts))
        #expect(try defaultValue("retry", "budget_percent") == retry.budgetPercent)
        #expect(try defaultValue("retry", "budget_floor") == Double(retry.budgetFloor))
    }

    private static func names<Key: PolicyKey>(_ keys: Set<Key>) -> Set<String> {
        Set(keys.map(\.rawValue))
    }
}
