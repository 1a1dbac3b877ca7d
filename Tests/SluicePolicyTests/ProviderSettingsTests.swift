import Foundation
import Testing
import SluicePolicy

/// Provider settings: the Azure OpenAI keys, extra headers, the connection cap, timeouts and
/// the circuit breaker; decoded values, defaults and every rule.
@Suite("Provider settings")
struct ProviderSettingsTests {
    /// An Azure provider (lines 1-5, settings from line 6) serving `gpt-4o` and `mini`
    /// (upstream `gpt-4o-mini-2024`), and an OpenAI provider serving `other`.
    private func azure(_ lines: String) -> String {
        """
        providers:
          azure:
            kind: azure-openai
            base_url: https://example.openai.azure.com
            api_version: "2024-10-21"

        """ + lines + """

          openai:
            kind: openai
            base_url: https://api.openai.com
        models:
          gpt-4o:
            provider: azure
          mini:
            provider: azure
            upstream_model: gpt-4o-mini-2024
          other:
            provider: openai
        """
    }

    @Test("every provider key is decoded")
    func decodesEverything() throws {
        let policy = try PolicyLoader.load(yaml: azure("""
                deployments: { gpt-4o: prod-gpt4o, gpt-4o-mini-2024: mini.v2 }
                headers: { x-team: search, OpenAI-Beta: "assistants=v2" }
                max_connections: 64
                timeouts: { connect: 2s, head: 30s, first_token: 10s, idle: 45s, total: 120s }
                breaker: { consecutive_failures: 3, failure_ratio: 0.25, window: 1m, min_calls: 20, open_for: 15s, probes: 2 }
            """), file: "p.yaml")
        #expect(policy.providers["azure"] == Provider(
            name: "azure", kind: .azureOpenAI, baseURL: "https://example.openai.azure.com",
            apiVersion: "2024-10-21",
            deployments: ["gpt-4o": "prod-gpt4o", "gpt-4o-mini-2024": "mini.v2"],
            headers: ["x-team": "search", "OpenAI-Beta": "assistants=v2"],
            maxConnections: 64,
            timeouts: Timeouts(connect: 2_000, head: 30_000, firstToken: 10_000, idle: 45_000, total: 120_000),
            breaker: BreakerSettings(
                consecutiveFailures: 3, failureRatio: 0.25, windowMilliseconds: 60_000, minimumCalls: 20,
                openForMilliseconds: 15_000, probes: 2
            )
        ))
    }

    @Test("keys left out take the Swift defaults, which are the documented ones")
    func defaults() throws {
        let policy = try PolicyLoader.load(yaml: minimalPolicy, file: "p.yaml")
        let provider = try #require(policy.providers["openai"])
        #expect(provider.apiVersion == nil)
        #expect(provider.deployments.isEmpty)
        #expect(provider.headers.isEmpty)
        #expect(provider.maxConnections == nil)
        #expect(provider.timeouts == Timeouts(connect: nil, head: nil, firstToken: nil, idle: nil, total: nil))
        #expect(provider.breaker == BreakerSettings())
        // The values issue 9 and the schema document.
        #expect(provider.breaker == BreakerSettings(
            consecutiveFailures: 5, failureRatio: 0.5, windowMilliseconds: 30_000, minimumCalls: 10,
            openForMilliseconds: 30_000, probes: 1
        ))
    }

    @Test("a breaker with some keys keeps the defaults of the others")
    func partialBreaker() throws {
        let policy = try PolicyLoader.load(yaml: minimalPolicy.replacingOccurrences(
            of: "base_url: https://api.openai.com", with: "base_url: https://api.openai.com\n    breaker: { probes: 3 }\n    timeouts: { idle: 5s }"
        ), file: "p.yaml")
        var expected = BreakerSettings()
        expected.probes = 3
        #expect(policy.providers["openai"]?.breaker == expected)
        #expect(policy.providers["openai"]?.timeouts == Timeouts(idle: 5_000))
    }

    // MARK: Azure OpenAI

    @Test("api_version is required for azure-openai")
    func apiVersionRequired() {
        #expect(problems("""
            providers:
              azure:
                kind: azure-openai
                base_url: https://example.openai.azure.com
            models:
              gpt-4o:
                provider: azure
            """) == [
            #"p.yaml:3:5: providers.azure.api_version: missing required key "api_version" for kind azure-openai, e.g. api_version: "2024-10-21""#,
        ])
    }

    @Test("an unquoted api_version is a date to YAML; the hint says to quote it")
    func apiVersionDate() {
        #expect(problems("""
            providers:
              azure:
                kind: azure-openai
                base_url: https://example.openai.azure.com
                api_version: 2024-10-21
            models:
              gpt-4o:
                provider: azure
            """) == [
            #"p.yaml:5:18: providers.azure.api_version: expected a string, got a date; quote it if "2024-10-21" is meant as text"#,
        ])
    }

    @Test("api_version must be safe in a query string")
    func apiVersionCharacters() {
        #expect(problems("""
            providers:
              azure:
                kind: azure-openai
                base_url: https://example.openai.azure.com
                api_version: "2024-10-21&x=1"
            models:
              gpt-4o:
                provider: azure
            """) == [
            #"p.yaml:5:18: providers.azure.api_version: invalid api_version "2024-10-21&x=1"; use letters, digits, "-", "." and "_", e.g. "2024-10-21""#,
        ])
        #expect(problems("""
            providers:
              azure:
                kind: azure-openai
                base_url: https://example.openai.azure.com
                api_version: 2024-10-01-preview
            models:
              gpt-4o:
                provider: azure
            """) == [])
    }

    @Test("api_version and deployments are refused on other kinds")
    func azureKeysElsewhere() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                api_version: "2024-10-21"
              anthropic:
                kind: anthropic
                base_url: https://api.anthropic.com
                deployments:
                  claude: prod-claude
            models:
              claude:
                provider: anthropic
            """) == [
            #"p.yaml:5:18: providers.openai.api_version: only applies to kind azure-openai; this provider is openai"#,
            #"p.yaml:10:7: providers.anthropic.deployments: only applies to kind azure-openai; this provider is anthropic"#,
        ])
    }

    @Test("deployments are keyed by the upstream model of one of the provider's models")
    func deploymentKeys() {
        #expect(problems(azure("""
                deployments:
                  gpt-4: a
                  gpt-4o-mini: b
                  other: c
                  gpt-4o-mini-2024: d
            """)) == [
            #"p.yaml:7:7: providers.azure.deployments.gpt-4: no model of provider "azure" has upstream model "gpt-4"; did you mean "gpt-4o"?"#,
            #"p.yaml:8:7: providers.azure.deployments.gpt-4o-mini: no model of provider "azure" has upstream model "gpt-4o-mini"; its models' upstream names: gpt-4o, gpt-4o-mini-2024"#,
            #"p.yaml:9:7: providers.azure.deployments.other: no model of provider "azure" has upstream model "other"; its models' upstream names: gpt-4o, gpt-4o-mini-2024"#,
        ])
    }

    @Test("deployment names must be safe in a URL path")
    func deploymentNames() {
        #expect(problems(azure("""
                deployments: { gpt-4o: "prod/gpt4o", gpt-4o-mini-2024: "" }
            """)) == [
            #"p.yaml:6:28: providers.azure.deployments.gpt-4o: invalid deployment name "prod/gpt4o"; use letters, digits, "-", "." and "_""#,
            "p.yaml:6:60: providers.azure.deployments.gpt-4o-mini-2024: must not be empty",
        ])
    }

    // MARK: Headers

    @Test("headers may not carry credentials or the sidecar's own headers", arguments: [
        ("Authorization", #""authorization": the sidecar sends the provider's credential (see credential)"#),
        ("x-api-key", #""x-api-key": the sidecar sends the provider's credential (see credential)"#),
        ("api-key", #""api-key": the sidecar sends the provider's credential (see credential)"#),
        ("Host", #""host": the sidecar sets connection, framing and encoding headers itself"#),
        ("content-length", #""content-length": the sidecar sets connection, framing and encoding headers itself"#),
        ("Transfer-Encoding", #""transfer-encoding": the sidecar sets connection, framing and encoding headers itself"#),
        ("connection", #""connection": the sidecar sets connection, framing and encoding headers itself"#),
        ("proxy-anything", #""proxy-anything": the sidecar sets connection, framing and encoding headers itself"#),
        ("x-request-id", #""x-request-id": the sidecar sets it on every call"#),
        ("X-Sluice-Feature", #""x-sluice-feature": the sidecar sets it on every call"#),
    ])
    func forbiddenHeader(name: String, reason: String) {
        #expect(problems(azure("    headers: { \(name): v }")) == [
            "p.yaml:6:16: providers.azure.headers.\(name): must not set \(reason)",
        ])
    }

    @Test("header names are tokens, set once; values are printable ASCII")
    func headerSyntax() {
        #expect(problems(azure(#"""
                headers:
                  "x team": a
                  X-Team: a
                  x-team: b
                  x-newline: "a\r\nInjected: yes"
                  x-bell: "a\x07"
                  x-accent: "café"
                  x-padded: " a"
                  x-trailing: "a "
                  x-number: 3
                  x-tab: "a\tb"
            """#)) == [
            #"p.yaml:7:7: providers.azure.headers.x team: invalid header name "x team": use letters, digits and !#$%&'*+-.^_`|~"#,
            #"p.yaml:9:7: providers.azure.headers.x-team: header "x-team" is already set as "X-Team" on line 8"#,
            "p.yaml:10:18: providers.azure.headers.x-newline: must not contain control characters (such as a line break)",
            "p.yaml:11:15: providers.azure.headers.x-bell: must not contain control characters (such as a line break)",
            "p.yaml:12:17: providers.azure.headers.x-accent: must contain only ASCII characters",
            "p.yaml:13:17: providers.azure.headers.x-padded: must not start with a space",
            "p.yaml:14:19: providers.azure.headers.x-trailing: must not end with a space",
            #"p.yaml:15:17: providers.azure.headers.x-number: expected a string, got a number; quote it if "3" is meant as text"#,
        ])
    }

    // MARK: Connection cap and breaker

    @Test("max_connections is 1…10000", arguments: [0, -1, 10_001])
    func connectionCapRefused(cap: Int) {
        #expect(problems(azure("    max_connections: \(cap)")) == [
            "p.yaml:6:22: providers.azure.max_connections: must be between 1 and 10000, got \(cap)",
        ])
    }

    @Test("max_connections at its bounds", arguments: [1, 10_000])
    func connectionCapAccepted(cap: Int) throws {
        let policy = try PolicyLoader.load(yaml: azure("    max_connections: \(cap)"), file: "p.yaml")
        #expect(policy.providers["azure"]?.maxConnections == cap)
    }

    @Test("breaker counts are at least 1; the failure ratio is in (0, 1]")
    func breakerBounds() {
        #expect(problems(azure("""
                breaker:
                  consecutive_failures: 0
                  failure_ratio: 0
                  window: 0s
                  min_calls: 0
                  open_for: -1s
                  probes: 0
            """)) == [
            "p.yaml:7:29: providers.azure.breaker.consecutive_failures: must be >= 1, got 0",
            "p.yaml:8:22: providers.azure.breaker.failure_ratio: must be greater than 0 and at most 1, got 0",
            "p.yaml:9:15: providers.azure.breaker.window: must be greater than 0, got 0s",
            "p.yaml:10:18: providers.azure.breaker.min_calls: must be >= 1, got 0",
            "p.yaml:11:17: providers.azure.breaker.open_for: must be greater than 0, got -1s",
            "p.yaml:12:15: providers.azure.breaker.probes: must be >= 1, got 0",
        ])
        #expect(problems(azure("    breaker: { failure_ratio: 1.01 }")) == [
            "p.yaml:6:31: providers.azure.breaker.failure_ratio: must be greater than 0 and at most 1, got 1.01",
        ])
        #expect(problems(azure("    breaker: { failure_ratio: 1, consecutive_failures: 1, min_calls: 1, probes: 1 }")) == [])
        #expect(problems(azure("    breaker: { failure_ratio: 0.001 }")) == [])
    }

    @Test("misspelt keys in provider settings get suggestions")
    func unknownKeys() {
        #expect(problems(azure("""
                max_conections: 4
                breaker: { probe: 2 }
                timeouts: { first-token: 1s, connection: 1s }
            """)) == [
            #"p.yaml:6:5: providers.azure.max_conections: unknown key "max_conections"; did you mean "max_connections"?"#,
            #"p.yaml:7:16: providers.azure.breaker.probe: unknown key "probe"; did you mean "probes"?"#,
            #"p.yaml:8:17: providers.azure.timeouts.first-token: unknown key "first-token"; did you mean "first_token"?"#,
            #"p.yaml:8:34: providers.azure.timeouts.connection: unknown key "connection"; expected one of: connect, head, first_token, idle, total"#,
        ])
    }
}
