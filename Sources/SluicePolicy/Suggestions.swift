/// "Did you mean ...?" hints for misspelt keys, enum values and names.
enum Suggestions {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    ///
    /// Spellings that differ only in case, `_` or `-` always match (`baseURL` → `base_url`);
    /// otherwise the edit distance (counting a swap of neighbours as one edit) must be at
    /// most 1 for words up to 4 characters and at most 2 for longer ones.
    static func closest<Candidates: Sequence<String>>(to word: String, in candidates: Candidates) -> String? {
        let normalizedWord = normalize(word)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates where candidate != word {
            let normalizedCandidate = normalize(candidate)
            let distance = normalizedWord == normalizedCandidate
                ? 0
                : editDistance(Array(word.lowercased()), Array(candidate.lowercased()))
            let limit = min(word.count, candidate.count) <= 4 ? 1 : 2
            guard distance <= limit else { continue }
            if best.map({ distance < $0.distance }) ?? true {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// `; did you mean "x"?` or the empty string.
    static func hint<Candidates: Sequence<String>>(for word: String, in candidates: Candidates) -> String {
        closest(to: word, in: candidates).map { "; did you mean \"\($0)\"?" } ?? ""
    }

    private static func normalize(_ word: String) -> String {
        String(word.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and
    /// transpositions of adjacent characters each cost one.
    static func editDistance(_ lhs: [Character], _ rhs: [Character]) -> Int {
        if lhs.isEmpty { return rhs.count }
        if rhs.isEmpty { return lhs.count }
        var previousPrevious = [Int](repeating: 0, count: rhs.count + 1)
        var previous = Array(0...rhs.count)
        var current = [Int](repeating: 0, count: rhs.count + 1)
        for i in 1...lhs.count {
            current[0] = i
            for j in 1...rhs.count {
                let cost = lhs[i - 1] == rhs[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, lhs[i - 1] == rhs[j - 2], lhs[i - 2] == rhs[j - 1] {
                    value = min(value, previousPrevious[j - 2] + 1)
                }
                current[j] = value
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[rhs.count]
    }
}
