import Foundation
import Testing
@testable import SluicePolicy
import Yams

/// YAML anchors and aliases: a shared block still loads; a small file that expands to a huge
/// tree is refused at once instead of walked (found with the FuzzPolicy harness).
@Suite("Alias expansion")
struct AliasExpansionTests {
    @Test("an anchor shared by several providers loads")
    func sharedAnchorLoads() throws {
        let yaml = """
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                credential: &key { env: OPENAI_API_KEY }
              second:
                kind: openai
                base_url: https://example.com
                credential: *key
            models:
              m:
                provider: openai
            """
        let policy = try PolicyLoader.load(yaml: yaml, file: "p.yaml")
        #expect(policy.providers["second"]?.credential == policy.providers["openai"]?.credential)
        #expect(policy.providers["second"]?.credential != nil)
    }

    @Test("a file that aliases expand past the node budget is refused with one diagnostic")
    func amplificationRefused() {
        // 400 routes of 400 targets: 160,000 targets (over 480,000 nodes) from about 16 KB.
        let yaml = """
            x-targets: &t [\(Array(repeating: "{ model: m }", count: 400).joined(separator: ", "))]
            routes: [\((0..<400).map { "{ name: r\($0), targets: *t }" }.joined(separator: ", "))]
            """
        #expect(yaml.utf8.count < 20_000)
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("policy too large: more than 100000 YAML nodes") == true)
        #expect(found.first?.line == 1)
    }

    @Test("well under the budget a file with aliases is decoded as usual")
    func underTheBudget() {
        // 40 routes of 40 targets: 1,600 targets, a few thousand nodes: every route is checked.
        let yaml = """
            x-targets: &t [\(Array(repeating: "{ model: m }", count: 40).joined(separator: ", "))]

            """ + minimalPolicy + """

            routes: [\((0..<40).map { "{ name: r\($0), targets: *t }" }.joined(separator: ", "))]
            """
        let found = diagnostics(yaml)
        #expect(!found.contains { $0.message.hasPrefix("policy too large") })
        // The unknown top-level key is reported, so the file was decoded.
        #expect(found.contains { $0.field == "x-targets" })
    }

    @Test("the budget counts nodes with aliases expanded: at the limit fits, one over does not")
    func budgetBoundary() throws {
        // A mapping of one key whose value is a list of three scalars: 1 + 1 + 1 + 3 = 6 nodes;
        // with a second key whose alias stands for a copy of the list: 6 + 1 + 4 = 11 nodes.
        let plain = try #require(try Yams.compose(yaml: "k: [a, b, c]"))
        #expect(NodeBudget.fits(plain, limit: 6))
        #expect(!NodeBudget.fits(plain, limit: 5))
        let aliased = try #require(try Yams.compose(yaml: "k: &l [a, b, c]\nj: *l"))
        #expect(NodeBudget.fits(aliased, limit: 11))
        #expect(!NodeBudget.fits(aliased, limit: 10))
    }
}
