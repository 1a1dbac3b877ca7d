import Foundation
import Testing
import SluicePolicy

/// The shipped `config/policy.yaml` must load cleanly and say what it documents.
@Suite("Shipped example")
struct ExampleConfigTests {
    private let path = repositoryRoot.appendingPathComponent("config/policy.yaml").path

    @Test("config/policy.yaml loads with no diagnostics")
    func loadsCleanly() throws {
        let policy: Policy
        do {
            policy = try PolicyLoader.load(contentsOf: path)
        } catch {
            Issue.record("config/policy.yaml has problems:\n\(error.description)")
            return
        }
        #expect(Set(policy.providers.keys) == ["openai", "anthropic", "azure"])
        #expect(policy.providers["openai"] == Provider(
            name: "openai", kind: .openai, baseURL: "https://api.openai.com", credential: .environment("OPENAI_API_KEY")
        ))
        #expect(policy.providers["anthropic"] == Provider(
            name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com",
            credential: .environment("ANTHROPIC_API_KEY")
        ))
        #expect(Set(policy.models.keys) == [
            "gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-3-5-haiku", "claude-sonnet-4", "gpt-4o-azure",
        ])
        #expect(policy.models["gpt-4o-mini"]?.prices == Prices(input: 0.15, output: 0.60, cachedInput: 0.075))
        #expect(policy.models["gpt-4o"]?.prices == Prices(input: 2.50, output: 10.00, cachedInput: 1.25))
        #expect(policy.models["text-embedding-3-small"]?.prices == Prices(input: 0.02, output: 0, cachedInput: 0))
        #expect(policy.models["claude-3-5-haiku"]?.upstreamModel == "claude-3-5-haiku-latest")
        #expect(policy.models["claude-3-5-haiku"]?.prices == Prices(input: 0.80, output: 4.00, cachedInput: 0.08))
        #expect(policy.models["claude-sonnet-4"]?.upstreamModel == "claude-sonnet-4-20250514")
        #expect(policy.models["claude-sonnet-4"]?.prices == Prices(input: 3.00, output: 15.00, cachedInput: 0.30))
        #expect(policy.model(named: "fast")?.name == "gpt-4o-mini")
        #expect(policy.model(named: "smart")?.name == "gpt-4o")
        #expect(policy.model(named: "claude-fast")?.name == "claude-3-5-haiku")

        let search = policy.routes.first { $0.name == "search-fast" }
        #expect(search?.match == RouteMatch(model: "fast", feature: "search"))
        #expect(search?.targets == [RouteTarget(model: "gpt-4o-mini", weight: 1)])
        #expect(search?.fallbacks == ["gpt-4o"])
    }

    @Test("the example shows every provider and route setting")
    func resilienceExample() throws {
        let policy = try PolicyLoader.load(contentsOf: path)
        #expect(policy.providers["azure"] == Provider(
            name: "azure", kind: .azureOpenAI, baseURL: "https://example.openai.azure.com",
            credential: .environment("AZURE_OPENAI_API_KEY"), apiVersion: "2024-10-21",
            deployments: ["gpt-4o": "prod-gpt4o"], headers: ["x-team": "search"], maxConnections: 64,
            timeouts: Timeouts(connect: 2_000, head: 30_000, firstToken: 10_000, idle: 30_000, total: 120_000),
            breaker: BreakerSettings(
                consecutiveFailures: 5, failureRatio: 0.5, windowMilliseconds: 30_000, minimumCalls: 10,
                openForMilliseconds: 30_000, probes: 1
            )
        ))
        #expect(policy.models["gpt-4o-azure"]?.provider == "azure")
        #expect(policy.models["gpt-4o-azure"]?.upstreamModel == "gpt-4o")
        let chat = try #require(policy.routes.first { $0.name == "chat" })
        // Only calls that ask for it (x-sluice-feature: chat) take this route: `sluice dev`
        // and the SDK tests call the same models without it and must keep their path.
        #expect(chat.match == RouteMatch(feature: "chat", path: "/v1/chat/completions"))
        #expect(chat.targets == [RouteTarget(model: "gpt-4o")])
        #expect(chat.fallbacks == ["gpt-4o-azure", "claude-sonnet-4"])
        #expect(chat.timeouts == Timeouts(head: 20_000, total: 60_000))
        #expect(chat.retry == RetrySettings(
            attempts: 3, backoffMilliseconds: 200, maxBackoffMilliseconds: 5_000, budgetPercent: 20, budgetFloor: 3
        ))
        #expect(chat.degrade == DegradeRule(latencyP95OverMilliseconds: 5_000, breakerOpen: true, to: "gpt-4o-mini"))
        #expect(chat.fallbackReply == FallbackReply(content: "The assistant is busy; try again shortly."))
    }

    @Test("every model is reachable by its own name")
    func modelsReachable() throws {
        let policy = try PolicyLoader.load(contentsOf: path)
        for name in policy.models.keys {
            #expect(policy.model(named: name)?.name == name)
            #expect(policy.clientModelNames.contains(name))
        }
    }
}
