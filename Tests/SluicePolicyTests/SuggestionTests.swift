import Testing
@testable import SluicePolicy

/// The "did you mean" heuristic behind unknown-key, enum and reference messages.
@Suite("Suggestions")
struct SuggestionTests {
    @Test("close spellings are suggested", arguments: [
        ("basse_url", "base_url"), ("baseURL", "base_url"), ("kidn", "kind"),
        ("cached-input", "cached_input"), ("wieght", "weight"), ("fallback", "fallbacks"),
    ])
    func suggests(word: String, expected: String) {
        #expect(Suggestions.closest(to: word, in: ["kind", "base_url", "cached_input", "weight", "fallbacks"]) == expected)
    }

    @Test("far spellings are not", arguments: ["timeout", "limits", "x", "upstream"])
    func doesNotSuggest(word: String) {
        #expect(Suggestions.closest(to: word, in: ["kind", "base_url", "models", "upstream_model"]) == nil)
    }

    @Test("edit distance counts a swap as one edit")
    func distance() {
        #expect(Suggestions.editDistance(Array("ab"), Array("ba")) == 1)
        #expect(Suggestions.editDistance(Array(""), Array("abc")) == 3)
        #expect(Suggestions.editDistance(Array("kitten"), Array("sitting")) == 3)
    }
}
