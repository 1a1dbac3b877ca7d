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
        #expect(Set(policy.providers.keys) == ["openai", "anthropic"])
        #expect(policy.providers["openai"] == Provider(
            name: "openai", kind: .openai, baseURL: "https://api.openai.com", credential: .environment("OPENAI_API_KEY")
        ))
        #expect(policy.providers["anthropic"] == Provider(
            name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com",
            credential: .environment("ANTHROPIC_API_KEY")
        ))
        #expect(Set(policy.models.keys) == [
            "gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-3-5-haiku", "claude-sonnet-4",
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

    @Test("every model is reachable by its own name")
    func modelsReachable() throws {
        let policy = try PolicyLoader.load(contentsOf: path)
        for name in policy.models.keys {
            #expect(policy.model(named: name)?.name == name)
            #expect(policy.clientModelNames.contains(name))
        }
    }
}
