import Foundation
import Testing
import SluicePolicy

@Suite("Loading")
struct LoadingTests {
    @Test("a valid file becomes the typed policy, with defaults filled in")
    func loadsValidFixture() throws {
        let path = try #require(fixturePath("valid.yaml"))
        let policy = try PolicyLoader.load(contentsOf: path)

        #expect(policy.providers == [
            "local": Provider(
                name: "local", kind: .openai, baseURL: "http://127.0.0.1:8080/mock",
                credential: .file("/run/secrets/key"), caFile: "/etc/ssl/ca.pem"
            ),
        ])
        #expect(policy.models["small"] == Model(
            name: "small", provider: "local", upstreamModel: "small",
            prices: Prices(input: 1, output: 2, cachedInput: 1), aliases: ["tiny", "mini"]
        ))
        #expect(policy.models["large"] == Model(
            name: "large", provider: "local", upstreamModel: "large-2025", prices: Prices(), aliases: []
        ))
        #expect(policy.routes == [
            Route(
                name: "everything", match: RouteMatch(),
                targets: [RouteTarget(model: "small", weight: 1), RouteTarget(model: "large", weight: 4)],
                fallbacks: ["large", "small"]
            ),
        ])
        #expect(policy.model(named: "tiny")?.name == "small")
    }

    @Test("the minimal policy loads: routes are optional")
    func loadsMinimal() throws {
        let policy = try PolicyLoader.load(yaml: minimalPolicy, file: "p.yaml")
        #expect(policy.providers["openai"]?.credential == nil)
        #expect(policy.models["m"]?.upstreamModel == "m")
        #expect(policy.routes.isEmpty)
    }

    @Test("an environment credential and a match are read")
    func loadsCredentialAndMatch() throws {
        let policy = try PolicyLoader.load(yaml: """
            providers:
              a:
                kind: anthropic
                base_url: https://api.anthropic.com
                credential: { env: ANTHROPIC_API_KEY }
            models:
              haiku:
                provider: a
                prices: { input: 0.8, output: 4, cached_input: 0.08 }
            routes:
              - name: r
                match: { model: haiku, feature: search, path: /v1/messages }
                targets: [{ model: haiku, weight: 2 }]
            """, file: "p.yaml")
        #expect(policy.providers["a"]?.credential == .environment("ANTHROPIC_API_KEY"))
        #expect(policy.providers["a"]?.kind == .anthropic)
        #expect(policy.models["haiku"]?.prices == Prices(input: 0.8, output: 4, cachedInput: 0.08))
        #expect(policy.routes.first?.match == RouteMatch(model: "haiku", feature: "search", path: "/v1/messages"))
        #expect(policy.routes.first?.targets == [RouteTarget(model: "haiku", weight: 2)])
    }

    @Test("empty (null) optional lists count as empty")
    func nullListsAreEmpty() throws {
        let policy = try PolicyLoader.load(yaml: minimalPolicy + "\n    aliases:\nroutes:\n", file: "p.yaml")
        #expect(policy.models["m"]?.aliases == [])
        #expect(policy.routes == [])
    }

    @Test("every problem is reported at once, sorted by position, as FILE:LINE:COLUMN: field: message")
    func reportsEverythingInOrder() throws {
        let path = try #require(fixturePath("many-errors.yaml"))
        let error = try #require(throws: PolicyError.self) { try PolicyLoader.load(contentsOf: path) }
        let expected = """
            4:5: providers.openai.base_url: missing required key "base_url"
            4:11: providers.openai.kind: invalid value "azure"; expected one of: openai, azure-openai, anthropic
            5:5: providers.openai.basse_url: unknown key "basse_url"; did you mean "base_url"?
            6:17: providers.openai.credential: set only one of "env" or "file", not both
            9:15: models.gpt-4o-mini.provider: undefined provider "opneai"; did you mean "openai"?
            10:22: models.gpt-4o-mini.prices.input: must be >= 0, got -0.15
            10:37: models.gpt-4o-mini.prices.output: expected a number, got a string
            14:15: models.gpt-4o.aliases[0]: alias "fast" is already used by model "gpt-4o-mini"
            17:14: routes[0].targets: must list at least one target
            18:11: routes[1].name: duplicate route name "r"; first used on line 16
            19:20: routes[1].match.path: must start with "/", e.g. "/v1/chat/completions"
            21:16: routes[1].targets[0].model: "fast" is an alias of model "gpt-4o-mini"; name the model itself
            22:17: routes[1].targets[0].weight: must be >= 1, got 0
            23:17: routes[1].fallbacks[0]: undefined model "gpt-5"; did you mean "gpt-4o"?
            24:1: limits: unknown key "limits"; expected one of: providers, models, routes
            """
            .split(separator: "\n").map { "\(path):\($0)" }
        #expect(error.diagnostics.map(\.description) == expected)
        #expect(error.description == expected.joined(separator: "\n"))
        let positions = error.diagnostics.map { [$0.line, $0.column] }
        #expect(positions == positions.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) })
    }

    @Test("diagnostic description formats")
    func descriptionFormat() {
        let diagnostic = PolicyDiagnostic(file: "f.yaml", line: 3, column: 7, field: "models.m.provider", message: "boom")
        #expect(diagnostic.description == "f.yaml:3:7: models.m.provider: boom")
        let whole = PolicyDiagnostic(file: "f.yaml", line: 1, column: 1, field: "", message: "boom")
        #expect(whole.description == "f.yaml:1:1: boom")
    }

    @Test("PolicyError sorts by line then column and keeps ties in order")
    func errorSorts() {
        func at(_ line: Int, _ column: Int, _ message: String) -> PolicyDiagnostic {
            PolicyDiagnostic(file: "f", line: line, column: column, field: "x", message: message)
        }
        let error = PolicyError(diagnostics: [at(2, 1, "c"), at(1, 9, "b"), at(1, 2, "a"), at(2, 1, "d")])
        #expect(error.diagnostics.map(\.message) == ["a", "b", "c", "d"])
    }

    @Test("a missing file is one diagnostic at 1:1 with an empty field")
    func missingFile() throws {
        let error = try #require(throws: PolicyError.self) {
            try PolicyLoader.load(contentsOf: "/nonexistent/sluice/policy.yaml")
        }
        #expect(error.description == "/nonexistent/sluice/policy.yaml:1:1: cannot read policy file: no such file")
    }

    @Test("a directory is not a policy file")
    func directory() throws {
        let error = try #require(throws: PolicyError.self) {
            try PolicyLoader.load(contentsOf: NSTemporaryDirectory())
        }
        #expect(error.diagnostics.count == 1)
        #expect(error.diagnostics.first?.line == 1)
        #expect(error.diagnostics.first?.column == 1)
        #expect(error.diagnostics.first?.field == "")
        #expect(error.diagnostics.first?.message == "cannot read policy file: it is a directory")
    }

    @Test("an empty file lacks providers and models")
    func emptyFile() {
        #expect(problems("") == [
            #"p.yaml:1:1: providers: missing required key "providers""#,
            #"p.yaml:1:1: models: missing required key "models""#,
        ])
        #expect(problems("# only a comment\n") == problems(""))
    }

    @Test("a YAML syntax error is one diagnostic at Yams' position")
    func syntaxError() {
        let found = diagnostics("""
            providers:
              openai:
                kind: openai
               base_url: https://api.openai.com
            """)
        #expect(found.count == 1)
        #expect(found.first?.line == 4)
        #expect(found.first?.column == 4)
        #expect(found.first?.field == "")
        #expect(found.first?.message.hasPrefix("invalid YAML: ") == true)
    }

    @Test("an unclosed flow mapping is a syntax error")
    func unclosedFlow() {
        let found = diagnostics("providers: { openai: {kind: openai}\nmodels: {}\n")
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.field == "")
    }

    @Test("a duplicate key is reported at its first occurrence")
    func duplicateKey() {
        let found = diagnostics("""
            providers:
              openai:
                kind: openai
                kind: anthropic
                base_url: https://api.openai.com
            """)
        #expect(found.map(\.description) == [#"p.yaml:3:5: duplicate key "kind""#])
    }

    @Test("two YAML documents are rejected")
    func twoDocuments() {
        let found = diagnostics(minimalPolicy + "\n---\n" + minimalPolicy)
        #expect(found.count == 1)
        #expect(found.first?.line == 8)
        #expect(found.first?.message.contains("another document") == true)
    }

    @Test("a root that is not a mapping")
    func rootNotMapping() {
        #expect(problems("- a\n- b\n") == ["p.yaml:1:1: expected a mapping, got a list"])
    }
}
